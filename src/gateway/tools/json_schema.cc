#include "gateway/tools/json_schema.h"

#include <cctype>
#include <cmath>
#include <cstdio>
#include <set>
#include <vector>

namespace keel::gateway {

namespace json = boost::json;

namespace {

// Errors past this many say nothing new to whoever fixes the arguments.
constexpr size_t kMaxErrors = 10;
// std::regex (libstdc++) recurses once per character a loop consumes: a pattern such as
// "^(a|b)+$" overflows an 8 MiB stack on a subject of about 20,000 characters. Longer values
// are refused rather than matched (or sent unchecked).
constexpr size_t kMaxPatternSubject = 2048;
// Schema applications nested deeper than this can only be a $ref cycle that consumes no
// input: JSON parsed by Boost is at most 32 levels deep.
constexpr int kMaxDepth = 200;

const std::set<std::string, std::less<>>& TypeNames() {
  static const std::set<std::string, std::less<>> names = {"null",   "boolean", "object", "array",
                                                           "number", "string",  "integer"};
  return names;
}

const char* KindName(const json::value& v) {
  switch (v.kind()) {
    case json::kind::null:
      return "null";
    case json::kind::bool_:
      return "boolean";
    case json::kind::int64:
    case json::kind::uint64:
    case json::kind::double_:
      return "number";
    case json::kind::string:
      return "string";
    case json::kind::array:
      return "array";
    case json::kind::object:
      return "object";
  }
  return "value";
}

bool IsInteger(const json::value& v) {
  if (v.is_int64() || v.is_uint64()) return true;
  if (!v.is_double()) return false;
  double d = v.get_double();
  return std::isfinite(d) && std::floor(d) == d;
}

double ToDouble(const json::value& v) {
  if (v.is_int64()) return static_cast<double>(v.get_int64());
  if (v.is_uint64()) return static_cast<double>(v.get_uint64());
  return v.get_double();
}

bool HasType(const json::value& v, std::string_view type) {
  if (type == "integer") return IsInteger(v);
  if (type == "number") return v.is_number();
  return type == KindName(v);
}

std::string FormatNumber(double d) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.15g", d);
  return buf;
}

std::string Truncate(std::string s, size_t max = 100) {
  if (s.size() <= max) return s;
  size_t cut = max;
  while (cut > 0 && (static_cast<unsigned char>(s[cut]) & 0xC0) == 0x80) --cut;
  s.resize(cut);
  return s + "...";
}

// A value as shown in a message: numbers without Boost's exponent form, long values cut.
std::string Show(const json::value& v) {
  if (v.is_number()) {
    if (v.is_int64()) return std::to_string(v.get_int64());
    if (v.is_uint64()) return std::to_string(v.get_uint64());
    return FormatNumber(v.get_double());
  }
  return Truncate(json::serialize(v));
}

// JSON equality as JSON Schema defines it: 1 and 1.0 are the same number.
bool JsonEqual(const json::value& a, const json::value& b) {
  if (a.is_number() && b.is_number()) {
    if (!a.is_double() && !b.is_double()) {
      if (a.is_int64() && b.is_int64()) return a.get_int64() == b.get_int64();
      if (a.is_uint64() && b.is_uint64()) return a.get_uint64() == b.get_uint64();
      // One signed, one unsigned: equal only if the signed one is non-negative.
      const json::value& s = a.is_int64() ? a : b;
      const json::value& u = a.is_int64() ? b : a;
      return s.get_int64() >= 0 && static_cast<uint64_t>(s.get_int64()) == u.get_uint64();
    }
    return ToDouble(a) == ToDouble(b);
  }
  if (a.kind() != b.kind()) return false;
  if (a.is_array()) {
    const auto& x = a.get_array();
    const auto& y = b.get_array();
    if (x.size() != y.size()) return false;
    for (size_t i = 0; i < x.size(); ++i) {
      if (!JsonEqual(x[i], y[i])) return false;
    }
    return true;
  }
  if (a.is_object()) {
    const auto& x = a.get_object();
    const auto& y = b.get_object();
    if (x.size() != y.size()) return false;
    for (const auto& [k, v] : x) {
      const json::value* w = y.if_contains(k);
      if (!w || !JsonEqual(v, *w)) return false;
    }
    return true;
  }
  return a == b;
}

size_t CodePoints(std::string_view s) {
  size_t n = 0;
  for (char c : s) {
    if ((static_cast<unsigned char>(c) & 0xC0) != 0x80) ++n;
  }
  return n;
}

bool IsIdentifier(std::string_view s) {
  if (s.empty() || std::isdigit(static_cast<unsigned char>(s[0]))) return false;
  for (char c : s) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_')) return false;
  }
  return true;
}

