#include "cli/approval_view.h"

#include <string_view>
#include <utility>
#include <vector>

#include "cli/output.h"

namespace keel::cli {

namespace json = boost::json;

namespace {

std::string OrDash(std::string s) { return s.empty() ? "-" : s; }

// ["alice","bob"] -> "alice, bob"; [] -> `empty`.
std::string Names(const json::object& o, std::string_view key, std::string_view empty) {
  std::string out;
  if (const json::array* list = ArrField(o, key)) {
    for (const json::value& v : *list) {
      if (!out.empty()) out += ", ";
      out += v.is_string() ? std::string(v.get_string()) : CompactJson(v);
    }
  }
  return out.empty() ? std::string(empty) : out;
}

bool Pending(const json::object& a) { return StrField(a, "status") == "pending"; }

std::string Escalation(const json::object& a) {
  return std::to_string(IntField(a, "escalation_level")) + "/" +
         std::to_string(IntField(a, "max_escalations"));
}

// "2023-11-14T22:13:20Z (in 5m)" / "(5m ago)".
std::string When(int64_t at_ms, int64_t now_ms) {
  if (at_ms <= 0) return "-";
  std::string rel =
      at_ms >= now_ms ? "in " + FormatAge(at_ms - now_ms) : FormatAge(now_ms - at_ms) + " ago";
  return FormatTimeUtc(at_ms) + " (" + rel + ")";
}

}  // namespace

std::string FormatApprovalTable(const json::array& approvals) {
  Table table({"ID", "RUN", "STEP", "STATUS", "DEADLINE", "ESCALATION", "APPROVERS"});
  for (const json::value& v : approvals) {
    const json::object* a = v.if_object();
    if (a == nullptr) continue;
    int64_t deadline = IntField(*a, "deadline_at_ms");
    table.AddRow({OrDash(StrField(*a, "id")), OrDash(StrField(*a, "run_id")),
                  OrDash(StrField(*a, "step")), OrDash(StrField(*a, "status")),
                  Pending(*a) && deadline > 0 ? FormatTimeUtc(deadline) : "-", Escalation(*a),
                  Truncate(Names(*a, "approvers", "anyone"), 40)});
  }
  return table.Render();
}

std::string FormatApprovalDetails(const json::object& a, int64_t now_ms) {
  std::vector<std::pair<std::string, std::string>> f;
  f.emplace_back("id", OrDash(StrField(a, "id")));
  f.emplace_back("run", OrDash(StrField(a, "run_id")));
  f.emplace_back("intent", OrDash(StrField(a, "intent")));
  f.emplace_back("tenant", OrDash(StrField(a, "tenant")));
  f.emplace_back("step", OrDash(StrField(a, "step")));
  f.emplace_back("status", OrDash(StrField(a, "status")));
  f.emplace_back("approvers", Names(a, "approvers", "anyone"));
  if (std::string to = Names(a, "escalate_to", ""); !to.empty()) f.emplace_back("escalate to", to);
  int64_t timeout = IntField(a, "timeout_ms");
  f.emplace_back("on timeout",
                 timeout > 0 ? OrDash(StrField(a, "on_timeout")) + " after " + FormatAge(timeout)
                             : std::string("- (no timeout)"));
  f.emplace_back("escalation", "level " + std::to_string(IntField(a, "escalation_level")) + " of " +
                                   std::to_string(IntField(a, "max_escalations")));
  if (Pending(a)) f.emplace_back("deadline", When(IntField(a, "deadline_at_ms"), now_ms));
  f.emplace_back("created", When(IntField(a, "created_at_ms"), now_ms));
  if (StrField(a, "status") == "withdrawn") {
    // Nobody decided: the run ended first, and the reason says how.
    f.emplace_back("withdrawn", FormatTimeUtc(IntField(a, "decided_at_ms")) + " by " +
                                    OrDash(StrField(a, "decided_by")));
  } else if (!Pending(a)) {
    std::string decided = OrDash(StrField(a, "status")) + " by " +
                          OrDash(StrField(a, "decided_by")) + " at " +
                          FormatTimeUtc(IntField(a, "decided_at_ms"));
    const json::value* timed_out = a.if_contains("timed_out");
    if (timed_out != nullptr && timed_out->is_bool() && timed_out->get_bool()) {
      decided += " (timed out)";
    }
    f.emplace_back("decided", decided);
  }
  if (std::string reason = StrField(a, "reason"); !Pending(a) && !reason.empty()) {
    f.emplace_back("reason", SanitizeMultiline(reason));
  }
  const json::value* payload = a.if_contains("payload");
  f.emplace_back("payload", payload != nullptr ? PrettyJson(*payload) : "null");
  std::string out = FormatKeyValues(f);

  const json::array* audit = ArrField(a, "audit");
  if (audit == nullptr) return out;
  out += "\naudit:\n";
  if (audit->empty()) return out + "  (no events)\n";
  Table table({"TIME", "EVENT", "WHO", "DETAIL"});
  for (const json::value& v : *audit) {
    const json::object* e = v.if_object();
    if (e == nullptr) continue;
    const json::value* detail = e->if_contains("detail");
    bool empty = detail == nullptr || detail->is_null() ||
                 (detail->is_object() && detail->get_object().empty());
    table.AddRow({FormatTimeUtc(IntField(*e, "at_ms")), OrDash(StrField(*e, "event")),
                  OrDash(StrField(*e, "who")), empty ? "" : Truncate(CompactJson(*detail), 80)});
  }
  return out + table.Render();
}

std::string FormatDecisionLine(const json::object& a, bool existing) {
  std::string line = "approval " + Sanitize(OrDash(StrField(a, "id"))) + " " +
                     Sanitize(OrDash(StrField(a, "status"))) + " by " +
                     Sanitize(OrDash(StrField(a, "decided_by")));
  if (existing) line += " (already recorded; nothing changed)";
  return line;
}

}  // namespace keel::cli
