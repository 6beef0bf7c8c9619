// keel-llm-sim over real HTTP: the binary started by SimProcess, driven with HttpClient and
// raw sockets (for the faults that break HTTP on purpose).

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <atomic>
#include <boost/json.hpp>
#include <cerrno>
#include <filesystem>
#include <fstream>
#include <thread>

#include "client/http_client.h"
#include "client/sse.h"
#include "test/testing/server_process.h"
#include "test/testing/sim_process.h"
#include "test/testing/test_util.h"

namespace keel::testing {
namespace {

namespace json = boost::json;
using client::HttpClient;
using client::Response;

struct SseEvent {
  std::string event;
  std::string data;
};

std::vector<SseEvent> ParseSse(const std::string& body) {
  std::vector<SseEvent> events;
  client::SseParser parser;
  parser.Feed(body, [&](const std::string&, const std::string& event, const std::string& data) {
    events.push_back({event, data});
    return true;
  });
  return events;
}

// What a raw TCP exchange saw: bytes until the peer closed (eof), reset the connection, or sent
// nothing for `idle_ms` (timed_out).
struct Raw {
  std::string data;
  bool eof = false;
  bool reset = false;
  bool timed_out = false;
};

Raw RawExchange(int port, const std::string& request, int idle_ms) {
  Raw r;
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ADD_FAILURE() << "connect: " << strerror(errno);
    ::close(fd);
    return r;
  }
  size_t sent = 0;
  while (sent < request.size()) {
    ssize_t n = ::send(fd, request.data() + sent, request.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) break;
    sent += static_cast<size_t>(n);
  }
  char buf[16384];
  for (;;) {
    pollfd p{fd, POLLIN, 0};
    int ready = ::poll(&p, 1, idle_ms);
    if (ready == 0) {
      r.timed_out = true;
      break;
    }
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n > 0) {
      r.data.append(buf, static_cast<size_t>(n));
    } else {
      if (n == 0)
        r.eof = true;
      else
        r.reset = errno == ECONNRESET;
      break;
    }
  }
  ::close(fd);
  return r;
}

std::string HttpPost(const std::string& path, const std::string& body) {
  return "POST " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n" +
         "Content-Length: " + std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" + body;
}

const std::string kHello =
    R"({"model":"sim-large","messages":[{"role":"user","content":"hello there"}]})";
const std::string kHelloStream =
    R"({"model":"sim-large","stream":true,"messages":[{"role":"user","content":"hello there"}]})";
const std::string kHelloAnthropic =
    R"({"model":"sim-large","max_tokens":100,"messages":[{"role":"user","content":"hello there"}]})";
const std::string kWeatherTools =
    R"([{"type":"function","function":{"name":"get_weather","parameters":{"type":"object"}}}])";

class SimHttpTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    sim_ = new SimProcess();
    Status st = sim_->Start();
    ASSERT_TRUE(st.ok()) << st.error().message;
  }
  static void TearDownTestSuite() {
    delete sim_;
    sim_ = nullptr;
  }
  void SetUp() override {
    ASSERT_NE(sim_, nullptr);
    ASSERT_TRUE(sim_->running()) << sim_->Logs();
    ASSERT_TRUE(sim_->SetFaults("{}").ok());
    ASSERT_TRUE(sim_->LoadScenario(R"({"rules": [], "default": "echo"})").ok());
    ASSERT_TRUE(sim_->Reset().ok());
  }

  HttpClient Client(int64_t timeout_ms = 10'000) {
    return HttpClient("127.0.0.1", sim_->port(), timeout_ms);
  }
  Response Post(const std::string& path, const std::string& body,
                const std::map<std::string, std::string>& headers = {}) {
    HttpClient c = Client();
    auto r = c.Post(path, body, headers);
    EXPECT_TRUE(r.ok()) << "POST " << path << ": " << (r.ok() ? "" : r.error().message);
    return r.ok() ? *r : Response{};
  }
  json::value Stats() {
    auto s = sim_->Stats();
    EXPECT_TRUE(s.ok());
    return s.ok() ? *s : json::value();
  }
  json::array Requests() {
    auto r = sim_->Requests();
    EXPECT_TRUE(r.ok());
    return r.ok() ? *r : json::array();
  }
  void Faults(const std::string& faults) {
    Status st = sim_->SetFaults(faults);
    ASSERT_TRUE(st.ok()) << st.error().message;
  }

  static SimProcess* sim_;
};

SimProcess* SimHttpTest::sim_ = nullptr;

// --- replies ---------------------------------------------------------------------------------

TEST_F(SimHttpTest, OpenAiReplyAndKeepAlive) {
  HttpClient c = Client();
  for (int i = 0; i < 3; ++i) {
    Response r = MustPost(c, "/v1/chat/completions", kHello);
    ASSERT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(r.headers["content-type"], "application/json");
    json::value v = Parse(r.body);
    EXPECT_EQ(Str(v, "/object"), "chat.completion");
    EXPECT_EQ(Str(v, "/id").rfind("chatcmpl-", 0), 0u);
    EXPECT_EQ(Str(v, "/choices/0/message/content"), "echo: hello there");
    EXPECT_EQ(Str(v, "/choices/0/finish_reason"), "stop");
    EXPECT_EQ(At(v, "/usage/prompt_tokens").as_int64(), 3);      // 11 chars
    EXPECT_EQ(At(v, "/usage/completion_tokens").as_int64(), 5);  // 17 chars
    EXPECT_EQ(At(v, "/usage/total_tokens").as_int64(), 8);
  }
  EXPECT_EQ(c.connections_opened(), 1);  // one keep-alive connection served all three
}

