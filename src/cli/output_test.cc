#include "cli/output.h"

#include <gtest/gtest.h>

namespace keel::cli {
namespace {

namespace json = boost::json;

json::value J(std::string_view text) {
  std::string error;
  auto v = ParseJson(text, &error);
  EXPECT_TRUE(v.has_value()) << error;
  return v ? *v : json::value();
}

constexpr int64_t kNow = 1'700'000'000'000;  // 2023-11-14T22:13:20Z

TEST(TableTest, AlignsColumns) {
  Table t({"ID", "STATUS", "NOTE"});
  t.AddRow({"a", "succeeded", "x"});
  t.AddRow({"long-id", "failed", ""});
  t.AddRow({"é", "ok"});  // a missing cell; widths count code points
  EXPECT_EQ(t.Render(),
            "ID       STATUS     NOTE\n"
            "a        succeeded  x\n"
            "long-id  failed\n"
            "é        ok\n");
  EXPECT_EQ(t.rows(), 3u);
}

TEST(TableTest, ControlCharactersAreNeutralised) {
  Table t({"A"});
  t.AddRow({"x\x1b[31my\nz"});
  EXPECT_EQ(t.Render(), "A\nx?[31my?z\n");
}

TEST(OutputTest, KeyValues) {
  EXPECT_EQ(FormatKeyValues({{"id", "r1"}, {"status", "ok"}, {"result", "{\n  \"a\": 1\n}"}}),
            "id:     r1\n"
            "status: ok\n"
            "result: {\n"
            "          \"a\": 1\n"
            "        }\n");
  EXPECT_EQ(FormatKeyValues({{"empty", ""}}), "empty:\n");
}

TEST(OutputTest, TimeAndAge) {
  EXPECT_EQ(FormatTimeUtc(kNow), "2023-11-14T22:13:20Z");
  EXPECT_EQ(FormatTimeUtc(kNow + 999), "2023-11-14T22:13:20Z");
  EXPECT_EQ(FormatTimeUtc(0), "-");
  EXPECT_EQ(FormatAge(-5000), "0s");
  EXPECT_EQ(FormatAge(59'999), "59s");
  EXPECT_EQ(FormatAge(60'000), "1m");
  EXPECT_EQ(FormatAge(3 * 3'600'000 + 1), "3h");
  EXPECT_EQ(FormatAge(49 * 3'600'000LL), "2d");
}

TEST(OutputTest, Truncate) {
  EXPECT_EQ(Truncate("hello", 5), "hello");
  EXPECT_EQ(Truncate("hello!", 5), "he...");
  EXPECT_EQ(Truncate("ééééé!", 5), "éé...");
  EXPECT_EQ(Truncate("abcdef", 2), "ab");
}

TEST(OutputTest, Json) {
  json::value v = J(R"({"b":[1,2.5,"x\"y"],"a":{},"c":[],"d":null,"e":true,"f":1e20})");
  EXPECT_EQ(CompactJson(v), R"({"b":[1,2.5,"x\"y"],"a":{},"c":[],"d":null,"e":true,"f":1e+20})");
  EXPECT_EQ(PrettyJson(J(R"({"a":[1,{"b":2}],"c":{}})")),
            "{\n"
            "  \"a\": [\n"
            "    1,\n"
            "    {\n"
            "      \"b\": 2\n"
            "    }\n"
            "  ],\n"
            "  \"c\": {}\n"
            "}");
  EXPECT_EQ(PrettyJson(json::value("s")), "\"s\"");
}

TEST(OutputTest, ParseJsonErrors) {
  std::string error;
  EXPECT_FALSE(ParseJson("{\"a\": tru}", &error));
  EXPECT_NE(error.find("at offset"), std::string::npos) << error;
  EXPECT_FALSE(ParseJson("", &error));
  EXPECT_FALSE(ParseJson("[1] [2]", &error));
  EXPECT_FALSE(ParseJson("[[[1]]]", &error, 2));
  EXPECT_TRUE(ParseJson(" [[1]] ", &error, 2));
}

TEST(OutputTest, EventLines) {
  EXPECT_EQ(FormatEventLine("3", "step",
                            J(R"({"seq":3,"kind":"step","name":"fetch","result":{"ok":true}})")),
            R"(  #3 step  fetch  {"ok":true})");
  EXPECT_EQ(FormatEventLine("4", "sleep", J(R"({"seq":4,"kind":"sleep","name":"","result":null})")),
            "  #4 sleep");
  std::string big(300, 'x');
  std::string emit =
      FormatEventLine("5", "emit", J(R"({"seq":5,"name":"token","result":")" + big + "\"}"));
  EXPECT_EQ(emit, "  #5 emit  token  \"" + big + "\"");
  std::string step =
      FormatEventLine("6", "step", J(R"({"seq":6,"name":"n","result":")" + big + "\"}"));
  EXPECT_EQ(step.size(), std::string("  #6 step  n  ").size() + 100);
  EXPECT_EQ(FormatEventLine("7", "custom", J("[1]")), "  custom  [1]");
  EXPECT_EQ(FormatEventLine("8", "x", J(R"({"name":"n"})")), "  #8 x  n");
  EXPECT_EQ(FormatEventLine("9", "step", J(R"({"seq":9,"name":"n","branch":"2.1","result":1})")),
            "  #9 [2.1] step  n  1");
}