// arguments.city, arguments.items[2], arguments["content-type"]
std::string Member(const std::string& path, std::string_view key) {
  if (IsIdentifier(key)) return path + "." + std::string(key);
  return path + "[" + json::serialize(json::string(key)) + "]";
}

std::string EscapePointerToken(std::string_view s) {
  std::string out;
  for (char c : s) {
    if (c == '~') {
      out += "~0";
    } else if (c == '/') {
      out += "~1";
    } else {
      out += c;
    }
  }
  return out;
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Resolves a local reference ("#", "#/$defs/city") against the root; null when it points
// nowhere. `error` says why a reference is not one we support.
const json::value* ResolveRef(const json::value& root, std::string_view ref, std::string* error) {
  if (ref.empty() || ref[0] != '#') {
    *error = "only local references (\"#/...\") are supported, got \"" + std::string(ref) + "\"";
    return nullptr;
  }
  std::string pointer;  // the fragment, percent-decoded
  for (size_t i = 1; i < ref.size(); ++i) {
    if (ref[i] == '%' && i + 2 < ref.size() && HexValue(ref[i + 1]) >= 0 &&
        HexValue(ref[i + 2]) >= 0) {
      pointer += static_cast<char>(HexValue(ref[i + 1]) * 16 + HexValue(ref[i + 2]));
      i += 2;
    } else {
      pointer += ref[i];
    }
  }
  if (!pointer.empty() && pointer[0] != '/') {
    *error = "anchors are not supported, only JSON pointers (\"#/...\"), got \"" +
             std::string(ref) + "\"";
    return nullptr;
  }
  const json::value* at = &root;
  size_t pos = 0;
  while (pos < pointer.size()) {
    size_t next = pointer.find('/', pos + 1);
    if (next == std::string::npos) next = pointer.size();
    std::string token;
    for (size_t i = pos + 1; i < next; ++i) {
      if (pointer[i] == '~' && i + 1 < next && (pointer[i + 1] == '0' || pointer[i + 1] == '1')) {
        token += pointer[i + 1] == '0' ? '~' : '/';
        ++i;
      } else {
        token += pointer[i];
      }
    }
    pos = next;
    if (at->is_object()) {
      at = at->get_object().if_contains(token);
    } else if (at->is_array() && !token.empty() &&
               token.find_first_not_of("0123456789") == std::string::npos) {
      size_t i = std::stoul(token);
      at = i < at->get_array().size() ? &at->get_array()[i] : nullptr;
    } else {
      at = nullptr;
    }
    if (!at) {
      *error = "$ref \"" + std::string(ref) + "\" points nowhere in the schema";
      return nullptr;
    }
  }
  return at;
}

// Checks a schema's shape once, so validation can trust it, and compiles its patterns.
class SchemaChecker {
 public:
  SchemaChecker(const json::value& root, std::map<std::string, std::regex>& patterns)
      : root_(root), patterns_(patterns) {}

  Status Check(const json::value& s, const std::string& at) {
    if (s.is_bool()) return OkStatus();
    if (!checked_.insert(&s).second) return OkStatus();  // reached again through a $ref
    if (!s.is_object()) {
      return Fail(at, std::string("a schema must be an object or a boolean, got ") + KindName(s));
    }
    const json::object& o = s.get_object();
    for (const auto& [key, v] : o) {
      std::string here = at + "/" + EscapePointerToken(key);
      if (Status st = CheckKeyword(key, v, here); !st) return st;
    }
    return OkStatus();
  }

 private:
  Status Fail(const std::string& at, std::string what) {
    return Error{Errc::kInvalidArgument, at + ": " + std::move(what)};
  }

  Status CheckSchemas(const json::value& v, const std::string& at, bool non_empty) {
    if (!v.is_array())
      return Fail(at, std::string("must be an array of schemas, got ") + KindName(v));
    if (non_empty && v.get_array().empty()) return Fail(at, "must not be empty");
    const auto& a = v.get_array();
    for (size_t i = 0; i < a.size(); ++i) {
      if (Status st = Check(a[i], at + "/" + std::to_string(i)); !st) return st;
    }
    return OkStatus();
  }

  Status CheckSchemaMap(const json::value& v, const std::string& at) {
    if (!v.is_object()) return Fail(at, std::string("must be an object, got ") + KindName(v));
    for (const auto& [k, sub] : v.get_object()) {
      if (Status st = Check(sub, at + "/" + EscapePointerToken(k)); !st) return st;
    }
    return OkStatus();
  }

  Status CheckPattern(std::string_view pattern, const std::string& at) {
    std::string p(pattern);
    if (patterns_.count(p)) return OkStatus();
    try {
      patterns_.emplace(p, std::regex(p, std::regex::ECMAScript));
    } catch (const std::regex_error& e) {
      return Fail(at, "invalid regular expression \"" + p + "\": " + e.what());
    }
    return OkStatus();
  }

  Status CheckKeyword(std::string_view key, const json::value& v, const std::string& at) {
    if (key == "type") {
      auto check_name = [&](const json::value& t) -> Status {
        if (!t.is_string())
          return Fail(at, std::string("type names are strings, got ") + KindName(t));
        if (!TypeNames().count(t.get_string())) {
          return Fail(at, "unknown type \"" + std::string(t.get_string()) +
                              "\" (null, boolean, object, array, number, string, integer)");
        }
        return OkStatus();
      };
      if (v.is_array()) {
        if (v.get_array().empty()) return Fail(at, "must name at least one type");
        for (const auto& t : v.get_array()) {
          if (Status st = check_name(t); !st) return st;
        }
        return OkStatus();
      }
      return check_name(v);
    }
    if (key == "properties" || key == "patternProperties" || key == "$defs" ||
        key == "definitions") {
      if (Status st = CheckSchemaMap(v, at); !st) return st;
      if (key == "patternProperties") {
        for (const auto& [k, sub] : v.get_object()) {
          if (Status st = CheckPattern(k, at + "/" + EscapePointerToken(k)); !st) return st;
        }
      }
      return OkStatus();
    }
    if (key == "additionalProperties" || key == "not") return Check(v, at);
    if (key == "items") return v.is_array() ? CheckSchemas(v, at, false) : Check(v, at);
    if (key == "prefixItems") return CheckSchemas(v, at, false);
    if (key == "anyOf" || key == "oneOf" || key == "allOf") return CheckSchemas(v, at, true);
    if (key == "required") {
      if (!v.is_array())
        return Fail(at, std::string("must be an array of strings, got ") + KindName(v));
      for (const auto& r : v.get_array()) {
        if (!r.is_string()) return Fail(at, std::string("must hold strings, found ") + KindName(r));
      }
      return OkStatus();
    }
    if (key == "enum") {
      if (!v.is_array()) return Fail(at, std::string("must be an array, got ") + KindName(v));
      return OkStatus();
    }
    if (key == "minimum" || key == "maximum" || key == "multipleOf") {
      if (!v.is_number()) return Fail(at, std::string("must be a number, got ") + KindName(v));
      if (key == "multipleOf" && !(ToDouble(v) > 0)) return Fail(at, "must be greater than 0");
      return OkStatus();
    }
    if (key == "exclusiveMinimum" || key == "exclusiveMaximum") {
      // A boolean is the draft-04 form: it makes minimum/maximum exclusive.
      if (!v.is_number() && !v.is_bool()) {
        return Fail(at, std::string("must be a number, got ") + KindName(v));
      }
      return OkStatus();
    }
    if (key == "minLength" || key == "maxLength" || key == "minItems" || key == "maxItems" ||
        key == "minProperties" || key == "maxProperties") {
      if (!IsInteger(v) || ToDouble(v) < 0) {
        return Fail(at, "must be a non-negative integer, got " + Show(v));
      }
      return OkStatus();
    }
    if (key == "uniqueItems") {
      if (!v.is_bool()) return Fail(at, std::string("must be a boolean, got ") + KindName(v));
      return OkStatus();
    }
    if (key == "pattern") {
      if (!v.is_string()) return Fail(at, std::string("must be a string, got ") + KindName(v));
      return CheckPattern(v.get_string(), at);
    }
    if (key == "$ref") {
      if (!v.is_string()) return Fail(at, std::string("must be a string, got ") + KindName(v));
      std::string why;
      const json::value* target = ResolveRef(root_, v.get_string(), &why);
      if (!target) return Fail(at, why);
      // The target may sit under a keyword we do not walk (say "x-shared"); check it too.
      return Check(*target, std::string(v.get_string()));
    }
    return OkStatus();  // unknown keywords are annotations as far as we are concerned
  }

  const json::value& root_;
  std::map<std::string, std::regex>& patterns_;
  std::set<const json::value*> checked_;
};

}  // namespace

