#include "sim/scenario.h"

#include <algorithm>
#include <cctype>
#include <set>

#include "sim/json_util.h"
#include "sim/parse_util.h"

namespace keel::sim {

namespace json = boost::json;

namespace {

constexpr const char* kPlaceholders[] = {"last_user", "tool_result", "model", "turn"};

Status CheckTemplate(const std::string& text, const std::string& where) {
  size_t pos = 0;
  while ((pos = text.find("{{", pos)) != std::string::npos) {
    size_t end = text.find("}}", pos + 2);
    if (end == std::string::npos) return OkStatus();
    std::string name = text.substr(pos + 2, end - pos - 2);
    bool known = false;
    for (const char* p : kPlaceholders) known = known || name == p;
    if (!known) {
      return Error{Errc::kInvalidArgument,
                   where + ": unknown placeholder {{" + name +
                       "}} (known: {{last_user}}, {{tool_result}}, {{model}}, {{turn}})"};
    }
    pos = end + 2;
  }
  return OkStatus();
}

Status CheckTemplates(const json::value& v, const std::string& where) {
  if (v.is_string()) return CheckTemplate(std::string(v.as_string()), where);
  if (v.is_array()) {
    for (size_t i = 0; i < v.as_array().size(); ++i) {
      auto st = CheckTemplates(v.as_array()[i], where + "[" + std::to_string(i) + "]");
      if (!st) return st;
    }
  }
  if (v.is_object()) {
    for (const auto& kv : v.as_object()) {
      auto st = CheckTemplates(kv.value(), where + "." + std::string(kv.key()));
      if (!st) return st;
    }
  }
  return OkStatus();
}

Result<std::string> NormalizeFinish(const std::string& f, const std::string& where) {
  if (f == "stop" || f == "end_turn" || f == "stop_sequence") return std::string("stop");
  if (f == "tool_calls" || f == "tool_use") return std::string("tool_calls");
  if (f == "length" || f == "max_tokens") return std::string("length");
  if (f == "content_filter" || f == "refusal") return f;
  return Error{Errc::kInvalidArgument,
               where + ": unknown finish_reason \"" + f +
                   "\" (stop, tool_calls, length, content_filter, or the Anthropic names)"};
}

Result<ReplySpec> ParseReply(const json::value& v, const std::string& where) {
  auto obj = AsObject(v, where);
  if (!obj) return obj.error();
  const json::object& o = **obj;
  auto keys = CheckKeys(o, {"content", "tool_calls", "usage", "finish_reason"}, where);
  if (!keys) return keys.error();
  ReplySpec r;
  if (auto* c = Find(o, "content")) {
    auto s = AsString(*c, where + ".content");
    if (!s) return s.error();
    auto t = CheckTemplate(*s, where + ".content");
    if (!t) return t.error();
    r.content = *s;
  }
  if (auto* tc = Find(o, "tool_calls")) {
    if (!tc->is_array())
      return Error{Errc::kInvalidArgument, where + ".tool_calls: must be an array"};
    for (size_t i = 0; i < tc->as_array().size(); ++i) {
      std::string at = where + ".tool_calls[" + std::to_string(i) + "]";
      auto call = AsObject(tc->as_array()[i], at);
      if (!call) return call.error();
      auto ck = CheckKeys(**call, {"name", "arguments"}, at);
      if (!ck) return ck.error();
      const json::value* name = Find(**call, "name");
      if (!name) return Error{Errc::kInvalidArgument, at + ".name: missing"};
      auto n = AsString(*name, at + ".name");
      if (!n) return n.error();
      if (n->empty()) return Error{Errc::kInvalidArgument, at + ".name: must not be empty"};
      ToolCallSpec spec{*n, json::object{}};
      if (const json::value* args = Find(**call, "arguments")) {
        if (!args->is_object() && !args->is_string()) {
          return Error{Errc::kInvalidArgument,
                       at + ".arguments: must be an object (or a string of JSON text)"};
        }
        auto t = CheckTemplates(*args, at + ".arguments");
        if (!t) return t.error();
        spec.arguments = *args;
      }
      r.tool_calls.push_back(std::move(spec));
    }
  }
  if (auto* u = Find(o, "usage")) {
    auto uo = AsObject(*u, where + ".usage");
    if (!uo) return uo.error();
    auto uk = CheckKeys(**uo, {"input_tokens", "output_tokens"}, where + ".usage");
    if (!uk) return uk.error();
    for (const char* k : {"input_tokens", "output_tokens"}) {
      if (const json::value* n = Find(**uo, k)) {
        auto i = AsInt(*n, where + ".usage." + k);
        if (!i) return i.error();
        if (*i < 0)
          return Error{Errc::kInvalidArgument, where + ".usage." + k + ": must not be negative"};
        (std::string_view(k) == "input_tokens" ? r.input_tokens : r.output_tokens) = *i;
      }
    }
  }
  if (auto* f = Find(o, "finish_reason")) {
    auto s = AsString(*f, where + ".finish_reason");
    if (!s) return s.error();
    auto n = NormalizeFinish(*s, where + ".finish_reason");
    if (!n) return n.error();
    r.finish_reason = *n;
  }
  return r;
}

Result<When> ParseWhen(const json::value& v, const std::string& where) {
  auto obj = AsObject(v, where);
  if (!obj) return obj.error();
  const json::object& o = **obj;
  auto keys = CheckKeys(o,
                        {"model", "last_user_contains", "last_role", "has_tool",
                         "tool_result_contains", "tool_name", "turn"},
                        where);
  if (!keys) return keys.error();
  When w;
  auto str = [&](const char* key, std::optional<std::string>& field) -> Status {
    if (const json::value* x = Find(o, key)) {
      auto s = AsString(*x, where + "." + key);
      if (!s) return s.error();
      field = *s;
    }
    return OkStatus();
  };
  for (auto [key, field] :
       {std::pair{"model", &w.model}, std::pair{"last_user_contains", &w.last_user_contains},
        std::pair{"last_role", &w.last_role}, std::pair{"has_tool", &w.has_tool},
        std::pair{"tool_result_contains", &w.tool_result_contains},
        std::pair{"tool_name", &w.tool_name}}) {
    auto st = str(key, *field);
    if (!st) return st.error();
  }
  if (w.last_role && *w.last_role != "user" && *w.last_role != "assistant" &&
      *w.last_role != "tool" && *w.last_role != "system") {
    return Error{Errc::kInvalidArgument,
                 where + ".last_role: must be user, assistant, tool or system"};
  }
  if (const json::value* t = Find(o, "turn")) {
    auto n = AsInt(*t, where + ".turn");
    if (!n) return n.error();
    if (*n < 1) return Error{Errc::kInvalidArgument, where + ".turn: must be at least 1"};
    w.turn = *n;
  }
  return w;
}

}  // namespace

Result<Scenario> ParseScenario(const json::value& v) {
  auto obj = AsObject(v, "scenario");
  if (!obj) return obj.error();
  const json::object& o = **obj;
  auto keys = CheckKeys(o, {"rules", "faults", "default"}, "scenario");
  if (!keys) return keys.error();
  Scenario s;
  if (const json::value* rules = Find(o, "rules")) {
    if (!rules->is_array()) return Error{Errc::kInvalidArgument, "rules: must be an array"};
    for (size_t i = 0; i < rules->as_array().size(); ++i) {
      std::string at = "rules[" + std::to_string(i) + "]";
      auto ro = AsObject(rules->as_array()[i], at);
      if (!ro) return ro.error();
      auto rk = CheckKeys(**ro, {"when", "reply", "repeat"}, at);
      if (!rk) return rk.error();
      Rule rule;
      if (const json::value* w = Find(**ro, "when")) {
        auto when = ParseWhen(*w, at + ".when");
        if (!when) return when.error();
        rule.when = *when;
      }
      const json::value* reply = Find(**ro, "reply");
      if (!reply) return Error{Errc::kInvalidArgument, at + ".reply: missing"};
      auto r = ParseReply(*reply, at + ".reply");
      if (!r) return r.error();
      rule.reply = std::move(*r);
      if (const json::value* rep = Find(**ro, "repeat")) {
        auto b = AsBool(*rep, at + ".repeat");
        if (!b) return b.error();
        rule.repeat = *b;
      }
      s.rules.push_back(std::move(rule));
    }
  }
  if (const json::value* f = Find(o, "faults")) {
    auto t = FaultTable::Parse(*f);
    if (!t) return t.error();
    s.faults = std::move(*t);
  }
  if (const json::value* d = Find(o, "default")) {
    if (d->is_string() && d->as_string() == "echo") {
      s.default_mode = Scenario::Default::kEcho;
    } else if (d->is_string() && d->as_string() == "error") {
      s.default_mode = Scenario::Default::kError;
    } else if (d->is_object()) {
      auto r = ParseReply(*d, "default");
      if (!r) return r.error();
      s.default_mode = Scenario::Default::kReply;
      s.default_reply = std::move(*r);
    } else {
      return Error{Errc::kInvalidArgument,
                   "default: must be \"echo\", \"error\" or a reply object"};
    }
  }
  return s;
}

std::vector<std::string> Scenario::Models() const {
  std::set<std::string> models;
  for (const auto& r : rules) {
    if (r.when.model) models.insert(*r.when.model);
  }
  if (faults) {
    for (const auto& k : faults->Keys()) {
      if (k != "*" && k.rfind("tool:", 0) != 0) models.insert(k);
    }
  }
  return {models.begin(), models.end()};
}

ConversationFacts FactsOf(const std::vector<Message>& messages, size_t count) {
  ConversationFacts f;
  bool have_user = false, have_tool = false;
  for (size_t i = count; i-- > 0;) {
    const Message& m = messages[i];
    if (i + 1 == count) f.last_role = m.role;
    if (m.role == "assistant") ++f.turn;
    if (!have_user && m.role == "user") {
      f.last_user = m.text;
      have_user = true;
    }
    if (!have_tool && m.role == "tool") {
      f.tool_result = m.text;
      f.tool_name = m.tool_name;
      have_tool = true;
    }
  }
  return f;
}

bool Matches(const When& w, const ChatRequest& req, const ConversationFacts& f) {
  if (w.model && *w.model != req.model) return false;
  if (w.last_user_contains && f.last_user.find(*w.last_user_contains) == std::string::npos) {
    return false;
  }
  if (w.last_role && *w.last_role != f.last_role) return false;
  if (w.has_tool && std::find(req.tools.begin(), req.tools.end(), *w.has_tool) == req.tools.end()) {
    return false;
  }
  if (w.tool_result_contains && f.tool_result.find(*w.tool_result_contains) == std::string::npos) {
    return false;
  }
  if (w.tool_name && *w.tool_name != f.tool_name) return false;
  if (w.turn && *w.turn != f.turn) return false;
  return true;
}

std::string ExpandTemplate(const std::string& text, const ChatRequest& req,
                           const ConversationFacts& f) {
  if (text.find("{{") == std::string::npos) return text;
  std::string out;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t open = text.find("{{", pos);
    size_t close = open == std::string::npos ? open : text.find("}}", open + 2);
    if (close == std::string::npos) break;
    out.append(text, pos, open - pos);
    std::string name = text.substr(open + 2, close - open - 2);
    if (name == "last_user")
      out += f.last_user;
    else if (name == "tool_result")
      out += f.tool_result;
    else if (name == "model")
      out += req.model;
    else if (name == "turn")
      out += std::to_string(f.turn);
    else
      out.append(text, open, close + 2 - open);
    pos = close + 2;
  }
  if (pos < text.size()) out.append(text, pos);
  return out;
}

