#include "gateway/chat.h"

namespace keel::gateway {

namespace json = boost::json;

int64_t EstimateTokens(const std::string& text) {
  return std::max<int64_t>(1, static_cast<int64_t>((text.size() + 3) / 4));
}

int64_t EstimateTokens(const json::object& request) {
  // The serialized request over-counts JSON punctuation a little; for a budget check that
  // errs on the safe side, which is what we want.
  return EstimateTokens(json::serialize(request));
}

json::object ResponseToJson(const ChatResponse& r) {
  json::object o;
  o["content"] = r.content;
  json::array calls;
  for (const auto& c : r.tool_calls) {
    json::object call;
    call["id"] = c.id;
    call["name"] = c.name;
    boost::system::error_code ec;
    json::value args = json::parse(c.arguments_json.empty() ? "{}" : c.arguments_json, ec);
    if (!ec && args.is_object()) {
      call["arguments"] = std::move(args);
    } else {
      call["arguments"] = {{"$raw", c.arguments_json}};
    }
    calls.push_back(std::move(call));
  }
  o["tool_calls"] = std::move(calls);
  o["finish_reason"] = r.finish_reason;
  o["usage"] = {{"input_tokens", r.usage.input_tokens},
                {"output_tokens", r.usage.output_tokens},
                {"estimated", r.usage.estimated}};
  if (!r.response_id.empty()) o["response_id"] = r.response_id;
  return o;
}

}  // namespace keel::gateway