TEST(OutputTest, ServerErrors) {
  EXPECT_EQ(ServerErrorLine(404, R"({"error":{"code":"not_found","message":"no run r1"}})"),
            "error: not_found: no run r1");
  EXPECT_EQ(ServerErrorLine(502, "Bad Gateway\nmore"), "error: http_502: Bad Gateway");
  EXPECT_EQ(ServerErrorLine(500, ""), "error: http_500: (empty response)");
  EXPECT_FALSE(ParseErrorBody(R"({"error":"x"})"));
}

TEST(OutputTest, FieldsAndMoney) {
  json::object o = J(R"({"s":"x","n":3,"d":2.5,"o":{"a":1},"a":[1],"z":null})").get_object();
  EXPECT_EQ(StrField(o, "s"), "x");
  EXPECT_EQ(StrField(o, "o"), R"({"a":1})");
  EXPECT_EQ(StrField(o, "z"), "");
  EXPECT_EQ(StrField(o, "missing"), "");
  EXPECT_EQ(IntField(o, "n"), 3);
  EXPECT_EQ(IntField(o, "s"), 0);
  EXPECT_EQ(NumField(o, "d"), 2.5);
  EXPECT_EQ(NumField(o, "n"), 3.0);
  EXPECT_NE(ObjField(o, "o"), nullptr);
  EXPECT_EQ(ObjField(o, "a"), nullptr);
  EXPECT_NE(ArrField(o, "a"), nullptr);
  EXPECT_EQ(FormatUsd(0.01234), "$0.0123");
  EXPECT_EQ(FormatUsd(0), "$0.0000");
  EXPECT_EQ(SanitizeMultiline("a\r\n\tb\x1b"), "a\n b?");
}

TEST(OutputTest, ShellQuote) {
  EXPECT_EQ(ShellQuote("abc-1_2.3"), "abc-1_2.3");
  EXPECT_EQ(ShellQuote("a b"), "'a b'");
  EXPECT_EQ(ShellQuote("it's"), "'it'\\''s'");
  EXPECT_EQ(ShellQuote(""), "''");
}

const char* kRun = R"({
  "id": "r1", "intent": "hello", "status": "succeeded",
  "caller": {"tenant": "acme", "user": "bob"},
  "budget": {"deadline_ms": 15000, "max_steps": 10}, "usage": {"steps": 2},
  "result": {"greeting": "hello x"}, "error": null,
  "created_at_ms": 1699999940000, "updated_at_ms": 1700000000000
})";

TEST(RunOutputTest, Outcome) {
  EXPECT_EQ(FormatRunOutcome(J(kRun).get_object()),
            "run r1 succeeded\n{\n  \"greeting\": \"hello x\"\n}\n");
  EXPECT_EQ(FormatRunOutcome(J(R"({"id":"r2","status":"failed","result":null,
                                  "error":{"code":"script_error","message":"boom"}})")
                                 .get_object()),
            "run r2 failed\n{\n  \"code\": \"script_error\",\n  \"message\": \"boom\"\n}\n");
  EXPECT_EQ(FormatRunOutcome(
                J(R"({"id":"r3","status":"waiting","wait_reason":"signal:ok"})").get_object()),
            "run r3 waiting\nwaiting for signal:ok\n");
  EXPECT_EQ(FormatRunOutcome(J(R"({"id":"r4","status":"queued"})").get_object()),
            "run r4 queued\n");
}