class JsonSchema::Validator {
 public:
  explicit Validator(const State& state) : state_(state) {}

  void Check(const json::value& s, const json::value& v, const std::string& path, int depth) {
    if (Full()) return;
    if (depth > kMaxDepth) {
      Add(path, "the schema recurses without end here (a $ref cycle?)");
      return;
    }
    if (s.is_bool()) {
      if (!s.get_bool()) Add(path, "no value is allowed here");
      return;
    }
    const json::object& o = s.get_object();
    if (const json::value* ref = o.if_contains("$ref")) {
      std::string why;
      if (const json::value* target = ResolveRef(state_.schema, ref->get_string(), &why)) {
        Check(*target, v, path, depth + 1);
      }
    }
    if (const json::value* t = o.if_contains("type"); t && !CheckType(*t, v, path)) return;
    if (const json::value* e = o.if_contains("enum")) CheckEnum(e->get_array(), v, path);
    if (const json::value* c = o.if_contains("const"); c && !JsonEqual(*c, v)) {
      Add(path, "must be " + Show(*c) + ", got " + Show(v));
    }
    if (v.is_number()) CheckNumber(o, v, path);
    if (v.is_string()) CheckString(o, v.get_string(), path);
    if (v.is_array()) CheckArray(o, v.get_array(), path, depth);
    if (v.is_object()) CheckObject(o, v.get_object(), path, depth);
    if (const json::value* all = o.if_contains("allOf")) {
      for (const auto& sub : all->get_array()) Check(sub, v, path, depth + 1);
    }
    if (const json::value* any = o.if_contains("anyOf"))
      CheckAlternatives(*any, v, path, depth, false);
    if (const json::value* one = o.if_contains("oneOf"))
      CheckAlternatives(*one, v, path, depth, true);
    if (const json::value* n = o.if_contains("not")) {
      Validator sub(state_);
      sub.Check(*n, v, path, depth + 1);
      if (sub.errors_.empty()) Add(path, "must not match the schema under \"not\"");
    }
  }

