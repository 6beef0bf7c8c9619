#pragma once

// What `keel runs ls`, `keel approvals ls` and `keel outbox ls` share: a filtered GET of one
// page, printed raw (--json) or as a table, with a "next:" hint that repeats the filters.

#include <boost/json/array.hpp>
#include <functional>
#include <string>
#include <string_view>

#include "cli/common.h"

namespace keel::cli {

// The filters of a listing, as a query string and as the flags that give them again.
class ListQuery {
 public:
  // Adds `param=value` to the query (nothing when `value` is empty) and, unless `flag` is
  // empty, `flag value` to the hint.
  void Add(std::string_view param, std::string_view flag, const std::string& value);
  // Flags for the hint only (a filter that is the absence of a query parameter).
  void AddHint(std::string_view flags) { next_args_ += " " + std::string(flags); }

  const std::string& query() const { return query_; }
  const std::string& next_args() const { return next_args_; }

 private:
  std::string query_;
  std::string next_args_;
};

struct ListPage {
  std::string path;          // "/v1/runs"
  std::string array_key;     // the page's array: "runs"
  std::string cursor_key;    // the page's cursor for the next page: "next_cursor"
  std::string empty_text;    // printed for an empty page: "no runs"
  std::string next_command;  // the hint's command up to the cursor: "keel runs ls --cursor"
  std::function<std::string(const boost::json::array&)> format;  // the table
};

// GETs the page and prints it; returns the exit code.
int RunListCommand(const ListQuery& query, const ListPage& page, const ClientOptions& options);

}  // namespace keel::cli