TEST(RunOutputTest, Table) {
  json::array runs{J(kRun), J(R"({"id":"r-two","intent":"x","status":"queued"})")};
  EXPECT_EQ(FormatRunTable(runs, kNow),
            "ID     INTENT  STATUS     TENANT  STEPS  CREATED               AGE\n"
            "r1     hello   succeeded  acme    2      2023-11-14T22:12:20Z  1m\n"
            "r-two  x       queued     -       -      -                     -\n");
}

TEST(RunOutputTest, Details) {
  EXPECT_EQ(FormatRunDetails(J(kRun).get_object(), kNow),
            "id:      r1\n"
            "intent:  hello\n"
            "status:  succeeded\n"
            "tenant:  acme\n"
            "user:    bob\n"
            "created: 2023-11-14T22:12:20Z (1m ago)\n"
            "updated: 2023-11-14T22:13:20Z (0s ago)\n"
            "steps:   2 of 10\n"
            "result:  {\n"
            "           \"greeting\": \"hello x\"\n"
            "         }\n");
  std::string waiting = FormatRunDetails(
      J(R"({"id":"r","status":"waiting","wait_reason":"timer","wake_at_ms":1700000060000,
           "error":null})")
          .get_object(),
      kNow);
  EXPECT_NE(waiting.find("wait reason: timer\n"), std::string::npos) << waiting;
  EXPECT_NE(waiting.find("wake at:     2023-11-14T22:14:20Z\n"), std::string::npos) << waiting;
  std::string failed = FormatRunDetails(
      J(R"({"id":"r","status":"failed","error":{"code":"timeout","message":"late"}})").get_object(),
      kNow);
  EXPECT_NE(failed.find("error:   timeout: late\n"), std::string::npos) << failed;
}

TEST(RunOutputTest, DetailsShowModelAndToolUsageAgainstTheBudget) {
  const char* run = R"({"id":"r","intent":"support","status":"budget_exhausted",
      "budget":{"max_steps":20,"max_tools":5,"max_tokens":5000,"max_context":4000,
                "max_cost_usd":0.5},
      "usage":{"steps":7,"tools":2,"tokens":5012,"cost_usd":0.01234},
      "result":{"partial_answer":"Oslo: 3 C.\nBergen: unknown.","usage":{"steps":7}},
      "error":{"code":"budget_exhausted","message":"max_tokens (5000) reached"}})";
  std::string details = FormatRunDetails(J(run).get_object(), kNow);
  EXPECT_NE(details.find("steps:          7 of 20\n"
                         "tools:          2 of 5\n"
                         "tokens:         5012 of 5000\n"
                         "context:        at most 4000 tokens per model call\n"
                         "cost:           $0.0123 of $0.5000\n"),
            std::string::npos)
      << details;
  EXPECT_NE(details.find("error:          budget_exhausted: max_tokens (5000) reached\n"
                         "partial answer: Oslo: 3 C.\n"
                         "                Bergen: unknown.\n"),
            std::string::npos)
      << details;
  EXPECT_EQ(details.find("result:"), std::string::npos) << details;

  // Usage without limits; nothing about tools, tokens or cost when none were used.
  std::string spent = FormatRunDetails(
      J(R"({"id":"r","status":"succeeded","usage":{"steps":2,"tools":0,"tokens":30,"cost_usd":0.5}})")
          .get_object(),
      kNow);
  EXPECT_NE(spent.find("tokens:  30\n"), std::string::npos) << spent;
  EXPECT_NE(spent.find("cost:    $0.5000\n"), std::string::npos) << spent;
  EXPECT_EQ(spent.find("tools:"), std::string::npos) << spent;
  std::string plain = FormatRunDetails(
      J(R"({"id":"r","status":"succeeded","usage":{"steps":2,"tools":0,"tokens":0,"cost_usd":0}})")
          .get_object(),
      kNow);
  EXPECT_EQ(plain.find("tokens:"), std::string::npos) << plain;
  EXPECT_EQ(plain.find("cost:"), std::string::npos) << plain;
}

