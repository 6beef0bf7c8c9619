#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace keel::api {

// Every route the HTTP API serves. The table in router.cc is the single source of truth:
// dispatch, metrics labels, HttpServer::Routes() and the OpenAPI test all read it.
enum class RouteId {
  kSubmitRun,
  kListRuns,
  kGetRun,
  kGetJournal,
  kGetEvents,
  kCancelRun,
  kInterruptRun,
  kSignalRun,
  kListApprovals,
  kGetApproval,
  kDecideApproval,
  kListOutbox,
  kHealthz,
  kReadyz,
  kMetrics,
  kStatus,
};

struct Route {
  RouteId id;
  std::string_view method;  // "GET", "POST"
  std::string_view path;    // template: literal segments and "{param}" segments
};

// The route table, in a stable order; a route's index is its position here.
const std::vector<Route>& RouteTable();
// Index of a route in RouteTable().
size_t RouteIndex(RouteId id);
// Label used for requests that matched no route (keeps metric cardinality bounded).
inline constexpr std::string_view kUnmatchedRoute = "unmatched";

struct RouteMatch {
  enum class Kind { kFound, kNotFound, kMethodNotAllowed };
  Kind kind = Kind::kNotFound;
  // kFound: the route. kMethodNotAllowed: the first route with this path (for metrics).
  const Route* route = nullptr;
  // Percent-decoded path parameters in template order, e.g. {{"id", "r1"}, {"name", "go"}}.
  std::vector<std::pair<std::string, std::string>> params;
  // kMethodNotAllowed: value of the Allow header, e.g. "GET, POST".
  std::string allow;

  // The value of parameter `name`; empty if absent.
  const std::string& Param(std::string_view name) const;
};

// Matches a decoded-free request path (no query string) against the table. Pure.
RouteMatch MatchRoute(std::string_view method, std::string_view path);

// "/a/b?x=1" -> {"/a/b", "x=1"}.
std::pair<std::string_view, std::string_view> SplitTarget(std::string_view target);

// Decodes %XX escapes (invalid escapes are kept literally); with `plus_as_space`, '+' is ' '
// (query strings).
std::string PercentDecode(std::string_view s, bool plus_as_space);

// Decoded query parameters; on duplicate keys the first one wins.
class QueryParams {
 public:
  QueryParams() = default;
  static QueryParams Parse(std::string_view query);
  std::optional<std::string_view> Get(std::string_view key) const;

 private:
  std::vector<std::pair<std::string, std::string>> items_;
};

// A base-10 integer in [0, INT64_MAX] with nothing around it; nullopt otherwise.
std::optional<int64_t> ParseNonNegativeInt(std::string_view s);

// Signal names: 1..128 characters of [A-Za-z0-9_.:-].
bool ValidSignalName(std::string_view name);

}  // namespace keel::api