TEST_F(SimHttpTest, OpenAiStream) {
  Response r = Post("/v1/chat/completions",
                    R"({"model":"sim-large","stream":true,"stream_options":{"include_usage":true},
                        "messages":[{"role":"user","content":"one two three four"}]})");
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(r.headers["content-type"], "text/event-stream; charset=utf-8");
  auto events = ParseSse(r.body);
  ASSERT_GE(events.size(), 5u);
  EXPECT_EQ(events.back().data, "[DONE]");
  std::string content, finish;
  json::value usage;
  for (size_t i = 0; i + 1 < events.size(); ++i) {
    json::value chunk = Parse(events[i].data);
    EXPECT_EQ(Str(chunk, "/object"), "chat.completion.chunk");
    if (i == 0) {
      EXPECT_EQ(Str(chunk, "/choices/0/delta/role"), "assistant");
    }
    if (At(chunk, "/choices").as_array().empty()) {
      usage = At(chunk, "/usage");
      continue;
    }
    content += Str(chunk, "/choices/0/delta/content");
    if (At(chunk, "/choices/0/finish_reason").is_string()) {
      finish = Str(chunk, "/choices/0/finish_reason");
    }
  }
  EXPECT_EQ(content, "echo: one two three four");
  EXPECT_EQ(finish, "stop");
  ASSERT_TRUE(usage.is_object());
  EXPECT_EQ(At(usage, "/completion_tokens").as_int64(), 6);
}

TEST_F(SimHttpTest, AnthropicReplyAndStream) {
  Response r = Post("/v1/messages", kHelloAnthropic);
  ASSERT_EQ(r.status, 200) << r.body;
  json::value v = Parse(r.body);
  EXPECT_EQ(Str(v, "/type"), "message");
  EXPECT_EQ(Str(v, "/id").rfind("msg_", 0), 0u);
  EXPECT_EQ(Str(v, "/content/0/type"), "text");
  EXPECT_EQ(Str(v, "/content/0/text"), "echo: hello there");
  EXPECT_EQ(Str(v, "/stop_reason"), "end_turn");
  EXPECT_EQ(At(v, "/usage/input_tokens").as_int64(), 3);
  EXPECT_EQ(At(v, "/usage/output_tokens").as_int64(), 5);

  Response s = Post("/v1/messages",
                    R"({"model":"sim-large","max_tokens":100,"stream":true,
                        "messages":[{"role":"user","content":"hello there"}]})");
  ASSERT_EQ(s.status, 200);
  auto events = ParseSse(s.body);
  ASSERT_GE(events.size(), 6u);
  EXPECT_EQ(events.front().event, "message_start");
  EXPECT_EQ(events.back().event, "message_stop");
  std::string text, stop;
  for (const auto& e : events) {
    json::value d = Parse(e.data);
    EXPECT_EQ(Str(d, "/type"), e.event);
    if (e.event == "content_block_delta") text += Str(d, "/delta/text");
    if (e.event == "message_delta") stop = Str(d, "/delta/stop_reason");
  }
  EXPECT_EQ(text, "echo: hello there");
  EXPECT_EQ(stop, "end_turn");
}

TEST_F(SimHttpTest, ScriptedToolCallsInBothApis) {
  ASSERT_TRUE(sim_->LoadScenario(R"({"rules": [
    {"when": {"last_user_contains": "weather", "last_role": "user", "has_tool": "get_weather"},
     "reply": {"tool_calls": [{"name": "get_weather", "arguments": {"city": "Oslo"}}]}},
    {"when": {"last_role": "tool", "tool_name": "get_weather"},
     "reply": {"content": "It is {{tool_result}} in Oslo."}}]})")
                  .ok());
  Response r = Post("/v1/chat/completions",
                    R"({"model":"sim-large","tools":)" + kWeatherTools +
                        R"(,"messages":[{"role":"user","content":"weather in Oslo?"}]})");
  json::value v = Parse(r.body);
  EXPECT_EQ(Str(v, "/choices/0/finish_reason"), "tool_calls");
  EXPECT_TRUE(At(v, "/choices/0/message/content").is_null());
  std::string call_id = Str(v, "/choices/0/message/tool_calls/0/id");
  EXPECT_EQ(call_id.rfind("call_", 0), 0u);
  EXPECT_EQ(Str(v, "/choices/0/message/tool_calls/0/function/name"), "get_weather");
  EXPECT_EQ(Str(v, "/choices/0/message/tool_calls/0/function/arguments"), R"({"city":"Oslo"})");

  Response r2 =
      Post("/v1/chat/completions",
           R"({"model":"sim-large","tools":)" + kWeatherTools + R"(,"messages":[
                       {"role":"user","content":"weather in Oslo?"},
                       {"role":"assistant","content":null,"tool_calls":[{"id":")" +
               call_id +
               R"(","type":"function","function":{"name":"get_weather","arguments":"{}"}}]},
                       {"role":"tool","tool_call_id":")" +
               call_id + R"(","content":"rainy"}]})");
  EXPECT_EQ(Str(Parse(r2.body), "/choices/0/message/content"), "It is rainy in Oslo.");

  Response a = Post("/v1/messages", R"({"model":"sim-large","max_tokens":100,
    "tools":[{"name":"get_weather","input_schema":{"type":"object"}}],
    "messages":[{"role":"user","content":"weather please"}]})");
  json::value av = Parse(a.body);
  EXPECT_EQ(Str(av, "/stop_reason"), "tool_use");
  EXPECT_EQ(Str(av, "/content/0/type"), "tool_use");
  EXPECT_EQ(Str(av, "/content/0/id").rfind("toolu_", 0), 0u);
  EXPECT_EQ(Str(av, "/content/0/input/city"), "Oslo");

  // Streamed: the tool call's arguments arrive as deltas that add up to the JSON.
  Response s = Post("/v1/chat/completions",
                    R"({"model":"sim-large","stream":true,"tools":)" + kWeatherTools +
                        R"(,"messages":[{"role":"user","content":"weather now"}]})");
  std::string args, name;
  for (const auto& e : ParseSse(s.body)) {
    if (e.data == "[DONE]") continue;
    json::value chunk = Parse(e.data);
    name += Str(chunk, "/choices/0/delta/tool_calls/0/function/name");
    args += Str(chunk, "/choices/0/delta/tool_calls/0/function/arguments");
  }
  EXPECT_EQ(name, "get_weather");
  EXPECT_EQ(args, R"({"city":"Oslo"})");
}

