// keel run INTENT: start a run, optionally wait for it or follow its events.

#include <algorithm>
#include <boost/json/serialize.hpp>
#include <cctype>
#include <chrono>
#include <fstream>
#include <iostream>
#include <iterator>
#include <memory>
#include <sstream>
#include <thread>

#include "base/duration.h"
#include "cli/common.h"
#include "cli/live_events.h"
#include "cli/output.h"

namespace keel::cli {

namespace json = boost::json;

namespace {

constexpr const char* kBareWait = "60s";
// Idle timeout of the event stream; the server sends a keepalive every 15 s.
constexpr int64_t kStreamIdleTimeoutMs = 40'000;
constexpr int kMaxReconnects = 12;  // consecutive attempts without an event, ~45 s in all

struct RunFlags {
  std::string intent;
  std::string payload;
  std::string payload_file;
  std::string tenant;
  std::string user;
  std::string idempotency_key;
  std::string deadline;
  int64_t max_steps = 0;
  int64_t max_tools = 0;
  int64_t max_tokens = 0;
  int64_t max_context = 0;
  double max_cost_usd = 0;
  std::string run_id;
  std::string wait;  // "true" for a bare --wait
  bool follow = false;

  CLI::Option* payload_opt = nullptr;
  CLI::Option* payload_file_opt = nullptr;
  CLI::Option* tenant_opt = nullptr;
  CLI::Option* user_opt = nullptr;
  CLI::Option* key_opt = nullptr;
  CLI::Option* deadline_opt = nullptr;
  CLI::Option* max_steps_opt = nullptr;
  CLI::Option* max_tools_opt = nullptr;
  CLI::Option* max_tokens_opt = nullptr;
  CLI::Option* max_context_opt = nullptr;
  CLI::Option* max_cost_opt = nullptr;
  CLI::Option* run_id_opt = nullptr;
  CLI::Option* wait_opt = nullptr;
};

bool Given(const CLI::Option* opt) { return opt != nullptr && opt->count() > 0; }

std::optional<std::string> ReadPayloadFile(const std::string& path) {
  std::string text;
  if (path == "-") {
    text.assign(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
    return text;
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  std::ostringstream buffer;
  buffer << in.rdbuf();
  if (in.bad()) return std::nullopt;
  return buffer.str();
}

int ExitCodeFor(const json::object& run) {
  const json::value* status = run.if_contains("status");
  bool failed =
      status != nullptr && status->is_string() && IsUnsuccessfulStatus(status->get_string());
  return failed ? kExitRunFailed : kExitOk;
}

// Follows GET /v1/runs/{id}/events until the `end` event, resuming with Last-Event-ID when the
// connection drops.
int Follow(client::HttpClient& client, const std::string& run_id, bool json_out) {
  client.set_timeout_ms(kStreamIdleTimeoutMs);
  const std::string target = RunPath(run_id) + "/events";
  std::string last_id;
  std::optional<json::object> final_run;
  LiveEventPrinter printer;
  std::string last_error;
  int failures = 0;
  for (;;) {
    bool progressed = false;
    std::map<std::string, std::string> headers;
    if (!last_id.empty()) headers["Last-Event-ID"] = last_id;
    auto streamed = client.Stream(
        target, headers,
        [&](const std::string& id, const std::string& event, const std::string& data) {
          progressed = true;
          // Live events (tokens, attempts) carry no id: only journal events can be resumed.
          if (!id.empty()) last_id = id;
          std::optional<json::value> parsed = ParseJson(data, nullptr);
          json::value value = parsed ? std::move(*parsed) : json::value(data);
          if (json_out) {
            std::cout << CompactJson(json::object{{"id", id}, {"event", event}, {"data", value}})
                      << std::endl;
          } else if (event != "end") {
            std::cout << printer.Feed(id, event, value) << std::flush;
          }
          if (event == "end") {
            final_run = value.is_object() ? value.get_object() : json::object();
            return false;
          }
          return true;
        });
    if (!json_out) std::cout << printer.Finish() << std::flush;
    if (final_run) break;
    if (streamed.ok()) {
      last_error =
          "error: unavailable: the event stream of run " + run_id + " closed before the run ended";
    } else {
      const Error& e = streamed.error();
      auto server_error = ParseErrorBody(e.message);
      last_error = server_error ? "error: " + server_error->first + ": " + server_error->second
                                : "error: " + std::string(ErrcName(e.code)) + ": " + e.message;
      if (e.code != Errc::kUnavailable && e.code != Errc::kTimeout) {
        std::cerr << last_error << "\n";
        return kExitServer;
      }
    }
    if (progressed) failures = 0;
    if (++failures > kMaxReconnects) {
      std::cerr << last_error << "\n";
      return kExitServer;
    }
    if (failures == 1 && !json_out) std::cerr << "  (connection lost; reconnecting)\n";
    int64_t backoff_ms = std::min<int64_t>(250LL << std::min(failures - 1, 5), 5000);
    std::this_thread::sleep_for(std::chrono::milliseconds(backoff_ms));
  }
  if (!json_out) std::cout << FormatRunOutcome(*final_run) << std::flush;
  return ExitCodeFor(*final_run);
}

int RunCommand(const RunFlags& f, const ClientOptions& options) {
  // Everything the command line can get wrong is reported before any request.
  json::object envelope;
  envelope["intent"] = f.intent;
  if (Given(f.run_id_opt)) envelope["run_id"] = f.run_id;
  if (Given(f.tenant_opt) || Given(f.user_opt)) {
    json::object caller;
    if (Given(f.tenant_opt)) caller["tenant"] = f.tenant;
    if (Given(f.user_opt)) caller["user"] = f.user;
    envelope["caller"] = std::move(caller);
  }
  if (Given(f.deadline_opt) || Given(f.max_steps_opt) || Given(f.max_tools_opt) ||
      Given(f.max_tokens_opt) || Given(f.max_context_opt) || Given(f.max_cost_opt)) {
    json::object budget;
    if (Given(f.deadline_opt)) {
      auto ms = ParseDurationMs(f.deadline);
      if (!ms.ok()) return UsageError("--deadline: " + ms.error().message);
      budget["deadline_ms"] = *ms;
    }
    if (Given(f.max_steps_opt)) budget["max_steps"] = f.max_steps;
    if (Given(f.max_tools_opt)) budget["max_tools"] = f.max_tools;
    if (Given(f.max_tokens_opt)) budget["max_tokens"] = f.max_tokens;
    if (Given(f.max_context_opt)) budget["max_context"] = f.max_context;
    if (Given(f.max_cost_opt)) budget["max_cost_usd"] = f.max_cost_usd;
    envelope["budget"] = std::move(budget);
  }
  if (Given(f.key_opt)) envelope["idempotency_key"] = f.idempotency_key;

  std::optional<std::string> payload;
  std::string payload_flag = "--payload";
  if (Given(f.payload_opt)) {
    payload = f.payload;
  } else if (Given(f.payload_file_opt)) {
    payload_flag = "--payload-file " + f.payload_file;
    payload = ReadPayloadFile(f.payload_file);
    if (!payload) return UsageError("--payload-file: cannot read " + f.payload_file);
  }
  if (payload && !ParseJsonFlag(payload_flag, *payload)) return kExitUsage;

  int64_t wait_ms = 0;
  if (Given(f.wait_opt)) {
    // CLI11 stores "true" for a bare flag.
    bool bare = f.wait.empty() || f.wait == "true";
    auto ms = ParseDurationMs(bare ? kBareWait : f.wait);
    if (!ms.ok()) return UsageError("--wait: " + ms.error().message);
    wait_ms = *ms;
  }

  // The payload goes out as the user wrote it (numbers keep their spelling): it is spliced
  // into the serialized envelope, which is safe because it parsed as one JSON value.
  std::string body = json::serialize(envelope);
  if (payload) {
    body.pop_back();  // '}'
    std::string_view text = *payload;
    while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back())))
      text.remove_suffix(1);
    while (!text.empty() && std::isspace(static_cast<unsigned char>(text.front())))
      text.remove_prefix(1);
    body += ",\"payload\":" + std::string(text) + "}";
  }

