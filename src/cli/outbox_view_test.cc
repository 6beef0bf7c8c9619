#include "cli/outbox_view.h"

#include <gtest/gtest.h>

#include "cli/output.h"

namespace keel::cli {
namespace {

namespace json = boost::json;

json::value J(std::string_view text) {
  std::string error;
  auto v = ParseJson(text, &error);
  EXPECT_TRUE(v.has_value()) << error << " in " << text;
  return v ? *v : json::value();
}

TEST(OutboxViewTest, Table) {
  std::string long_error = "HTTP 503: " + std::string(80, 'x');
  json::array intents{
      J(R"({"key":"run-1:7","target":"charge_card","status":"pending","attempts":2,
            "max_attempts":10,"next_attempt_at_ms":1700000004000,"last_error":")" +
        long_error + "\"}"),
      J(R"({"key":"run-1:9","target":"send_mail","status":"delivered","attempts":1,
            "max_attempts":10,"next_attempt_at_ms":1700000004000,"last_error":""})"),
      J(R"({"key":"ap-1:notify:1","target":"slack","status":"failed","attempts":10,
            "max_attempts":10,"next_attempt_at_ms":0,"last_error":"HTTP 404"})"),
  };
  EXPECT_EQ(
      FormatOutboxTable(intents),
      "KEY            TARGET       STATUS     ATTEMPTS  NEXT ATTEMPT          LAST ERROR\n"
      "run-1:7        charge_card  pending    2/10      2023-11-14T22:13:24Z  HTTP 503: " +
          std::string(47, 'x') +
          "...\n"
          "run-1:9        send_mail    delivered  1/10      -                     -\n"
          "ap-1:notify:1  slack        failed     10/10     -                     HTTP 404\n");
}

}  // namespace
}  // namespace keel::cli
