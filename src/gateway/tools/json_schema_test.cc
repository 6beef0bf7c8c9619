#include "gateway/tools/json_schema.h"

#include <gtest/gtest.h>

namespace keel::gateway {
namespace {

namespace json = boost::json;

JsonSchema Schema(const std::string& text) {
  auto s = JsonSchema::Compile(json::parse(text));
  EXPECT_TRUE(s.ok()) << s.error().message;
  if (!s.ok()) return *JsonSchema::Compile(json::parse("{}"));
  return *s;
}

// The validation error for `value`, or "" when it is valid.
std::string Check(const JsonSchema& schema, const std::string& value) {
  Status st = schema.Validate(json::parse(value));
  return st.ok() ? "" : st.error().message;
}

std::string CompileError(const std::string& text) {
  auto s = JsonSchema::Compile(json::parse(text));
  return s.ok() ? "" : s.error().message;
}

TEST(JsonSchema, TypeNamesThePathAndWhatArrived) {
  auto s = Schema(R"({"type":"object","properties":{"city":{"type":"string"}}})");
  EXPECT_EQ(Check(s, R"({"city":"Paris"})"), "");
  EXPECT_EQ(Check(s, R"({"city":42})"), "arguments.city: expected string, got number 42");
  EXPECT_EQ(Check(s, R"([1])"), "arguments: expected object, got array");
}

TEST(JsonSchema, IntegerAcceptsWholeNumbersOnly) {
  auto s = Schema(R"({"type":"object","properties":{"n":{"type":"integer"}}})");
  EXPECT_EQ(Check(s, R"({"n":3})"), "");
  EXPECT_EQ(Check(s, R"({"n":3.0})"), "");
  EXPECT_EQ(Check(s, R"({"n":2.5})"), "arguments.n: expected integer, got number 2.5");
  EXPECT_EQ(Check(s, R"({"n":"3"})"), "arguments.n: expected integer, got string");
  auto num = Schema(R"({"properties":{"x":{"type":"number"}}})");
  EXPECT_EQ(Check(num, R"({"x":7})"), "");
  EXPECT_EQ(Check(num, R"({"x":true})"), "arguments.x: expected number, got boolean");
}

TEST(JsonSchema, TypeArrayAllowsNull) {
  auto s = Schema(R"({"properties":{"unit":{"type":["string","null"]}}})");
  EXPECT_EQ(Check(s, R"({"unit":null})"), "");
  EXPECT_EQ(Check(s, R"({"unit":"c"})"), "");
  EXPECT_EQ(Check(s, R"({"unit":1})"), "arguments.unit: expected string or null, got number 1");
}

TEST(JsonSchema, RequiredNamesTheMissingProperty) {
  auto s = Schema(R"({"type":"object","required":["city","unit"]})");
  EXPECT_EQ(Check(s, R"({"city":"x","unit":"c"})"), "");
  EXPECT_EQ(Check(s, R"({"unit":"c"})"), R"(arguments: missing required property "city")");
  EXPECT_EQ(Check(s, R"({})"), R"(arguments: missing required property "city"; )"
                               R"(arguments: missing required property "unit")");
}

TEST(JsonSchema, AdditionalPropertiesFalseListsWhatIsAllowed) {
  auto s = Schema(R"({"properties":{"a":{},"b":{}},"additionalProperties":false})");
  EXPECT_EQ(Check(s, R"({"a":1})"), "");
  EXPECT_EQ(Check(s, R"({"a":1,"zz":2})"),
            R"(arguments: unexpected property "zz" (allowed: a, b))");
}

TEST(JsonSchema, AdditionalPropertiesSchemaAppliesToTheRest) {
  auto s = Schema(R"({"properties":{"a":{}},"additionalProperties":{"type":"number"}})");
  EXPECT_EQ(Check(s, R"({"a":"x","b":1})"), "");
  EXPECT_EQ(Check(s, R"({"b":"x"})"), "arguments.b: expected number, got string");
}

TEST(JsonSchema, PatternPropertiesTakePrecedenceOverAdditional) {
  auto s =
      Schema(R"({"patternProperties":{"^x-":{"type":"string"}},"additionalProperties":false})");
  EXPECT_EQ(Check(s, R"({"x-id":"1"})"), "");
  EXPECT_EQ(Check(s, R"({"x-id":1})"), R"(arguments["x-id"]: expected string, got number 1)");
  EXPECT_EQ(Check(s, R"({"id":"1"})"), R"(arguments: unexpected property "id")");
}

TEST(JsonSchema, NestedPathsNameObjectsAndArrayItems) {
  auto s = Schema(R"({"type":"object","properties":{"trip":{"type":"object","properties":{
      "stops":{"type":"array","items":{"type":"object","required":["city"],
        "properties":{"city":{"type":"string"}}}}}}}})");
  EXPECT_EQ(Check(s, R"({"trip":{"stops":[{"city":"a"},{"city":"b"}]}})"), "");
  EXPECT_EQ(Check(s, R"({"trip":{"stops":[{"city":"a"},{"city":3}]}})"),
            "arguments.trip.stops[1].city: expected string, got number 3");
  EXPECT_EQ(Check(s, R"({"trip":{"stops":[{}]}})"),
            R"(arguments.trip.stops[0]: missing required property "city")");
}