  auto client = MakeClient(options, 30'000 + wait_ms);
  if (!client) return kExitUsage;
  std::string target = "/v1/runs";
  if (Given(f.wait_opt)) target += "?wait=" + std::to_string(wait_ms);
  auto response = Call(*client, "POST", target, body);
  if (!response) return kExitServer;
  auto run = ResponseObject(*response);
  if (!run) return kExitServer;

  if (f.follow) {
    const json::value* id = run->if_contains("id");
    if (id == nullptr || !id->is_string()) {
      std::cerr << "error: internal: the server's run object has no id\n";
      return kExitServer;
    }
    std::string run_id(id->get_string());
    if (!options.json) {
      json::object head{{"id", run_id}};
      if (const json::value* status = run->if_contains("status")) head["status"] = *status;
      std::cout << FormatRunOutcome(head) << std::flush;
    }
    return Follow(*client, run_id, options.json);
  }
  if (options.json) {
    PrintRaw(response->body);
  } else {
    if (response->headers.count("keel-idempotent-replay") > 0) {
      std::cerr << "note: an existing run was returned for this idempotency key\n";
    }
    std::cout << FormatRunOutcome(*run) << std::flush;
  }
  return ExitCodeFor(*run);
}

}  // namespace

void AddRunCommand(CLI::App& app, ClientOptions* options, Action* action) {
  CLI::App* cmd = app.add_subcommand("run", "Start a run of a workflow");
  auto f = std::make_shared<RunFlags>();
  cmd->add_option("INTENT", f->intent, "Intent (workflow name) to run")->required();
  f->payload_opt = cmd->add_option("--payload", f->payload, "Input of the run, as JSON");
  f->payload_file_opt = cmd->add_option("--payload-file", f->payload_file,
                                        "Read the JSON input from FILE (- = stdin)");
  f->payload_opt->excludes(f->payload_file_opt);
  f->tenant_opt = cmd->add_option("--tenant", f->tenant, "Caller tenant");
  f->user_opt = cmd->add_option("--user", f->user, "Caller user");
  f->key_opt = cmd->add_option("--idempotency-key", f->idempotency_key,
                               "Starting again with the same key returns the same run");
  f->deadline_opt = cmd->add_option("--deadline", f->deadline,
                                    "Time budget of the run: 30s, 5m, or milliseconds");
  f->max_steps_opt = cmd->add_option("--max-steps", f->max_steps, "Step budget of the run")
                         ->check(CLI::PositiveNumber);
  f->max_tools_opt = cmd->add_option("--max-tools", f->max_tools, "Tool calls the run may make")
                         ->check(CLI::PositiveNumber);
  f->max_tokens_opt =
      cmd->add_option("--max-tokens", f->max_tokens, "Model tokens (input + output) of the run")
          ->check(CLI::PositiveNumber);
  f->max_context_opt =
      cmd->add_option("--max-context", f->max_context, "Input tokens of any one model call")
          ->check(CLI::PositiveNumber);
  f->max_cost_opt =
      cmd->add_option("--max-cost", f->max_cost_usd, "Model spend of the run, in US dollars")
          ->check(CLI::Range(0.0, 1e9));
  f->run_id_opt = cmd->add_option("--run-id", f->run_id, "Choose the run's id");
  // A flag, so that a value must be attached with '=' and `--wait INTENT` stays unambiguous.
  f->wait_opt = cmd->add_flag("--wait", f->wait, "Wait for the run to finish (bare --wait: 60s)")
                    ->option_text("[=DURATION]");
  cmd->add_flag("--follow", f->follow, "Print the run's events as they happen, until it ends");
  AddClientOptions(cmd, options);
  cmd->callback(
      [f, options, action] { *action = [f, options] { return RunCommand(*f, *options); }; });
}

}  // namespace keel::cli
