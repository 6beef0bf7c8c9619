#pragma once

#include <cstdint>
#include <string>

#include <boost/json/object.hpp>

namespace keel::model {

// A side effect waiting to be delivered (docs/workflow_guarantees.md). The intent is written
// exactly once, in the same transaction as the journal entry that asked for it; the dispatcher
// delivers it at least once with `Idempotency-Key: <key>` until it is delivered or has failed for
// good.
struct OutboxIntent {
  // "<run_id>:<seq>" for ctx.tool; "<approval_id>:pending:0" and
  // "<approval_id>:escalated:<level>" for approval notices
  std::string key;
  std::string run_id;
  int64_t seq = 0;  // the intent's journal entry (0 for notifications)
  std::string tenant;
  std::string kind = "tool";  // tool (a ctx.tool effect; the run waits) | notify (a webhook)
  std::string target;         // the tool's name
  std::string args_json = "{}";
  std::string status = "pending";  // pending | delivered | failed
  int attempts = 0;                // delivery attempts made so far
  int max_attempts = 10;
  int64_t next_attempt_at_ms = 0;
  std::string last_error;
  std::string result_json;  // delivered: the tool's result; failed: {"code","message"}
  int64_t created_at_ms = 0;
  int64_t updated_at_ms = 0;
};

boost::json::object OutboxToJson(const OutboxIntent& o);

}  // namespace keel::model