TEST(JsonSchema, EnumAndConst) {
  auto s = Schema(R"({"properties":{"unit":{"enum":["c","f"]},"v":{"const":2}}})");
  EXPECT_EQ(Check(s, R"({"unit":"f","v":2.0})"), "");
  EXPECT_EQ(Check(s, R"({"unit":"k"})"), R"(arguments.unit: must be one of "c", "f"; got "k")");
  EXPECT_EQ(Check(s, R"({"v":3})"), "arguments.v: must be 2, got 3");
}

TEST(JsonSchema, NumericBounds) {
  auto s = Schema(R"({"properties":{
      "a":{"minimum":1,"maximum":10},
      "b":{"exclusiveMinimum":0,"exclusiveMaximum":1},
      "c":{"multipleOf":0.5},
      "d":{"minimum":0,"exclusiveMinimum":true}}})");
  EXPECT_EQ(Check(s, R"({"a":1,"b":0.5,"c":1.5,"d":0.1})"), "");
  EXPECT_EQ(Check(s, R"({"a":0})"), "arguments.a: must be >= 1, got 0");
  EXPECT_EQ(Check(s, R"({"a":10.5})"), "arguments.a: must be <= 10, got 10.5");
  EXPECT_EQ(Check(s, R"({"b":0})"), "arguments.b: must be > 0, got 0");
  EXPECT_EQ(Check(s, R"({"b":1})"), "arguments.b: must be < 1, got 1");
  EXPECT_EQ(Check(s, R"({"c":0.7})"), "arguments.c: must be a multiple of 0.5, got 0.7");
  EXPECT_EQ(Check(s, R"({"d":0})"), "arguments.d: must be > 0, got 0");
}

TEST(JsonSchema, StringLengthCountsCharactersNotBytes) {
  auto s = Schema(R"({"properties":{"s":{"minLength":2,"maxLength":3}}})");
  EXPECT_EQ(Check(s, R"({"s":"éé"})"), "");
  EXPECT_EQ(Check(s, R"({"s":"é"})"), "arguments.s: must be at least 2 characters long, got 1");
  EXPECT_EQ(Check(s, R"({"s":"abcd"})"), "arguments.s: must be at most 3 characters long, got 4");
}

TEST(JsonSchema, PatternIsAnUnanchoredEcmaScriptSearch) {
  auto s = Schema(R"({"properties":{"code":{"type":"string","pattern":"^[A-Z]{3}$"},
                                    "word":{"pattern":"ab"}}})");
  EXPECT_EQ(Check(s, R"({"code":"EUR","word":"xaby"})"), "");
  EXPECT_EQ(Check(s, R"({"code":"eur"})"),
            R"(arguments.code: must match the pattern "^[A-Z]{3}$", got "eur")");
  EXPECT_EQ(Check(s, R"({"word":"ba"})"),
            R"(arguments.word: must match the pattern "ab", got "ba")");
}

