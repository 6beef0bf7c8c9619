#include "gateway/http/sse_parser.h"

#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace keel::gateway {
namespace {

std::vector<SseEvent> ParseAll(const std::vector<std::string>& pieces, bool flush = false) {
  SseParser parser;
  std::vector<SseEvent> events;
  auto on_event = [&](const SseEvent& e) {
    events.push_back(e);
    return OkStatus();
  };
  for (const auto& p : pieces) {
    EXPECT_TRUE(parser.Feed(p, on_event).ok());
  }
  if (flush) {
    EXPECT_TRUE(parser.Flush(on_event).ok());
  }
  return events;
}

TEST(SseParserTest, SplitsEventsWithEveryLineEnding) {
  auto events = ParseAll({"data: a\n\ndata: b\r\n\r\ndata: c\r\rdata:d\n\n"});
  ASSERT_EQ(events.size(), 4u);
  EXPECT_EQ(events[0].data, "a");
  EXPECT_EQ(events[1].data, "b");
  EXPECT_EQ(events[2].data, "c");
  EXPECT_EQ(events[3].data, "d");  // no space after the colon is fine too
}

TEST(SseParserTest, JoinsDataLinesAndKeepsEventNames) {
  auto events =
      ParseAll({": a comment\nevent: update\ndata: one\ndata: two\nid: 7\n\n"
                "data: {\"x\":1}\n\n"});
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0].event, "update");
  EXPECT_EQ(events[0].data, "one\ntwo");
  EXPECT_EQ(events[1].event, "");  // names do not carry over to the next event
  EXPECT_EQ(events[1].data, "{\"x\":1}");
}

TEST(SseParserTest, CommentsAndDatalessEventsDispatchNothing) {
  auto events = ParseAll({": keep-alive\n\n", "event: ping\n\n", ":\n\n"});
  EXPECT_TRUE(events.empty());
}

TEST(SseParserTest, AnyCutGivesTheSameEvents) {
  const std::string wire =
      "event: a\r\ndata: first line\r\ndata: second\r\n\r\n: c\r\ndata: x\n\ndata: y\r\r";
  auto whole = ParseAll({wire});
  ASSERT_EQ(whole.size(), 3u);
  for (size_t cut = 1; cut < wire.size(); ++cut) {
    auto parts = ParseAll({wire.substr(0, cut), wire.substr(cut)});
    ASSERT_EQ(parts.size(), whole.size()) << "cut at " << cut;
    for (size_t i = 0; i < whole.size(); ++i) {
      EXPECT_EQ(parts[i].event, whole[i].event) << "cut at " << cut;
      EXPECT_EQ(parts[i].data, whole[i].data) << "cut at " << cut;
    }
  }
  std::vector<std::string> bytes;
  for (char c : wire) bytes.emplace_back(1, c);
  auto single = ParseAll(bytes);
  ASSERT_EQ(single.size(), 3u);
  EXPECT_EQ(single[0].data, "first line\nsecond");
}

TEST(SseParserTest, FlushDispatchesAnUnterminatedEvent) {
  EXPECT_TRUE(ParseAll({"data: last"}).empty());
  auto events = ParseAll({"data: last"}, /*flush=*/true);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].data, "last");
}

TEST(SseParserTest, StopsAtTheCallbacksError) {
  SseParser parser;
  int seen = 0;
  Status s = parser.Feed("data: 1\n\ndata: 2\n\n", [&](const SseEvent&) -> Status {
    ++seen;
    return Error{Errc::kInvalidArgument, "bad event"};
  });
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().message, "bad event");
  EXPECT_EQ(seen, 1);
}

TEST(SseParserTest, RejectsEndlessLine) {
  SseParser parser;
  std::string mib(1 << 20, 'x');
  Status s = OkStatus();
  for (size_t i = 0; i <= SseParser::kMaxLineBytes / mib.size() && s.ok(); ++i) {
    s = parser.Feed(mib, [](const SseEvent&) { return OkStatus(); });
  }
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code, Errc::kInvalidArgument);
  EXPECT_NE(s.error().message.find("line longer than"), std::string::npos);
}

// MCP's streamable HTTP reads JSON-RPC messages from the data alone; these are the shapes its
// servers send.
TEST(SseParserTest, DataFieldWithoutAColonIsAnEmptyLine) {
  auto events = ParseAll({"data\ndata: x\n\ndata\n\n"});
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0].data, "\nx");
  EXPECT_EQ(events[1].data, "");  // an empty data field still makes an event
}

TEST(SseParserTest, IgnoresIdRetryAndUnknownFields) {
  auto events =
      ParseAll({"id: 41\nretry: 1000\nfoo: bar\ndata: {\"jsonrpc\":\"2.0\"}\n\n"
                "id: 42\nretry: 5\n\n"});
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].event, "");
  EXPECT_EQ(events[0].data, "{\"jsonrpc\":\"2.0\"}");
}

TEST(SseParserTest, KeepsOnlyTheFirstSpaceOfAValue) {
  auto events = ParseAll({"data:  two spaces\ndata:none\n\n"});
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].data, " two spaces\nnone");
}

TEST(SseParserTest, ACrLfCutBetweenTheTwoBytesEndsOneLine) {
  // The "\n" that completes a "\r\n" arrives in the next feed: it must not end an event.
  auto events = ParseAll({"data: a\r", "\ndata: b\r", "\n\r", "\n"});
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].data, "a\nb");
}

}  // namespace
}  // namespace keel::gateway
