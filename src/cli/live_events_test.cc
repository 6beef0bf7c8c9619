#include "cli/live_events.h"

#include <gtest/gtest.h>

#include "cli/output.h"

namespace keel::cli {
namespace {

boost::json::value J(std::string_view text) {
  std::string error;
  auto v = ParseJson(text, &error);
  EXPECT_TRUE(v.has_value()) << error;
  return v ? *v : boost::json::value();
}

TEST(LiveEventsTest, StreamedTokensShareOneLine) {
  LiveEventPrinter p;
  std::string out;
  out +=
      p.Feed("1", "config", J(R"({"seq":1,"kind":"config","name":"agent:support","result":{}})"));
  out += p.Feed("2", "interrupts",
                J(R"({"seq":2,"kind":"interrupts","name":"interrupts","result":[]})"));
  out += p.Feed("", "token", J(R"({"seq":3,"text":"It is "})"));
  out += p.Feed("", "token", J(R"({"seq":3,"text":"3 degrees.\nBye"})"));
  out += p.Feed("3", "llm", J(R"({"seq":3,"kind":"llm","name":"fast","result":{
      "response":{"content":"It is 3 degrees.\nBye","tool_calls":[],"model":"sim-small",
                  "usage":{"input_tokens":40,"output_tokens":10}},"attempts":[]}})"));
  EXPECT_EQ(out,
            "  #1 config  agent:support\n"
            "  #3 llm  It is 3 degrees.\n"
            "    Bye\n"
            "  #3 llm  fast -> sim-small  40 in + 10 out tokens\n");
  EXPECT_EQ(p.Finish(), "");
}

TEST(LiveEventsTest, BranchEntriesAreTagged) {
  LiveEventPrinter p;
  std::string out;
  out += p.Feed("4", "parallel",
                J(R"({"seq":4,"kind":"parallel","name":"","result":{"branches":2}})"));
  out += p.Feed("5", "tool", J(R"({"seq":5,"kind":"tool","name":"get_weather","branch":"1.2",
      "result":{"result":{"temp":3}}})"));
  out += p.Feed("6", "llm", J(R"({"seq":6,"kind":"llm","name":"fast","branch":"1.1",
      "result":{"response":{"content":"ok","tool_calls":[],"model":"fast"}}})"));
  out += p.Feed("7", "step",
                J(R"({"seq":7,"kind":"step","name":"fetch","branch":"1.1/1.2","result":1})"));
  EXPECT_EQ(out,
            "  #4 parallel  {\"branches\":2}\n"
            "  #5 [1.2] tool  get_weather  {\"temp\":3}\n"
            "  #6 [1.1] llm  fast  ok\n"
            "  #7 [1.1/1.2] step  fetch  1\n");
}

TEST(LiveEventsTest, AnswersThatWereNotStreamedAreShown) {
  LiveEventPrinter p;
  EXPECT_EQ(p.Feed("3", "llm", J(R"({"seq":3,"kind":"llm","name":"","result":{
      "response":{"content":"hello","tool_calls":[],"model":"m",
                  "usage":{"input_tokens":1,"output_tokens":2}},"attempts":[]}})")),
            "  #3 llm  (default) -> m  1 in + 2 out tokens  hello\n");
  EXPECT_EQ(p.Feed("4", "llm", J(R"({"seq":4,"kind":"llm","name":"m","result":{
      "response":{"content":"","tool_calls":[{"id":"c","name":"a","arguments":{}},
                                             {"id":"d","name":"b","arguments":{}}],
                  "model":"m","usage":{"input_tokens":1,"output_tokens":2}},"attempts":[]}})")),
            "  #4 llm  m  1 in + 2 out tokens  calls a, b\n");
  EXPECT_EQ(p.Feed("5", "llm", J(R"({"seq":5,"kind":"llm","name":"m","result":{
      "error":{"code":"spend_limit","message":"out of credit"},"attempts":[]}})")),
            "  #5 llm  m  error spend_limit: out of credit\n");
  EXPECT_EQ(p.Feed("6", "tool", J(R"({"seq":6,"kind":"tool","name":"t","result":{
      "result":{"ok":true},"attempts":[]}})")),
            "  #6 tool  t  {\"ok\":true}\n");
  EXPECT_EQ(p.Feed("7", "tool", J(R"({"seq":7,"kind":"tool","name":"t","result":{
      "result":{"$ref":"blob:r:7","bytes":99999,"preview":"..."},"attempts":[]}})")),
            "  #7 tool  t  [stored result, 99999 bytes]\n");
  EXPECT_EQ(p.Feed("8", "tool", J(R"({"seq":8,"kind":"tool","name":"t","result":{
      "error":{"code":"tool_error","message":"HTTP 404"},"attempts":[]}})")),
            "  #8 tool  t  error tool_error: HTTP 404\n");
  // Other kinds keep their generic line, and so do interrupts that took input.
  EXPECT_EQ(p.Feed("10", "interrupts", J(R"({"seq":10,"kind":"interrupts","name":"interrupts",
                                            "result":["stop"]})")),
            "  #10 interrupts  interrupts  [\"stop\"]\n");
  EXPECT_EQ(p.Feed("9", "step", J(R"({"seq":9,"kind":"step","name":"s","result":1})")),
            "  #9 step  s  1\n");
}

TEST(LiveEventsTest, AttemptsAndWaits) {
  LiveEventPrinter p;
  // A first attempt that succeeds is the normal case: nothing to say.
  EXPECT_EQ(p.Feed("", "attempt", J(R"({"seq":2,"target":"a","attempt":1,"outcome":"ok"})")), "");
  EXPECT_EQ(p.Feed("", "token", J(R"({"seq":3,"text":"par"})")), "  #3 llm  par");
  EXPECT_EQ(p.Feed("", "attempt", J(R"({"seq":3,"target":"big","attempt":1,"outcome":"retry",
                                        "http_status":503,"error":"HTTP 503: busy",
                                        "backoff_ms":250})")),
            "\n  #3 attempt  big #1 retry: HTTP 503: busy (next try in 250 ms)\n");
  EXPECT_EQ(p.Feed("", "attempt", J(R"({"seq":3,"target":"big","attempt":2,"outcome":"fallback",
                                        "http_status":503})")),
            "  #3 attempt  big #2 fallback: HTTP 503\n");
  // After trouble, the success is news.
  EXPECT_EQ(p.Feed("", "attempt", J(R"({"seq":3,"target":"small","attempt":1,"outcome":"ok"})")),
            "  #3 attempt  small #1 ok\n");
  EXPECT_EQ(p.Feed("", "waiting", J(R"({"reason":"provider_unavailable",
                                        "retry_at_ms":1700000000000,
                                        "message":"every model of chain \"c\" is unavailable"})")),
            "  waiting  provider_unavailable until 2023-11-14T22:13:20Z: every model of chain "
            "\"c\" is unavailable\n");
  EXPECT_EQ(p.Feed("", "token", J(R"({"seq":4,"text":"x\u001b"})")), "  #4 llm  x?");
  EXPECT_EQ(p.Finish(), "\n");
  EXPECT_EQ(p.Finish(), "");
}

}  // namespace
}  // namespace keel::cli
