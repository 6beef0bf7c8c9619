// The `keel` command-line client against a real `keel serve`: output, --json, --follow, the
// runs views, control commands and the exit codes (0 ok, 1 run unsuccessful, 2 usage, 3
// server error or unreachable).

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "test/testing/server_process.h"
#include "test/testing/test_util.h"

namespace keel::testing {
namespace {

namespace json = boost::json;

bool Contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

// "run <id> <status>" lines of the CLI's outcome output, as {id, status}.
std::vector<std::pair<std::string, std::string>> RunLines(const std::string& output) {
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& line : Lines(output)) {
    std::istringstream in(line);
    std::string word, id, status, extra;
    if (in >> word >> id >> status && word == "run" && !(in >> extra)) {
      out.emplace_back(id, status);
    }
  }
  return out;
}

class CliTest : public SharedServerTest {
 protected:
  // `keel ARGS --server URL`, stdout and stderr merged.
  static CommandResult Keel(const std::string& args) {
    return RunCommand(ServerProcess::KeelBinary() + " " + args + " --server " + server_->base_url(),
                      /*merge_stderr=*/true);
  }

  // Starts a run over HTTP; returns its id.
  std::string Start(const std::string& envelope) {
    auto r = c_.Post("/v1/runs", envelope);
    EXPECT_TRUE(r.ok() && (r->status == 200 || r->status == 202))
        << (r.ok() ? r->body : r.error().message);
    return r.ok() ? Str(Parse(r->body), "/id") : std::string();
  }
};

TEST_F(CliTest, RunWaitPrintsTheOutcome) {
  CommandResult r = Keel(R"(run hello --payload '{"name":"x"}' --wait)");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(Contains(r.output, "succeeded")) << r.output;
  EXPECT_TRUE(Contains(r.output, "hello, x")) << r.output;
  auto runs = RunLines(r.output);
  ASSERT_EQ(runs.size(), 1u) << r.output;
  EXPECT_EQ(runs[0].second, "succeeded");
  EXPECT_EQ(Str(GetRun(c_, runs[0].first), "/status"), "succeeded");
}

TEST_F(CliTest, RunWaitJsonPrintsTheRunObject) {
  CommandResult r = RunCommand(ServerProcess::KeelBinary() +
                               R"( run hello --payload '{"name":"j"}' --wait --json --server )" +
                               server_->base_url());  // stdout only: it must be pure JSON
  EXPECT_EQ(r.exit_code, 0) << r.output;
  json::value run = Parse(r.output);
  EXPECT_EQ(Str(run, "/status"), "succeeded") << r.output;
  EXPECT_EQ(Str(run, "/result/greeting"), "hello, j") << r.output;
}

TEST_F(CliTest, RunFollowPrintsEventsAndTheFinalStatus) {
  CommandResult r = Keel(R"(run hello --payload '{"name":"f"}' --follow)");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  auto runs = RunLines(r.output);
  ASSERT_GE(runs.size(), 2u) << r.output;  // the admission, then the outcome
  EXPECT_EQ(runs.front().first, runs.back().first);
  EXPECT_EQ(runs.back().second, "succeeded") << r.output;
  // Every journal entry as an event line, in order: step greet, emit, sleep, step shout.
  size_t greet = r.output.find("#1 step  greet");
  size_t emit = r.output.find("#2 emit");
  size_t sleep = r.output.find("#3 sleep");
  size_t shout = r.output.find("#4 step  shout");
  ASSERT_NE(greet, std::string::npos) << r.output;
  ASSERT_NE(emit, std::string::npos) << r.output;
  ASSERT_NE(sleep, std::string::npos) << r.output;
  ASSERT_NE(shout, std::string::npos) << r.output;
  EXPECT_LT(greet, emit);
  EXPECT_LT(emit, sleep);
  EXPECT_LT(sleep, shout);
  EXPECT_LT(shout, r.output.rfind("succeeded"));
  EXPECT_TRUE(Contains(r.output, "hello, f")) << r.output;
}

TEST_F(CliTest, RunsLsAndShowJournal) {
  CommandResult run = Keel(R"(run hello --payload '{"name":"ls"}' --wait --tenant cli-ls)");
  ASSERT_EQ(run.exit_code, 0) << run.output;
  auto runs = RunLines(run.output);
  ASSERT_EQ(runs.size(), 1u) << run.output;
  const std::string id = runs[0].first;

  CommandResult ls = Keel("runs ls --tenant cli-ls");
  EXPECT_EQ(ls.exit_code, 0) << ls.output;
  bool listed = false;
  for (const auto& line : Lines(ls.output)) {
    if (Contains(line, id)) {
      listed = true;
      EXPECT_TRUE(Contains(line, "hello")) << line;
      EXPECT_TRUE(Contains(line, "succeeded")) << line;
      EXPECT_TRUE(Contains(line, "cli-ls")) << line;
    }
  }
  EXPECT_TRUE(listed) << ls.output;

  CommandResult ls_json =
      RunCommand(ServerProcess::KeelBinary() + " runs ls --tenant cli-ls --json --server " +
                 server_->base_url());
  EXPECT_EQ(ls_json.exit_code, 0) << ls_json.output;
  EXPECT_EQ(Str(Parse(ls_json.output), "/runs/0/id"), id) << ls_json.output;

  CommandResult show = Keel("runs show " + id + " --journal");
  EXPECT_EQ(show.exit_code, 0) << show.output;
  EXPECT_TRUE(Contains(show.output, id)) << show.output;
  EXPECT_TRUE(Contains(show.output, "succeeded")) << show.output;
  EXPECT_TRUE(Contains(show.output, "greet")) << show.output;
  EXPECT_TRUE(Contains(show.output, "shout")) << show.output;
  EXPECT_TRUE(Contains(show.output, "emit")) << show.output;
  EXPECT_TRUE(Contains(show.output, "sleep")) << show.output;

  CommandResult show_json = RunCommand(ServerProcess::KeelBinary() + " runs show " + id +
                                       " --journal --json --server " + server_->base_url());
  EXPECT_EQ(show_json.exit_code, 0) << show_json.output;
  json::value v = Parse(show_json.output);
  EXPECT_EQ(Str(v, "/run/id"), id);
  ASSERT_TRUE(At(v, "/entries").is_array()) << show_json.output;
  EXPECT_EQ(At(v, "/entries").get_array().size(), 4u) << show_json.output;

  CommandResult missing = Keel("runs show no-such-run");
  EXPECT_EQ(missing.exit_code, 3) << missing.output;
  EXPECT_TRUE(Contains(missing.output, "not_found")) << missing.output;
}

TEST_F(CliTest, SignalCancelAndInterrupt) {
  // signal
  std::string waiting = Start(R"({"intent":"await_signal","payload":{"signal":"approve"}})");
  WaitStatus(c_, waiting, "waiting");
  CommandResult sig = Keel("signal " + waiting + R"( approve --payload '{"by":"cli"}')");
  EXPECT_EQ(sig.exit_code, 0) << sig.output;
  json::value done = WaitStatus(c_, waiting, "succeeded");
  EXPECT_EQ(Str(done, "/result/got/by"), "cli") << json::serialize(done);
  CommandResult late = Keel("signal " + waiting + " approve");
  EXPECT_EQ(late.exit_code, 3) << late.output;
  EXPECT_TRUE(Contains(late.output, "already_finished")) << late.output;

  // cancel
  std::string sleeping = Start(R"({"intent":"sleeper","payload":{"duration":"1h"}})");
  WaitStatus(c_, sleeping, "waiting");
  CommandResult cancel = Keel("cancel " + sleeping);
  EXPECT_EQ(cancel.exit_code, 0) << cancel.output;
  EXPECT_TRUE(Contains(cancel.output, sleeping)) << cancel.output;
  EXPECT_EQ(Str(GetRun(c_, sleeping), "/status"), "cancelled");
  CommandResult again = Keel("cancel " + sleeping);
  EXPECT_EQ(again.exit_code, 3) << again.output;
  EXPECT_TRUE(Contains(again.output, "already_finished")) << again.output;

  // interrupt
  std::string looping = Start(R"({"intent":"interruptible","payload":{}})");
  CommandResult intr = Keel("interrupt " + looping + R"( --input '"stop"')");
  EXPECT_EQ(intr.exit_code, 0) << intr.output;
  json::value stopped = WaitStatus(c_, looping, "succeeded");
  EXPECT_EQ(At(stopped, "/result/stopped"), json::value(true)) << json::serialize(stopped);
}

TEST_F(CliTest, InvalidPayloadIsAUsageError) {
  CommandResult r = Keel(R"(run hello --payload '{"name":' --wait)");
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_TRUE(Contains(r.output, "--payload")) << r.output;
  CommandResult no_intent = Keel("run");
  EXPECT_EQ(no_intent.exit_code, 2) << no_intent.output;
}

TEST_F(CliTest, FailedRunExitsOne) {
  CommandResult r = Keel("run boom --wait");
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_TRUE(Contains(r.output, "failed")) << r.output;
  EXPECT_TRUE(Contains(r.output, "script_error")) << r.output;
  CommandResult unknown = Keel("run no_such_workflow --wait");
  EXPECT_EQ(unknown.exit_code, 3) << unknown.output;
  EXPECT_TRUE(Contains(unknown.output, "unknown_intent")) << unknown.output;
}

TEST(CliProcessTest, UnreachableServerExitsThreeWithOneLine) {
  ServerProcess server(ServerProcess::Options{.workflows_dir = TestWorkflows()});
  ASSERT_TRUE(server.Start().ok());
  std::string url = server.base_url();
  auto code = server.Terminate();
  ASSERT_TRUE(code.ok()) << code.error().message;

  for (const std::string args : {"runs ls", "run hello --wait", "runs show some-id"}) {
    CommandResult r =
        RunCommand(ServerProcess::KeelBinary() + " " + args + " --server " + url, true);
    EXPECT_EQ(r.exit_code, 3) << args << ": " << r.output;
    auto lines = Lines(r.output);
    ASSERT_EQ(lines.size(), 1u) << args << ": " << r.output;
    EXPECT_EQ(lines[0].rfind("error:", 0), 0u) << lines[0];
  }
}

}  // namespace
}  // namespace keel::testing