TEST(JsonSchema, LongValuesAreRefusedRatherThanMatchedOnADeepStack) {
  auto s = Schema(R"({"properties":{"ab":{"pattern":"^(a|b)+$"}}})");
  EXPECT_EQ(Check(s, R"({"ab":")" + std::string(2048, 'a') + R"("})"), "");
  EXPECT_EQ(Check(s, R"({"ab":")" + std::string(2049, 'a') + R"("})"),
            R"(arguments.ab: is 2049 bytes long, too long to check against the pattern )"
            R"("^(a|b)+$" (at most 2048))");
  EXPECT_EQ(Check(s, R"({"ab":")" + std::string(100'000, 'a') + R"("})").substr(0, 27),
            "arguments.ab: is 100000 byt");
}

TEST(JsonSchema, ArrayKeywords) {
  auto s = Schema(R"({"properties":{
      "tags":{"type":"array","items":{"type":"string"},"minItems":1,"maxItems":2,
              "uniqueItems":true},
      "pair":{"prefixItems":[{"type":"string"},{"type":"number"}],"items":false}}})");
  EXPECT_EQ(Check(s, R"({"tags":["a"],"pair":["x",1]})"), "");
  EXPECT_EQ(Check(s, R"({"tags":[]})"), "arguments.tags: must have at least 1 items, got 0");
  EXPECT_EQ(Check(s, R"({"tags":["a","b","c"]})"),
            "arguments.tags: must have at most 2 items, got 3");
  EXPECT_EQ(Check(s, R"({"tags":["a",1]})"), "arguments.tags[1]: expected string, got number 1");
  EXPECT_EQ(Check(s, R"({"tags":["a","a"]})"),
            "arguments.tags: items [0] and [1] are equal; they must be unique");
  EXPECT_EQ(Check(s, R"({"pair":[1,1]})"), "arguments.pair[0]: expected string, got number 1");
  EXPECT_EQ(Check(s, R"({"pair":["x",1,2]})"), "arguments.pair[2]: no value is allowed here");
}

TEST(JsonSchema, Draft07TupleItems) {
  auto s = Schema(R"({"properties":{"p":{"items":[{"type":"string"}]}}})");
  EXPECT_EQ(Check(s, R"({"p":["x",5]})"), "");
  EXPECT_EQ(Check(s, R"({"p":[5]})"), "arguments.p[0]: expected string, got number 5");
}

TEST(JsonSchema, AnyOfGivesEachAlternativesReason) {
  auto s = Schema(R"({"properties":{"when":{"anyOf":[{"type":"string"},{"type":"integer"}]}}})");
  EXPECT_EQ(Check(s, R"({"when":"now"})"), "");
  EXPECT_EQ(Check(s, R"({"when":5})"), "");
  EXPECT_EQ(Check(s, R"({"when":[]})"),
            "arguments.when: matches no schema in anyOf (#0: expected string, got array; "
            "#1: expected integer, got array)");
}

TEST(JsonSchema, OneOfWantsExactlyOne) {
  auto s = Schema(R"({"properties":{"x":{"oneOf":[{"type":"number"},{"type":"integer"}]}}})");
  EXPECT_EQ(Check(s, R"({"x":1.5})"), "");
  EXPECT_EQ(Check(s, R"({"x":2})"),
            "arguments.x: matches more than one schema in oneOf (#0 and #1)");
  EXPECT_EQ(Check(s, R"({"x":"a"})"),
            "arguments.x: matches no schema in oneOf (#0: expected number, got string; "
            "#1: expected integer, got string)");
}

