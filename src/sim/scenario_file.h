#pragma once

#include <boost/json.hpp>
#include <string>

#include "base/result.h"

namespace keel::sim {

// Reads a scenario file as JSON, or as TOML when its name ends in ".toml" (same structure;
// TOML dates and times become strings). Errors name the file and, for syntax errors, the line.
Result<boost::json::value> ReadScenarioFile(const std::string& path);

// The TOML text as the equivalent JSON value; `name` labels errors.
Result<boost::json::value> TomlToJson(const std::string& text, const std::string& name);

}  // namespace keel::sim
