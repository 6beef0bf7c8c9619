#include "sim/scenario_file.h"

#include <toml++/toml.h>
#include <fstream>
#include <sstream>

#include "sim/json_util.h"

namespace keel::sim {

namespace json = boost::json;

namespace {

json::value ToJson(const toml::node& node) {
  if (auto* t = node.as_table()) {
    json::object o;
    for (const auto& [k, v] : *t) o[std::string(k.str())] = ToJson(v);
    return o;
  }
  if (auto* a = node.as_array()) {
    json::array out;
    for (const auto& v : *a) out.push_back(ToJson(v));
    return out;
  }
  if (auto* s = node.as_string()) return json::string(s->get());
  if (auto* i = node.as_integer()) return i->get();
  if (auto* d = node.as_floating_point()) return d->get();
  if (auto* b = node.as_boolean()) return b->get();
  std::ostringstream text;
  if (auto* d = node.as_date())
    text << d->get();
  else if (auto* t = node.as_time())
    text << t->get();
  else if (auto* dt = node.as_date_time())
    text << dt->get();
  return json::string(text.str());
}

}  // namespace

Result<json::value> TomlToJson(const std::string& text, const std::string& name) {
  try {
    toml::table table = toml::parse(text, name);
    return ToJson(table);
  } catch (const toml::parse_error& e) {
    const auto& where = e.source().begin;
    return Error{Errc::kInvalidArgument, name + ":" + std::to_string(where.line) + ":" +
                                             std::to_string(where.column) + ": " +
                                             std::string(e.description())};
  }
}

Result<json::value> ReadScenarioFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Error{Errc::kNotFound, path + ": cannot read the scenario file"};
  std::stringstream buf;
  buf << in.rdbuf();
  std::string text = buf.str();
  bool is_toml = path.size() >= 5 && path.compare(path.size() - 5, 5, ".toml") == 0;
  if (is_toml) return TomlToJson(text, path);
  auto v = ParseJson(text);
  if (!v) return Error{Errc::kInvalidArgument, path + ": " + v.error().message};
  return v;
}

}  // namespace keel::sim