TEST(JsonSchema, AllOfAndNot) {
  auto s = Schema(R"({"properties":{"x":{"allOf":[{"minimum":0},{"maximum":5}],
                                          "not":{"const":3}}}})");
  EXPECT_EQ(Check(s, R"({"x":4})"), "");
  EXPECT_EQ(Check(s, R"({"x":6})"), "arguments.x: must be <= 5, got 6");
  EXPECT_EQ(Check(s, R"({"x":3})"), R"(arguments.x: must not match the schema under "not")");
}

TEST(JsonSchema, LocalRefsResolve) {
  auto s = Schema(R"({"$defs":{"city":{"type":"string","minLength":1},
                              "node":{"type":"object","properties":{"next":{"$ref":"#/$defs/node"},
                                                                     "v":{"type":"integer"}}}},
                      "properties":{"from":{"$ref":"#/$defs/city"},
                                    "list":{"$ref":"#/$defs/node"}}})");
  EXPECT_EQ(Check(s, R"({"from":"Oslo","list":{"v":1,"next":{"v":2}}})"), "");
  EXPECT_EQ(Check(s, R"({"from":""})"),
            "arguments.from: must be at least 1 characters long, got 0");
  EXPECT_EQ(Check(s, R"({"list":{"next":{"next":{"v":"x"}}}})"),
            "arguments.list.next.next.v: expected integer, got string");
}

TEST(JsonSchema, RefPointerEscapes) {
  auto s = Schema(R"({"definitions":{"a/b":{"type":"string"},"c~d":{"type":"number"}},
                      "properties":{"x":{"$ref":"#/definitions/a~1b"},
                                    "y":{"$ref":"#/definitions/c~0d"}}})");
  EXPECT_EQ(Check(s, R"({"x":"s","y":1})"), "");
  EXPECT_EQ(Check(s, R"({"x":1})"), "arguments.x: expected string, got number 1");
}

TEST(JsonSchema, RefCycleWithoutProgressIsReportedNotFollowedForever) {
  auto s = Schema(R"({"$defs":{"a":{"$ref":"#/$defs/b"},"b":{"$ref":"#/$defs/a"}},
                      "properties":{"x":{"$ref":"#/$defs/a"}}})");
  EXPECT_NE(Check(s, R"({"x":1})").find("arguments.x: the schema recurses without end"),
            std::string::npos);
}

TEST(JsonSchema, UnknownKeywordsAreIgnored) {
  auto s = Schema(R"({"type":"object","title":"t","format":"weird","x-vendor":{"a":1},
                      "properties":{"d":{"type":"string","format":"date-time","examples":[1]}}})");
  EXPECT_EQ(Check(s, R"({"d":"not a date"})"), "");
}

TEST(JsonSchema, EmptySchemaAcceptsAnything) {
  auto s = Schema("{}");
  EXPECT_EQ(Check(s, R"({"a":[1,{"b":null}]})"), "");
  EXPECT_EQ(Check(s, "5"), "");
}

TEST(JsonSchema, SeveralProblemsAreAllReported) {
  auto s = Schema(R"({"required":["a"],"properties":{"b":{"type":"string"},"c":{"maximum":1}}})");
  EXPECT_EQ(Check(s, R"({"b":1,"c":2})"),
            R"(arguments: missing required property "a"; arguments.b: expected string, got )"
            R"(number 1; arguments.c: must be <= 1, got 2)");
}

TEST(JsonSchema, PropertyNamesThatAreNotIdentifiersAreQuoted) {
  auto s = Schema(R"({"properties":{"content-type":{"type":"string"},"2x":{"type":"string"}}})");
  EXPECT_EQ(Check(s, R"({"content-type":1})"),
            R"(arguments["content-type"]: expected string, got number 1)");
  EXPECT_EQ(Check(s, R"({"2x":1})"), R"(arguments["2x"]: expected string, got number 1)");
}

TEST(JsonSchema, RootNameIsTheCallersChoice) {
  auto s = Schema(R"({"type":"object"})");
  Status st = s.Validate(json::parse("[]"), "input");
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().message, "input: expected object, got array");
}