TEST_F(SimHttpTest, ScenarioFileInTomlAndBadScenarioFile) {
  std::string dir = ServerProcess::MakeTempDir("keel-sim-scn-");
  std::string good = dir + "/s.toml";
  std::ofstream(good) << R"(
[[rules]]
when = { model = "scripted" }
reply = { content = "scripted reply for {{model}}" }
)";
  SimProcess s({.scenario_file = good});
  Status st = s.Start();
  ASSERT_TRUE(st.ok()) << st.error().message;
  HttpClient c("127.0.0.1", s.port());
  Response r = MustPost(c, "/v1/chat/completions",
                        R"({"model":"scripted","messages":[{"role":"user","content":"x"}]})");
  EXPECT_EQ(Str(Parse(r.body), "/choices/0/message/content"), "scripted reply for scripted");
  Response models = MustGet(c, "/v1/models");
  EXPECT_NE(models.body.find("\"scripted\""), std::string::npos) << models.body;
  EXPECT_NE(models.body.find("\"sim-small\""), std::string::npos) << models.body;

  std::string bad = dir + "/bad.json";
  std::ofstream(bad) << R"({"rules": [{"when": {"turn": 0}, "reply": {}}]})";
  SimProcess b({.scenario_file = bad});
  Status bst = b.Start();
  ASSERT_FALSE(bst.ok());
  EXPECT_NE(bst.error().message.find("exited with status 2"), std::string::npos)
      << bst.error().message;
  EXPECT_NE(bst.error().message.find(bad + ": rules[0].when.turn: must be at least 1"),
            std::string::npos)
      << bst.error().message;
  std::filesystem::remove_all(dir);
}

// --- deterministic faults --------------------------------------------------------------------

TEST_F(SimHttpTest, FailNextThenSuccessCountedPerModel) {
  Faults(R"({"sim-large": {"fail_next": 2, "fail_status": 503}})");
  for (int i = 0; i < 2; ++i) {
    Response r = Post("/v1/chat/completions", kHello);
    EXPECT_EQ(r.status, 503);
    EXPECT_EQ(Str(Parse(r.body), "/error/type"), "server_error");
  }
  EXPECT_EQ(Post("/v1/chat/completions", kHello).status, 200);
  EXPECT_EQ(Post("/v1/chat/completions",
                 R"({"model":"sim-small","messages":[{"role":"user","content":"x"}]})")
                .status,
            200);
  json::value stats = Stats();
  EXPECT_EQ(At(stats, "/requests_total").as_int64(), 4);
  EXPECT_EQ(At(stats, "/models/sim-large/requests").as_int64(), 3);
  EXPECT_EQ(At(stats, "/models/sim-large/by_status/503").as_int64(), 2);
  EXPECT_EQ(At(stats, "/models/sim-large/by_status/200").as_int64(), 1);
  EXPECT_EQ(At(stats, "/models/sim-small/requests").as_int64(), 1);
  auto faults = sim_->Stats();  // admin calls never count as model requests
  EXPECT_EQ(At(*faults, "/requests_total").as_int64(), 4);
}

TEST_F(SimHttpTest, RateLimitNextSendsRetryAfterInBothShapes) {
  Faults(R"({"*": {"rate_limit_next": 2, "retry_after": "1500ms"}})");
  Response r = Post("/v1/chat/completions", kHello);
  EXPECT_EQ(r.status, 429);
  EXPECT_EQ(r.headers["retry-after"], "2");
  EXPECT_EQ(r.headers["retry-after-ms"], "1500");
  EXPECT_EQ(Str(Parse(r.body), "/error/code"), "rate_limit_exceeded");
  Response a = Post("/v1/messages", kHelloAnthropic);
  EXPECT_EQ(a.status, 429);
  EXPECT_EQ(a.headers["retry-after"], "2");
  EXPECT_EQ(Str(Parse(a.body), "/type"), "error");
  EXPECT_EQ(Str(Parse(a.body), "/error/type"), "rate_limit_error");
  EXPECT_EQ(Post("/v1/messages", kHelloAnthropic).status, 200);
}