  std::vector<std::string> errors_;

 private:
  bool Full() const { return errors_.size() >= kMaxErrors; }
  void Add(const std::string& path, std::string what) {
    if (!Full()) errors_.push_back(path + ": " + std::move(what));
  }

  bool CheckType(const json::value& t, const json::value& v, const std::string& path) {
    std::string expected;
    if (t.is_string()) {
      if (HasType(v, t.get_string())) return true;
      expected = t.get_string();
    } else {
      for (const auto& name : t.get_array()) {
        if (HasType(v, name.get_string())) return true;
        if (!expected.empty()) expected += " or ";
        expected += name.get_string();
      }
    }
    std::string got = KindName(v);
    if (v.is_number()) got += " " + Show(v);  // "expected integer, got number 2.5"
    Add(path, "expected " + expected + ", got " + got);
    return false;
  }

  void CheckEnum(const json::array& options, const json::value& v, const std::string& path) {
    for (const auto& option : options) {
      if (JsonEqual(option, v)) return;
    }
    std::string list;
    for (const auto& option : options) {
      if (!list.empty()) list += ", ";
      list += Show(option);
    }
    Add(path, "must be one of " + Truncate(list, 300) + "; got " + Show(v));
  }

  void CheckNumber(const json::object& o, const json::value& v, const std::string& path) {
    double d = ToDouble(v);
    auto bound = [&](const char* key) -> const json::value* {
      const json::value* b = o.if_contains(key);
      return b && b->is_number() ? b : nullptr;
    };
    auto draft4_exclusive = [&](const char* key) {
      const json::value* b = o.if_contains(key);
      return b && b->is_bool() && b->get_bool();
    };
    if (const json::value* m = bound("minimum")) {
      bool exclusive = draft4_exclusive("exclusiveMinimum");
      if (exclusive ? !(d > ToDouble(*m)) : d < ToDouble(*m)) {
        Add(path,
            std::string("must be ") + (exclusive ? "> " : ">= ") + Show(*m) + ", got " + Show(v));
      }
    }
    if (const json::value* m = bound("maximum")) {
      bool exclusive = draft4_exclusive("exclusiveMaximum");
      if (exclusive ? !(d < ToDouble(*m)) : d > ToDouble(*m)) {
        Add(path,
            std::string("must be ") + (exclusive ? "< " : "<= ") + Show(*m) + ", got " + Show(v));
      }
    }
    if (const json::value* m = bound("exclusiveMinimum"); m && !(d > ToDouble(*m))) {
      Add(path, "must be > " + Show(*m) + ", got " + Show(v));
    }
    if (const json::value* m = bound("exclusiveMaximum"); m && !(d < ToDouble(*m))) {
      Add(path, "must be < " + Show(*m) + ", got " + Show(v));
    }
    if (const json::value* m = bound("multipleOf")) {
      double q = d / ToDouble(*m);
      if (!std::isfinite(q) || std::abs(q - std::round(q)) > 1e-9 * std::max(1.0, std::abs(q))) {
        Add(path, "must be a multiple of " + Show(*m) + ", got " + Show(v));
      }
    }
  }

