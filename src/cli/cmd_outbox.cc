// keel outbox ls: side effects waiting for delivery, delivered, or failed for good.

#include <iostream>
#include <memory>

#include "cli/common.h"
#include "cli/list_command.h"
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
  ListQuery q;
  q.Add("status", "--status", f.status == "all" ? std::string() : f.status);
  q.Add("run_id", "--run", f.run);
  q.Add("tenant", "--tenant", f.tenant);
  q.Add("limit", "--limit", f.limit > 0 ? std::to_string(f.limit) : std::string());
  q.Add("after", "", f.after);
  std::string empty = f.status == "all" ? std::string("no intents") : "no " + f.status + " intents";
  return RunListCommand(
      q, {"/v1/outbox", "intents", "next", empty, "keel outbox ls --after", FormatOutboxTable},
      options);
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
