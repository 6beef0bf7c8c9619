#include "api/router.h"

#include <charconv>

#include "base/check.h"

namespace keel::api {

namespace {

// Splits "/a/b/c" into {"a", "b", "c"}; "/" gives {""}; a trailing slash gives an empty
// last segment, which no template matches.
std::vector<std::string_view> Segments(std::string_view path) {
  std::vector<std::string_view> out;
  if (path.empty() || path.front() != '/') return out;
  path.remove_prefix(1);
  while (true) {
    size_t slash = path.find('/');
    out.push_back(path.substr(0, slash));
    if (slash == std::string_view::npos) break;
    path.remove_prefix(slash + 1);
  }
  return out;
}

bool IsParam(std::string_view seg) {
  return seg.size() >= 2 && seg.front() == '{' && seg.back() == '}';
}

// Matches the segments of a path against a template; fills `params` on success.
bool MatchTemplate(std::string_view tmpl, const std::vector<std::string_view>& segs,
                   std::vector<std::pair<std::string, std::string>>* params) {
  std::vector<std::string_view> t = Segments(tmpl);
  if (t.size() != segs.size()) return false;
  std::vector<std::pair<std::string, std::string>> found;
  for (size_t i = 0; i < t.size(); ++i) {
    if (IsParam(t[i])) {
      if (segs[i].empty()) return false;
      found.emplace_back(std::string(t[i].substr(1, t[i].size() - 2)),
                         PercentDecode(segs[i], false));
    } else if (t[i] != segs[i]) {
      return false;
    }
  }
  *params = std::move(found);
  return true;
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

const std::vector<Route>& RouteTable() {
  static const std::vector<Route> kRoutes{
      {RouteId::kSubmitRun, "POST", "/v1/runs"},
      {RouteId::kListRuns, "GET", "/v1/runs"},
      {RouteId::kGetRun, "GET", "/v1/runs/{id}"},
      {RouteId::kGetJournal, "GET", "/v1/runs/{id}/journal"},
      {RouteId::kGetEvents, "GET", "/v1/runs/{id}/events"},
      {RouteId::kCancelRun, "POST", "/v1/runs/{id}/cancel"},
      {RouteId::kInterruptRun, "POST", "/v1/runs/{id}/interrupt"},
      {RouteId::kSignalRun, "POST", "/v1/runs/{id}/signals/{name}"},
      {RouteId::kListApprovals, "GET", "/v1/approvals"},
      {RouteId::kGetApproval, "GET", "/v1/approvals/{id}"},
      {RouteId::kDecideApproval, "POST", "/v1/approvals/{id}/decision"},
      {RouteId::kListOutbox, "GET", "/v1/outbox"},
      {RouteId::kHealthz, "GET", "/healthz"},
      {RouteId::kReadyz, "GET", "/readyz"},
      {RouteId::kMetrics, "GET", "/metrics"},
      {RouteId::kStatus, "GET", "/v1/status"},
  };
  return kRoutes;
}

size_t RouteIndex(RouteId id) {
  const auto& table = RouteTable();
  for (size_t i = 0; i < table.size(); ++i) {
    if (table[i].id == id) return i;
  }
  KEEL_CHECK(false);  // every RouteId has a row in RouteTable()
  return 0;
}

const std::string& RouteMatch::Param(std::string_view name) const {
  static const std::string kEmpty;
  for (const auto& [k, v] : params) {
    if (k == name) return v;
  }
  return kEmpty;
}

RouteMatch MatchRoute(std::string_view method, std::string_view path) {
  RouteMatch m;
  std::vector<std::string_view> segs = Segments(path);
  if (segs.empty()) return m;
  for (const Route& r : RouteTable()) {
    std::vector<std::pair<std::string, std::string>> params;
    if (!MatchTemplate(r.path, segs, &params)) continue;
    if (r.method == method) {
      m.kind = RouteMatch::Kind::kFound;
      m.route = &r;
      m.params = std::move(params);
      m.allow.clear();
      return m;
    }
    if (m.kind == RouteMatch::Kind::kNotFound) {
      m.kind = RouteMatch::Kind::kMethodNotAllowed;
      m.route = &r;
    }
    if (m.allow.find(r.method) == std::string::npos) {
      if (!m.allow.empty()) m.allow += ", ";
      m.allow += r.method;
    }
  }
  return m;
}

std::pair<std::string_view, std::string_view> SplitTarget(std::string_view target) {
  size_t q = target.find('?');
  if (q == std::string_view::npos) return {target, {}};
  return {target.substr(0, q), target.substr(q + 1)};
}

std::string PercentDecode(std::string_view s, bool plus_as_space) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (c == '%' && i + 2 < s.size()) {
      int hi = HexValue(s[i + 1]);
      int lo = HexValue(s[i + 2]);
      if (hi >= 0 && lo >= 0) {
        out.push_back(static_cast<char>(hi * 16 + lo));
        i += 2;
        continue;
      }
    }
    out.push_back(plus_as_space && c == '+' ? ' ' : c);
  }
  return out;
}

QueryParams QueryParams::Parse(std::string_view query) {
  QueryParams q;
  while (!query.empty()) {
    size_t amp = query.find('&');
    std::string_view item = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    if (item.empty()) continue;
    size_t eq = item.find('=');
    std::string key = PercentDecode(item.substr(0, eq), true);
    std::string value =
        eq == std::string_view::npos ? std::string() : PercentDecode(item.substr(eq + 1), true);
    q.items_.emplace_back(std::move(key), std::move(value));
  }
  return q;
}

std::optional<std::string_view> QueryParams::Get(std::string_view key) const {
  for (const auto& [k, v] : items_) {
    if (k == key) return std::string_view(v);
  }
  return std::nullopt;
}

std::optional<int64_t> ParseNonNegativeInt(std::string_view s) {
  if (s.empty() || s.front() < '0' || s.front() > '9') return std::nullopt;
  int64_t v = 0;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || ptr != s.data() + s.size() || v < 0) return std::nullopt;
  return v;
}

bool ValidSignalName(std::string_view name) {
  if (name.empty() || name.size() > 128) return false;
  for (char c : name) {
    bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '.' || c == ':' || c == '-';
    if (!ok) return false;
  }
  return true;
}

}  // namespace keel::api
