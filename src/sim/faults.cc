#include "sim/faults.h"

#include "sim/parse_util.h"

namespace keel::sim {

namespace json = boost::json;

const char* FaultName(FaultKind kind) {
  switch (kind) {
    case FaultKind::kNone:
      return "";
    case FaultKind::kOutage:
      return "outage";
    case FaultKind::kFailNext:
      return "fail_next";
    case FaultKind::kRateLimitNext:
      return "rate_limit_next";
    case FaultKind::kSpendLimit:
      return "spend_limit";
    case FaultKind::kError:
      return "error";
    case FaultKind::kRateLimit:
      return "rate_limit";
    case FaultKind::kReset:
      return "reset";
    case FaultKind::kBlackhole:
      return "blackhole";
    case FaultKind::kStall:
      return "stall";
    case FaultKind::kMalformed:
      return "malformed";
    case FaultKind::kTruncated:
      return "truncated";
  }
  return "";
}

bool FaultDecision::IsErrorResponse() const {
  switch (kind) {
    case FaultKind::kOutage:
    case FaultKind::kFailNext:
    case FaultKind::kRateLimitNext:
    case FaultKind::kSpendLimit:
    case FaultKind::kError:
    case FaultKind::kRateLimit:
      return true;
    default:
      return false;
  }
}

namespace {

Result<int> AsStatus(const json::value& v, const std::string& where) {
  auto n = AsInt(v, where);
  if (!n) return n.error();
  if (*n < 400 || *n > 599) {
    return Error{Errc::kInvalidArgument, where + ": must be an HTTP error status (400-599)"};
  }
  return static_cast<int>(*n);
}

}  // namespace

Result<FaultConfig> ParseFaultConfig(const json::value& v, const std::string& where) {
  auto obj = AsObject(v, where);
  if (!obj) return obj.error();
  const json::object& o = **obj;
  auto keys =
      CheckKeys(o,
                {"error_rate", "error_status", "rate_limit_rate", "retry_after", "fail_next",
                 "fail_status", "rate_limit_next", "outage", "latency", "stall_rate",
                 "stall_after_chunks", "reset_rate", "malformed_rate", "truncated_rate",
                 "bad_tool_args_rate", "blackhole_rate", "spend_limit", "omit_usage"},
                where);
  if (!keys) return keys.error();
  FaultConfig c;
  for (const auto& kv : o) {
    std::string k(kv.key());
    std::string at = where + "." + k;
    const json::value& val = kv.value();
    Status st = OkStatus();
    auto rate = [&](double& field) {
      auto r = AsRate(val, at);
      if (!r) return Status(r.error());
      field = *r;
      return OkStatus();
    };
    auto count = [&](int64_t& field) {
      auto r = AsInt(val, at);
      if (!r) return Status(r.error());
      if (*r < 0) return Status(Error{Errc::kInvalidArgument, at + ": must not be negative"});
      field = *r;
      return OkStatus();
    };
    auto flag = [&](bool& field) {
      auto r = AsBool(val, at);
      if (!r) return Status(r.error());
      field = *r;
      return OkStatus();
    };
    auto duration = [&](int64_t& field) {
      auto r = AsDurationMs(val, at);
      if (!r) return Status(r.error());
      field = *r;
      return OkStatus();
    };
    if (k == "error_rate") {
      st = rate(c.error_rate);
    } else if (k == "error_status") {
      c.error_status.clear();
      if (val.is_array()) {
        if (val.as_array().empty()) {
          st = Error{Errc::kInvalidArgument, at + ": must list at least one status"};
        }
        for (size_t i = 0; st && i < val.as_array().size(); ++i) {
          auto s = AsStatus(val.as_array()[i], at + "[" + std::to_string(i) + "]");
          if (!s)
            st = s.error();
          else
            c.error_status.push_back(*s);
        }
      } else {
        auto s = AsStatus(val, at);
        if (!s)
          st = s.error();
        else
          c.error_status.push_back(*s);
      }
    } else if (k == "rate_limit_rate") {
      st = rate(c.rate_limit_rate);
    } else if (k == "retry_after") {
      st = duration(c.retry_after_ms);
    } else if (k == "fail_next") {
      st = count(c.fail_next);
    } else if (k == "fail_status") {
      auto s = AsStatus(val, at);
      if (!s)
        st = s.error();
      else
        c.fail_status = *s;
    } else if (k == "rate_limit_next") {
      st = count(c.rate_limit_next);
    } else if (k == "outage") {
      st = flag(c.outage);
    } else if (k == "latency") {
      st = duration(c.latency_ms);
    } else if (k == "stall_rate") {
      st = rate(c.stall_rate);
    } else if (k == "stall_after_chunks") {
      st = count(c.stall_after_chunks);
    } else if (k == "reset_rate") {
      st = rate(c.reset_rate);
    } else if (k == "malformed_rate") {
      st = rate(c.malformed_rate);
    } else if (k == "truncated_rate") {
      st = rate(c.truncated_rate);
    } else if (k == "bad_tool_args_rate") {
      st = rate(c.bad_tool_args_rate);
    } else if (k == "blackhole_rate") {
      st = rate(c.blackhole_rate);
    } else if (k == "spend_limit") {
      st = flag(c.spend_limit);
    } else if (k == "omit_usage") {
      st = flag(c.omit_usage);
    }
    if (!st) return st.error();
  }
  return c;
}

json::object FaultConfigToJson(const FaultConfig& c) {
  json::array statuses;
  for (int s : c.error_status) statuses.push_back(s);
  return json::object{
      {"error_rate", c.error_rate},
      {"error_status", std::move(statuses)},
      {"rate_limit_rate", c.rate_limit_rate},
      {"retry_after", std::to_string(c.retry_after_ms) + "ms"},
      {"fail_next", c.fail_next},
      {"fail_status", c.fail_status},
      {"rate_limit_next", c.rate_limit_next},
      {"outage", c.outage},
      {"latency", std::to_string(c.latency_ms) + "ms"},
      {"stall_rate", c.stall_rate},
      {"stall_after_chunks", c.stall_after_chunks},
      {"reset_rate", c.reset_rate},
      {"malformed_rate", c.malformed_rate},
      {"truncated_rate", c.truncated_rate},
      {"bad_tool_args_rate", c.bad_tool_args_rate},
      {"blackhole_rate", c.blackhole_rate},
      {"spend_limit", c.spend_limit},
      {"omit_usage", c.omit_usage},
  };
}

Result<FaultTable> FaultTable::Parse(const json::value& v) {
  auto obj = AsObject(v, "faults");
  if (!obj) return obj.error();
  FaultTable t;
  for (const auto& kv : **obj) {
    std::string key(kv.key());
    if (key.empty()) return Error{Errc::kInvalidArgument, "faults: a key is empty"};
    if (key == "tool:") return Error{Errc::kInvalidArgument, "faults.tool:: names no tool"};
    if (key == "effect:") {
      return Error{Errc::kInvalidArgument, "faults.effect:: names no effect"};
    }
    auto c = ParseFaultConfig(kv.value(), "faults." + key);
    if (!c) return c.error();
    t.by_key_[key] = *c;
  }
  return t;
}

json::object FaultTable::ToJson() const {
  json::object o;
  for (const auto& [k, c] : by_key_) o[k] = FaultConfigToJson(c);
  return o;
}

std::vector<std::string> FaultTable::Keys() const {
  std::vector<std::string> keys;
  for (const auto& kv : by_key_) keys.push_back(kv.first);
  return keys;
}

namespace {

// A rate of 0 or 1 draws nothing, so deterministic scenarios do not move the random stream.
bool Draw(double rate, Random& rng) {
  if (rate <= 0.0) return false;
  if (rate >= 1.0) return true;
  return rng.NextDouble() < rate;
}

}  // namespace

FaultDecision FaultTable::Decide(const std::vector<std::string>& keys, Random& rng) {
  FaultDecision d;
  FaultConfig* c = nullptr;
  for (const auto& k : keys) {
    auto it = by_key_.find(k);
    if (it != by_key_.end()) {
      c = &it->second;
      break;
    }
  }
  if (!c) return d;
  d.latency_ms = c->latency_ms;
  d.omit_usage = c->omit_usage;
  d.retry_after_ms = c->retry_after_ms;
  d.stall_after_chunks = c->stall_after_chunks;
  if (c->outage) {
    d.kind = FaultKind::kOutage;
    d.status = 503;
  } else if (c->fail_next > 0) {
    --c->fail_next;
    d.kind = FaultKind::kFailNext;
    d.status = c->fail_status;
  } else if (c->rate_limit_next > 0) {
    --c->rate_limit_next;
    d.kind = FaultKind::kRateLimitNext;
    d.status = 429;
  } else if (c->spend_limit) {
    d.kind = FaultKind::kSpendLimit;
    d.status = 429;  // the Anthropic renderer answers 400, as the real API does
  } else if (Draw(c->error_rate, rng)) {
    d.kind = FaultKind::kError;
    size_t i = c->error_status.size() == 1 ? 0 : rng.Next() % c->error_status.size();
    d.status = c->error_status[i];
  } else if (Draw(c->rate_limit_rate, rng)) {
    d.kind = FaultKind::kRateLimit;
    d.status = 429;
  } else if (Draw(c->reset_rate, rng)) {
    d.kind = FaultKind::kReset;
  } else if (Draw(c->blackhole_rate, rng)) {
    d.kind = FaultKind::kBlackhole;
  } else if (Draw(c->stall_rate, rng)) {
    d.kind = FaultKind::kStall;
  } else if (Draw(c->malformed_rate, rng)) {
    d.kind = FaultKind::kMalformed;
  } else if (Draw(c->truncated_rate, rng)) {
    d.kind = FaultKind::kTruncated;
  }
  if (d.kind == FaultKind::kNone) d.bad_tool_args = Draw(c->bad_tool_args_rate, rng);
  return d;
}

}  // namespace keel::sim
