#include "cli/list_command.h"

#include <iostream>

#include "cli/output.h"

namespace keel::cli {

void ListQuery::Add(std::string_view param, std::string_view flag, const std::string& value) {
  if (value.empty()) return;
  query_ += (query_.empty() ? "?" : "&") + std::string(param) + "=" + client::UrlEncode(value);
  if (!flag.empty()) next_args_ += " " + std::string(flag) + " " + ShellQuote(value);
}

int RunListCommand(const ListQuery& query, const ListPage& page, const ClientOptions& options) {
  auto client = MakeClient(options);
  if (!client) return kExitUsage;
  auto response = Call(*client, "GET", page.path + query.query());
  if (!response) return kExitServer;
  if (options.json) {
    PrintRaw(response->body);
    return kExitOk;
  }
  auto body = ResponseObject(*response);
  if (!body) return kExitServer;
  const boost::json::array* items = ArrField(*body, page.array_key);
  if (items == nullptr) {
    std::cerr << "error: internal: the server's answer has no \"" << page.array_key << "\" array\n";
    return kExitServer;
  }
  std::cout << (items->empty() ? page.empty_text + "\n" : page.format(*items));
  if (std::string next = StrField(*body, page.cursor_key); !next.empty()) {
    std::cout << "next: " << page.next_command << " " << ShellQuote(next) << query.next_args()
              << "\n";
  }
  return kExitOk;
}

}  // namespace keel::cli
