#include "test/testing/test_util.h"

#include <iostream>
#include <utility>

namespace keel::testing {

namespace json = boost::json;
using client::HttpClient;
using client::Response;

std::string TestWorkflows() { return ServerProcess::SourceDir() + "/test/integration/workflows"; }

json::value Parse(const std::string& text) {
  boost::system::error_code ec;
  json::value v = json::parse(text, ec);
  EXPECT_FALSE(ec) << "not JSON: " << text;
  return ec ? json::value() : v;
}

json::value At(const json::value& v, std::string_view pointer) {
  boost::system::error_code ec;
  const json::value* found = v.find_pointer(pointer, ec);
  return found ? *found : json::value();
}

std::string Str(const json::value& v, std::string_view pointer) {
  json::value f = At(v, pointer);
  return f.is_string() ? std::string(f.get_string()) : std::string();
}

bool IsTerminal(const std::string& s) {
  return s == "succeeded" || s == "failed" || s == "cancelled" || s == "timed_out" ||
         s == "budget_exhausted" || s == "compensated" || s == "compensation_failed";
}

Response MustGet(HttpClient& c, const std::string& target,
                 const std::map<std::string, std::string>& headers) {
  auto r = c.Get(target, headers);
  EXPECT_TRUE(r.ok()) << "GET " << target << ": " << (r.ok() ? "" : r.error().message);
  return r.ok() ? *r : Response{};
}

Response MustPost(HttpClient& c, const std::string& target, const std::string& body) {
  auto r = c.Post(target, body);
  EXPECT_TRUE(r.ok()) << "POST " << target << ": " << (r.ok() ? "" : r.error().message);
  return r.ok() ? *r : Response{};
}

json::value GetRun(HttpClient& c, const std::string& id) {
  Response r = MustGet(c, "/v1/runs/" + id);
  EXPECT_EQ(r.status, 200) << r.body;
  return Parse(r.body);
}

json::value WaitForRun(HttpClient& c, const std::string& id,
                       const std::function<bool(const json::value&)>& pred, int timeout_ms) {
  json::value last;
  bool ok = WaitFor(
      [&] {
        last = GetRun(c, id);
        return pred(last);
      },
      timeout_ms);
  EXPECT_TRUE(ok) << "run " << id << " never reached the expected state within " << timeout_ms
                  << " ms; last: " << json::serialize(last);
  return last;
}

json::value WaitTerminal(HttpClient& c, const std::string& id, int timeout_ms) {
  return WaitForRun(
      c, id, [](const json::value& r) { return IsTerminal(Str(r, "/status")); }, timeout_ms);
}

json::value WaitStatus(HttpClient& c, const std::string& id, const std::string& status,
                       int timeout_ms) {
  return WaitForRun(
      c, id, [&](const json::value& r) { return Str(r, "/status") == status; }, timeout_ms);
}

json::value Submit(HttpClient& c, const json::object& envelope, const std::string& query) {
  Response r = MustPost(c, "/v1/runs" + query, json::serialize(envelope));
  EXPECT_TRUE(r.status == 200 || r.status == 202) << r.body;
  return Parse(r.body);
}

json::array Journal(HttpClient& c, const std::string& id) {
  Response r = MustGet(c, "/v1/runs/" + id + "/journal");
  EXPECT_EQ(r.status, 200) << r.body;
  json::value v = Parse(r.body);
  EXPECT_EQ(Str(v, "/run_id"), id);
  json::value entries = At(v, "/entries");
  return entries.is_array() ? entries.get_array() : json::array();
}

ServerProcess* SharedServerTest::server_ = nullptr;

void SharedServerTest::StartServer(ServerProcess::Options options) {
  server_ = new ServerProcess(std::move(options));
  Status st = server_->Start();
  ASSERT_TRUE(st.ok()) << st.error().message;
}

void SharedServerTest::StopServer() {
  delete server_;
  server_ = nullptr;
}

void SharedServerTest::SetUp() {
  ASSERT_TRUE(server_ && server_->running()) << "server did not start";
}

void SharedServerTest::TearDown() {
  if (HasFailure()) std::cerr << "server log " << server_->current_log() << "\n";
}

}  // namespace keel::testing
