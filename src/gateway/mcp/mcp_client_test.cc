// McpClient against real servers: @modelcontextprotocol/server-everything from npm (stdio and
// streamable HTTP), and the scripted servers in test/mcp for what it cannot be made to do
// (pagination, server requests, plain JSON answers, hanging, exiting, expiring a session).

#include "gateway/mcp/mcp_client.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>

#include "test/testing/child_process.h"
#include "test/testing/server_process.h"

extern char** environ;

namespace keel::gateway {
namespace {

namespace fs = std::filesystem;
namespace json = boost::json;

using ::keel::testing::ReadFileOrEmpty;
using ::keel::testing::WaitFor;

std::string McpTestDir() { return ::keel::testing::ServerProcess::SourceDir() + "/test/mcp"; }
std::string EverythingJs() {
  return McpTestDir() + "/node_modules/@modelcontextprotocol/server-everything/dist/index.js";
}
std::string ScriptedStdio() { return McpTestDir() + "/scripted_stdio_server.js"; }
std::string ScriptedHttp() { return McpTestDir() + "/scripted_http_server.js"; }

// Not a skip: a machine without the package does not test the client at all.
::testing::AssertionResult EverythingInstalled() {
  if (fs::exists(EverythingJs())) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure()
         << EverythingJs() << " is missing: run `npm ci --prefix test/mcp` in the source tree";
}

std::string MakeTempDir() { return ::keel::testing::ServerProcess::MakeTempDir("keel-mcp-test-"); }

int CountOf(const std::string& haystack, const std::string& needle) {
  int n = 0;
  for (size_t at = haystack.find(needle); at != std::string::npos;
       at = haystack.find(needle, at + 1)) {
    ++n;
  }
  return n;
}

bool Contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

// A test server process (not the client's child): stdout and stderr go to `log`.
class ServerChild {
 public:
  ServerChild(const std::vector<std::string>& argv, const std::vector<std::string>& extra_env,
              std::string log)
      : log_(std::move(log)) {
    std::vector<std::string> env(extra_env);
    for (char** e = environ; *e; ++e) env.emplace_back(*e);
    std::vector<char*> cargv, cenv;
    for (const auto& a : argv) cargv.push_back(const_cast<char*>(a.c_str()));
    cargv.push_back(nullptr);
    for (const auto& e : env) cenv.push_back(const_cast<char*>(e.c_str()));
    cenv.push_back(nullptr);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, log_.c_str(),
                                     O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_adddup2(&actions, STDOUT_FILENO, STDERR_FILENO);
    posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
    if (posix_spawnp(&pid_, cargv[0], &actions, nullptr, cargv.data(), cenv.data()) != 0) {
      pid_ = -1;
    }
    posix_spawn_file_actions_destroy(&actions);
  }
  ~ServerChild() {
    if (pid_ > 0) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
  }
  bool started() const { return pid_ > 0; }
  std::string Log() const { return ReadFileOrEmpty(log_); }

 private:
  std::string log_;
  pid_t pid_ = -1;
};

int FreePort() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  socklen_t len = sizeof addr;
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  close(fd);
  return ntohs(addr.sin_port);
}

bool Listening(int port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(uint16_t(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bool ok = connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  close(fd);
  return ok;
}

McpServerConfig Stdio(std::string name, std::vector<std::string> command,
                      int64_t timeout_ms = 15'000) {
  return {.name = std::move(name),
          .transport = "stdio",
          .command = std::move(command),
          .timeout_ms = timeout_ms};
}

McpServerConfig Http(std::string name, std::string url, int64_t timeout_ms = 15'000) {
  return {.name = std::move(name),
          .transport = "http",
          .url = std::move(url),
          .timeout_ms = timeout_ms};
}

std::string Text(const McpCallResult& r) {
  return r.value.is_string() ? std::string(r.value.as_string()) : json::serialize(r.value);
}

json::value Echo(const std::string& message) { return json::object{{"message", message}}; }

// Calls echo and expects `message` back; `prefix` is what the server puts before it.
void ExpectEcho(McpClient& c, const std::string& message, const std::string& prefix) {
  auto r = c.CallTool("echo", Echo(message), nullptr);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_FALSE(r->is_error);
  EXPECT_EQ(Text(*r), prefix + message);
}

const McpTool* FindTool(const std::vector<McpTool>& tools, const std::string& name) {
  for (const auto& t : tools) {
    if (t.name == name) return &t;
  }
  return nullptr;
}

// --- server-everything over stdio ---------------------------------------------------------

class EverythingStdioTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!fs::exists(EverythingJs())) return;
    client_ = new McpClient(Stdio("everything", {"node", EverythingJs(), "stdio"}));
    connected_ = client_->Connect();
  }
  static void TearDownTestSuite() {
    delete client_;
    client_ = nullptr;
  }
  void SetUp() override {
    ASSERT_TRUE(EverythingInstalled());
    ASSERT_TRUE(connected_.ok()) << connected_.error().message;
  }
  static McpClient* client_;
  static Status connected_;
};
McpClient* EverythingStdioTest::client_ = nullptr;
Status EverythingStdioTest::connected_ = OkStatus();

