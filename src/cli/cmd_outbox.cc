// keel outbox ls: side effects waiting for delivery, delivered, or failed for good.

#include <iostream>
#include <memory>

#include "cli/common.h"
#include "cli/outbox_view.h"
#include "cli/output.h"

namespace keel::cli {

namespace json = boost::json;

namespace {

struct ListFlags {
  std::string status = "all";
  std::string run, tenant, after;
  int limit = 0;
};

int ListCommand(const ListFlags& f, const ClientOptions& options) {
  std::string query;
  std::string next_args;  // the filters again, for the "next:" hint
  auto add = [&](const char* name, const char* flag, const std::string& value) {
    if (value.empty()) return;
    query += (query.empty() ? "?" : "&") + std::string(name) + "=" + client::UrlEncode(value);
    if (std::string_view(name) != "after") {
      next_args += " " + std::string(flag) + " " + ShellQuote(value);
    }
  };
  add("status", "--status", f.status == "all" ? std::string() : f.status);
  add("run_id", "--run", f.run);
  add("tenant", "--tenant", f.tenant);
  add("limit", "--limit", f.limit > 0 ? std::to_string(f.limit) : std::string());
  add("after", "--after", f.after);

  auto client = MakeClient(options);
  if (!client) return kExitUsage;
  auto response = Call(*client, "GET", "/v1/outbox" + query);
  if (!response) return kExitServer;
  if (options.json) {
    PrintRaw(response->body);
    return kExitOk;
  }
  auto page = ResponseObject(*response);
  if (!page) return kExitServer;
  const json::array* intents = ArrField(*page, "intents");
  if (intents == nullptr) {
    std::cerr << "error: internal: the server's answer has no \"intents\" array\n";
    return kExitServer;
  }
  if (intents->empty()) {
    std::cout << (f.status == "all" ? std::string("no intents") : "no " + f.status + " intents")
              << "\n";
  } else {
    std::cout << FormatOutboxTable(*intents);
  }
  if (std::string next = StrField(*page, "next"); !next.empty()) {
    std::cout << "next: keel outbox ls --after " << ShellQuote(next) << next_args << "\n";
  }
  return kExitOk;
}

}  // namespace

void AddOutboxCommand(CLI::App& app, ClientOptions* options, Action* action) {
  CLI::App* outbox =
      app.add_subcommand("outbox", "Side effects (effect tools, notifications) and their delivery");
  outbox->require_subcommand(1);

  CLI::App* ls = outbox->add_subcommand("ls", "List intents, in key order");
  auto f = std::make_shared<ListFlags>();
  ls->add_option("--status", f->status, "pending, delivered, failed or all (default)")
      ->check(CLI::IsMember({"pending", "delivered", "failed", "all"}));
  ls->add_option("--run", f->run, "Only intents of this run");
  ls->add_option("--tenant", f->tenant, "Only intents of this tenant");
  ls->add_option("--limit", f->limit, "Intents per page (1..500, default 50)")
      ->check(CLI::Range(1, 500));
  ls->add_option("--after", f->after, "Continue a listing (printed as next: ...)");
  AddClientOptions(ls, options);
  ls->callback(
      [f, options, action] { *action = [f, options] { return ListCommand(*f, *options); }; });
}

}  // namespace keel::cli