  void CheckString(const json::object& o, std::string_view s, const std::string& path) {
    size_t n = CodePoints(s);
    if (const json::value* m = o.if_contains("minLength"); m && n < ToDouble(*m)) {
      Add(path, "must be at least " + Show(*m) + " characters long, got " + std::to_string(n));
    }
    if (const json::value* m = o.if_contains("maxLength"); m && n > ToDouble(*m)) {
      Add(path, "must be at most " + Show(*m) + " characters long, got " + std::to_string(n));
    }
    if (const json::value* p = o.if_contains("pattern")) {
      const std::regex& re = state_.patterns.at(std::string(p->get_string()));
      if (s.size() > kMaxPatternSubject) {
        Add(path, "is " + std::to_string(s.size()) + " bytes long, too long to check against " +
                      "the pattern " + json::serialize(p->get_string()) + " (at most " +
                      std::to_string(kMaxPatternSubject) + ")");
      } else if (!std::regex_search(s.begin(), s.end(), re)) {
        Add(path, "must match the pattern " + json::serialize(p->get_string()) + ", got " +
                      Truncate(json::serialize(json::string(s))));
      }
    }
  }

  void CheckArray(const json::object& o, const json::array& a, const std::string& path, int depth) {
    auto item = [&](size_t i) { return path + "[" + std::to_string(i) + "]"; };
    const json::value* prefix = o.if_contains("prefixItems");
    const json::value* items = o.if_contains("items");
    if (!prefix && items && items->is_array()) prefix = items, items = nullptr;  // draft-07 tuple
    size_t start = 0;
    if (prefix) {
      const auto& schemas = prefix->get_array();
      for (size_t i = 0; i < a.size() && i < schemas.size(); ++i) {
        Check(schemas[i], a[i], item(i), depth + 1);
      }
      start = schemas.size();
    }
    if (items && !items->is_array()) {
      for (size_t i = start; i < a.size(); ++i) Check(*items, a[i], item(i), depth + 1);
    }
    if (const json::value* m = o.if_contains("minItems"); m && a.size() < ToDouble(*m)) {
      Add(path, "must have at least " + Show(*m) + " items, got " + std::to_string(a.size()));
    }
    if (const json::value* m = o.if_contains("maxItems"); m && a.size() > ToDouble(*m)) {
      Add(path, "must have at most " + Show(*m) + " items, got " + std::to_string(a.size()));
    }
    if (const json::value* u = o.if_contains("uniqueItems"); u && u->get_bool()) {
      for (size_t i = 0; i < a.size(); ++i) {
        for (size_t j = i + 1; j < a.size(); ++j) {
          if (JsonEqual(a[i], a[j])) {
            Add(path, "items [" + std::to_string(i) + "] and [" + std::to_string(j) +
                          "] are equal; they must be unique");
            return;
          }
        }
      }
    }
  }

