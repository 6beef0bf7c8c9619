#include "cli/transcript.h"

#include <algorithm>
#include <cmath>
#include <string_view>
#include <utility>
#include <vector>

#include "cli/output.h"

namespace keel::cli {

namespace json = boost::json;

namespace {

constexpr size_t kValueWidth = 200;  // tool results, step results, arguments

std::string Join(const std::vector<std::string>& parts, std::string_view sep) {
  std::string out;
  for (const auto& p : parts) {
    if (!out.empty()) out += sep;
    out += p;
  }
  return out;
}

// Why one attempt failed, briefly: the HTTP status when there was one.
std::string Reason(const json::object& attempt) {
  if (int64_t status = IntField(attempt, "http_status"); status > 0) {
    return "HTTP " + std::to_string(status);
  }
  return Truncate(StrField(attempt, "error"), 60);
}

bool IsBlobRef(const json::value& v) {
  const json::object* o = v.if_object();
  if (o == nullptr) return false;
  const json::value* ref = o->if_contains("$ref");
  return ref != nullptr && ref->is_string() && ref->get_string().starts_with("blob:");
}

// One line: a string as its text, anything else as compact JSON, a stored blob as its size
// and preview; cut to `width` code points.
std::string OneLine(const json::value& v, size_t width = kValueWidth) {
  std::string text;
  if (IsBlobRef(v)) {
    const json::object& o = v.get_object();
    text = "[stored result, " + std::to_string(IntField(o, "bytes")) + " bytes] " +
           StrField(o, "preview");
  } else if (v.is_string()) {
    text = std::string(v.get_string());
  } else {
    text = CompactJson(v);
  }
  std::replace(text.begin(), text.end(), '\n', ' ');
  return Sanitize(Truncate(text, width));
}

// Message content: text in full (line breaks kept), other values on one cut line.
std::string ContentText(const json::value* content) {
  if (content == nullptr || content->is_null()) return "(no text)";
  if (content->is_string()) {
    std::string text = SanitizeMultiline(content->get_string());
    return text.empty() ? "(no text)" : text;
  }
  return OneLine(*content);
}

// What an interrupt said: its text when it has one (as the agent loop reads it), else JSON.
std::string InputText(const json::value& input) {
  if (input.is_string()) return SanitizeMultiline(input.get_string());
  if (const json::object* o = input.if_object()) {
    for (const char* key : {"message", "text"}) {
      if (const json::value* v = o->if_contains(key); v != nullptr && v->is_string()) {
        return SanitizeMultiline(v->get_string());
      }
    }
  }
  return OneLine(input);
}

// A journaled tool result (or error), which a later prompt's tool message is likely to repeat.
struct ToolShown {
  std::string name;
  json::value result;      // when ok
  std::string error_text;  // the error message, when not
  bool consumed = false;
};

bool RepeatsToolResult(const json::object& message, std::vector<ToolShown>& shown) {
  std::string name = StrField(message, "name");
  const json::value* content = message.if_contains("content");
  for (ToolShown& t : shown) {
    if (t.consumed || (!name.empty() && t.name != name)) continue;
    bool same = false;
    if (t.error_text.empty()) {
      same = content != nullptr && SameJson(*content, t.result);
    } else {
      same = content != nullptr && content->is_string() &&
             std::string_view(content->get_string()).find(t.error_text) != std::string_view::npos;
    }
    if (same) {
      t.consumed = true;
      return true;
    }
  }
  return false;
}

std::string TextOf(const json::value* v) {
  if (v == nullptr || v->is_null()) return {};
  if (v->is_string()) return std::string(v->get_string());
  return CompactJson(*v);
}

// The conversation state carried from one llm entry to the next.
struct Conversation {
  json::array messages;  // the previous llm entry's prompt
  // Tool results and interrupts shown and not yet matched by a prompt message: a later prompt
  // (not always the next one) passes them on to the model.
  std::vector<ToolShown> tools;
  std::vector<std::string> inputs;
  std::vector<std::string> answers;  // model answers shown, as text
};

// Removes `text` from `shown` if it is there: it was shown once already.
bool TakeShown(std::vector<std::string>& shown, const std::string& text) {
  auto it = std::find(shown.begin(), shown.end(), text);
  if (it == shown.end()) return false;
  shown.erase(it);
  return true;
}

void AddLlm(const json::object& e, int64_t seq, Conversation& conv, json::array& items) {
  const json::object* request = ObjField(e, "request");
  const json::object* inner = request != nullptr ? ObjField(*request, "request") : nullptr;
  const json::array* messages = inner != nullptr ? ArrField(*inner, "messages") : nullptr;
  json::array current = messages != nullptr ? *messages : json::array();

  // Only what is new since the previous prompt: the longest common prefix was shown already.
  size_t common = 0;
  while (common < current.size() && common < conv.messages.size() &&
         SameJson(current[common], conv.messages[common])) {
    ++common;
  }
  for (size_t i = common; i < current.size(); ++i) {
    const json::object* m = current[i].if_object();
    if (m == nullptr) continue;
    std::string role = StrField(*m, "role");
    if (role == "assistant" && TakeShown(conv.answers, TextOf(m->if_contains("content")))) {
      continue;  // a model item shows it
    }
    if (role == "tool" && RepeatsToolResult(*m, conv.tools)) continue;
    // An interrupt the loop passed on to the model was shown as the person's input.
    if (role == "user" && TakeShown(conv.inputs, ContentText(m->if_contains("content")))) {
      continue;
    }
    json::object item{{"seq", seq}, {"type", "message"}, {"role", role}};
    const json::value* content = m->if_contains("content");
    item["content"] = content != nullptr ? *content : json::value(nullptr);
    for (const char* key : {"name", "tool_call_id", "tool_calls"}) {
      if (const json::value* v = m->if_contains(key); v != nullptr && !v->is_null()) {
        item[key] = *v;
      }
    }
    items.push_back(std::move(item));
  }
  conv.messages = std::move(current);

  json::object item{{"seq", seq}, {"type", "model"}};
  item["asked"] = request != nullptr ? StrField(*request, "model") : StrField(e, "name");
  const json::object* result = ObjField(e, "result");
  const json::array* attempts = result != nullptr ? ArrField(*result, "attempts") : nullptr;
  const json::object* response = result != nullptr ? ObjField(*result, "response") : nullptr;
  if (response != nullptr) {
    item["model"] = StrField(*response, "model");
    const json::value* content = response->if_contains("content");
    item["content"] = content != nullptr ? *content : json::value(nullptr);
    const json::array* calls = ArrField(*response, "tool_calls");
    item["tool_calls"] = calls != nullptr ? *calls : json::array();
    item["finish_reason"] = StrField(*response, "finish_reason");
    const json::object* usage = ObjField(*response, "usage");
    item["usage"] = usage != nullptr ? *usage : json::object();
    conv.answers.push_back(TextOf(content));
  } else {
    const json::object* error = result != nullptr ? ObjField(*result, "error") : nullptr;
    item["error"] = error != nullptr
                        ? *error
                        : json::object{{"code", "internal"}, {"message", "unreadable entry"}};
  }
  item["note"] = attempts != nullptr ? AttemptsNote(*attempts) : std::string();
  item["attempts"] = attempts != nullptr ? *attempts : json::array();
  items.push_back(std::move(item));
}

void AddTool(const json::object& e, int64_t seq, Conversation& conv, json::array& items) {
  json::object item{{"seq", seq}, {"type", "tool"}, {"name", StrField(e, "name")}};
  const json::value* args = e.if_contains("request");
  item["arguments"] = args != nullptr ? *args : json::value(nullptr);
  const json::object* result = ObjField(e, "result");
  const json::array* attempts = result != nullptr ? ArrField(*result, "attempts") : nullptr;
  ToolShown shown{StrField(e, "name"), nullptr, "", false};
  if (const json::value* r = result != nullptr ? result->if_contains("result") : nullptr) {
    item["result"] = *r;
    shown.result = *r;
  } else {
    const json::object* error = result != nullptr ? ObjField(*result, "error") : nullptr;
    json::object err = error != nullptr
                           ? *error
                           : json::object{{"code", "internal"}, {"message", "unreadable entry"}};
    shown.error_text = StrField(err, "message");
    if (shown.error_text.empty()) shown.error_text = StrField(err, "code");
    item["error"] = std::move(err);
  }
  item["note"] = attempts != nullptr ? AttemptsNote(*attempts) : std::string();
  item["attempts"] = attempts != nullptr ? *attempts : json::array();
  conv.tools.push_back(std::move(shown));
  items.push_back(std::move(item));
}

void AddConfig(const json::object& e, int64_t seq, json::array& items) {
  std::string name = StrField(e, "name");
  const json::value* value = e.if_contains("result");
  const json::object* spec = value != nullptr ? value->if_object() : nullptr;
  if (!name.starts_with("agent:") || spec == nullptr) {
    items.push_back(json::object{{"seq", seq},
                                 {"type", "config"},
                                 {"name", name},
                                 {"value", value != nullptr ? *value : json::value(nullptr)}});
    return;
  }
  json::array tools;
  if (const json::array* list = ArrField(*spec, "tools")) {
    for (const json::value& t : *list) {
      if (const json::object* o = t.if_object())
        tools.push_back(json::string(StrField(*o, "name")));
    }
  }
  const json::object* budget = ObjField(*spec, "budget");
  items.push_back(json::object{{"seq", seq},
                               {"type", "agent"},
                               {"name", name.substr(6)},
                               {"model", StrField(*spec, "model")},
                               {"tools", std::move(tools)},
                               {"budget", budget != nullptr ? *budget : json::object()}});
}

// The signal that carries a decision to the run: "$approval:<approval id>".
constexpr std::string_view kApprovalSignal = "$approval:";

void AddEntry(const json::object& e, const std::string& run_id, Conversation& conv,
              json::array& items) {
  int64_t seq = IntField(e, "seq");
  std::string kind = StrField(e, "kind");
  std::string name = StrField(e, "name");
  const json::value* result_ptr = e.if_contains("result");
  json::value result = result_ptr != nullptr ? *result_ptr : json::value(nullptr);
  if (kind == "llm") return AddLlm(e, seq, conv, items);
  if (kind == "tool") return AddTool(e, seq, conv, items);
  if (kind == "config") return AddConfig(e, seq, items);
  if (kind == "interrupts") {
    if (const json::array* inputs = result.if_array()) {
      for (const json::value& input : *inputs) {
        conv.inputs.push_back(InputText(input));
        items.push_back(json::object{{"seq", seq}, {"type", "input"}, {"input", input}});
      }
    }
    return;
  }
  json::object item{{"seq", seq}, {"type", kind}};
  const json::object* o = result.if_object();
  if (kind == "step") {
    item["name"] = name;
    item["result"] = result;
  } else if (kind == "sleep") {
    item["wake_at_ms"] = o != nullptr ? IntField(*o, "wake_at") : 0;
  } else if (kind == "signal" && name.starts_with(kApprovalSignal) && o != nullptr &&
             o->contains("signal") && o->at("signal").is_object()) {
    // The decision on an approval gate reaches its run as this signal.
    const json::object& d = o->at("signal").get_object();
    item["type"] = "decision";
    item["approval_id"] = name.substr(kApprovalSignal.size());
    item["decision"] = StrField(d, "decision");
    item["by"] = StrField(d, "by");
    item["reason"] = StrField(d, "reason");
    const json::value* timed_out = d.if_contains("timed_out");
    item["timed_out"] = timed_out != nullptr && timed_out->is_bool() && timed_out->get_bool();
  } else if (kind == "signal") {
    item["name"] = name;
    if (o != nullptr && o->contains("signal")) {
      item["payload"] = o->at("signal");
    } else {
      item["timeout"] = true;
    }
  } else if (kind == "child") {
    item["name"] = name;
    item["run_id"] = o != nullptr ? StrField(*o, "run_id") : std::string();
  } else if (kind == "child_result") {
    item["run_id"] = o != nullptr ? StrField(*o, "run_id") : std::string();
    item["status"] = o != nullptr ? StrField(*o, "status") : std::string();
    if (const json::object* error = o != nullptr ? ObjField(*o, "error") : nullptr) {
      item["error"] = *error;
    } else {
      const json::value* r = o != nullptr ? o->if_contains("result") : nullptr;
      item["result"] = r != nullptr ? *r : json::value(nullptr);
    }
  } else if (kind == "approval") {
    item["step"] = name;
    item["approval_id"] = o != nullptr ? StrField(*o, "approval_id") : std::string();
    item["deadline_at_ms"] = o != nullptr ? IntField(*o, "deadline_at_ms") : 0;
  } else if (kind == "outbox") {
    // The intent's outcome is the tool entry that follows; this one says it was queued.
    std::string tool = o != nullptr ? StrField(*o, "target") : std::string();
    if (tool.empty() && o != nullptr) tool = StrField(*o, "tool");
    item["tool"] = tool.empty() ? name : tool;
    std::string key = o != nullptr ? StrField(*o, "key") : std::string();
    item["key"] = key.empty() ? run_id + ":" + std::to_string(seq) : key;
  } else if (kind == "parallel") {
    item["branches"] = o != nullptr ? IntField(*o, "branches") : 0;
  } else if (kind == "emit" || kind == "now" || kind == "random" || kind == "uuid") {
    item["value"] = result;
  } else {
    item["type"] = "entry";
    item["kind"] = kind;
    item["name"] = name;
    item["result"] = result;
  }
  items.push_back(std::move(item));
}

json::object Outcome(const json::object& run) {
  json::object o{{"type", "outcome"},
                 {"run_id", StrField(run, "id")},
                 {"intent", StrField(run, "intent")},
                 {"status", StrField(run, "status")}};
  if (std::string parent = StrField(run, "parent_run_id"); !parent.empty()) {
    o["parent_run_id"] = parent;
  }
  const json::object* usage = ObjField(run, "usage");
  o["usage"] = usage != nullptr ? *usage : json::object();
  std::string status = StrField(run, "status");
  const json::value* result = run.if_contains("result");
  if (status == "budget_exhausted" && result != nullptr && result->is_object() &&
      result->get_object().contains("partial_answer")) {
    o["partial_answer"] = result->get_object().at("partial_answer");
  } else if (status == "succeeded" && result != nullptr) {
    o["result"] = *result;
    // An agent's result ({answer, model, turns, ...}): its answer is what a person reads.
    if (const json::object* r = result->if_object()) {
      if (const json::value* answer = r->if_contains("answer"); answer && !answer->is_null()) {
        o["answer"] = *answer;
      }
    }
  }
  if (const json::value* error = run.if_contains("error"); error && !error->is_null()) {
    o["error"] = *error;
  }
  if (status == "waiting") {
    o["wait_reason"] = StrField(run, "wait_reason");
    if (int64_t wake = IntField(run, "wake_at_ms"); wake > 0) o["wake_at_ms"] = wake;
  }
  return o;
}

// --- text ---

std::string Count(int64_t n, std::string_view what) {
  return std::to_string(n) + " " + std::string(what) + (n == 1 ? "" : "s");
}

std::string UsageText(const json::object& usage) {
  // Only what was used: a plain workflow's usage stays "2 steps".
  std::vector<std::string> parts{Count(IntField(usage, "steps"), "step")};
  if (int64_t tools = IntField(usage, "tools"); tools > 0) parts.push_back(Count(tools, "tool"));
  if (int64_t tokens = IntField(usage, "tokens"); tokens > 0) {
    parts.push_back(Count(tokens, "token"));
  }
  if (double cost = NumField(usage, "cost_usd"); cost > 0) parts.push_back(FormatUsd(cost));
  return Join(parts, ", ");
}

std::string ModelLine(const json::object& item) {
  std::string asked = StrField(item, "asked");
  std::string model = StrField(item, "model");
  std::string label = asked.empty() ? "(default)" : asked;
  std::string line = "model " + Sanitize(label);
  if (const json::object* usage = ObjField(item, "usage")) {
    if (!model.empty() && model != asked) line += " -> " + Sanitize(model);
    line += ": " + std::to_string(IntField(*usage, "input_tokens")) + " in + " +
            std::to_string(IntField(*usage, "output_tokens")) + " out tokens";
    if (const json::value* est = usage->if_contains("estimated");
        est && est->is_bool() && est->get_bool()) {
      line += " (estimated)";
    }
    if (double cost = NumField(*usage, "cost_usd"); cost > 0) line += ", " + FormatUsd(cost);
  }
  if (std::string note = StrField(item, "note"); !note.empty()) line += "; " + Sanitize(note);
  return line;
}

std::string ErrorLine(const json::object& item) {
  const json::object* error = ObjField(item, "error");
  if (error == nullptr) return "error";
  return "error: " + Sanitize(StrField(*error, "code")) + ": " +
         SanitizeMultiline(StrField(*error, "message"));
}

void AddCallLines(const json::array* calls, std::vector<std::string>& lines) {
  if (calls == nullptr) return;
  for (const json::value& c : *calls) {
    const json::object* call = c.if_object();
    if (call == nullptr) continue;
    const json::value* args = call->if_contains("arguments");
    lines.push_back("call " + Sanitize(StrField(*call, "name")) +
                    (args != nullptr ? " " + OneLine(*args) : std::string()));
  }
}

// The lines of one item; the caller puts the seq in front of each.
std::vector<std::string> ItemLines(const json::object& item) {
  std::string type = StrField(item, "type");
  std::vector<std::string> lines;
  if (type == "agent") {
    std::vector<std::string> tools;
    if (const json::array* list = ArrField(item, "tools")) {
      for (const json::value& t : *list)
        tools.push_back(t.is_string() ? Sanitize(t.get_string()) : "?");
    }
    std::string model = StrField(item, "model");
    lines.push_back("agent " + Sanitize(StrField(item, "name")) + ": model " +
                    (model.empty() ? "(default)" : Sanitize(model)) + ", tools " +
                    (tools.empty() ? "(none)" : Join(tools, ", ")));
  } else if (type == "config") {
    lines.push_back("config " + Sanitize(StrField(item, "name")));
  } else if (type == "message") {
    std::string role = StrField(item, "role");
    std::string label = Sanitize(role);
    if (role == "tool") {
      std::string name = StrField(item, "name");
      label = "tool result" + (name.empty() ? std::string() : " for " + Sanitize(name));
    } else if (role == "assistant") {
      label = "assistant (in prompt)";
    }
    lines.push_back(label + ": " + ContentText(item.if_contains("content")));
    AddCallLines(ArrField(item, "tool_calls"), lines);
  } else if (type == "model") {
    lines.push_back(ModelLine(item));
    if (item.contains("error")) {
      lines.push_back(ErrorLine(item));
    } else {
      const json::value* content = item.if_contains("content");
      const json::array* calls = ArrField(item, "tool_calls");
      bool has_text = content != nullptr && content->is_string() && !content->get_string().empty();
      if (has_text || calls == nullptr || calls->empty()) {
        lines.push_back("assistant: " + ContentText(content));
      }
      AddCallLines(calls, lines);
    }
  } else if (type == "tool") {
    std::string line = "tool " + Sanitize(StrField(item, "name"));
    if (const json::value* args = item.if_contains("arguments"); args && !args->is_null()) {
      line += " " + OneLine(*args);
    }
    if (std::string note = StrField(item, "note"); !note.empty()) line += "; " + Sanitize(note);
    lines.push_back(line);
    if (const json::value* result = item.if_contains("result")) {
      lines.push_back("result: " + OneLine(*result));
    } else {
      lines.push_back(ErrorLine(item));
    }
  } else if (type == "input") {
    const json::value* input = item.if_contains("input");
    lines.push_back("user (interrupt): " + (input != nullptr ? InputText(*input) : "null"));
  } else if (type == "step") {
    const json::value* result = item.if_contains("result");
    lines.push_back("step " + Sanitize(StrField(item, "name")) + ": " +
                    (result != nullptr ? OneLine(*result) : "null"));
  } else if (type == "sleep") {
    lines.push_back("sleep until " + FormatTimeUtc(IntField(item, "wake_at_ms")));
  } else if (type == "signal") {
    std::string name = Sanitize(StrField(item, "name"));
    if (const json::value* payload = item.if_contains("payload")) {
      lines.push_back("signal " + name + ": " + OneLine(*payload));
    } else {
      lines.push_back("signal " + name + ": timed out");
    }
  } else if (type == "decision") {
    std::string line = "approval " + Sanitize(StrField(item, "approval_id")) + " " +
                       Sanitize(StrField(item, "decision")) + " by " +
                       Sanitize(StrField(item, "by"));
    if (const json::value* t = item.if_contains("timed_out"); t && t->is_bool() && t->get_bool()) {
      line += " (timed out)";
    }
    if (std::string reason = StrField(item, "reason"); !reason.empty()) {
      line += ": " + SanitizeMultiline(reason);
    }
    lines.push_back(line);
  } else if (type == "child") {
    std::string name = StrField(item, "name");
    lines.push_back("started child run " + Sanitize(StrField(item, "run_id")) +
                    (name.empty() ? std::string() : " (" + Sanitize(name) + ")"));
  } else if (type == "child_result") {
    std::string line = "child run " + Sanitize(StrField(item, "run_id")) + " " +
                       Sanitize(StrField(item, "status"));
    if (item.contains("error")) {
      lines.push_back(line);
      lines.push_back(ErrorLine(item));
    } else {
      const json::value* result = item.if_contains("result");
      lines.push_back(line + ": " + (result != nullptr ? OneLine(*result) : "null"));
    }
  } else if (type == "approval") {
    std::string step = StrField(item, "step");
    int64_t deadline = IntField(item, "deadline_at_ms");
    lines.push_back("approval " + Sanitize(StrField(item, "approval_id")) +
                    (step.empty() ? std::string() : " (" + Sanitize(step) + ")") + " created, " +
                    (deadline > 0 ? "deadline " + FormatTimeUtc(deadline) : "no deadline"));
  } else if (type == "outbox") {
    lines.push_back("effect intent queued for tool " + Sanitize(StrField(item, "tool")) +
                    " (Idempotency-Key " + Sanitize(StrField(item, "key")) + ")");
  } else if (type == "parallel") {
    int64_t n = IntField(item, "branches");
    lines.push_back("parallel: " + std::to_string(n) + (n == 1 ? " branch" : " branches"));
  } else if (type == "emit" || type == "now" || type == "random" || type == "uuid") {
    const json::value* value = item.if_contains("value");
    std::string text = value != nullptr ? OneLine(*value) : "null";
    if (type == "now" && value != nullptr && value->is_int64()) {
      text += " (" + FormatTimeUtc(value->get_int64()) + ")";
    }
    lines.push_back(Sanitize(type) + (type == "emit" ? " " : ": ") + text);
  } else {
    const json::value* result = item.if_contains("result");
    lines.push_back(Sanitize(StrField(item, "kind")) + " " + Sanitize(StrField(item, "name")) +
                    ": " + (result != nullptr ? OneLine(*result) : "null"));
  }
  return lines;
}

std::string OutcomeText(const json::object& o) {
  std::vector<std::pair<std::string, std::string>> f;
  std::string status = StrField(o, "status");
  f.emplace_back("status", status.empty() ? "-" : status);
  if (std::string parent = StrField(o, "parent_run_id"); !parent.empty()) {
    f.emplace_back("parent run", parent);
  }
  if (status == "waiting") {
    std::string reason = StrField(o, "wait_reason");
    if (int64_t wake = IntField(o, "wake_at_ms"); wake > 0) {
      reason += " (until " + FormatTimeUtc(wake) + ")";
    }
    f.emplace_back("waiting for", reason);
  }
  if (const json::value* answer = o.if_contains("answer")) {
    f.emplace_back("answer", answer->is_string() ? SanitizeMultiline(answer->get_string())
                                                 : PrettyJson(*answer));
    if (const json::object* result = ObjField(o, "result")) {
      if (std::string stopped = StrField(*result, "stopped"); !stopped.empty()) {
        f.emplace_back("stopped", stopped);
      }
    }
  } else if (const json::value* result = o.if_contains("result")) {
    f.emplace_back("result", PrettyJson(*result));
  }
  if (const json::value* partial = o.if_contains("partial_answer")) {
    f.emplace_back("partial answer", partial->is_string() ? SanitizeMultiline(partial->get_string())
                                     : partial->is_null() ? "(none)"
                                                          : PrettyJson(*partial));
  }
  if (const json::object* error = ObjField(o, "error")) {
    f.emplace_back("error", StrField(*error, "code") + ": " + StrField(*error, "message"));
  }
  if (const json::object* usage = ObjField(o, "usage")) f.emplace_back("usage", UsageText(*usage));
  return FormatKeyValues(f);
}

}  // namespace

bool SameJson(const json::value& a, const json::value& b) {
  bool a_num = a.is_number(), b_num = b.is_number();
  if (a_num || b_num) {
    if (!(a_num && b_num)) return false;
    if (a.is_double() || b.is_double()) return a.to_number<double>() == b.to_number<double>();
    return a == b;  // both integers: exact, whatever their signedness
  }
  if (a.kind() != b.kind()) return false;
  if (const json::object* ao = a.if_object()) {
    const json::object& bo = b.get_object();
    if (ao->size() != bo.size()) return false;
    for (const auto& kv : *ao) {
      const json::value* other = bo.if_contains(kv.key());
      if (other == nullptr || !SameJson(kv.value(), *other)) return false;
    }
    return true;
  }
  if (const json::array* aa = a.if_array()) {
    const json::array& ba = b.get_array();
    if (aa->size() != ba.size()) return false;
    for (size_t i = 0; i < aa->size(); ++i) {
      if (!SameJson((*aa)[i], ba[i])) return false;
    }
    return true;
  }
  return a == b;
}

std::string AttemptsNote(const json::array& attempts) {
  // Consecutive attempts on one target (a model of the chain, or the tool).
  struct Group {
    std::string target;
    int retries = 0;
    std::vector<std::string> reasons;  // of the retries, distinct
    std::string outcome;               // of the last attempt
    std::string reason;                // of the last attempt
  };
  std::vector<Group> groups;
  for (const json::value& v : attempts) {
    const json::object* a = v.if_object();
    if (a == nullptr) continue;
    std::string target = StrField(*a, "target");
    if (groups.empty() || groups.back().target != target) groups.push_back(Group{target});
    Group& g = groups.back();
    g.outcome = StrField(*a, "outcome");
    g.reason = g.outcome == "breaker_open" ? "breaker open" : Reason(*a);
    if (g.outcome == "retry") {
      ++g.retries;
      if (!g.reason.empty() &&
          std::find(g.reasons.begin(), g.reasons.end(), g.reason) == g.reasons.end()) {
        g.reasons.push_back(g.reason);
      }
    }
  }
  std::vector<std::string> parts;
  for (size_t i = 0; i < groups.size(); ++i) {
    const Group& g = groups[i];
    if (g.retries > 0) {
      std::string part =
          "after " + std::to_string(g.retries) + (g.retries == 1 ? " retry" : " retries");
      if (!g.reasons.empty()) part += " (" + Join(g.reasons, ", ") + ")";
      // Retries on the first target are plain from the context; later ones need a name.
      if (i > 0) part += " on " + g.target;
      parts.push_back(std::move(part));
    }
    bool left = g.outcome == "fallback" || g.outcome == "breaker_open" || g.outcome == "failed";
    if (!left || i + 1 >= groups.size()) {
      if (g.outcome == "breaker_open") parts.push_back("skipped " + g.target + " (breaker open)");
      continue;  // a final failure is shown as the error itself
    }
    std::string part = "fell back from " + g.target;
    bool new_reason = std::find(g.reasons.begin(), g.reasons.end(), g.reason) == g.reasons.end();
    if (!g.reason.empty() && new_reason) part += " (" + g.reason + ")";
    parts.push_back(part + " to " + groups[i + 1].target);
  }
  return Join(parts, ", ");
}

json::array BuildTranscript(const json::object& run, const json::array& entries) {
  json::array items;
  Conversation conv;
  const std::string run_id = StrField(run, "id");
  for (const json::value& v : entries) {
    const json::object* e = v.if_object();
    if (e == nullptr) continue;
    size_t first = items.size();
    AddEntry(*e, run_id, conv, items);
    if (std::string branch = StrField(*e, "branch"); !branch.empty()) {
      for (size_t i = first; i < items.size(); ++i) items[i].get_object()["branch"] = branch;
    }
  }
  items.push_back(Outcome(run));
  return items;
}

std::string FormatTranscript(const json::object& run, const json::array& entries) {
  json::array items = BuildTranscript(run, entries);
  std::string out = "run " + Sanitize(StrField(run, "id"));
  if (std::string intent = StrField(run, "intent"); !intent.empty()) {
    out += " (" + Sanitize(intent) + ")";
  }
  if (std::string parent = StrField(run, "parent_run_id"); !parent.empty()) {
    out += ", child of run " + Sanitize(parent);
  }
  out += "\n";
  size_t width = 0;
  for (const json::value& v : items) {
    const json::object& item = v.get_object();
    if (item.contains("seq"))
      width = std::max(width, 1 + std::to_string(IntField(item, "seq")).size());
  }
  const std::string continuation(width + 4, ' ');
  const json::object* outcome = nullptr;
  for (const json::value& v : items) {
    const json::object& item = v.get_object();
    if (!item.contains("seq")) {
      outcome = &item;
      continue;
    }
    std::string seq = "#" + std::to_string(IntField(item, "seq"));
    seq.append(width - seq.size() + 2, ' ');
    const std::string tag = BranchTag(item);
    for (std::string line : ItemLines(item)) {
      line.insert(0, tag);
      // Multi-line text (a prompt, an answer) continues under its item, indented.
      size_t start = 0;
      bool first = true;
      while (start <= line.size()) {
        size_t end = line.find('\n', start);
        std::string_view part = std::string_view(line).substr(
            start, end == std::string::npos ? std::string::npos : end - start);
        out += first ? seq : continuation;
        out += part;
        while (!out.empty() && out.back() == ' ') out.pop_back();
        out += "\n";
        first = false;
        if (end == std::string::npos) break;
        start = end + 1;
      }
    }
  }
  if (outcome != nullptr) out += "\n" + OutcomeText(*outcome);
  return out;
}

}  // namespace keel::cli