namespace {

json::value ExpandJson(const json::value& v, const ChatRequest& req, const ConversationFacts& f) {
  if (v.is_string()) return json::string(ExpandTemplate(std::string(v.as_string()), req, f));
  if (v.is_array()) {
    json::array out;
    for (const auto& e : v.as_array()) out.push_back(ExpandJson(e, req, f));
    return out;
  }
  if (v.is_object()) {
    json::object out;
    for (const auto& kv : v.as_object()) out[kv.key()] = ExpandJson(kv.value(), req, f);
    return out;
  }
  return v;
}

// The rule that answers the first `count` messages, given the rules that already answered
// earlier turns (`fired`); -1 when none.
int PickRule(const Scenario& s, const ChatRequest& req, size_t count, const std::set<int>& fired) {
  ConversationFacts f = FactsOf(req.messages, count);
  for (size_t i = 0; i < s.rules.size(); ++i) {
    const Rule& r = s.rules[i];
    if (!r.repeat && fired.count(static_cast<int>(i))) continue;
    if (Matches(r.when, req, f)) return static_cast<int>(i);
  }
  return -1;
}

Completion FromSpec(const ReplySpec& spec, const ChatRequest& req, const ConversationFacts& f) {
  Completion c;
  if (spec.content) c.content = ExpandTemplate(*spec.content, req, f);
  for (const auto& call : spec.tool_calls) {
    ToolCall tc;
    tc.name = call.name;
    json::value args = ExpandJson(call.arguments, req, f);
    tc.arguments = args.is_string() ? std::string(args.as_string()) : json::serialize(args);
    c.tool_calls.push_back(std::move(tc));
  }
  c.finish_reason = c.tool_calls.empty() ? "stop" : "tool_calls";
  return c;
}

bool IsToolNameChar(char ch) {
  return std::isalnum(static_cast<unsigned char>(ch)) || ch == '_' || ch == '-' || ch == '.';
}

// "tool:get_weather {"city":"Oslo"}" in the last user message calls get_weather when the
// request offers it.
std::vector<ToolCall> DirectedToolCalls(const std::string& text, const ChatRequest& req) {
  std::vector<ToolCall> calls;
  size_t pos = 0;
  while ((pos = text.find("tool:", pos)) != std::string::npos) {
    size_t start = pos + 5, end = start;
    while (end < text.size() && IsToolNameChar(text[end])) ++end;
    std::string name = text.substr(start, end - start);
    pos = end;
    if (name.empty() || std::find(req.tools.begin(), req.tools.end(), name) == req.tools.end()) {
      continue;
    }
    std::string args = "{}";
    size_t p = end;
    while (p < text.size() && (text[p] == ' ' || text[p] == '\t' || text[p] == '\n')) ++p;
    if (p < text.size() && text[p] == '{') {
      json::parser parser;
      boost::system::error_code ec;
      size_t used = parser.write_some(std::string_view(text).substr(p), ec);
      if (!ec) {
        json::value v = parser.release();
        if (v.is_object()) {
          args = json::serialize(v);
          pos = p + used;
        }
      }
    }
    calls.push_back(ToolCall{"", name, args});
  }
  return calls;
}

Completion DefaultEcho(const ChatRequest& req, const ConversationFacts& f) {
  Completion c;
  const std::vector<Message>& m = req.messages;
  if (!m.empty() && m.back().role == "user") {
    c.tool_calls = DirectedToolCalls(m.back().text, req);
  }
  if (!c.tool_calls.empty()) {
    c.finish_reason = "tool_calls";
    return c;
  }
  if (!m.empty() && m.back().role == "tool") {
    size_t first = m.size();
    while (first > 0 && m[first - 1].role == "tool") --first;
    std::string joined;
    for (size_t i = first; i < m.size(); ++i) joined += (i > first ? "\n" : "") + m[i].text;
    c.content = "Result: " + joined;
  } else {
    c.content = "echo: " + f.last_user;
  }
  return c;
}

}  // namespace

