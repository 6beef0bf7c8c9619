#include "cli/status_view.h"

#include <gtest/gtest.h>

#include "cli/output.h"

namespace keel::cli {
namespace {

constexpr int64_t kNow = 1'700'000'000'000;  // 2023-11-14T22:13:20Z

boost::json::object J(std::string_view text) {
  std::string error;
  auto v = ParseJson(text, &error);
  EXPECT_TRUE(v.has_value() && v->is_object()) << error;
  return v && v->is_object() ? v->get_object() : boost::json::object();
}

TEST(StatusViewTest, EngineAndBreakers) {
  EXPECT_EQ(FormatStatus(J(R"({
      "engine": {"draining": false, "active_runs": 3, "queued_runs": 1,
                 "intents": ["approval", "hello", "support"]},
      "gateway": {"breakers": [
        {"key": "sim/sim-large", "state": "open", "requests": 10, "failures": 6,
         "opened_at_ms": 1699999990000, "retry_at_ms": 1700000040000},
        {"key": "tool:get_weather", "state": "closed", "requests": 4, "failures": 0,
         "opened_at_ms": 0, "retry_at_ms": 0},
        {"key": "sim/sim-small", "state": "half_open", "requests": 2, "failures": 1,
         "opened_at_ms": 1699999900000, "retry_at_ms": 1699999990000}]}})"),
                         kNow),
            "engine:  ready\n"
            "runs:    3 active, 1 queued\n"
            "intents: approval, hello, support\n"
            "\n"
            "BREAKER           STATE      REQUESTS  FAILURES  RETRY AT\n"
            "sim/sim-large     open       10        6         2023-11-14T22:14:00Z (in 40s)\n"
            "tool:get_weather  closed     4         0         -\n"
            "sim/sim-small     half_open  2         1         2023-11-14T22:13:10Z (due)\n");
}

TEST(StatusViewTest, DrainingWithoutBreakers) {
  EXPECT_EQ(FormatStatus(J(R"({"engine": {"draining": true, "active_runs": 0, "queued_runs": 0,
                                           "intents": []},
                                "gateway": {"breakers": []}})"),
                         kNow),
            "engine:   draining\n"
            "runs:     0 active, 0 queued\n"
            "intents:  (none)\n"
            "breakers: none\n");
  // An answer missing parts still prints, with zeros.
  EXPECT_EQ(FormatStatus(J("{}"), kNow),
            "engine:   ready\n"
            "runs:     0 active, 0 queued\n"
            "intents:  (none)\n"
            "breakers: none\n");
}

}  // namespace
}  // namespace keel::cli
