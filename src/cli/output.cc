#include "cli/output.h"

#include <algorithm>
#include <boost/json/parse_options.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/stream_parser.hpp>
#include <charconv>
#include <cstdio>
#include <ctime>

namespace keel::cli {

namespace json = boost::json;

namespace {

bool IsContinuationByte(char c) { return (static_cast<unsigned char>(c) & 0xC0) == 0x80; }

size_t DisplayWidth(std::string_view s) {
  return static_cast<size_t>(
      std::count_if(s.begin(), s.end(), [](char c) { return !IsContinuationByte(c); }));
}

void RightTrim(std::string& s) {
  while (!s.empty() && s.back() == ' ') s.pop_back();
}

void AppendNumber(double d, std::string& out) {
  char buf[64];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, d);
  if (ec != std::errc()) {
    out += json::serialize(json::value(d));
    return;
  }
  out.append(buf, end);
}

void WriteJson(const json::value& v, int indent, int level, std::string& out) {
  auto newline = [&](int lvl) {
    out.push_back('\n');
    out.append(static_cast<size_t>(indent * lvl), ' ');
  };
  switch (v.kind()) {
    case json::kind::null:
      out += "null";
      return;
    case json::kind::bool_:
      out += v.get_bool() ? "true" : "false";
      return;
    case json::kind::int64:
      out += std::to_string(v.get_int64());
      return;
    case json::kind::uint64:
      out += std::to_string(v.get_uint64());
      return;
    case json::kind::double_:
      AppendNumber(v.get_double(), out);
      return;
    case json::kind::string:
      out += json::serialize(v);
      return;
    case json::kind::array: {
      const json::array& a = v.get_array();
      if (a.empty()) {
        out += "[]";
        return;
      }
      out.push_back('[');
      for (size_t i = 0; i < a.size(); ++i) {
        if (i > 0) out.push_back(',');
        if (indent > 0) newline(level + 1);
        WriteJson(a[i], indent, level + 1, out);
      }
      if (indent > 0) newline(level);
      out.push_back(']');
      return;
    }
    case json::kind::object: {
      const json::object& o = v.get_object();
      if (o.empty()) {
        out += "{}";
        return;
      }
      out.push_back('{');
      bool first = true;
      for (const auto& kv : o) {
        if (!first) out.push_back(',');
        first = false;
        if (indent > 0) newline(level + 1);
        out += json::serialize(json::value(kv.key()));
        out += indent > 0 ? ": " : ":";
        WriteJson(kv.value(), indent, level + 1, out);
      }
      if (indent > 0) newline(level);
      out.push_back('}');
      return;
    }
  }
}

}  // namespace

std::string Sanitize(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7F) c = '?';
  }
  return out;
}

std::string SanitizeMultiline(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    auto u = static_cast<unsigned char>(c);
    if (c == '\n') {
      out.push_back(c);
    } else if (c == '\r') {
      continue;
    } else if (c == '\t') {
      out.push_back(' ');
    } else {
      out.push_back(u < 0x20 || u == 0x7F ? '?' : c);
    }
  }
  return out;
}

std::string StrField(const json::object& o, std::string_view key) {
  const json::value* v = o.if_contains(key);
  if (v == nullptr || v->is_null()) return {};
  if (v->is_string()) return std::string(v->get_string());
  return CompactJson(*v);
}

int64_t IntField(const json::object& o, std::string_view key) {
  const json::value* v = o.if_contains(key);
  if (v == nullptr) return 0;
  if (v->is_int64()) return v->get_int64();
  if (v->is_uint64()) return static_cast<int64_t>(v->get_uint64());
  if (v->is_double()) return static_cast<int64_t>(v->get_double());
  return 0;
}

double NumField(const json::object& o, std::string_view key) {
  const json::value* v = o.if_contains(key);
  if (v == nullptr) return 0;
  if (v->is_double()) return v->get_double();
  if (v->is_int64()) return static_cast<double>(v->get_int64());
  if (v->is_uint64()) return static_cast<double>(v->get_uint64());
  return 0;
}

const json::object* ObjField(const json::object& o, std::string_view key) {
  const json::value* v = o.if_contains(key);
  return v != nullptr ? v->if_object() : nullptr;
}

