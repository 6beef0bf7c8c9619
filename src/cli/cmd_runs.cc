// keel runs ls / keel runs show: read-only views of runs.

#include <iostream>
#include <memory>

#include "base/clock.h"
#include "cli/common.h"
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
  std::string query;
  std::string next_args;  // the filters again, for the "next:" hint
  auto add = [&](const char* name, const std::string& value) {
    if (value.empty()) return;
    query += (query.empty() ? "?" : "&") + std::string(name) + "=" + client::UrlEncode(value);
    if (std::string_view(name) != "cursor")
      next_args += " --" + std::string(name) + " " + ShellQuote(value);
  };
  add("intent", f.intent);
  add("status", f.status);
  add("tenant", f.tenant);
  add("limit", f.limit > 0 ? std::to_string(f.limit) : std::string());
  add("cursor", f.cursor);

  auto client = MakeClient(options);
  if (!client) return kExitUsage;
  auto response = Call(*client, "GET", "/v1/runs" + query);
  if (!response) return kExitServer;
  if (options.json) {
    PrintRaw(response->body);
    return kExitOk;
  }
  auto page = ResponseObject(*response);
  if (!page) return kExitServer;
  const json::value* runs = page->if_contains("runs");
  if (runs == nullptr || !runs->is_array()) {
    std::cerr << "error: internal: the server's answer has no \"runs\" array\n";
    return kExitServer;
  }
  if (runs->get_array().empty()) {
    std::cout << "no runs\n";
  } else {
    std::cout << FormatRunTable(runs->get_array(), SystemClock::Instance().WallMs());
  }
  const json::value* next = page->if_contains("next_cursor");
  if (next != nullptr && next->is_string() && !next->get_string().empty()) {
    std::cout << "next: keel runs ls --cursor " << ShellQuote(next->get_string()) << next_args
              << "\n";
  }
  return kExitOk;
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