int64_t InputTokens(const ChatRequest& req) {
  int64_t chars = 0;
  for (const auto& m : req.messages) {
    chars += CountChars(m.text);
    for (const auto& tc : m.tool_calls) chars += CountChars(tc.name) + CountChars(tc.arguments);
  }
  return TokensForChars(chars);
}

int64_t OutputTokens(const std::string& content, const std::vector<ToolCall>& calls) {
  int64_t chars = CountChars(content);
  for (const auto& tc : calls) chars += CountChars(tc.name) + CountChars(tc.arguments);
  return TokensForChars(chars);
}

Result<Completion> Respond(const Scenario& s, const ChatRequest& req) {
  std::set<int> fired;
  bool any_once =
      std::any_of(s.rules.begin(), s.rules.end(), [](const Rule& r) { return !r.repeat; });
  if (any_once) {
    for (size_t i = 0; i < req.messages.size(); ++i) {
      if (req.messages[i].role != "assistant") continue;
      int r = PickRule(s, req, i, fired);
      if (r >= 0) fired.insert(r);
    }
  }
  int rule = s.rules.empty() ? -1 : PickRule(s, req, req.messages.size(), fired);
  ConversationFacts facts = FactsOf(req.messages, req.messages.size());
  const ReplySpec* spec = nullptr;
  Completion c;
  if (rule >= 0) {
    spec = &s.rules[static_cast<size_t>(rule)].reply;
  } else if (s.default_mode == Scenario::Default::kReply) {
    spec = &s.default_reply;
  } else if (s.default_mode == Scenario::Default::kError) {
    return Error{Errc::kInvalidArgument,
                 "keel-llm-sim: no scenario rule matched this request (the scenario's default "
                 "is \"error\")"};
  }
  c = spec ? FromSpec(*spec, req, facts) : DefaultEcho(req, facts);
  c.model = req.model;
  c.input_tokens = InputTokens(req);
  c.output_tokens = OutputTokens(c.content, c.tool_calls);
  if (req.max_tokens > 0 && c.output_tokens > req.max_tokens) {
    c.content = TruncateChars(c.content, req.max_tokens * 4);
    c.tool_calls.clear();
    c.output_tokens = OutputTokens(c.content, c.tool_calls);
    c.finish_reason = "length";
  } else if (spec && spec->finish_reason) {
    c.finish_reason = *spec->finish_reason;
  }
  if (spec && spec->input_tokens) c.input_tokens = *spec->input_tokens;
  if (spec && spec->output_tokens) c.output_tokens = *spec->output_tokens;
  return c;
}

}  // namespace keel::sim
