// keel approvals ls / show / approve / deny: human approval gates.

#include <boost/json/serialize.hpp>
#include <cstdlib>
#include <iostream>
#include <memory>

#include "base/clock.h"
#include "base/error.h"
#include "cli/approval_view.h"
#include "cli/common.h"
#include "cli/list_command.h"
#include "cli/output.h"

namespace keel::cli {

namespace json = boost::json;

namespace {

std::string ApprovalPath(std::string_view id) { return "/v1/approvals/" + client::UrlEncode(id); }

struct ListFlags {
  std::string status = "pending";
  std::string tenant, run, before;
  int limit = 0;
};

int ListCommand(const ListFlags& f, const ClientOptions& options) {
  ListQuery q;
  // "all" is the absence of a filter on the wire.
  q.Add("status", "--status", f.status == "all" ? std::string() : f.status);
  q.Add("tenant", "--tenant", f.tenant);
  q.Add("run_id", "--run", f.run);
  q.Add("limit", "--limit", f.limit > 0 ? std::to_string(f.limit) : std::string());
  q.Add("before", "", f.before);
  if (f.status == "all") q.AddHint("--status all");
  std::string empty =
      f.status == "all" ? std::string("no approvals") : "no " + f.status + " approvals";
  return RunListCommand(q,
                        {"/v1/approvals", "approvals", "next", empty, "keel approvals ls --before",
                         FormatApprovalTable},
                        options);
}

int ShowCommand(const std::string& id, const ClientOptions& options) {
  auto client = MakeClient(options);
  if (!client) return kExitUsage;
  auto response = Call(*client, "GET", ApprovalPath(id));
  if (!response) return kExitServer;
  if (options.json) {
    PrintRaw(response->body);
    return kExitOk;
  }
  auto approval = ResponseObject(*response);
  if (!approval) return kExitServer;
  std::cout << FormatApprovalDetails(*approval, SystemClock::Instance().WallMs());
  return kExitOk;
}

struct DecideFlags {
  std::string id, by, reason;
};

std::string DefaultDecider() {
  const char* user = std::getenv("USER");
  return user != nullptr ? std::string(user) : std::string();
}

int DecideCommand(const DecideFlags& f, const std::string& decision, const ClientOptions& options) {
  std::string by = f.by.empty() ? DefaultDecider() : f.by;
  if (by.empty()) return UsageError("--by: required (who decides; $USER is not set)");
  json::object body{{"decision", decision}, {"by", by}};
  if (!f.reason.empty()) body["reason"] = f.reason;

  auto client = MakeClient(options);
  if (!client) return kExitUsage;
  auto response = client->Request("POST", ApprovalPath(f.id) + "/decision", json::serialize(body));
  if (!response.ok()) {
    std::cerr << "error: " << ErrcName(response.error().code) << ": " << response.error().message
              << "\n";
    return kExitServer;
  }
  if (response->status < 200 || response->status > 299) {
    std::cerr << ServerErrorLine(response->status, response->body) << "\n";
    if (response->status == 409) {
      // Decisions are final, and a withdrawn approval takes none: say where to see why.
      std::cerr << "where it stands and its audit trail: keel approvals show " << ShellQuote(f.id)
                << "\n";
    }
    return kExitServer;
  }
  if (options.json) {
    PrintRaw(response->body);
    return kExitOk;
  }
  auto approval = ResponseObject(*response);
  if (!approval) return kExitServer;
  const json::value* existing = approval->if_contains("existing");
  std::cout << FormatDecisionLine(
                   *approval, existing != nullptr && existing->is_bool() && existing->get_bool())
            << "\n";
  return kExitOk;
}

void AddDecideCommand(CLI::App* approvals, const char* name, const char* help, const char* decision,
                      ClientOptions* options, Action* action) {
  CLI::App* cmd = approvals->add_subcommand(name, help);
  auto f = std::make_shared<DecideFlags>();
  cmd->add_option("ID", f->id, "Approval id")->required();
  cmd->add_option("--by", f->by, "Who decides (default: $USER)");
  cmd->add_option("--reason", f->reason, "Why, for the audit trail");
  AddClientOptions(cmd, options);
  cmd->callback([f, decision, options, action] {
    *action = [f, decision, options] { return DecideCommand(*f, decision, *options); };
  });
}

}  // namespace

void AddApprovalsCommand(CLI::App& app, ClientOptions* options, Action* action) {
  CLI::App* approvals = app.add_subcommand("approvals", "List, inspect and decide approval gates");
  approvals->require_subcommand(1);

  CLI::App* ls = approvals->add_subcommand("ls", "List approvals, newest first");
  auto lf = std::make_shared<ListFlags>();
  ls->add_option("--status", lf->status,
                 "pending (default), approved, denied, withdrawn (its run ended) or all")
      ->check(CLI::IsMember({"pending", "approved", "denied", "withdrawn", "all"}));
  ls->add_option("--tenant", lf->tenant, "Only approvals of this tenant");
  ls->add_option("--run", lf->run, "Only approvals of this run");
  ls->add_option("--limit", lf->limit, "Approvals per page (1..500, default 50)")
      ->check(CLI::Range(1, 500));
  ls->add_option("--before", lf->before, "Continue a listing (printed as next: ...)");
  AddClientOptions(ls, options);
  ls->callback(
      [lf, options, action] { *action = [lf, options] { return ListCommand(*lf, *options); }; });

  CLI::App* show =
      approvals->add_subcommand("show", "Show an approval, its payload and its audit trail");
  auto id = std::make_shared<std::string>();
  show->add_option("ID", *id, "Approval id")->required();
  AddClientOptions(show, options);
  show->callback(
      [id, options, action] { *action = [id, options] { return ShowCommand(*id, *options); }; });

  AddDecideCommand(approvals, "approve", "Approve: the waiting run continues", "approved", options,
                   action);
  AddDecideCommand(approvals, "deny", "Deny: the waiting run learns it was denied", "denied",
                   options, action);
}

}  // namespace keel::cli