TEST(RunOutputTest, OutcomeOfAnExhaustedBudgetShowsThePartialAnswer) {
  EXPECT_EQ(FormatRunOutcome(J(R"({"id":"r5","status":"budget_exhausted",
                                  "result":{"partial_answer":"half done","usage":{}},
                                  "error":{"code":"budget_exhausted","message":"m"}})")
                                 .get_object()),
            "run r5 budget_exhausted\n"
            "{\n  \"code\": \"budget_exhausted\",\n  \"message\": \"m\"\n}\n"
            "partial answer: half done\n");
  EXPECT_EQ(FormatRunOutcome(J(R"({"id":"r6","status":"budget_exhausted",
                                  "result":{"partial_answer":null},"error":null})")
                                 .get_object()),
            "run r6 budget_exhausted\npartial answer: (none)\n");
}

TEST(RunOutputTest, Journal) {
  std::string long_result(100, 'y');
  json::array entries{
      J(R"({"seq":1,"kind":"step","name":"fetch","result":{"ok":true}})"),
      J(R"({"seq":2,"kind":"sleep","name":"","result":null})"),
      J(R"({"seq":10,"kind":"step","name":"llm","result":")" + long_result + "\"}")};
  EXPECT_EQ(FormatJournalTable(entries),
            "SEQ  KIND   NAME   RESULT\n"
            "1    step   fetch  {\"ok\":true}\n"
            "2    sleep\n"
            "10   step   llm    \"" +
                std::string(56, 'y') + "...\n");
}

TEST(RunOutputTest, JournalWithBranches) {
  json::array entries{J(R"({"seq":1,"kind":"parallel","name":"","result":{"branches":2}})"),
                      J(R"({"seq":2,"kind":"step","name":"a","branch":"1.1","result":1})"),
                      J(R"({"seq":3,"kind":"step","name":"b","branch":"1.2","result":2})")};
  EXPECT_EQ(FormatJournalTable(entries),
            "SEQ  BRANCH  KIND      NAME  RESULT\n"
            "1            parallel        {\"branches\":2}\n"
            "2    1.1     step      a     1\n"
            "3    1.2     step      b     2\n");
}

TEST(RunOutputTest, DetailsOfAChildRunAndAPendingCompensation) {
  std::string child =
      FormatRunDetails(J(R"({"id":"c1","intent":"sub","status":"running","parent_run_id":"r1",
           "cancel_requested":true})")
                           .get_object(),
                       kNow);
  EXPECT_NE(child.find("parent run:       r1\n"), std::string::npos) << child;
  EXPECT_NE(child.find("cancel requested: yes: its undo steps run, then it ends compensated\n"),
            std::string::npos)
      << child;
  // Once it ended, the status says how; a top-level run has no parent line.
  std::string done = FormatRunDetails(
      J(R"({"id":"r1","status":"compensated","cancel_requested":true})").get_object(), kNow);
  EXPECT_EQ(done.find("cancel requested"), std::string::npos) << done;
  EXPECT_EQ(done.find("parent run"), std::string::npos) << done;
}

TEST(RunOutputTest, CancelOutcome) {
  EXPECT_EQ(FormatCancelOutcome(
                J(R"({"id":"r1","status":"running","cancel_requested":true})").get_object()),
            "run r1: cancel requested; its undo steps run, then it ends compensated "
            "(see: keel runs show r1)");
  EXPECT_EQ(FormatCancelOutcome(J(R"({"id":"r1","status":"cancelled"})").get_object()),
            "run r1 cancelled");
  EXPECT_EQ(FormatCancelOutcome(J(R"({"id":"r1","status":"compensated"})").get_object()),
            "run r1 compensated");
}

TEST(RunOutputTest, Statuses) {
  for (const char* s : {"failed", "cancelled", "timed_out", "budget_exhausted", "compensated",
                        "compensation_failed"}) {
    EXPECT_TRUE(IsUnsuccessfulStatus(s));
    EXPECT_TRUE(IsTerminalStatus(s));
  }
  EXPECT_FALSE(IsUnsuccessfulStatus("succeeded"));
  EXPECT_TRUE(IsTerminalStatus("succeeded"));
  EXPECT_FALSE(IsTerminalStatus("waiting"));
}

}  // namespace
}  // namespace keel::cli