TEST_F(SimHttpTest, OutageUntilCleared) {
  Faults(R"({"*": {"outage": true}})");
  for (int i = 0; i < 3; ++i) EXPECT_EQ(Post("/v1/chat/completions", kHello).status, 503);
  Response a = Post("/v1/messages", kHelloAnthropic);
  EXPECT_EQ(a.status, 503);
  EXPECT_EQ(Str(Parse(a.body), "/error/type"), "api_error");
  Faults("{}");
  EXPECT_EQ(Post("/v1/chat/completions", kHello).status, 200);
  auto faults = HttpClient("127.0.0.1", sim_->port()).Get("/admin/faults");
  ASSERT_TRUE(faults.ok());
  EXPECT_EQ(faults->body, "{}");
}

TEST_F(SimHttpTest, SpendLimitInBothShapes) {
  Faults(R"({"*": {"spend_limit": true}})");
  Response r = Post("/v1/chat/completions", kHello);
  EXPECT_EQ(r.status, 429);
  json::value v = Parse(r.body);
  EXPECT_EQ(Str(v, "/error/type"), "insufficient_quota");
  EXPECT_EQ(Str(v, "/error/code"), "insufficient_quota");
  EXPECT_EQ(Str(v, "/error/message"),
            "You exceeded your current quota, please check your plan and billing details.");
  Response a = Post("/v1/messages", kHelloAnthropic);
  EXPECT_EQ(a.status, 400);
  json::value av = Parse(a.body);
  EXPECT_EQ(Str(av, "/type"), "error");
  EXPECT_EQ(Str(av, "/error/type"), "invalid_request_error");
  EXPECT_EQ(Str(av, "/error/message").rfind("Your credit balance is too low", 0), 0u);
}

TEST_F(SimHttpTest, MalformedBodyAndMalformedStream) {
  Faults(R"({"*": {"malformed_rate": 1}})");
  Response r = Post("/v1/chat/completions", kHello);
  EXPECT_EQ(r.status, 200);
  boost::system::error_code ec;
  json::parse(r.body, ec);
  EXPECT_TRUE(ec) << "expected invalid JSON, got " << r.body;
  Response s = Post("/v1/chat/completions", kHelloStream);
  EXPECT_EQ(s.status, 200);
  int bad = 0;
  for (const auto& e : ParseSse(s.body)) {
    if (e.data == "[DONE]") continue;
    json::parse(e.data, ec);
    bad += ec ? 1 : 0;
  }
  EXPECT_EQ(bad, 1) << s.body;
  EXPECT_EQ(At(Requests()[0], "/fault").as_string(), "malformed");
}

TEST_F(SimHttpTest, TruncatedBodyAndTruncatedStream) {
  Faults(R"({"*": {"truncated_rate": 1}})");
  Raw r = RawExchange(sim_->port(), HttpPost("/v1/chat/completions", kHello), 5000);
  EXPECT_TRUE(r.eof);
  size_t head_end = r.data.find("\r\n\r\n");
  ASSERT_NE(head_end, std::string::npos) << r.data;
  size_t cl = r.data.find("Content-Length: ");
  ASSERT_NE(cl, std::string::npos);
  size_t promised = std::stoul(r.data.substr(cl + 16));
  EXPECT_LT(r.data.size() - head_end - 4, promised);
  // Streamed: the chunked body ends without its last chunk and without [DONE].
  Raw s = RawExchange(sim_->port(), HttpPost("/v1/chat/completions", kHelloStream), 5000);
  EXPECT_TRUE(s.eof);
  EXPECT_NE(s.data.find("data: "), std::string::npos);
  EXPECT_EQ(s.data.find("[DONE]"), std::string::npos);
  EXPECT_EQ(s.data.find("\r\n0\r\n\r\n"), std::string::npos);
}

TEST_F(SimHttpTest, ResetClosesWithRst) {
  Faults(R"({"sim-large": {"reset_rate": 1}})");
  Raw r = RawExchange(sim_->port(), HttpPost("/v1/chat/completions", kHello), 5000);
  EXPECT_TRUE(r.reset) << "eof=" << r.eof << " data=" << r.data;
  EXPECT_TRUE(r.data.empty());
  json::array reqs = Requests();
  ASSERT_EQ(reqs.size(), 1u);
  EXPECT_EQ(Str(reqs[0], "/fault"), "reset");
  EXPECT_EQ(Str(reqs[0], "/response_id"), "");
}

TEST_F(SimHttpTest, StallSendsSomeEventsThenNothing) {
  Faults(R"({"*": {"stall_rate": 1, "stall_after_chunks": 2}})");
  Raw s = RawExchange(sim_->port(), HttpPost("/v1/chat/completions", kHelloStream), 500);
  EXPECT_TRUE(s.timed_out);
  EXPECT_FALSE(s.eof);
  EXPECT_NE(s.data.find("200 OK"), std::string::npos);
  size_t frames = 0;
  for (size_t p = 0; (p = s.data.find("data: ", p)) != std::string::npos; ++p) ++frames;
  EXPECT_EQ(frames, 2u) << s.data;
  // Not streamed: the headers never arrive.
  Raw n = RawExchange(sim_->port(), HttpPost("/v1/chat/completions", kHello), 500);
  EXPECT_TRUE(n.timed_out);
  EXPECT_TRUE(n.data.empty());
  // With a client timeout, the stall is a timeout.
  HttpClient c = Client(300);
  auto r = c.Post("/v1/messages", kHelloAnthropic);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Errc::kTimeout);
}

