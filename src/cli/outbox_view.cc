#include "cli/outbox_view.h"

#include "cli/output.h"

namespace keel::cli {

namespace json = boost::json;

std::string FormatOutboxTable(const json::array& intents) {
  Table table({"KEY", "TARGET", "STATUS", "ATTEMPTS", "NEXT ATTEMPT", "LAST ERROR"});
  for (const json::value& v : intents) {
    const json::object* i = v.if_object();
    if (i == nullptr) continue;
    std::string status = StrField(*i, "status");
    std::string error = StrField(*i, "last_error");
    table.AddRow({StrField(*i, "key"), StrField(*i, "target"), status.empty() ? "-" : status,
                  std::to_string(IntField(*i, "attempts")) + "/" +
                      std::to_string(IntField(*i, "max_attempts")),
                  status == "pending" ? FormatTimeUtc(IntField(*i, "next_attempt_at_ms")) : "-",
                  error.empty() ? "-" : Truncate(error, 60)});
  }
  return table.Render();
}

}  // namespace keel::cli