const json::array* ArrField(const json::object& o, std::string_view key) {
  const json::value* v = o.if_contains(key);
  return v != nullptr ? v->if_array() : nullptr;
}

std::string FormatUsd(double usd) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "$%.4f", usd);
  return buf;
}

Table::Table(std::vector<std::string> headers) : headers_(std::move(headers)) {}

void Table::AddRow(std::vector<std::string> cells) {
  cells.resize(headers_.size());
  for (std::string& cell : cells) cell = Sanitize(cell);
  rows_.push_back(std::move(cells));
}

std::string Table::Render() const {
  std::vector<size_t> widths(headers_.size(), 0);
  auto measure = [&](const std::vector<std::string>& row) {
    for (size_t i = 0; i < row.size(); ++i) widths[i] = std::max(widths[i], DisplayWidth(row[i]));
  };
  measure(headers_);
  for (const auto& row : rows_) measure(row);
  std::string out;
  auto render = [&](const std::vector<std::string>& row) {
    std::string line;
    for (size_t i = 0; i < row.size(); ++i) {
      line += row[i];
      if (i + 1 < row.size()) line.append(widths[i] - DisplayWidth(row[i]) + 2, ' ');
    }
    RightTrim(line);
    out += line;
    out.push_back('\n');
  };
  render(headers_);
  for (const auto& row : rows_) render(row);
  return out;
}

std::string FormatKeyValues(const std::vector<std::pair<std::string, std::string>>& fields) {
  size_t width = 0;
  for (const auto& [key, value] : fields) width = std::max(width, DisplayWidth(key) + 1);
  std::string out;
  for (const auto& [key, value] : fields) {
    std::string line = key + ":";
    line.append(width - DisplayWidth(key) - 1 + 1, ' ');
    size_t start = 0;
    bool first = true;
    do {
      size_t end = value.find('\n', start);
      std::string_view part = std::string_view(value).substr(
          start, end == std::string::npos ? std::string::npos : end - start);
      if (!first) line.assign(width + 1, ' ');
      line += Sanitize(part);
      RightTrim(line);
      out += line;
      out.push_back('\n');
      first = false;
      start = end == std::string::npos ? value.size() + 1 : end + 1;
    } while (start <= value.size());
  }
  return out;
}

std::string FormatTimeUtc(int64_t unix_ms) {
  if (unix_ms <= 0) return "-";
  std::time_t seconds = static_cast<std::time_t>(unix_ms / 1000);
  std::tm tm{};
  if (gmtime_r(&seconds, &tm) == nullptr) return "-";
  char buf[32];
  size_t n = std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return std::string(buf, n);
}

std::string FormatAge(int64_t age_ms) {
  int64_t s = std::max<int64_t>(age_ms, 0) / 1000;
  if (s < 60) return std::to_string(s) + "s";
  if (s < 3600) return std::to_string(s / 60) + "m";
  if (s < 86400) return std::to_string(s / 3600) + "h";
  return std::to_string(s / 86400) + "d";
}

std::string Truncate(std::string_view text, size_t max) {
  if (DisplayWidth(text) <= max) return std::string(text);
  size_t keep = max >= 3 ? max - 3 : max;
  size_t points = 0;
  size_t i = 0;
  for (; i < text.size(); ++i) {
    if (!IsContinuationByte(text[i])) {
      if (points == keep) break;
      ++points;
    }
  }
  std::string out(text.substr(0, i));
  if (max >= 3) out += "...";
  return out;
}

std::string CompactJson(const json::value& v) {
  std::string out;
  WriteJson(v, 0, 0, out);
  return out;
}

std::string PrettyJson(const json::value& v, int indent) {
  std::string out;
  WriteJson(v, std::max(indent, 1), 0, out);
  return out;
}

std::optional<json::value> ParseJson(std::string_view text, std::string* error, size_t max_depth) {
  json::parse_options options;
  options.max_depth = max_depth;
  json::stream_parser parser({}, options);
  boost::system::error_code ec;
  size_t consumed = parser.write(text.data(), text.size(), ec);
  if (!ec) parser.finish(ec);
  if (ec) {
    if (error != nullptr) {
      *error = ec.message();
      if (!text.empty() && consumed < text.size())
        *error += " at offset " + std::to_string(consumed);
    }
    return std::nullopt;
  }
  return parser.release();
}

