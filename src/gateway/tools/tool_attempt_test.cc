#include "gateway/tools/tool_attempt.h"

#include <gtest/gtest.h>

#include "gateway/tools/lua_tool.h"
#include "gateway/tools/mcp_tool.h"

namespace keel::gateway {
namespace {

using Kind = AttemptOutcome::Kind;

const AttemptOutcome kTimeout{.kind = Kind::kRetryable, .error = "too slow"};

TEST(StoppedOutcome, CancelAndDeadlineAreTheSameForEveryKindOfTool) {
  auto cancelled = StoppedOutcome(StopReason::kCancelled, false, kTimeout);
  ASSERT_TRUE(cancelled.has_value());
  EXPECT_EQ(cancelled->kind, Kind::kCancelled);
  EXPECT_EQ(cancelled->error, "cancelled");
  auto late = StoppedOutcome(StopReason::kDeadline, false, kTimeout);
  ASSERT_TRUE(late.has_value());
  EXPECT_EQ(late->kind, Kind::kDeadline);
  EXPECT_EQ(late->error, "the caller's deadline passed");
}

TEST(StoppedOutcome, TimeoutIsWhatTheKindOfToolSays) {
  auto timeout = StoppedOutcome(StopReason::kTimeout, false, kTimeout);
  ASSERT_TRUE(timeout.has_value());
  EXPECT_EQ(timeout->kind, Kind::kRetryable);
  EXPECT_EQ(timeout->error, "too slow");
}

TEST(StoppedOutcome, AnAnswerOrNoStopLeavesTheResultToTheTool) {
  EXPECT_FALSE(StoppedOutcome(StopReason::kNone, false, kTimeout).has_value());
  for (StopReason why : {StopReason::kCancelled, StopReason::kTimeout, StopReason::kDeadline}) {
    EXPECT_FALSE(StoppedOutcome(why, true, kTimeout).has_value());
  }
}

TEST(ClassifyLuaResult, ATimeoutIsTheToolsErrorAndAnAnswerBeatsTheStop) {
  AttemptOutcome slow =
      ClassifyLuaResult(Error{Errc::kScript, "stopped"}, StopReason::kTimeout, 250);
  EXPECT_EQ(slow.kind, Kind::kToolError);
  EXPECT_EQ(slow.error, "the Lua tool ran longer than its timeout of 250 ms");
  AttemptOutcome answered = ClassifyLuaResult(std::string("42"), StopReason::kCancelled, 250);
  EXPECT_EQ(answered.kind, Kind::kOk);
  EXPECT_EQ(answered.result_json, "42");
}

TEST(ClassifyMcpResult, ATimeoutIsRetryableAndACancelIsNot) {
  AttemptOutcome slow =
      ClassifyMcpResult(Error{Errc::kUnavailable, "cancelled"}, StopReason::kTimeout, 300);
  EXPECT_EQ(slow.kind, Kind::kRetryable);
  EXPECT_EQ(slow.error, "timed out after 300 ms");
  AttemptOutcome cancelled =
      ClassifyMcpResult(Error{Errc::kUnavailable, "cancelled"}, StopReason::kCancelled, 300);
  EXPECT_EQ(cancelled.kind, Kind::kCancelled);
  AttemptOutcome answered =
      ClassifyMcpResult(McpCallResult{.value = "done"}, StopReason::kDeadline, 300);
  EXPECT_EQ(answered.kind, Kind::kOk);
  EXPECT_EQ(answered.result_json, "\"done\"");
}

}  // namespace
}  // namespace keel::gateway