TEST_F(SimHttpTest, BlackholeNeverAnswers) {
  Faults(R"({"tool:echo": {"blackhole_rate": 1}, "*": {"blackhole_rate": 1}})");
  Raw r = RawExchange(sim_->port(), HttpPost("/v1/messages", kHelloAnthropic), 500);
  EXPECT_TRUE(r.timed_out);
  EXPECT_TRUE(r.data.empty());
  Raw t = RawExchange(sim_->port(), HttpPost("/tools/echo", "{}"), 500);
  EXPECT_TRUE(t.timed_out);
  EXPECT_TRUE(t.data.empty());
  // The sim accounted for both while they hung.
  EXPECT_EQ(At(Stats(), "/requests_total").as_int64(), 2);
}

TEST_F(SimHttpTest, BadToolArgsAlternateAndOmitUsage) {
  Faults(R"({"*": {"bad_tool_args_rate": 1, "omit_usage": true}})");
  std::string body =
      R"({"model":"sim-large","tools":)" + kWeatherTools +
      R"(,"messages":[{"role":"user","content":"tool:get_weather {\"city\":\"Oslo\"}"}]})";
  json::value first = Parse(Post("/v1/chat/completions", body).body);
  json::value second = Parse(Post("/v1/chat/completions", body).body);
  boost::system::error_code ec;
  json::parse(Str(first, "/choices/0/message/tool_calls/0/function/arguments"), ec);
  EXPECT_TRUE(ec) << "first: not JSON";
  json::value args = Parse(Str(second, "/choices/0/message/tool_calls/0/function/arguments"));
  EXPECT_FALSE(At(args, "/city").is_string()) << "second: JSON that breaks the schema";
  EXPECT_FALSE(first.as_object().contains("usage"));
  EXPECT_EQ(Str(Requests()[0], "/fault"), "bad_tool_args");
}

// --- tools and accounting --------------------------------------------------------------------

TEST_F(SimHttpTest, ToolsCountIdempotencyKeysAndTraceparent) {
  const std::string tp = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
  Response w = Post("/tools/get_weather", R"({"city":"Oslo"})",
                    {{"Idempotency-Key", "k1"}, {"traceparent", tp}});
  ASSERT_EQ(w.status, 200) << w.body;
  json::value wv = Parse(w.body);
  EXPECT_EQ(Str(wv, "/city"), "Oslo");
  EXPECT_TRUE(At(wv, "/temp_c").is_int64());
  EXPECT_FALSE(Str(wv, "/conditions").empty());
  int64_t id1 = At(wv, "/call_id").as_int64();
  Response again = Post("/tools/get_weather", R"({"city":"Oslo"})", {{"Idempotency-Key", "k1"}});
  int64_t id2 = At(Parse(again.body), "/call_id").as_int64();
  EXPECT_GT(id2, id1);
  EXPECT_EQ(Str(Parse(again.body), "/conditions"), Str(wv, "/conditions"));  // deterministic
  EXPECT_EQ(At(Parse(Post("/tools/add", R"({"a":2,"b":40})").body), "/sum").as_int64(), 42);
  EXPECT_EQ(At(Parse(Post("/tools/echo", R"({"x":[1]})").body), "/echo/x/0").as_int64(), 1);
  EXPECT_EQ(Str(Parse(Post("/tools/big", R"({"bytes":100000})").body), "/data").size(), 100000u);
  EXPECT_EQ(At(Parse(Post("/tools/sleep", R"({"ms":10})").body), "/slept_ms").as_int64(), 10);
  EXPECT_EQ(Str(Parse(Post("/tools/search", R"({"q":"x"})").body), "/tool"), "search");
  EXPECT_EQ(Post("/tools/add", "not json").status, 400);

  // Faults apply under "tool:<name>" and the failed call gets no call_id.
  Faults(R"({"tool:get_weather": {"fail_next": 1, "fail_status": 500}})");
  EXPECT_EQ(Post("/tools/get_weather", R"({"city":"Oslo"})", {{"Idempotency-Key", "k2"}}).status,
            500);
  Response ok = Post("/tools/get_weather", R"({"city":"Oslo"})", {{"Idempotency-Key", "k2"}});
  EXPECT_EQ(ok.status, 200);

  json::value stats = Stats();
  EXPECT_EQ(At(stats, "/tools/get_weather/requests").as_int64(), 4);
  EXPECT_EQ(At(stats, "/tools/get_weather/keys/k1/count").as_int64(), 2);
  EXPECT_EQ(json::serialize(At(stats, "/tools/get_weather/keys/k1/call_ids")),
            "[" + std::to_string(id1) + "," + std::to_string(id2) + "]");
  EXPECT_EQ(At(stats, "/tools/get_weather/keys/k2/count").as_int64(), 2);
  EXPECT_EQ(At(stats, "/tools/get_weather/keys/k2/call_ids").as_array().size(), 1u);
  EXPECT_EQ(Str(stats, "/tools/get_weather/last_traceparent"), tp);
  EXPECT_EQ(At(stats, "/models").as_object().size(), 0u);  // tools are not model requests
}

// --- effects ---------------------------------------------------------------------------------