std::string BranchTag(const json::object& entry) {
  const json::value* branch = entry.if_contains("branch");
  if (branch == nullptr || !branch->is_string() || branch->get_string().empty()) return {};
  return "[" + Sanitize(branch->get_string()) + "] ";
}

std::string FormatEventLine(std::string_view id, std::string_view event, const json::value& data) {
  std::string line = "  ";
  const json::object* entry = data.if_object();
  if (entry == nullptr) {
    line += Sanitize(event);
    if (!data.is_null()) line += "  " + Truncate(CompactJson(data), 100);
    return line;
  }
  if (const json::value* seq = entry->if_contains("seq"); seq != nullptr && !seq->is_null()) {
    line += "#" + (seq->is_string() ? Sanitize(seq->get_string()) : CompactJson(*seq)) + " ";
  } else if (!id.empty()) {
    line += "#" + Sanitize(id) + " ";
  }
  line += BranchTag(*entry) + Sanitize(event);
  if (const json::value* name = entry->if_contains("name");
      name != nullptr && name->is_string() && !name->get_string().empty()) {
    line += "  " + Sanitize(name->get_string());
  }
  bool emit = event == "emit";
  const json::value* shown = entry->if_contains("result");
  if (emit && (shown == nullptr || shown->is_null())) shown = entry->if_contains("data");
  if (shown != nullptr && !shown->is_null()) {
    std::string text = CompactJson(*shown);
    line += "  " + (emit ? text : Truncate(text, 100));
  }
  return line;
}

std::optional<std::pair<std::string, std::string>> ParseErrorBody(std::string_view body) {
  std::optional<json::value> v = ParseJson(body, nullptr);
  if (!v || !v->is_object()) return std::nullopt;
  const json::value* err = v->get_object().if_contains("error");
  if (err == nullptr || !err->is_object()) return std::nullopt;
  const json::value* code = err->get_object().if_contains("code");
  const json::value* message = err->get_object().if_contains("message");
  if (code == nullptr || !code->is_string()) return std::nullopt;
  std::string text = message != nullptr && message->is_string() ? std::string(message->get_string())
                                                                : std::string();
  return std::make_pair(std::string(code->get_string()), std::move(text));
}

std::string ServerErrorLine(int status, std::string_view body) {
  if (auto err = ParseErrorBody(body)) {
    return "error: " + Sanitize(err->first) + ": " + Sanitize(err->second);
  }
  std::string_view first_line = body.substr(0, body.find_first_of("\r\n"));
  std::string text = first_line.empty() ? "(empty response)" : Truncate(first_line, 200);
  return "error: http_" + std::to_string(status) + ": " + Sanitize(text);
}

std::string ShellQuote(std::string_view text) {
  bool plain = !text.empty() && std::all_of(text.begin(), text.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           std::string_view("_-./:=@,+%").find(c) != std::string_view::npos;
  });
  if (plain) return std::string(text);
  std::string out = "'";
  for (char c : text) {
    if (c == '\'') {
      out += "'\\''";
    } else {
      out.push_back(c);
    }
  }
  out += "'";
  return out;
}

}  // namespace keel::cli