  void CheckObject(const json::object& o, const json::object& v, const std::string& path,
                   int depth) {
    if (const json::value* req = o.if_contains("required")) {
      for (const auto& name : req->get_array()) {
        if (!v.contains(name.get_string())) {
          Add(path, "missing required property " + json::serialize(name));
        }
      }
    }
    const json::object* props =
        o.if_contains("properties") ? &o.at("properties").get_object() : nullptr;
    const json::object* pattern_props =
        o.if_contains("patternProperties") ? &o.at("patternProperties").get_object() : nullptr;
    const json::value* additional = o.if_contains("additionalProperties");
    for (const auto& [key, value] : v) {
      bool matched = false;
      std::string member = Member(path, key);
      if (props) {
        if (const json::value* sub = props->if_contains(key)) {
          matched = true;
          Check(*sub, value, member, depth + 1);
        }
      }
      if (pattern_props) {
        for (const auto& [pattern, sub] : *pattern_props) {
          const std::regex& re = state_.patterns.at(std::string(pattern));
          if (key.size() > kMaxPatternSubject) {
            Add(path, "has a property name of " + std::to_string(key.size()) +
                          " bytes, too long to check against patternProperties (at most " +
                          std::to_string(kMaxPatternSubject) + ")");
            matched = true;  // reported; additionalProperties need not say it again
            break;
          }
          if (std::regex_search(key.begin(), key.end(), re)) {
            matched = true;
            Check(sub, value, member, depth + 1);
          }
        }
      }
      if (matched || !additional) continue;
      if (additional->is_bool() && !additional->get_bool()) {
        std::string allowed;
        if (props) {
          for (const auto& [name, sub] : *props) {
            if (!allowed.empty()) allowed += ", ";
            allowed += name;
          }
        }
        Add(path, "unexpected property " + json::serialize(json::string(key)) +
                      (allowed.empty() ? "" : " (allowed: " + Truncate(allowed, 300) + ")"));
      } else {
        Check(*additional, value, member, depth + 1);
      }
    }
    if (const json::value* m = o.if_contains("minProperties"); m && v.size() < ToDouble(*m)) {
      Add(path, "must have at least " + Show(*m) + " properties, got " + std::to_string(v.size()));
    }
    if (const json::value* m = o.if_contains("maxProperties"); m && v.size() > ToDouble(*m)) {
      Add(path, "must have at most " + Show(*m) + " properties, got " + std::to_string(v.size()));
    }
  }

  void CheckAlternatives(const json::value& alts, const json::value& v, const std::string& path,
                         int depth, bool exactly_one) {
    const char* keyword = exactly_one ? "oneOf" : "anyOf";
    std::vector<size_t> matches;
    std::string why;
    const auto& schemas = alts.get_array();
    for (size_t i = 0; i < schemas.size(); ++i) {
      Validator sub(state_);
      sub.Check(schemas[i], v, path, depth + 1);
      if (sub.errors_.empty()) {
        matches.push_back(i);
        if (!exactly_one) return;
        continue;
      }
      // The alternative's own message, without repeating the path they share.
      std::string first = sub.errors_.front();
      if (first.rfind(path + ": ", 0) == 0) first = first.substr(path.size() + 2);
      if (!why.empty()) why += "; ";
      why += "#" + std::to_string(i) + ": " + first;
    }
    if (matches.empty()) {
      Add(path, std::string("matches no schema in ") + keyword + " (" + Truncate(why, 500) + ")");
    } else if (matches.size() > 1) {
      Add(path, std::string("matches more than one schema in oneOf (#") +
                    std::to_string(matches[0]) + " and #" + std::to_string(matches[1]) + ")");
    }
  }

  const State& state_;
};

Result<JsonSchema> JsonSchema::Compile(const json::value& schema) {
  if (!schema.is_object()) {
    return Error{Errc::kInvalidArgument,
                 std::string("a parameters schema must be a JSON object, got ") + KindName(schema)};
  }
  auto state = std::make_shared<State>();
  state->schema = schema;
  SchemaChecker checker(state->schema, state->patterns);
  if (Status st = checker.Check(state->schema, "#"); !st) return st.error();
  return JsonSchema(std::move(state));
}

Status JsonSchema::Validate(const json::value& value, std::string_view root) const {
  Validator v(*state_);
  v.Check(state_->schema, value, std::string(root), 0);
  if (v.errors_.empty()) return OkStatus();
  std::string message;
  for (const auto& e : v.errors_) {
    if (!message.empty()) message += "; ";
    message += e;
  }
  return Error{Errc::kInvalidArgument, std::move(message)};
}

}  // namespace keel::gateway
