#pragma once

#include <boost/json.hpp>
#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>

#include "base/result.h"

namespace keel::sim {

// Readers for the simulator's own configuration JSON (scenarios, faults). Every error names
// the offending key as a path such as `rules[2].when.turn`.

Status CheckKeys(const boost::json::object& o, std::initializer_list<std::string_view> allowed,
                 const std::string& where);
Result<const boost::json::object*> AsObject(const boost::json::value& v, const std::string& where);
Result<std::string> AsString(const boost::json::value& v, const std::string& where);
Result<int64_t> AsInt(const boost::json::value& v, const std::string& where);
Result<double> AsRate(const boost::json::value& v, const std::string& where);  // in [0, 1]
Result<bool> AsBool(const boost::json::value& v, const std::string& where);
// "250ms", "1s", or a number of milliseconds.
Result<int64_t> AsDurationMs(const boost::json::value& v, const std::string& where);

}  // namespace keel::sim