json::value Effects(SimProcess& sim) {
  HttpClient c("127.0.0.1", sim.port());
  Response r = MustGet(c, "/admin/effects");
  EXPECT_EQ(r.status, 200) << r.body;
  return Parse(r.body);
}

TEST_F(SimHttpTest, HonourEffectsApplyOncePerKeyAndReplayTheStoredAnswer) {
  Response first =
      Post("/effects/honour/file_loan", R"({"app_id":"A-1"})", {{"Idempotency-Key", "run-1:7"}});
  ASSERT_EQ(first.status, 200) << first.body;
  EXPECT_EQ(first.headers.count("idempotent-replay"), 0u);
  json::value v = Parse(first.body);
  int64_t id = At(v, "/effect_id").as_int64();
  EXPECT_EQ(Str(v, "/name"), "file_loan");
  EXPECT_EQ(Str(v, "/mode"), "honour");
  EXPECT_EQ(Str(v, "/args/app_id"), "A-1");
  EXPECT_EQ(Str(v, "/idempotency_key"), "run-1:7");

  Response again =
      Post("/effects/honour/file_loan", R"({"app_id":"A-1"})", {{"Idempotency-Key", "run-1:7"}});
  ASSERT_EQ(again.status, 200) << again.body;
  EXPECT_EQ(again.headers["idempotent-replay"], "true");
  EXPECT_EQ(again.body, first.body);

  Response reused =
      Post("/effects/honour/file_loan", R"({"app_id":"B-2"})", {{"Idempotency-Key", "run-1:7"}});
  EXPECT_EQ(reused.status, 422) << reused.body;
  EXPECT_NE(reused.body.find("already used"), std::string::npos) << reused.body;
  Response keyless = Post("/effects/honour/file_loan", R"({"app_id":"A-1"})");
  EXPECT_EQ(keyless.status, 400) << keyless.body;
  EXPECT_NE(keyless.body.find("Idempotency-Key header is required"), std::string::npos);

  // The first two deliveries of another intent are refused (nothing applied), the third
  // applies, the fourth is a replay.
  Faults(R"({"effect:file_loan": {"fail_next": 2}})");
  const std::map<std::string, std::string> key2{{"Idempotency-Key", "run-1:9"}};
  EXPECT_EQ(Post("/effects/honour/file_loan", R"({"app_id":"C"})", key2).status, 503);
  EXPECT_EQ(Post("/effects/honour/file_loan", R"({"app_id":"C"})", key2).status, 503);
  Response applied = Post("/effects/honour/file_loan", R"({"app_id":"C"})", key2);
  ASSERT_EQ(applied.status, 200) << applied.body;
  EXPECT_EQ(applied.headers.count("idempotent-replay"), 0u);
  EXPECT_EQ(
      Post("/effects/honour/file_loan", R"({"app_id":"C"})", key2).headers["idempotent-replay"],
      "true");

  json::value e = Effects(*sim_);
  json::array effects = At(e, "/effects").as_array();
  ASSERT_EQ(effects.size(), 2u) << json::serialize(e);
  EXPECT_EQ(At(effects[0], "/effect_id").as_int64(), id);
  EXPECT_EQ(Str(effects[0], "/idempotency_key"), "run-1:7");
  EXPECT_EQ(Str(effects[1], "/args/app_id"), "C");
  EXPECT_GT(At(effects[1], "/at_ms").as_int64(), 0);
  EXPECT_EQ(At(e, "/requests_by_key/run-1:7").as_int64(), 3);
  EXPECT_EQ(At(e, "/applied_by_key/run-1:7").as_int64(), 1);
  EXPECT_EQ(At(e, "/requests_by_key/run-1:9").as_int64(), 4);
  EXPECT_EQ(At(e, "/applied_by_key/run-1:9").as_int64(), 1);
}

