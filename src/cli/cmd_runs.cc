// keel runs ls / keel runs show: read-only views of runs.

#include <iostream>
#include <memory>

#include "base/clock.h"
#include "cli/common.h"
#include "cli/list_command.h"
#include "cli/output.h"
#include "cli/transcript.h"

namespace keel::cli {

namespace json = boost::json;

namespace {

struct ListFlags {
  std::string intent, status, tenant, cursor;
  int limit = 0;
};

int ListCommand(const ListFlags& f, const ClientOptions& options) {
  ListQuery q;
  q.Add("intent", "--intent", f.intent);
  q.Add("status", "--status", f.status);
  q.Add("tenant", "--tenant", f.tenant);
  q.Add("limit", "--limit", f.limit > 0 ? std::to_string(f.limit) : std::string());
  q.Add("cursor", "", f.cursor);
  return RunListCommand(q,
                        {"/v1/runs", "runs", "next_cursor", "no runs", "keel runs ls --cursor",
                         [](const json::array& runs) {
                           return FormatRunTable(runs, SystemClock::Instance().WallMs());
                         }},
                        options);
}

struct ShowFlags {
  std::string id;
  bool journal = false;
  bool transcript = false;
};

// Reads the whole journal, page by page (`after` is the last seq seen).
std::optional<json::array> ReadJournal(client::HttpClient& client, const std::string& id) {
  json::array entries;
  std::string after;
  for (int page = 0; page < 100'000; ++page) {
    std::string target = RunPath(id) + "/journal" + (after.empty() ? "" : "?after=" + after);
    auto response = Call(client, "GET", target);
    if (!response) return std::nullopt;
    auto body = ResponseObject(*response);
    if (!body) return std::nullopt;
    const json::value* got = body->if_contains("entries");
    if (got == nullptr || !got->is_array()) {
      std::cerr << "error: internal: the server's answer has no \"entries\" array\n";
      return std::nullopt;
    }
    if (got->get_array().empty()) break;
    std::string last_seq;
    if (const json::object* last = got->get_array().back().if_object()) {
      if (const json::value* seq = last->if_contains("seq"); seq && seq->is_int64()) {
        last_seq = std::to_string(seq->get_int64());
      }
    }
    for (const json::value& e : got->get_array()) entries.push_back(e);
    if (last_seq.empty() || last_seq == after) break;  // cannot page further
    after = last_seq;
  }
  return entries;
}

int ShowCommand(const ShowFlags& f, const ClientOptions& options) {
  auto client = MakeClient(options);
  if (!client) return kExitUsage;
  auto response = Call(*client, "GET", RunPath(f.id));
  if (!response) return kExitServer;
  bool with_journal = f.journal || f.transcript;
  if (options.json && !with_journal) {
    PrintRaw(response->body);
    return kExitOk;
  }
  auto run = ResponseObject(*response);
  if (!run) return kExitServer;
  std::optional<json::array> journal;
  if (with_journal) {
    journal = ReadJournal(*client, f.id);
    if (!journal) return kExitServer;
  }
  if (f.transcript) {
    if (options.json) {
      std::cout << CompactJson(BuildTranscript(*run, *journal)) << "\n";
    } else {
      std::cout << FormatTranscript(*run, *journal);
    }
    return kExitOk;
  }
  if (options.json) {
    std::cout << CompactJson(json::object{{"run", *run}, {"entries", *journal}}) << "\n";
    return kExitOk;
  }
  std::cout << FormatRunDetails(*run, SystemClock::Instance().WallMs());
  if (journal) {
    std::cout << "\n";
    if (journal->empty()) {
      std::cout << "journal: empty\n";
    } else {
      std::cout << FormatJournalTable(*journal);
    }
  }
  return kExitOk;
}

}  // namespace

void AddRunsCommand(CLI::App& app, ClientOptions* options, Action* action) {
  CLI::App* runs = app.add_subcommand("runs", "List and inspect runs");
  runs->require_subcommand(1);

  CLI::App* ls = runs->add_subcommand("ls", "List runs, newest first");
  auto lf = std::make_shared<ListFlags>();
  ls->add_option("--intent", lf->intent, "Only runs of this intent");
  ls->add_option("--status", lf->status,
                 "Only runs in this status (queued, running, waiting, succeeded, failed, ...)");
  ls->add_option("--tenant", lf->tenant, "Only runs of this tenant");
  ls->add_option("--limit", lf->limit, "Runs per page (1..500, default 50)")
      ->check(CLI::Range(1, 500));
  ls->add_option("--cursor", lf->cursor, "Continue a listing (printed as next: ...)");
  AddClientOptions(ls, options);
  ls->callback(
      [lf, options, action] { *action = [lf, options] { return ListCommand(*lf, *options); }; });

  CLI::App* show = runs->add_subcommand("show", "Show one run");
  auto sf = std::make_shared<ShowFlags>();
  show->add_option("ID", sf->id, "Run id")->required();
  CLI::Option* journal =
      show->add_flag("--journal", sf->journal, "Also list the run's journal entries");
  show->add_flag("--transcript", sf->transcript,
                 "Show the run as a conversation: prompts, model answers, tool calls and "
                 "results, retries, and the outcome (--json: a list of transcript items)")
      ->excludes(journal);
  AddClientOptions(show, options);
  show->callback(
      [sf, options, action] { *action = [sf, options] { return ShowCommand(*sf, *options); }; });
}

}  // namespace keel::cli
