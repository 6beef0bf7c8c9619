#pragma once

#include <map>
#include <memory>
#include <regex>
#include <string>
#include <string_view>

#include <boost/json.hpp>

#include "base/result.h"

namespace keel::gateway {

// A JSON Schema (the draft 2020-12 subset real tool schemas use), checked once and then used
// to validate tool arguments before they are sent anywhere.
//
// Keywords: type (a name or an array of names; "integer" is a number without a fraction),
// properties, required, additionalProperties (bool or schema), patternProperties,
// minProperties/maxProperties, items (a schema; an array is read as prefixItems, as in
// draft-07), prefixItems, minItems/maxItems, uniqueItems, enum, const, minimum/maximum,
// exclusiveMinimum/exclusiveMaximum (numbers), multipleOf, minLength/maxLength (in code
// points), pattern (ECMAScript, unanchored), anyOf/oneOf/allOf/not, and $ref to a local
// "#/..." pointer. Other keywords (format, title, examples, $schema...) are ignored.
//
// Compile rejects schemas the validator could not apply faithfully: the root is not an
// object, a keyword has the wrong JSON type, a pattern does not compile, a $ref is not local
// or points nowhere. Errors give the schema location as a JSON pointer ("#/properties/city").
class JsonSchema {
 public:
  static Result<JsonSchema> Compile(const boost::json::value& schema);

  // Checks `value`; the error (kInvalidArgument) names each offending location from `root`,
  // e.g. `arguments.city: expected string, got number` or
  // `arguments: missing required property "city"`. Several problems are joined with "; ".
  Status Validate(const boost::json::value& value, std::string_view root = "arguments") const;

  const boost::json::value& schema() const { return state_->schema; }

 private:
  struct State {
    boost::json::value schema;
    std::map<std::string, std::regex> patterns;  // by source text, compiled once
  };
  class Validator;
  explicit JsonSchema(std::shared_ptr<const State> state) : state_(std::move(state)) {}

  std::shared_ptr<const State> state_;  // shared: copies of a schema are cheap
};

}  // namespace keel::gateway
