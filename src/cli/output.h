#pragma once

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <boost/json/value.hpp>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

// Formatting of the `keel` command's human output. Pure functions of their arguments (the
// current time is passed in), so they are tested without a server.
namespace keel::cli {

// An aligned text table: columns separated by two spaces, the last column not padded.
// Widths count UTF-8 code points; control characters in cells are shown as '?', so a value
// from the server cannot move the terminal's cursor.
class Table {
 public:
  explicit Table(std::vector<std::string> headers);
  void AddRow(std::vector<std::string> cells);  // missing cells are empty, extra ones dropped
  size_t rows() const { return rows_.size(); }
  std::string Render() const;  // every line ends with '\n'

 private:
  std::vector<std::string> headers_;
  std::vector<std::vector<std::string>> rows_;
};

// "key:  value" lines with the values aligned. A multi-line value continues on the following
// lines, indented to the value column.
std::string FormatKeyValues(const std::vector<std::pair<std::string, std::string>>& fields);

// 1700000000000 -> "2023-11-14T22:13:20Z". 0 or less -> "-".
std::string FormatTimeUtc(int64_t unix_ms);

// How long ago, coarsely: "42s", "7m", "5h", "3d". Negative ages (clock skew) show as "0s".
std::string FormatAge(int64_t age_ms);

// Control characters (a value from the server could move the terminal's cursor) become '?'.
std::string Sanitize(std::string_view text);
// The same, but keeps line breaks ('\r' dropped, tabs become a space).
std::string SanitizeMultiline(std::string_view text);

// Fields of a JSON object, tolerant of absence and type: "" / 0 / nullptr when missing.
// StrField gives a string as is and any other non-null value as compact JSON.
std::string StrField(const boost::json::object& o, std::string_view key);
int64_t IntField(const boost::json::object& o, std::string_view key);
double NumField(const boost::json::object& o, std::string_view key);
const boost::json::object* ObjField(const boost::json::object& o, std::string_view key);
const boost::json::array* ArrField(const boost::json::object& o, std::string_view key);

// "$0.0123": US dollars with 4 decimals.
std::string FormatUsd(double usd);

// Cuts to at most `max` code points, ending with "..." when cut. Never splits a code point.
std::string Truncate(std::string_view text, size_t max);

// JSON as people read it: numbers in shortest form ("1.5", not "1.5E0").
std::string CompactJson(const boost::json::value& v);
std::string PrettyJson(const boost::json::value& v, int indent = 2);

// Parses JSON text without throwing; on failure `*error` says what and where ("syntax error
// at offset 7"). Nesting is capped at `max_depth`.
std::optional<boost::json::value> ParseJson(std::string_view text, std::string* error,
                                            size_t max_depth = 1000);

// "[1.3] " for a journal entry written by a parallel branch ({"branch": "1.3"}); "" otherwise.
std::string BranchTag(const boost::json::object& entry);

// One line per Server-Sent Event of GET /v1/runs/{id}/events, e.g.
//   "  #3 step  fetch  {"ok":true}"     "  #7 [1.2] step  fetch  {"ok":true}" (a branch's)
// The data of an `emit` event is shown whole; other results are cut to 100 code points.
std::string FormatEventLine(std::string_view id, std::string_view event,
                            const boost::json::value& data);

// The line printed for an error answer of the server: "error: <code>: <message>" from the
// error JSON, or "error: http_<status>: <body>" when the body is not that JSON.
std::string ServerErrorLine(int status, std::string_view body);

// Extracts {"error": {"code", "message"}} from a response body.
std::optional<std::pair<std::string, std::string>> ParseErrorBody(std::string_view body);

// Run objects and journal entries of docs/api/http.md as text. Absent fields show as "-".
//
// "run <id> <status>", then the wait reason of a waiting run, the result of a succeeded run or
// the error of a failed one (pretty JSON), and the partial answer of a budget_exhausted one.
std::string FormatRunOutcome(const boost::json::object& run);
// The line after `keel cancel --compensate`: "run <id> <status>" when it is already terminal,
// else that the cancel was recorded and the undo steps run.
std::string FormatCancelOutcome(const boost::json::object& run);
// Table ID INTENT STATUS TENANT STEPS CREATED AGE, newest first as the server sent them.
std::string FormatRunTable(const boost::json::array& runs, int64_t now_ms);
// "key: value" lines of `keel runs show`: budget limits next to what was used, the parent of a
// child run, a pending cancel with compensation, and the partial answer of a budget_exhausted
// run.
std::string FormatRunDetails(const boost::json::object& run, int64_t now_ms);
// Table SEQ KIND NAME RESULT (SEQ BRANCH KIND NAME RESULT when an entry has a branch); results
// cut to 60 code points.
std::string FormatJournalTable(const boost::json::array& entries);

// failed, cancelled, timed_out, budget_exhausted, compensated, compensation_failed.
bool IsUnsuccessfulStatus(std::string_view status);
bool IsTerminalStatus(std::string_view status);

// Quotes a value for a shell command line when it needs it: abc -> abc, "a b" -> 'a b'.
std::string ShellQuote(std::string_view text);

}  // namespace keel::cli