TEST_F(EverythingStdioTest, ListsToolsWithTheirInputSchemas) {
  auto tools = client_->ListTools();
  ASSERT_TRUE(tools.ok()) << tools.error().message;
  const McpTool* echo = FindTool(*tools, "echo");
  ASSERT_NE(echo, nullptr);
  EXPECT_FALSE(echo->description.empty());
  const json::value* type = echo->input_schema.as_object().if_contains("type");
  ASSERT_NE(type, nullptr);
  EXPECT_EQ(*type, "object");
  boost::system::error_code ec;
  const json::value* message = echo->input_schema.find_pointer("/properties/message/type", ec);
  ASSERT_NE(message, nullptr) << json::serialize(echo->input_schema);
  EXPECT_EQ(*message, "string");
  EXPECT_NE(FindTool(*tools, "get-sum"), nullptr);
}

TEST_F(EverythingStdioTest, EchoReturnsTheText) { ExpectEcho(*client_, "hello keel", "Echo: "); }

TEST_F(EverythingStdioTest, NumericArgumentsGiveTheRightSum) {
  auto r = client_->CallTool("get-sum", json::object{{"a", 19}, {"b", 23.5}}, nullptr);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_FALSE(r->is_error);
  EXPECT_EQ(Text(*r), "The sum of 19 and 23.5 is 42.5.");
}

TEST_F(EverythingStdioTest, UnknownToolIsAToolError) {
  auto r = client_->CallTool("no-such-tool", json::object{}, nullptr);
  ASSERT_TRUE(r.ok()) << r.error().message;  // this server reports it as a tool result
  EXPECT_TRUE(r->is_error);
  EXPECT_TRUE(Contains(Text(*r), "no-such-tool")) << Text(*r);
}

TEST_F(EverythingStdioTest, StructuredContentIsTheValue) {
  auto r =
      client_->CallTool("get-structured-content", json::object{{"location", "Chicago"}}, nullptr);
  ASSERT_TRUE(r.ok()) << r.error().message;
  ASSERT_TRUE(r->value.is_object()) << json::serialize(r->value);
  EXPECT_EQ(r->value.at("temperature"), 36);
  EXPECT_EQ(r->value.at("conditions"), "Light rain / drizzle");
}

TEST_F(EverythingStdioTest, ImageContentBecomesAPlaceholder) {
  auto r = client_->CallTool("get-tiny-image", json::object{}, nullptr);
  ASSERT_TRUE(r.ok()) << r.error().message;
  std::string text = Text(*r);
  EXPECT_TRUE(Contains(text, "[image image/png]")) << text;
  EXPECT_FALSE(Contains(text, "iVBORw0KGgo")) << "image data must not reach the model";
}

