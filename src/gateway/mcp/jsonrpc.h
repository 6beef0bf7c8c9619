#pragma once

// JSON-RPC 2.0 messages as MCP uses them: building requests and notifications, telling apart
// what a server sends (responses, its own requests, notifications), and turning a response
// into a result or an Error.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <boost/json.hpp>

#include "base/result.h"

namespace keel::gateway::mcp {

// Serialised messages, without a trailing newline. A null `params` is left out.
std::string RequestText(int64_t id, std::string_view method, const boost::json::value& params);
std::string NotificationText(std::string_view method, const boost::json::value& params);

enum class MessageKind { kResponse, kRequest, kNotification, kInvalid };

struct Message {
  MessageKind kind = MessageKind::kInvalid;
  boost::json::value id;  // requests and responses
  std::string method;     // requests and notifications
  boost::json::object body;
};

// What `v` is. Anything that is not a JSON-RPC object is kInvalid.
Message Classify(const boost::json::value& v);

// The integer a response's id holds (keel only sends integer ids); nullopt otherwise.
std::optional<int64_t> IdNumber(const boost::json::value& id);

// Keel's answer to a request from the server: ping gets an empty result (the spec requires
// it); anything else (sampling, roots, elicitation) is not offered, so -32601.
std::string AnswerServerRequest(const Message& request);

// A response's "result", or kInvalidArgument with the server's error code and message.
Result<boost::json::value> ResponseResult(const boost::json::object& response);

}  // namespace keel::gateway::mcp