TEST_F(SimHttpTest, NaiveEffectsApplyEveryDeliveryEvenWhenTheAnswerIsLost) {
  const std::map<std::string, std::string> key{{"Idempotency-Key", "run-2:3"}};
  int64_t last = 0;
  for (int i = 0; i < 2; ++i) {
    Response r = Post("/effects/naive/send_email", R"({"to":"ana"})", key);
    ASSERT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(r.headers.count("idempotent-replay"), 0u);
    int64_t id = At(Parse(r.body), "/effect_id").as_int64();
    EXPECT_GT(id, last);
    last = id;
  }
  // The service applies the effect, then the connection is reset before the answer.
  Faults(R"({"effect:*": {"reset_rate": 1}})");
  Raw raw = RawExchange(sim_->port(),
                        "POST /effects/naive/send_email HTTP/1.1\r\nHost: x\r\n"
                        "Idempotency-Key: run-2:3\r\nContent-Length: 12\r\n"
                        "Connection: close\r\n\r\n{\"to\":\"ana\"}",
                        5000);
  EXPECT_TRUE(raw.reset || raw.eof) << raw.data;
  EXPECT_EQ(raw.data, "");
  // Or the caller stops waiting for a slow answer: applied all the same.
  Faults(R"({"effect:send_email": {"latency": "5s"}})");
  HttpClient impatient = Client(500);
  auto timed_out = impatient.Post("/effects/naive/send_email", R"({"to":"ana"})", key);
  ASSERT_FALSE(timed_out.ok());
  EXPECT_EQ(timed_out.error().code, Errc::kTimeout);
  Faults("{}");

  json::value e;
  for (int i = 0; i < 200; ++i) {
    e = Effects(*sim_);
    if (At(e, "/effects").as_array().size() >= 4) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ASSERT_EQ(At(e, "/effects").as_array().size(), 4u) << json::serialize(e);
  EXPECT_EQ(At(e, "/requests_by_key/run-2:3").as_int64(), 4);
  EXPECT_EQ(At(e, "/applied_by_key/run-2:3").as_int64(), 4);
  EXPECT_EQ(Str(At(e, "/effects").as_array()[3], "/mode"), "naive");
  // A keyless request to a naive service is fine and counted under no key.
  Response keyless = Post("/effects/naive/send_email", R"({"to":"ben"})");
  ASSERT_EQ(keyless.status, 200) << keyless.body;
  EXPECT_TRUE(At(Parse(keyless.body), "/idempotency_key").is_null());
}

TEST_F(SimHttpTest, EffectsBadRequestsAndReset) {
  EXPECT_EQ(Post("/effects/sometimes/x", "{}").status, 404);
  Response no_name = Post("/effects/honour", "{}");
  EXPECT_EQ(no_name.status, 404);
  EXPECT_NE(no_name.body.find("/effects/honour/{name}"), std::string::npos) << no_name.body;
  EXPECT_EQ(Post("/effects/honour/a/b", "{}", {{"Idempotency-Key", "k"}}).status, 404);
  HttpClient c = Client();
  auto get = c.Get("/effects/naive/x");
  ASSERT_TRUE(get.ok());
  EXPECT_EQ(get->status, 405);
  Response bad = Post("/effects/naive/x", "not json");
  EXPECT_EQ(bad.status, 400);
  EXPECT_NE(bad.body.find("the body must be JSON"), std::string::npos) << bad.body;
  auto admin_post = c.Post("/admin/effects", "{}");
  ASSERT_TRUE(admin_post.ok());
  EXPECT_EQ(admin_post->status, 405);

  const std::map<std::string, std::string> key{{"Idempotency-Key", "run-3:1"}};
  Response first = Post("/effects/honour/pay", R"({"amount":10})", key);
  ASSERT_EQ(first.status, 200) << first.body;
  ASSERT_TRUE(sim_->Reset().ok());
  json::value e = Effects(*sim_);
  EXPECT_TRUE(At(e, "/effects").as_array().empty());
  EXPECT_TRUE(At(e, "/requests_by_key").as_object().empty());
  EXPECT_TRUE(At(e, "/applied_by_key").as_object().empty());
  // Reset also forgets the stored answers: the key applies again, as a new effect.
  Response after = Post("/effects/honour/pay", R"({"amount":10})", key);
  ASSERT_EQ(after.status, 200);
  EXPECT_EQ(after.headers.count("idempotent-replay"), 0u);
  EXPECT_GT(At(Parse(after.body), "/effect_id").as_int64(),
            At(Parse(first.body), "/effect_id").as_int64());
}

TEST_F(SimHttpTest, RequestsLogFingerprintsInArrivalOrder) {
  Response a = Post("/v1/chat/completions", kHello, {{"Idempotency-Key", "idem-1"}});
  Response b =
      Post("/v1/chat/completions",
           R"({"messages":[{"content":"hello there","role":"user"}],"model":"sim-large"})");
  Response c = Post("/v1/chat/completions",
                    R"({"model":"sim-large","messages":[{"role":"user","content":"other"}]})");
  Response d = Post("/v1/messages", kHelloAnthropic);
  Post("/tools/echo", R"({"a":1})");
  Post("/tools/echo", R"({ "a" : 1 })");
  Post("/tools/echo", R"({"a":2})");
  json::array reqs = Requests();
  ASSERT_EQ(reqs.size(), 7u);
  for (size_t i = 0; i < reqs.size(); ++i) EXPECT_EQ(At(reqs[i], "/n").as_int64(), int64_t(i + 1));
  EXPECT_EQ(Str(reqs[0], "/api"), "openai");
  EXPECT_EQ(Str(reqs[0], "/model"), "sim-large");
  EXPECT_EQ(Str(reqs[0], "/idempotency_key"), "idem-1");
  EXPECT_EQ(Str(reqs[0], "/response_id"), Str(Parse(a.body), "/id"));
  EXPECT_EQ(At(reqs[0], "/status").as_int64(), 200);
  EXPECT_EQ(Str(reqs[0], "/fault"), "");
  EXPECT_EQ(Str(reqs[0], "/fingerprint"), Str(reqs[1], "/fingerprint"));  // same request
  EXPECT_NE(Str(reqs[0], "/fingerprint"), Str(reqs[2], "/fingerprint"));
  EXPECT_EQ(Str(reqs[3], "/api"), "anthropic");
  EXPECT_EQ(Str(reqs[3], "/response_id"), Str(Parse(d.body), "/id"));
  EXPECT_EQ(Str(reqs[4], "/api"), "tool");
  EXPECT_EQ(Str(reqs[4], "/model"), "echo");
  EXPECT_EQ(Str(reqs[4], "/fingerprint"), Str(reqs[5], "/fingerprint"));
  EXPECT_NE(Str(reqs[4], "/fingerprint"), Str(reqs[6], "/fingerprint"));
  ASSERT_TRUE(sim_->Reset().ok());
  EXPECT_TRUE(Requests().empty());
  EXPECT_EQ(At(Stats(), "/requests_total").as_int64(), 0);
}

// --- robustness ------------------------------------------------------------------------------

TEST_F(SimHttpTest, BadRequestsGetProviderShapedErrors) {
  Response o = Post("/v1/chat/completions", "{not json");
  EXPECT_EQ(o.status, 400);
  EXPECT_EQ(Str(Parse(o.body), "/error/type"), "invalid_request_error");
  Response a = Post("/v1/messages", "{not json");
  EXPECT_EQ(a.status, 400);
  EXPECT_EQ(Str(Parse(a.body), "/error/type"), "invalid_request_error");
  EXPECT_EQ(Str(Parse(a.body), "/type"), "error");
  Response m = Post("/v1/messages", R"({"model":"sim-large","messages":[]})");
  EXPECT_EQ(m.status, 400);
  EXPECT_EQ(Str(Parse(m.body), "/error/message"), "max_tokens: Field required");
  HttpClient c = Client();
  Response nf = MustGet(c, "/v2/nothing");
  EXPECT_EQ(nf.status, 404);
  EXPECT_EQ(Str(Parse(nf.body), "/error/code"), "unknown_url");
  Response wrong = MustGet(c, "/v1/chat/completions");
  EXPECT_EQ(wrong.status, 405);
  std::string big(kHello.size() + (4 << 20), ' ');
  big.replace(0, kHello.size(), kHello);
  Response large = Post("/v1/chat/completions", big);
  EXPECT_EQ(large.status, 413);
  EXPECT_EQ(Str(Parse(large.body), "/error/code"), "request_too_large");
  Response bad_faults = Post("/admin/faults", R"({"*": {"fail_nxt": 1}})");
  EXPECT_EQ(bad_faults.status, 400);
  EXPECT_NE(bad_faults.body.find("faults.*.fail_nxt: unknown key"), std::string::npos);
  Response bad_scenario = Post("/admin/scenario", R"({"rules": [{"reply": 3}]})");
  EXPECT_EQ(bad_scenario.status, 400);
  EXPECT_NE(bad_scenario.body.find("rules[0].reply: must be an object"), std::string::npos);
}

TEST_F(SimHttpTest, ManyConcurrentKeepAliveConnections) {
  constexpr int kClients = 64, kEach = 5;
  std::atomic<int> ok{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kClients; ++t) {
    threads.emplace_back([&, t] {
      HttpClient c("127.0.0.1", sim_->port(), 20'000);
      for (int i = 0; i < kEach; ++i) {
        std::string body = R"({"model":"sim-small","messages":[{"role":"user","content":"c)" +
                           std::to_string(t) + "-" + std::to_string(i) + R"("}]})";
        auto r = c.Post("/v1/chat/completions", body);
        if (r.ok() && r->status == 200 &&
            r->body.find("echo: c" + std::to_string(t) + "-" + std::to_string(i)) !=
                std::string::npos) {
          ++ok;
        }
      }
      if (c.connections_opened() != 1) ok -= 1000;
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(ok.load(), kClients * kEach);
  EXPECT_EQ(At(Stats(), "/models/sim-small/requests").as_int64(), kClients * kEach);
}