TEST_F(EverythingStdioTest, ConcurrentCallsEachGetTheirOwnAnswer) {
  constexpr int kThreads = 8, kCalls = 5;
  std::atomic<int> right{0};
  std::vector<std::string> wrong(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kCalls; ++i) {
        std::string msg = "thread " + std::to_string(t) + " call " + std::to_string(i);
        auto r = client_->CallTool("echo", Echo(msg), nullptr);
        if (r.ok() && Text(*r) == "Echo: " + msg) {
          ++right;
        } else {
          wrong[t] = r.ok() ? Text(*r) : r.error().message;
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(right.load(), kThreads * kCalls);
  for (const auto& w : wrong) EXPECT_EQ(w, "");
}

TEST(EverythingStdioRestartTest, AKilledServerIsRestartedByTheNextCall) {
  ASSERT_TRUE(EverythingInstalled());
  std::string dir = MakeTempDir();
  std::string pid_file = dir + "/pid";
  // exec keeps the shell's pid, so the file names the server itself.
  McpClient c(Stdio("everything", {"sh", "-c", "echo $$ > \"$0\"; exec node \"$1\" stdio", pid_file,
                                   EverythingJs()}));
  ASSERT_TRUE(c.Connect().ok());
  ASSERT_NO_FATAL_FAILURE(ExpectEcho(c, "before", "Echo: "));
  pid_t first = std::stoi(ReadFileOrEmpty(pid_file));
  ASSERT_EQ(kill(first, SIGKILL), 0);
  // The client reaps its child once it noticed the exit; then the pid is gone.
  ASSERT_TRUE(WaitFor([&] { return kill(first, 0) == -1 && errno == ESRCH; }, 10'000));

  ASSERT_NO_FATAL_FAILURE(ExpectEcho(c, "after", "Echo: "));
  pid_t second = std::stoi(ReadFileOrEmpty(pid_file));
  EXPECT_NE(second, first);
  EXPECT_EQ(kill(second, 0), 0) << "the restarted server runs";
  fs::remove_all(dir);
}

// --- server-everything over streamable HTTP ----------------------------------------------

class EverythingHttpTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!fs::exists(EverythingJs())) return;
    dir_ = MakeTempDir();
    port_ = FreePort();
    server_ = new ServerChild({"node", EverythingJs(), "streamableHttp"},
                              {"PORT=" + std::to_string(port_)}, dir_ + "/server.log");
    WaitFor([] { return Listening(port_); }, 20'000);
  }
  static void TearDownTestSuite() {
    delete server_;
    server_ = nullptr;
    if (!dir_.empty()) fs::remove_all(dir_);
  }
  void SetUp() override {
    ASSERT_TRUE(EverythingInstalled());
    ASSERT_TRUE(server_ && server_->started());
    ASSERT_TRUE(Listening(port_)) << "server-everything did not listen on " << port_ << ":\n"
                                  << server_->Log();
  }
  static std::string Url() { return "http://127.0.0.1:" + std::to_string(port_) + "/mcp"; }
  static std::string dir_;
  static int port_;
  static ServerChild* server_;
};
std::string EverythingHttpTest::dir_;
int EverythingHttpTest::port_ = 0;
ServerChild* EverythingHttpTest::server_ = nullptr;

TEST_F(EverythingHttpTest, ConnectsListsAndCallsInOneSession) {
  int sessions_before = CountOf(server_->Log(), "Session initialized with ID");
  {
    McpClient c(Http("everything-http", Url()));
    ASSERT_TRUE(c.Connect().ok());
    auto tools = c.ListTools();
    ASSERT_TRUE(tools.ok()) << tools.error().message;
    ASSERT_NE(FindTool(*tools, "echo"), nullptr);
    ASSERT_NO_FATAL_FAILURE(ExpectEcho(c, "over http", "Echo: "));
    auto sum = c.CallTool("get-sum", json::object{{"a", 2}, {"b", 3}}, nullptr);
    ASSERT_TRUE(sum.ok()) << sum.error().message;
    EXPECT_EQ(Text(*sum), "The sum of 2 and 3 is 5.");
  }
  // The server refuses requests without a valid session, and a client that lost its session
  // id would have had to initialize again.
  std::string log = server_->Log();
  EXPECT_EQ(CountOf(log, "Session initialized with ID"), sessions_before + 1) << log;
  EXPECT_FALSE(Contains(log, "No valid session")) << log;
  EXPECT_TRUE(
      WaitFor([&] { return Contains(server_->Log(), "session termination request"); }, 5'000))
      << "the client ends its session when destroyed";
}

TEST_F(EverythingHttpTest, ConcurrentCallsShareTheSession) {
  McpClient c(Http("everything-http", Url()));
  ASSERT_TRUE(c.Connect().ok());
  std::atomic<int> right{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 3; ++i) {
        std::string msg = std::to_string(t) + "/" + std::to_string(i);
        auto r = c.CallTool("echo", Echo(msg), nullptr);
        if (r.ok() && Text(*r) == "Echo: " + msg) ++right;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(right.load(), 12);
}

// --- the scripted stdio server ------------------------------------------------------------

std::vector<std::string> ScriptedStdioCommand(const std::string& log = "") {
  std::vector<std::string> argv{"node", ScriptedStdio()};
  if (!log.empty()) argv.push_back(log);
  return argv;
}

TEST(McpStdioTest, ListToolsFollowsNextCursor) {
  McpClient c(Stdio("scripted", ScriptedStdioCommand()));
  auto tools = c.ListTools();  // connects by itself
  ASSERT_TRUE(tools.ok()) << tools.error().message;
  ASSERT_EQ(tools->size(), 2u);
  EXPECT_EQ((*tools)[0].name, "first");
  EXPECT_EQ((*tools)[0].description, "page one");
  EXPECT_EQ((*tools)[1].name, "second");
  EXPECT_TRUE((*tools)[1].input_schema.as_object().contains("properties"));
}

TEST(McpStdioTest, ContentItemsAndErrors) {
  McpClient c(Stdio("scripted", ScriptedStdioCommand()));
  ASSERT_TRUE(c.Connect().ok());
  ASSERT_NO_FATAL_FAILURE(ExpectEcho(c, "skips notifications", ""));

  auto mixed = c.CallTool("mixed", nullptr, nullptr);
  ASSERT_TRUE(mixed.ok()) << mixed.error().message;
  EXPECT_TRUE(mixed->is_error);
  EXPECT_EQ(Text(*mixed), "before\n[image image/png]\n[resource file:///x.txt]\nafter");

  auto structured = c.CallTool("structured", json::object{}, nullptr);
  ASSERT_TRUE(structured.ok()) << structured.error().message;
  EXPECT_EQ(structured->value, json::parse(R"({"n":1,"list":[1,2]})"));

  auto fail = c.CallTool("fail", json::object{}, nullptr);
  ASSERT_FALSE(fail.ok());
  EXPECT_EQ(fail.error().code, Errc::kInvalidArgument);
  EXPECT_EQ(fail.error().message,
            "mcp server 'scripted': tools/call 'fail': server answered with an error -32602: "
            "no such thing");

  auto bad_args = c.CallTool("echo", json::array{1, 2}, nullptr);
  ASSERT_FALSE(bad_args.ok());
  EXPECT_EQ(bad_args.error().code, Errc::kInvalidArgument);
  EXPECT_TRUE(Contains(bad_args.error().message, "'scripted'")) << bad_args.error().message;
  EXPECT_TRUE(Contains(bad_args.error().message, "must be a JSON object"))
      << bad_args.error().message;
}

TEST(McpStdioTest, AnswersPingAndRefusesOtherServerRequests) {
  McpClient c(Stdio("scripted", ScriptedStdioCommand()));
  auto r = c.CallTool("ask-client", json::object{}, nullptr);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(Text(*r), "ping answered; sampling -32601");
}

TEST(McpStdioTest, TimeoutNamesServerAndMethodAndCancelsOnTheServer) {
  std::string dir = MakeTempDir();
  std::string log = dir + "/received.jsonl";
  McpClient c(Stdio("slow", ScriptedStdioCommand(log), 300));
  ASSERT_TRUE(c.Connect().ok());
  auto r = c.CallTool("never", json::object{}, nullptr);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Errc::kTimeout);
  EXPECT_EQ(r.error().message, "mcp server 'slow': tools/call 'never': no answer within 300 ms");
  // The call was request 2 (after initialize); the server hears that the client gave up.
  EXPECT_TRUE(WaitFor(
      [&] { return Contains(ReadFileOrEmpty(log), R"("method":"notifications/cancelled")"); },
      5'000))
      << ReadFileOrEmpty(log);
  EXPECT_TRUE(Contains(ReadFileOrEmpty(log), R"("requestId":2)")) << ReadFileOrEmpty(log);
  // The connection survives a timeout.
  ASSERT_NO_FATAL_FAILURE(ExpectEcho(c, "still here", ""));
  fs::remove_all(dir);
}

TEST(McpStdioTest, CancelEndsAWaitingCall) {
  std::string dir = MakeTempDir();
  std::string log = dir + "/received.jsonl";
  McpClient c(Stdio("slow", ScriptedStdioCommand(log), 60'000));
  ASSERT_TRUE(c.Connect().ok());
  auto token = std::make_shared<CancelToken>();
  std::thread canceller([&] {
    WaitFor([&] { return Contains(ReadFileOrEmpty(log), R"("name":"never")"); }, 10'000);
    token->Cancel();
  });
  auto r = c.CallTool("never", json::object{}, token);
  canceller.join();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Errc::kUnavailable);
  EXPECT_EQ(r.error().message, "mcp server 'slow': tools/call 'never': cancelled");
  EXPECT_TRUE(
      WaitFor([&] { return Contains(ReadFileOrEmpty(log), R"("reason":"cancelled")"); }, 5'000))
      << ReadFileOrEmpty(log);

  // A token cancelled beforehand stops the call before it is sent.
  auto r2 = c.CallTool("echo", Echo("not sent"), token);
  ASSERT_FALSE(r2.ok());
  EXPECT_EQ(r2.error().code, Errc::kUnavailable);
  EXPECT_FALSE(Contains(ReadFileOrEmpty(log), "not sent"));
  fs::remove_all(dir);
}

TEST(McpStdioTest, PendingCallFailsWithTheExitStatusAndTheNextCallRestarts) {
  McpClient c(Stdio("fragile", ScriptedStdioCommand()));
  ASSERT_TRUE(c.Connect().ok());
  auto r = c.CallTool("exit", json::object{}, nullptr);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Errc::kUnavailable);
  EXPECT_EQ(r.error().message,
            "mcp server 'fragile': tools/call 'exit': the server process exited with status 3");
  ASSERT_NO_FATAL_FAILURE(ExpectEcho(c, "restarted", ""));
}

TEST(McpStdioTest, ProtocolVersions) {
  McpClient old(Stdio("old", {"env", "MCP_VERSION=2024-11-05", "node", ScriptedStdio()}));
  EXPECT_TRUE(old.Connect().ok());

  McpClient future(Stdio("future", {"env", "MCP_VERSION=2099-01-01", "node", ScriptedStdio()}));
  Status s = future.Connect();
  ASSERT_FALSE(s.ok());
  EXPECT_TRUE(Contains(s.error().message, "mcp server 'future': initialize:")) << s.error().message;
  EXPECT_TRUE(Contains(s.error().message, "'2099-01-01'")) << s.error().message;
}

TEST(McpStdioTest, MissingBinaryFailsConnectNamingTheServer) {
  McpClient c(Stdio("ghost", {"/nonexistent/keel-mcp-server", "--stdio"}));
  Status s = c.Connect();
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().message,
            "mcp server 'ghost': initialize: cannot start '/nonexistent/keel-mcp-server': No such "
            "file or directory");
  // A call connects by itself and fails the same way.
  auto r = c.CallTool("echo", Echo("x"), nullptr);
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(Contains(r.error().message, "mcp server 'ghost'")) << r.error().message;
}

TEST(McpStdioTest, ServerThatNeverAnswersTimesOutConnect) {
  McpClient c(Stdio("mute", {"sleep", "60"}, 300));
  Status s = c.Connect();
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code, Errc::kTimeout);
  EXPECT_EQ(s.error().message, "mcp server 'mute': initialize: no answer within 300 ms");
}

TEST(McpStdioTest, BadConfigIsRefused) {
  McpClient c({.name = "odd", .transport = "carrier-pigeon"});
  Status s = c.Connect();
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code, Errc::kInvalidArgument);
  EXPECT_TRUE(Contains(s.error().message, "mcp server 'odd'")) << s.error().message;
  EXPECT_TRUE(Contains(s.error().message, "carrier-pigeon")) << s.error().message;
}

// --- the scripted HTTP server -------------------------------------------------------------

class ScriptedHttpTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = MakeTempDir();
    server_ = new ServerChild({"node", ScriptedHttp()}, {}, dir_ + "/server.log");
    WaitFor([] { return Contains(server_->Log(), "listening "); }, 20'000);
    std::string log = server_->Log();
    if (size_t at = log.find("listening "); at != std::string::npos) {
      port_ = std::atoi(log.c_str() + at + 10);
    }
  }
  static void TearDownTestSuite() {
    delete server_;
    server_ = nullptr;
    fs::remove_all(dir_);
  }
  void SetUp() override {
    ASSERT_GT(port_, 0) << "the scripted HTTP server did not start:\n" << server_->Log();
  }
  static std::string Url() { return "http://127.0.0.1:" + std::to_string(port_) + "/mcp"; }
  static std::string dir_;
  static int port_;
  static ServerChild* server_;
};
std::string ScriptedHttpTest::dir_;
int ScriptedHttpTest::port_ = 0;
ServerChild* ScriptedHttpTest::server_ = nullptr;

TEST_F(ScriptedHttpTest, JsonAnswersWithSessionAndVersionHeaders) {
  size_t before = server_->Log().size();
  {
    McpClient c(Http("plain", Url()));
    ASSERT_TRUE(c.Connect().ok());
    auto tools = c.ListTools();
    ASSERT_TRUE(tools.ok()) << tools.error().message;
    ASSERT_EQ(tools->size(), 1u);
    EXPECT_EQ((*tools)[0].name, "echo");
    ASSERT_NO_FATAL_FAILURE(ExpectEcho(c, "json", ""));
  }
  std::string log = server_->Log().substr(before);
  // initialize goes without; everything after it carries both headers.
  EXPECT_TRUE(Contains(log, "POST session=- version=- initialize")) << log;
  EXPECT_TRUE(Contains(log, "version=2025-03-26 notifications/initialized")) << log;
  EXPECT_TRUE(Contains(log, "version=2025-03-26 tools/list")) << log;
  EXPECT_TRUE(Contains(log, "version=2025-03-26 tools/call")) << log;
  EXPECT_EQ(CountOf(log, "session=-"), 1) << log;
  EXPECT_TRUE(Contains(log, "DELETE session=")) << log;
}

TEST_F(ScriptedHttpTest, SseStreamWithAServerRequestBeforeTheResponse) {
  McpClient c(Http("sse", Url()));
  auto r = c.CallTool("sse-ask-ping", json::object{}, nullptr);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(Text(*r), "pong");
}

TEST_F(ScriptedHttpTest, AnEndlessEventStreamLineFailsTheCall) {
  McpClient c(Http("sse", Url()));
  auto r = c.CallTool("sse-endless-line", json::object{}, nullptr);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Errc::kUnavailable);
  EXPECT_EQ(r.error().message,
            "mcp server 'sse': tools/call 'sse-endless-line': the event stream is unreadable: "
            "event stream line longer than 8388608 bytes");
  ASSERT_NO_FATAL_FAILURE(ExpectEcho(c, "still fine", ""));
}

TEST_F(ScriptedHttpTest, AnExpiredSessionIsReplacedOnTheNextCall) {
  McpClient c(Http("forgetful", Url()));
  auto forget = c.CallTool("forget-session", json::object{}, nullptr);
  ASSERT_TRUE(forget.ok()) << forget.error().message;
  auto expired = c.CallTool("echo", Echo("lost"), nullptr);
  ASSERT_FALSE(expired.ok());
  EXPECT_EQ(expired.error().code, Errc::kUnavailable);
  EXPECT_EQ(expired.error().message,
            "mcp server 'forgetful': tools/call 'echo': the session expired (HTTP 404)");
  ASSERT_NO_FATAL_FAILURE(ExpectEcho(c, "found", ""));
}

TEST_F(ScriptedHttpTest, TimeoutAndCancel) {
  McpClient c(Http("held", Url(), 300));
  auto r = c.CallTool("hold", json::object{}, nullptr);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Errc::kTimeout);
  EXPECT_EQ(r.error().message, "mcp server 'held': tools/call 'hold': no answer within 300 ms");

  McpClient patient(Http("held", Url(), 60'000));
  ASSERT_TRUE(patient.Connect().ok());
  size_t before = server_->Log().size();
  auto token = std::make_shared<CancelToken>();
  std::thread canceller([&] {
    WaitFor([&] { return Contains(server_->Log().substr(before), "tools/call"); }, 10'000);
    token->Cancel();
  });
  auto cancelled = patient.CallTool("hold", json::object{}, token);
  canceller.join();
  ASSERT_FALSE(cancelled.ok());
  EXPECT_EQ(cancelled.error().code, Errc::kUnavailable);
  EXPECT_EQ(cancelled.error().message, "mcp server 'held': tools/call 'hold': cancelled");
}

TEST(McpHttpTest, NothingListeningIsUnavailable) {
  McpClient c(Http("absent", "http://127.0.0.1:" + std::to_string(FreePort()) + "/mcp", 5'000));
  Status s = c.Connect();
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code, Errc::kUnavailable);
  EXPECT_TRUE(
      Contains(s.error().message, "mcp server 'absent': initialize: POST http://127.0.0.1:"))
      << s.error().message;
}

}  // namespace
}  // namespace keel::gateway
