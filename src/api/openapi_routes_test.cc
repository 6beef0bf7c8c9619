// docs/api/openapi.yaml must list exactly the routes the server serves.

#include <gtest/gtest.h>

#include <cctype>
#include <cstdlib>
#include <fstream>
#include <set>
#include <string>

#include "api/http_server.h"

namespace keel::api {
namespace {

using RouteSet = std::set<std::pair<std::string, std::string>>;  // (METHOD, path)

size_t Indent(const std::string& line) {
  size_t n = 0;
  while (n < line.size() && line[n] == ' ') ++n;
  return n;
}

// "key:" or "key: # comment" -> "key"; anything else (a value after the colon) -> "".
std::string BareKey(const std::string& line) {
  std::string s = line.substr(Indent(line));
  size_t colon = s.find(':');
  if (colon == std::string::npos || colon == 0) return "";
  std::string rest = s.substr(colon + 1);
  size_t i = rest.find_first_not_of(' ');
  if (i != std::string::npos && rest[i] != '#') return "";
  std::string key = s.substr(0, colon);
  if (key.find(' ') != std::string::npos) return "";
  return key;
}

// Reads the `paths:` section with a line parser: a path is a 2-space indented key starting
// with '/', a method a 4-space indented HTTP verb under it.
RouteSet ReadOpenApiRoutes(const std::string& file) {
  static const std::set<std::string> kMethods{"get",   "put",  "post",    "delete",
                                              "patch", "head", "options", "trace"};
  std::ifstream in(file);
  EXPECT_TRUE(in.good()) << "cannot read " << file;
  RouteSet out;
  bool in_paths = false;
  std::string path;
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.find_first_not_of(' ') == std::string::npos) continue;
    size_t indent = Indent(line);
    if (line[indent] == '#') continue;
    if (indent == 0) {
      in_paths = line.rfind("paths:", 0) == 0;
      path.clear();
      continue;
    }
    if (!in_paths) continue;
    std::string key = BareKey(line);
    if (indent == 2) {
      path = !key.empty() && key[0] == '/' ? key : "";
    } else if (indent == 4 && !path.empty() && kMethods.count(key)) {
      std::string method = key;
      for (char& c : method) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
      out.emplace(method, path);
    }
  }
  return out;
}

TEST(OpenApiTest, DocumentsExactlyTheServedRoutes) {
  const char* root = std::getenv("KEEL_SOURCE_DIR");
  ASSERT_NE(root, nullptr) << "KEEL_SOURCE_DIR is not set (keel_test sets it)";
  const std::string file = std::string(root) + "/docs/api/openapi.yaml";
  RouteSet documented = ReadOpenApiRoutes(file);
  ASSERT_FALSE(documented.empty()) << "no routes found in " << file;

  RouteSet served;
  for (const RouteInfo& r : HttpServer::Routes()) served.emplace(r.method, r.path);

  for (const auto& [method, path] : served) {
    EXPECT_TRUE(documented.count({method, path}))
        << method << " " << path << " is served but missing from " << file;
  }
  for (const auto& [method, path] : documented) {
    EXPECT_TRUE(served.count({method, path}))
        << method << " " << path << " is in " << file << " but not served (HttpServer::Routes)";
  }
  EXPECT_EQ(served.size(), HttpServer::Routes().size()) << "duplicate routes in the route table";
}

}  // namespace
}  // namespace keel::api
