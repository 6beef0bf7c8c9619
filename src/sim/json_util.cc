#include "sim/json_util.h"

#include <algorithm>
#include <vector>

#include "base/hash.h"

namespace keel::sim {

namespace json = boost::json;

Result<json::value> ParseJson(std::string_view text) {
  boost::system::error_code ec;
  json::parse_options opts;
  opts.max_depth = 64;
  json::value v = json::parse(text, ec, {}, opts);
  if (ec) return Error{Errc::kInvalidArgument, "invalid JSON: " + ec.message()};
  return v;
}

namespace {

json::value Sorted(const json::value& v) {
  if (v.is_object()) {
    const auto& o = v.as_object();
    std::vector<const json::key_value_pair*> members;
    members.reserve(o.size());
    for (const auto& kv : o) members.push_back(&kv);
    std::sort(members.begin(), members.end(), [](auto* a, auto* b) { return a->key() < b->key(); });
    json::object out;
    out.reserve(o.size());
    for (auto* kv : members) out.emplace(kv->key(), Sorted(kv->value()));
    return out;
  }
  if (v.is_array()) {
    json::array out;
    out.reserve(v.as_array().size());
    for (const auto& e : v.as_array()) out.push_back(Sorted(e));
    return out;
  }
  return v;
}

}  // namespace

std::string CanonicalJson(const json::value& v) { return json::serialize(Sorted(v)); }

std::string Fingerprint(const json::value& v) { return Hex64(Fnv1a64(CanonicalJson(v))); }

int64_t CountChars(std::string_view text) {
  int64_t n = 0;
  for (unsigned char c : text) n += (c & 0xC0) != 0x80;
  return n;
}

int64_t TokensForChars(int64_t chars) { return (chars + 3) / 4; }

std::string TruncateChars(std::string_view text, int64_t max_chars) {
  int64_t seen = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    if ((static_cast<unsigned char>(text[i]) & 0xC0) != 0x80) {
      if (seen == max_chars) return std::string(text.substr(0, i));
      ++seen;
    }
  }
  return std::string(text);
}

const json::value* Find(const json::object& o, std::string_view key) { return o.if_contains(key); }

}  // namespace keel::sim
