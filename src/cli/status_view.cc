#include "cli/status_view.h"

#include <vector>

#include "cli/output.h"

namespace keel::cli {

namespace json = boost::json;

std::string FormatStatus(const json::object& status, int64_t now_ms) {
  std::vector<std::pair<std::string, std::string>> f;
  const json::object* engine = ObjField(status, "engine");
  json::object empty;
  if (engine == nullptr) engine = &empty;
  const json::value* draining = engine->if_contains("draining");
  f.emplace_back("engine", draining != nullptr && draining->is_bool() && draining->get_bool()
                               ? "draining"
                               : "ready");
  f.emplace_back("runs", std::to_string(IntField(*engine, "active_runs")) + " active, " +
                             std::to_string(IntField(*engine, "queued_runs")) + " queued");
  std::string intents;
  if (const json::array* list = ArrField(*engine, "intents")) {
    for (const json::value& v : *list) {
      if (!intents.empty()) intents += ", ";
      intents += v.is_string() ? std::string(v.get_string()) : CompactJson(v);
    }
  }
  f.emplace_back("intents", intents.empty() ? "(none)" : intents);

  const json::object* gateway = ObjField(status, "gateway");
  const json::array* breakers = gateway != nullptr ? ArrField(*gateway, "breakers") : nullptr;
  if (breakers == nullptr || breakers->empty()) {
    f.emplace_back("breakers", "none");
    return FormatKeyValues(f);
  }
  Table table({"BREAKER", "STATE", "REQUESTS", "FAILURES", "RETRY AT"});
  for (const json::value& v : *breakers) {
    const json::object* b = v.if_object();
    if (b == nullptr) continue;
    std::string retry = "-";
    if (int64_t at = IntField(*b, "retry_at_ms"); at > 0) {
      retry = FormatTimeUtc(at) + (at > now_ms ? " (in " + FormatAge(at - now_ms) + ")" : " (due)");
    }
    table.AddRow({StrField(*b, "key"), StrField(*b, "state"),
                  std::to_string(IntField(*b, "requests")),
                  std::to_string(IntField(*b, "failures")), retry});
  }
  return FormatKeyValues(f) + "\n" + table.Render();
}

}  // namespace keel::cli