namespace keel::cli {

namespace {

std::string Str(const json::object& o, std::string_view key) { return StrField(o, key); }
int64_t Int(const json::object& o, std::string_view key) { return IntField(o, key); }
const json::object* Obj(const json::object& o, std::string_view key) { return ObjField(o, key); }

std::string OrDash(std::string s) { return s.empty() ? "-" : s; }

std::string Tenant(const json::object& run) {
  const json::object* caller = Obj(run, "caller");
  return caller != nullptr ? Str(*caller, "tenant") : std::string();
}

std::string Steps(const json::object& run) {
  const json::object* usage = Obj(run, "usage");
  return usage != nullptr && usage->contains("steps") ? std::to_string(Int(*usage, "steps"))
                                                      : std::string();
}

std::string ErrorText(const json::object& run) {
  const json::object* error = Obj(run, "error");
  if (error == nullptr) return {};
  return Str(*error, "code") + ": " + Str(*error, "message");
}

// The partial answer a budget_exhausted run hands back ({"partial_answer", "usage"}):
// nullopt when the run has none to show, "(none)" when the model had not answered yet.
std::optional<std::string> PartialAnswer(const json::object& run) {
  if (Str(run, "status") != "budget_exhausted") return std::nullopt;
  const json::object* result = Obj(run, "result");
  if (result == nullptr || !result->contains("partial_answer")) return std::nullopt;
  std::string text = Str(*result, "partial_answer");
  return text.empty() ? std::string("(none)") : text;
}

// "used of limit" for one budget field; nullopt when neither is set.
std::optional<std::string> UsedOf(const json::object* usage, const json::object* budget,
                                  std::string_view used_key, std::string_view limit_key) {
  int64_t used = usage != nullptr ? Int(*usage, used_key) : 0;
  int64_t limit = budget != nullptr ? Int(*budget, limit_key) : 0;
  if (used == 0 && limit == 0) return std::nullopt;
  std::string text = std::to_string(used);
  if (limit > 0) text += " of " + std::to_string(limit);
  return text;
}

}  // namespace

bool IsUnsuccessfulStatus(std::string_view status) {
  // A compensated run did not do its job either: it failed or was cancelled, then undone.
  return status == "failed" || status == "cancelled" || status == "timed_out" ||
         status == "budget_exhausted" || status == "compensated" || status == "compensation_failed";
}

bool IsTerminalStatus(std::string_view status) {
  return status == "succeeded" || IsUnsuccessfulStatus(status);
}

std::string FormatRunOutcome(const json::object& run) {
  std::string status = Str(run, "status");
  std::string out =
      "run " + Sanitize(OrDash(Str(run, "id"))) + " " + Sanitize(OrDash(status)) + "\n";
  if (std::string reason = Str(run, "wait_reason"); !reason.empty()) {
    out += "waiting for " + Sanitize(reason) + "\n";
  }
  const json::value* result = run.if_contains("result");
  if (status == "succeeded" && result != nullptr && !result->is_null()) {
    out += PrettyJson(*result) + "\n";
  }
  const json::value* error = run.if_contains("error");
  if (error != nullptr && !error->is_null()) out += PrettyJson(*error) + "\n";
  if (auto partial = PartialAnswer(run)) {
    out += FormatKeyValues({{"partial answer", *partial}});
  }
  return out;
}

std::string FormatCancelOutcome(const json::object& run) {
  std::string id = Sanitize(OrDash(Str(run, "id")));
  std::string status = Str(run, "status");
  if (IsTerminalStatus(status)) return "run " + id + " " + Sanitize(status);
  return "run " + id + ": cancel requested; its undo steps run, then it ends compensated " +
         "(see: keel runs show " + ShellQuote(Str(run, "id")) + ")";
}

std::string FormatRunTable(const json::array& runs, int64_t now_ms) {
  Table table({"ID", "INTENT", "STATUS", "TENANT", "STEPS", "CREATED", "AGE"});
  for (const json::value& v : runs) {
    const json::object* run = v.if_object();
    if (run == nullptr) continue;
    int64_t created = Int(*run, "created_at_ms");
    table.AddRow({OrDash(Str(*run, "id")), OrDash(Str(*run, "intent")), OrDash(Str(*run, "status")),
                  OrDash(Tenant(*run)), OrDash(Steps(*run)), FormatTimeUtc(created),
                  created > 0 ? FormatAge(now_ms - created) : "-"});
  }
  return table.Render();
}

std::string FormatRunDetails(const json::object& run, int64_t now_ms) {
  auto when = [&](int64_t ms) {
    return ms > 0 ? FormatTimeUtc(ms) + " (" + FormatAge(now_ms - ms) + " ago)" : std::string("-");
  };
  std::vector<std::pair<std::string, std::string>> f;
  f.emplace_back("id", OrDash(Str(run, "id")));
  f.emplace_back("intent", OrDash(Str(run, "intent")));
  f.emplace_back("status", OrDash(Str(run, "status")));
  f.emplace_back("tenant", OrDash(Tenant(run)));
  if (const json::object* caller = Obj(run, "caller")) {
    if (std::string user = Str(*caller, "user"); !user.empty()) f.emplace_back("user", user);
  }
  if (std::string parent = Str(run, "parent_run_id"); !parent.empty()) {
    f.emplace_back("parent run", parent);
  }
  if (const json::value* asked = run.if_contains("cancel_requested");
      asked != nullptr && asked->is_bool() && asked->get_bool() &&
      !IsTerminalStatus(Str(run, "status"))) {
    f.emplace_back("cancel requested", "yes: its undo steps run, then it ends compensated");
  }
  f.emplace_back("created", when(Int(run, "created_at_ms")));
  f.emplace_back("updated", when(Int(run, "updated_at_ms")));
  const json::object* budget = Obj(run, "budget");
  const json::object* usage = Obj(run, "usage");
  std::string steps = OrDash(Steps(run));
  if (budget != nullptr && Int(*budget, "max_steps") > 0) {
    steps += " of " + std::to_string(Int(*budget, "max_steps"));
  }
  f.emplace_back("steps", steps);
  // Model and tool usage only once there is some, or a limit on it: a plain workflow's
  // details stay as short as before.
  if (auto tools = UsedOf(usage, budget, "tools", "max_tools")) f.emplace_back("tools", *tools);
  if (auto tokens = UsedOf(usage, budget, "tokens", "max_tokens")) {
    f.emplace_back("tokens", *tokens);
  }
  if (int64_t context = budget != nullptr ? Int(*budget, "max_context") : 0; context > 0) {
    f.emplace_back("context", "at most " + std::to_string(context) + " tokens per model call");
  }
  double cost = usage != nullptr ? NumField(*usage, "cost_usd") : 0;
  double max_cost = budget != nullptr ? NumField(*budget, "max_cost_usd") : 0;
  if (cost > 0 || max_cost > 0) {
    f.emplace_back("cost", FormatUsd(cost) + (max_cost > 0 ? " of " + FormatUsd(max_cost) : ""));
  }
  if (int64_t deadline = Int(run, "deadline_at_ms"); deadline > 0) {
    f.emplace_back("deadline", FormatTimeUtc(deadline));
  }
  if (std::string key = Str(run, "idempotency_key"); !key.empty()) {
    f.emplace_back("idempotency key", key);
  }
  if (std::string id = Str(run, "correlation_id"); !id.empty())
    f.emplace_back("correlation id", id);
  if (std::string reason = Str(run, "wait_reason"); !reason.empty()) {
    f.emplace_back("wait reason", reason);
  }
  if (int64_t wake = Int(run, "wake_at_ms"); wake > 0)
    f.emplace_back("wake at", FormatTimeUtc(wake));
  if (std::string error = ErrorText(run); !error.empty()) f.emplace_back("error", error);
  if (auto partial = PartialAnswer(run)) {
    f.emplace_back("partial answer", *partial);
  } else if (const json::value* result = run.if_contains("result"); result && !result->is_null()) {
    f.emplace_back("result", PrettyJson(*result));
  }
  return FormatKeyValues(f);
}

std::string FormatJournalTable(const json::array& entries) {
  // The branch column only for runs that went parallel: most runs never do.
  bool branches = std::any_of(entries.begin(), entries.end(), [](const json::value& v) {
    return v.is_object() && !Str(v.get_object(), "branch").empty();
  });
  Table table(branches ? std::vector<std::string>{"SEQ", "BRANCH", "KIND", "NAME", "RESULT"}
                       : std::vector<std::string>{"SEQ", "KIND", "NAME", "RESULT"});
  for (const json::value& v : entries) {
    const json::object* e = v.if_object();
    if (e == nullptr) continue;
    const json::value* result = e->if_contains("result");
    std::string shown = result != nullptr && !result->is_null() ? CompactJson(*result) : "";
    std::vector<std::string> row{Str(*e, "seq")};
    if (branches) row.push_back(Str(*e, "branch"));
    for (std::string cell : {Str(*e, "kind"), Str(*e, "name"), Truncate(shown, 60)}) {
      row.push_back(std::move(cell));
    }
    table.AddRow(std::move(row));
  }
  return table.Render();
}

}  // namespace keel::cli