TEST(JsonSchemaCompile, RootMustBeAnObject) {
  EXPECT_EQ(CompileError(R"("string")"), "a parameters schema must be a JSON object, got string");
  EXPECT_EQ(CompileError("[]"), "a parameters schema must be a JSON object, got array");
  EXPECT_EQ(CompileError("true"), "a parameters schema must be a JSON object, got boolean");
}

TEST(JsonSchemaCompile, BadKeywordsNameTheirLocation) {
  EXPECT_EQ(
      CompileError(R"({"type":"str"})"),
      R"(#/type: unknown type "str" (null, boolean, object, array, number, string, integer))");
  EXPECT_EQ(CompileError(R"({"properties":{"a":{"type":["string",3]}}})"),
            "#/properties/a/type: type names are strings, got number");
  EXPECT_EQ(CompileError(R"({"properties":{"a":5}})"),
            "#/properties/a: a schema must be an object or a boolean, got number");
  EXPECT_EQ(CompileError(R"({"required":"a"})"),
            "#/required: must be an array of strings, got string");
  EXPECT_EQ(CompileError(R"({"properties":{"a":{"minLength":-1}}})"),
            "#/properties/a/minLength: must be a non-negative integer, got -1");
  EXPECT_EQ(CompileError(R"({"properties":{"a":{"maximum":"9"}}})"),
            "#/properties/a/maximum: must be a number, got string");
  EXPECT_EQ(CompileError(R"({"anyOf":[]})"), "#/anyOf: must not be empty");
  EXPECT_EQ(CompileError(R"({"enum":"a"})"), "#/enum: must be an array, got string");
  EXPECT_EQ(CompileError(R"({"multipleOf":0})"), "#/multipleOf: must be greater than 0");
}

TEST(JsonSchemaCompile, InvalidPatternIsASchemaError) {
  std::string e = CompileError(R"({"properties":{"a":{"pattern":"(unclosed"}}})");
  EXPECT_EQ(e.rfind(R"(#/properties/a/pattern: invalid regular expression "(unclosed": )", 0), 0u)
      << e;
  e = CompileError(R"({"patternProperties":{"[z-a]":{}}})");
  EXPECT_EQ(e.rfind(R"(#/patternProperties/[z-a]: invalid regular expression "[z-a]")", 0), 0u)
      << e;
}

TEST(JsonSchemaCompile, OnlyLocalRefsThatResolve) {
  EXPECT_EQ(CompileError(R"({"$ref":"https://example.com/s.json"})"),
            R"(#/$ref: only local references ("#/...") are supported, got )"
            R"("https://example.com/s.json")");
  EXPECT_EQ(CompileError(R"({"properties":{"a":{"$ref":"#/$defs/missing"}}})"),
            R"(#/properties/a/$ref: $ref "#/$defs/missing" points nowhere in the schema)");
  EXPECT_EQ(CompileError(R"({"$ref":"#anchor"})"),
            R"(#/$ref: anchors are not supported, only JSON pointers ("#/..."), got "#anchor")");
  EXPECT_EQ(CompileError(R"({"$ref":5})"), "#/$ref: must be a string, got number");
}

TEST(JsonSchemaCompile, RefTargetsOutsideKnownKeywordsAreCheckedToo) {
  EXPECT_EQ(CompileError(R"({"x-shared":{"a":{"type":"nope"}},
                             "properties":{"p":{"$ref":"#/x-shared/a"}}})"),
            R"(#/x-shared/a/type: unknown type "nope" (null, boolean, object, array, number, )"
            R"(string, integer))");
  EXPECT_EQ(CompileError(R"({"x-shared":[1],"properties":{"p":{"$ref":"#/x-shared/0"}}})"),
            "#/x-shared/0: a schema must be an object or a boolean, got number");
}

}  // namespace
}  // namespace keel::gateway