TEST(SimProcessTest, RequireKeyAndCleanExitOnSigterm) {
  SimProcess s({.extra_args = {"--require-key", "secret"}});
  Status st = s.Start();
  ASSERT_TRUE(st.ok()) << st.error().message;
  HttpClient c("127.0.0.1", s.port());
  auto no_key = c.Post("/v1/chat/completions", kHello);
  ASSERT_TRUE(no_key.ok());
  EXPECT_EQ(no_key->status, 401);
  EXPECT_EQ(Str(Parse(no_key->body), "/error/code"), "invalid_api_key");
  auto with_key = c.Post("/v1/chat/completions", kHello, {{"Authorization", "Bearer secret"}});
  EXPECT_EQ(with_key->status, 200);
  auto anthropic_bad = c.Post("/v1/messages", kHelloAnthropic, {{"x-api-key", "nope"}});
  EXPECT_EQ(anthropic_bad->status, 401);
  EXPECT_EQ(Str(Parse(anthropic_bad->body), "/error/type"), "authentication_error");
  auto anthropic_ok = c.Post("/v1/messages", kHelloAnthropic, {{"x-api-key", "secret"}});
  EXPECT_EQ(anthropic_ok->status, 200);

  // SIGTERM ends the process with status 0.
  std::string dir = ServerProcess::MakeTempDir("keel-sim-term-");
  CommandResult r =
      RunCommand("'" + SimProcess::Binary() + "' --listen 127.0.0.1:0 --port-file " + dir +
                     "/port 2>/dev/null & pid=$!; for i in $(seq 1 300); do [ -s " + dir +
                     "/port ] && break; sleep 0.05; done; kill -TERM $pid; wait $pid; echo rc=$?",
                 true);
  EXPECT_NE(r.output.find("rc=0"), std::string::npos) << r.output;
  std::filesystem::remove_all(dir);

  auto bad_flag = RunCommand("'" + SimProcess::Binary() + "' --latency soon", true);
  EXPECT_EQ(bad_flag.exit_code, 2);
  EXPECT_NE(bad_flag.output.find("--latency soon"), std::string::npos) << bad_flag.output;
}

}  // namespace
}  // namespace keel::testing
