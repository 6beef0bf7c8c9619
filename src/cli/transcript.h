#pragma once

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <boost/json/value.hpp>
#include <string>

// `keel runs show ID --transcript`: a run's journal read back as the conversation and the
// actions behind each step. Pure functions of the run object and its journal entries (as
// GET /v1/runs/{id} and GET /v1/runs/{id}/journal serve them), so they are tested on literal
// JSON.
namespace keel::cli {

// The transcript as data (`--json`): one object per item, in journal order, each with
// "seq" and "type":
//   agent    {name, model, tools: [names], budget}           a config entry "agent:<name>"
//   config   {name, value}                                   any other config entry
//   message  {role, content, [name], [tool_call_id], [tool_calls]}
//            a message of an llm entry's prompt that the previous llm entry's prompt did not
//            hold; messages that repeat what is shown already are left out: an assistant
//            message with a model's answer, a tool message with a journaled tool result, a
//            user message with an interrupt's text
//   model    {asked, model, content, tool_calls, finish_reason, usage, note, attempts}
//            or {asked, error: {code, message}, note, attempts}; `note` sums up the retries
//            and fallbacks ("after 2 retries (HTTP 503), fell back from a to b"), "" if none
//   tool     {name, arguments, result | error, note, attempts}
//   input    {input}                       one interrupt (new input from a person)
//   step     {name, result}   sleep {wake_at_ms}   signal {name, payload | timeout: true}
//   emit     {value}          now / random / uuid {value}
//   child    {name, run_id}                a child run was started
//   child_result {run_id, status, result | error}   the child's end
//   approval {step, approval_id, deadline_at_ms}    an approval gate was created
//   decision {approval_id, decision, by, reason, timed_out}
//            the decision reaching the run (its "$approval:<id>" signal)
//   outbox   {tool, key}                   an effect tool's intent was queued; `key` is its
//                                          Idempotency-Key (the tool item that follows holds
//                                          the outcome)
//   parallel {branches}
//   entry    {kind, name, result}          a kind this client does not know
// An item of an entry written by a parallel branch also has "branch" ("1.3"). Last comes an
// `outcome` item without seq: {run_id, intent, status, usage, and as they apply
// parent_run_id, answer, result, partial_answer, error, wait_reason, wake_at_ms}.
boost::json::array BuildTranscript(const boost::json::object& run,
                                   const boost::json::array& entries);

// The same as text: a "run <id> (<intent>)" line (", child of run <parent>" for a child run),
// one "#<seq>  ..." line per item, "#<seq>  [1.3] ..." for a branch's (long values continue
// on indented lines; tool results, step results and arguments are cut to 200 code points; a
// stored blob shows as "[stored result, N bytes] <preview>"), then the outcome as
// "key: value" lines.
std::string FormatTranscript(const boost::json::object& run, const boost::json::array& entries);

// Sums up an llm or tool entry's "attempts" in words: "" when the first attempt succeeded.
std::string AttemptsNote(const boost::json::array& attempts);

// Order-insensitive JSON equality where numbers compare by value (1 == 1.0): values that
// went through a Lua table keep their meaning but not their key order or number type.
bool SameJson(const boost::json::value& a, const boost::json::value& b);

}  // namespace keel::cli
