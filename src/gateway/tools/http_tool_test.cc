#include "gateway/tools/http_tool.h"

#include <gtest/gtest.h>

namespace keel::gateway {
namespace {

namespace json = boost::json;

ToolConfig Tool(const std::string& method, const std::string& url) {
  ToolConfig t;
  t.name = "t";
  t.kind = "http";
  t.method = method;
  t.url = url;
  t.headers = {{"Authorization", "Bearer k"}};
  return t;
}

HttpResult Response(int status, std::string body,
                    std::vector<std::pair<std::string, std::string>> headers = {}) {
  HttpResult r;
  r.response.status = status;
  r.response.body = std::move(body);
  r.response.headers = std::move(headers);
  return r;
}

TEST(BuildHttpToolRequest, PostSendsArgumentsAsJsonWithHeadersInOrder) {
  HttpRequest r = BuildHttpToolRequest(Tool("post", "http://h/tools/x"),
                                       json::object{{"city", "Oslo"}}, "run-1:7", "00-tp", 500);
  EXPECT_EQ(r.method, "POST");
  EXPECT_EQ(r.url, "http://h/tools/x");
  EXPECT_EQ(r.body, R"({"city":"Oslo"})");
  EXPECT_EQ(r.timeout_ms, 500);
  EXPECT_EQ(r.connect_timeout_ms, 500);
  std::vector<std::pair<std::string, std::string>> want = {{"Content-Type", "application/json"},
                                                           {"Idempotency-Key", "run-1:7"},
                                                           {"traceparent", "00-tp"},
                                                           {"Authorization", "Bearer k"}};
  EXPECT_EQ(r.headers, want);
}

TEST(BuildHttpToolRequest, GetSendsArgumentsAsQueryParameters) {
  json::object args{{"q", "a b&c=d/é"},
                    {"n", 3},
                    {"flag", true},
                    {"skip", nullptr},
                    {"list", json::array{1, "x"}}};
  HttpRequest r = BuildHttpToolRequest(Tool("GET", "http://h/search?v=1"), args, "k", "", 0);
  EXPECT_EQ(r.method, "GET");
  EXPECT_EQ(r.url,
            "http://h/search?v=1&q=a%20b%26c%3Dd%2F%C3%A9&n=3&flag=true&list=%5B1%2C%22x%22%5D");
  EXPECT_EQ(r.body, "");
  for (const auto& [name, value] : r.headers) {
    EXPECT_NE(name, "Content-Type");
    EXPECT_NE(name, "traceparent") << "an empty traceparent is not sent";
  }
}

TEST(ClassifyHttpToolResult, SuccessBodyIsJsonOrAString) {
  AttemptOutcome o = ClassifyHttpToolResult(Response(200, R"({"a": 1})"), false, 0);
  EXPECT_EQ(o.kind, AttemptOutcome::Kind::kOk);
  EXPECT_EQ(o.result_json, R"({"a": 1})");
  o = ClassifyHttpToolResult(Response(201, "plain \"text\""), false, 0);
  EXPECT_EQ(o.kind, AttemptOutcome::Kind::kOk);
  EXPECT_EQ(o.result_json, R"("plain \"text\"")");
  o = ClassifyHttpToolResult(Response(204, ""), false, 0);
  EXPECT_EQ(o.result_json, "null");
  std::string deep = std::string(100, '[') + std::string(100, ']');
  o = ClassifyHttpToolResult(Response(200, deep), false, 0);
  EXPECT_EQ(o.result_json, deep) << "deep JSON is still JSON";
}

TEST(ClassifyHttpToolResult, ClientErrorsAreToolErrorsExcept408And429) {
  AttemptOutcome o =
      ClassifyHttpToolResult(Response(404, R"({"error":{"message":"no such city"}})"), false, 0);
  EXPECT_EQ(o.kind, AttemptOutcome::Kind::kToolError);
  EXPECT_EQ(o.error, "HTTP 404: no such city");
  EXPECT_EQ(o.http_status, 404);
  o = ClassifyHttpToolResult(Response(429, "slow down", {{"retry-after", "2"}}), false, 0);
  EXPECT_EQ(o.kind, AttemptOutcome::Kind::kRetryable);
  EXPECT_EQ(o.retry_after_ms, 2000);
  EXPECT_EQ(ClassifyHttpToolResult(Response(408, ""), false, 0).kind,
            AttemptOutcome::Kind::kRetryable);
  EXPECT_EQ(ClassifyHttpToolResult(Response(502, ""), false, 0).kind,
            AttemptOutcome::Kind::kRetryable);
}

TEST(ClassifyHttpToolResult, TransportErrors) {
  HttpResult r;
  r.error = TransportError::kTimeout;
  r.error_message = "h: 500 ms";
  EXPECT_EQ(ClassifyHttpToolResult(r, false, 0).kind, AttemptOutcome::Kind::kRetryable);
  EXPECT_EQ(ClassifyHttpToolResult(r, true, 0).kind, AttemptOutcome::Kind::kDeadline);
  r.error = TransportError::kConnect;
  EXPECT_EQ(ClassifyHttpToolResult(r, true, 0).kind, AttemptOutcome::Kind::kRetryable);
  r.error = TransportError::kCancelled;
  EXPECT_EQ(ClassifyHttpToolResult(r, false, 0).kind, AttemptOutcome::Kind::kCancelled);
}

TEST(ErrorBodyMessage, FindsTheMessageOrKeepsAPrefixOfTheBody) {
  EXPECT_EQ(ErrorBodyMessage(R"({"error":{"message":"m1"}})"), "m1");
  EXPECT_EQ(ErrorBodyMessage(R"({"error":"m2"})"), "m2");
  EXPECT_EQ(ErrorBodyMessage(R"({"message":"m3","code":4})"), "m3");
  EXPECT_EQ(ErrorBodyMessage(R"({"detail":"m4"})"), "m4");
  EXPECT_EQ(ErrorBodyMessage("<html>oops</html>"), "<html>oops</html>");
  std::string big(600, 'x');
  EXPECT_EQ(ErrorBodyMessage(big).size(), 500u);
  std::string accents;
  for (int i = 0; i < 300; ++i) accents += "é";  // 2 bytes each
  std::string cut = ErrorBodyMessage(accents);
  EXPECT_EQ(cut.size(), 500u);
  EXPECT_EQ(cut, accents.substr(0, 500));
  std::string odd = "x" + accents;  // the 500-byte cut falls inside a character
  EXPECT_EQ(ErrorBodyMessage(odd).size(), 499u);
}

}  // namespace
}  // namespace keel::gateway
