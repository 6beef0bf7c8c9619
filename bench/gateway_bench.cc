#include "bench/gateway_bench.h"

#include <algorithm>
#include <chrono>
#include <fstream>
#include <functional>
#include <initializer_list>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "bench/bench_support.h"
#include "bench/timing_proxy.h"

namespace json = boost::json;

namespace keel::bench {
namespace {

// CPU used over a measured window by Keel, by the simulator, by this process (the client
// threads and the timing proxy) and by everything else on the machine.
struct Usage {
  double wall_s = 0, server_cpu_s = 0, sim_cpu_s = 0, client_cpu_s = 0, other_cpu_s = 0;
  void Add(const Usage& u) {
    wall_s += u.wall_s;
    server_cpu_s += u.server_cpu_s;
    sim_cpu_s += u.sim_cpu_s;
    client_cpu_s += u.client_cpu_s;
    other_cpu_s += u.other_cpu_s;
  }
  void Put(json::object& out) const {
    out["wall_s"] = Round(wall_s, 3);
    out["server_cpu_s"] = Round(server_cpu_s, 2);
    out["sim_cpu_s"] = Round(sim_cpu_s, 2);
    out["client_cpu_s"] = Round(client_cpu_s, 2);
    // 2 vCPUs: 2 CPU-seconds exist per second. Work of other users of the machine.
    out["other_cpu_s"] = Round(other_cpu_s, 2);
  }
};

class CpuWindow {
 public:
  CpuWindow(pid_t server, pid_t sim) : server_(server), sim_(sim) {}
  void Start() {
    busy0_ = MachineBusyCpuSeconds();
    server0_ = CpuSeconds(server_);
    sim0_ = CpuSeconds(sim_);
    self0_ = SelfCpuSeconds();
    t0_ = SteadyClock::now();
  }
  Usage Stop() const {
    Usage u;
    u.wall_s = SecondsSince(t0_);
    u.server_cpu_s = CpuSeconds(server_) - server0_;
    u.sim_cpu_s = CpuSeconds(sim_) - sim0_;
    u.client_cpu_s = SelfCpuSeconds() - self0_;
    u.other_cpu_s =
        MachineBusyCpuSeconds() - busy0_ - u.server_cpu_s - u.sim_cpu_s - u.client_cpu_s;
    return u;
  }

 private:
  pid_t server_, sim_;
  double busy0_ = 0, server0_ = 0, sim0_ = 0, self0_ = 0;
  SteadyClock::time_point t0_{};
};

void PutStats(json::object& out, const std::string& prefix, const LatencyStats& s,
              double divide = 1) {
  out[prefix + "p50_ms"] = Round(s.p50 / divide, 4);
  out[prefix + "p99_ms"] = Round(s.p99 / divide, 4);
  out[prefix + "mean_ms"] = Round(s.mean / divide, 4);
  out[prefix + "max_ms"] = Round(s.max / divide, 4);
}

// The server's histograms over a window: keel_step_seconds (ctx call -> entry committed ->
// workflow resumed, for every kind of entry the window's runs made) and the commits.
void PutServerSide(json::object& out, const MetricMap& m0, const MetricMap& m1) {
  auto ms = [](double s) { return s < 0 ? s : Round(s * 1000, 4); };
  out["srv_step_count"] = HistogramCount(m0, m1, "keel_step_seconds");
  out["srv_step_p50_ms"] = ms(HistogramQuantile(m0, m1, "keel_step_seconds", 0.5));
  out["srv_step_p99_ms"] = ms(HistogramQuantile(m0, m1, "keel_step_seconds", 0.99));
  out["srv_step_mean_ms"] = ms(HistogramMean(m0, m1, "keel_step_seconds"));
  out["srv_commits"] = HistogramCount(m0, m1, "keel_store_commit_seconds");
  out["srv_commit_mean_ms"] = ms(HistogramMean(m0, m1, "keel_store_commit_seconds"));
  out["srv_commit_batch_mean"] = Round(HistogramMean(m0, m1, "keel_store_commit_batch_size"), 2);
}

std::string StrOf(const json::object& o, const char* key) {
  const auto* v = o.if_contains(key);
  return v && v->is_string() ? std::string(v->get_string()) : std::string();
}

// Writes `text` to dir/name, or fails the workload.
std::string WriteFile(const Options& o, Fixture& fx, const std::string& name,
                      const std::string& text) {
  std::string path = fx.dir + "/" + name;
  std::ofstream f(path);
  f << text;
  if (!f) Fail(o, "cannot write " + path, &fx);
  return path;
}

std::string Url(int port) { return "http://127.0.0.1:" + std::to_string(port); }

// The [store] table of a G workload's config: empty unless --synchronous asks for a mode other
// than the default ("full"), e.g. to size the share of fsync in a figure.
std::string StoreTable(const Options& o) {
  if (o.synchronous.empty()) return "";
  return "\n[store]\nsynchronous = \"" + o.synchronous + "\"\n";
}

// --- G1 ------------------------------------------------------------------------------------

// The request body of G1's run `wf`: `calls` model calls on `model`.
std::string G1Body(const std::string& wf, const std::string& model, int calls) {
  json::object o{{"intent", "g1"},
                 {"payload", json::object{{"wf", wf}, {"model", model}, {"calls", calls}}}};
  return json::serialize(o);
}

ResultCheck G1Check(const std::string& wf, int calls) {
  return [wf, calls](const json::object& res) -> std::string {
    std::string want = "echo: g1call:" + wf + ":" + std::to_string(calls) + ": hello";
    if (Num(res.if_contains("calls")) != calls) return "wrong number of calls";
    if (StrOf(res, "last") != want) return "last answer is not \"" + want + "\"";
    return "";
  };
}

// Keel's time per model call from the proxy's timestamps: for each run, the time from the
// response to call i-1 being handed to Keel until call i arrived. Also the provider's time as
// the proxy saw it (request in -> response out), for every call.
struct Gaps {
  std::vector<double> keel_ms;
  std::vector<double> provider_ms;
  int64_t unmatched = 0;  // calls without a marker, or whose previous call is missing
};

Gaps ComputeGaps(const std::vector<TimingProxy::Call>& calls) {
  Gaps g;
  std::map<std::string, std::map<int, const TimingProxy::Call*>> by_run;
  for (const auto& c : calls) {
    g.provider_ms.push_back(static_cast<double>(c.out_ns - c.in_ns) / 1e6);
    size_t colon = c.key.rfind(':');
    if (colon == std::string::npos) {
      ++g.unmatched;
      continue;
    }
    by_run[c.key.substr(0, colon)][std::atoi(c.key.c_str() + colon + 1)] = &c;
  }
  for (const auto& [wf, seq] : by_run) {
    for (const auto& [i, call] : seq) {
      if (i == 1) continue;  // the first call follows the run's admission, not a call
      auto prev = seq.find(i - 1);
      if (prev == seq.end()) {
        ++g.unmatched;
        continue;
      }
      g.keel_ms.push_back(static_cast<double>(call->in_ns - prev->second->out_ns) / 1e6);
    }
  }
  return g;
}

// One G1 phase, measured in slices interleaved with the other phases' slices so that load
// from the rest of a shared machine falls on every phase alike.
struct Phase {
  std::vector<double> lat_ms;  // per request (direct) or per run
  Usage usage;
  MetricMap hist;  // the server's histograms: the sum of the slices' deltas

  void AddMetrics(const Result<MetricMap>& m0, const Result<MetricMap>& m1) {
    if (!m0 || !m1) return;
    for (const auto& [k, v] : *m1) {
      if (k.rfind("keel_step_seconds", 0) == 0 || k.rfind("keel_store_commit", 0) == 0) {
        hist[k] += v - MetricOr(*m0, k);
      }
    }
  }

  // `per` ctx calls (or requests) per sample.
  json::object Json(int per) const {
    json::object out;
    usage.Put(out);
    LatencyStats s = Stats(lat_ms);
    double calls = static_cast<double>(s.n) * per;
    out["runs"] = s.n;
    out["runs_per_s"] = Round(static_cast<double>(s.n) / usage.wall_s, 1);
    out["calls_per_s"] = Round(calls / usage.wall_s, 1);
    PutStats(out, "run_", s);
    PutStats(out, "call_", s, per);  // run latency / calls, as W2's per-step figure
    if (calls > 0) out["server_cpu_per_call_us"] = Round(usage.server_cpu_s * 1e6 / calls, 1);
    if (!hist.empty()) PutServerSide(out, MetricMap{}, hist);
    return out;
  }
};

// Spreads the first requests of c client threads over `spread_ms`: with a provider of fixed
// latency, runs started together would stay in lockstep (every model call of every run
// answered at the same instant), a burst no real load produces.
class Stagger {
 public:
  Stagger(int threads, double spread_ms)
      : first_(static_cast<size_t>(threads), 1), threads_(threads), spread_ms_(spread_ms) {}
  void Before(int t) {
    if (spread_ms_ <= 0 || !first_[static_cast<size_t>(t)]) return;
    first_[static_cast<size_t>(t)] = 0;
    std::this_thread::sleep_for(
        std::chrono::duration<double, std::milli>(spread_ms_ * t / threads_));
  }

 private:
  std::vector<char> first_;  // one per thread, each touched by its own thread only
  int threads_;
  double spread_ms_;
};

// Runs [from, to) of a phase, c at a time, into `p`.
void RunSlice(Phase& p, std::vector<client::HttpClient>& clients, ServerProcess& server,
              pid_t sim_pid, int from, int to, const std::function<std::string(int i)>& body_of,
              const std::function<ResultCheck(int i)>& check_of, double spread_ms, Errors& errs) {
  int c = static_cast<int>(clients.size());
  std::vector<std::vector<double>> lat(static_cast<size_t>(c));
  auto m0 = ScrapeMetrics(server.port());
  CpuWindow win(server.pid(), sim_pid);
  Stagger stagger(c, spread_ms);
  win.Start();
  ClosedLoop(to - from, c, [&](int t, int j) {
    stagger.Before(t);
    int i = from + j;
    if (auto ms =
            SubmitRun(clients[t], body_of(i), "run " + std::to_string(i), check_of(i), errs)) {
      lat[static_cast<size_t>(t)].push_back(*ms);
    }
  });
  p.usage.Add(win.Stop());
  p.AddMetrics(m0, ScrapeMetrics(server.port()));
  for (double x : Flatten(lat)) p.lat_ms.push_back(x);
}

}  // namespace

json::object RunG1(const Options& o) {
  const int c = o.c > 0 ? o.c : 1;
  const int k = o.calls;
  const int latency_ms = o.sim_latency_ms;
  // A few seconds per phase: 400 runs one at a time, 4000 with more at a time; with a
  // provider latency, ten runs per client.
  const int n = o.n > 0 ? o.n : latency_ms > 0 ? std::max(20, 10 * c) : c == 1 ? 400 : 4000;
  const int warmup = o.warmup >= 0 ? o.warmup : std::max(20, c);
  std::string prefix = o.label.empty() ? "g1-c" + std::to_string(c) : o.label;

  Fixture fx;
  PrepareFixture(o, fx);
  SimChild sim(o.sim_bin, fx.dir, {"--latency", std::to_string(latency_ms) + "ms"});
  if (Status st = sim.Start(); !st) Fail(o, "simulator start: " + st.error().message, &fx);
  TimingProxy proxy(sim.port());
  if (Status st = proxy.Start(); !st) Fail(o, st.error().message, &fx);
  // Two models served by the same simulator: sim-large directly, sim-timed through the proxy.
  std::string config = WriteFile(o, fx, "keel.toml", R"([gateway]
default_model = "sim-large"

[providers.sim]
kind = "openai"
base_url = ")" + Url(sim.port()) + R"(/v1"

[providers.timed]
kind = "openai"
base_url = ")" + Url(proxy.port()) + R"(/v1"

[models.sim-large]
provider = "sim"
input_usd_per_mtok = 3.0
output_usd_per_mtok = 15.0

[models.sim-timed]
provider = "timed"
model_id = "sim-large"
input_usd_per_mtok = 3.0
output_usd_per_mtok = 15.0
)" + StoreTable(o));
  StartServer(o, fx, {"--config", config});
  ServerProcess& server = *fx.server;
  Progress(o, "simulator on :" + std::to_string(sim.port()) + ", timing proxy on :" +
                  std::to_string(proxy.port()) + "; " + std::to_string(n) + " runs of " +
                  std::to_string(k) + " calls per phase, " + std::to_string(c) + " at a time");

  auto llm_body = [&](const std::string& tag, const std::string& model) {
    return [&, tag, model](int i) { return G1Body(prefix + "-" + tag + Pad(i, 6), model, k); };
  };
  auto llm_check = [&](const std::string& tag) {
    return [&, tag](int i) { return G1Check(prefix + "-" + tag + Pad(i, 6), k); };
  };

  std::vector<client::HttpClient> clients, sim_clients;
  for (int i = 0; i < c; ++i) {
    clients.emplace_back("127.0.0.1", server.port(), 60'000);
    sim_clients.emplace_back("127.0.0.1", sim.port(), 30'000);
  }
  auto steps_body = [&](int i) { return SubmitBody("w1", prefix + "-steps-" + Pad(i, 6)); };
  auto steps_check = [&](int i) -> ResultCheck {
    std::string wf = prefix + "-steps-" + Pad(i, 6);
    return [wf](const json::object& res) -> std::string {
      const auto* last = res.if_contains("last");
      if (Num(res.if_contains("steps")) != 10 || !last || !last->is_object() ||
          StrOf(last->get_object(), "wf") != wf) {
        return "unexpected w1 result";
      }
      return "";
    };
  };

  // Warm-up: both models (connections, the workflow's code, the store) and plain steps; the
  // proxy learns the exact request body Keel sends.
  Errors warm_errs;
  for (const char* model : {"sim-timed", "sim-large"}) {
    std::string tag = std::string("warm-") + model + "-";
    auto body = llm_body(tag, model);
    auto check = llm_check(tag);
    ClosedLoop(warmup, c, [&](int t, int i) {
      (void)SubmitRun(clients[t], body(i), "warm-up", check(i), warm_errs);
    });
  }
  ClosedLoop(warmup, c, [&](int t, int i) {
    (void)SubmitAndWait(clients[t], prefix + "-warm-steps-" + Pad(i, 6), warm_errs);
  });
  std::string keel_request = proxy.LastRequestBody();
  (void)proxy.Take();
  if (keel_request.find("g1call:") == std::string::npos) {
    Fail(o, "the timing proxy saw no model request from Keel", &fx);
  }
  auto direct_call = [&](int t, Errors& e) -> std::optional<double> {
    auto t0 = SteadyClock::now();
    auto r = sim_clients[t].Post("/v1/chat/completions", keel_request);
    double ms = MsSince(t0);
    if (!r) {
      e.Add("direct: " + r.error().message);
    } else if (r->status != 200 || r->body.find("\"chat.completion\"") == std::string::npos) {
      e.Add("direct: HTTP " + std::to_string(r->status) + " " + Clip(r->body));
    } else {
      return ms;
    }
    return std::nullopt;
  };
  ClosedLoop(warmup * k, c, [&](int t, int) { (void)direct_call(t, warm_errs); });
  if (warm_errs.count() > 0) Fail(o, "warm-up errors: " + json::serialize(warm_errs.first()), &fx);

  // The four phases, each in kRounds slices; the order of the phases rotates between rounds.
  //   direct: the request Keel sends, straight to the simulator (n * k requests in all);
  //   keel:   runs of k ctx.llm calls on sim-large, straight to the simulator;
  //   timed:  the same on sim-timed, through the timing proxy: Keel's time between calls;
  //   steps:  w1 runs (10 plain ctx.step calls), the durable-step baseline.
  constexpr int kRounds = 5;
  Errors errs;
  Phase direct, keel, timed, steps;
  std::vector<TimingProxy::Call> proxy_calls;
  for (int r = 0; r < kRounds; ++r) {
    int from = n * r / kRounds, to = n * (r + 1) / kRounds;
    for (int j = 0; j < 4; ++j) {
      switch ((r + j) % 4) {
        case 0: {
          std::vector<std::vector<double>> lat(static_cast<size_t>(c));
          CpuWindow win(server.pid(), sim.pid());
          win.Start();
          Stagger stagger(c, latency_ms);
          ClosedLoop((to - from) * k, c, [&](int t, int) {
            stagger.Before(t);
            if (auto ms = direct_call(t, errs)) lat[static_cast<size_t>(t)].push_back(*ms);
          });
          direct.usage.Add(win.Stop());
          for (double x : Flatten(lat)) direct.lat_ms.push_back(x);
          break;
        }
        case 1:
          RunSlice(keel, clients, server, sim.pid(), from, to, llm_body("keel-", "sim-large"),
                   llm_check("keel-"), latency_ms, errs);
          break;
        case 2: {
          RunSlice(timed, clients, server, sim.pid(), from, to, llm_body("timed-", "sim-timed"),
                   llm_check("timed-"), latency_ms, errs);
          auto calls = proxy.Take();
          proxy_calls.insert(proxy_calls.end(), calls.begin(), calls.end());
          break;
        }
        case 3:
          RunSlice(steps, clients, server, sim.pid(), from, to, steps_body, steps_check, 0, errs);
          break;
      }
    }
    Progress(o, "round " + std::to_string(r + 1) + " of " + std::to_string(kRounds) + " done");
  }

  json::object out = Header(o, fx.load0, fx.fdatasync_us);
  out["n"] = n;
  out["c"] = c;
  out["calls"] = k;
  out["warmup"] = warmup;
  out["rounds"] = kRounds;
  out["sim_latency_ms"] = latency_ms;
  out["synchronous"] = o.synchronous.empty() ? "full" : o.synchronous;
  out["request_bytes"] = static_cast<int64_t>(keel_request.size());
  {
    json::object d;
    direct.usage.Put(d);
    LatencyStats s = Stats(direct.lat_ms);
    d["requests"] = s.n;
    d["calls_per_s"] = Round(static_cast<double>(s.n) / direct.usage.wall_s, 1);
    PutStats(d, "", s);
    out["direct"] = std::move(d);
  }
  out["keel"] = keel.Json(k);
  {
    json::object t = timed.Json(k);
    Gaps g = ComputeGaps(proxy_calls);
    LatencyStats gs = Stats(g.keel_ms);
    PutStats(t, "keel_time_", gs);
    t["keel_time_p90_ms"] = Round(Percentile(g.keel_ms, 90), 4);
    t["keel_time_samples"] = gs.n;
    PutStats(t, "provider_", Stats(g.provider_ms));
    t["proxy_calls"] = static_cast<int64_t>(g.provider_ms.size());
    t["proxy_unmatched"] = g.unmatched;
    t["proxy_clock_fallbacks"] = proxy.fallback_timestamps();
    t["proxy_errors"] = proxy.errors();
    if (static_cast<int64_t>(g.provider_ms.size()) != static_cast<int64_t>(n) * k) {
      errs.Add("the proxy saw " + std::to_string(g.provider_ms.size()) + " calls, not " +
               std::to_string(n * k));
    }
    out["overhead_p50_ms"] = Round(gs.p50, 4);
    out["overhead_p99_ms"] = Round(gs.p99, 4);
    out["overhead_mean_ms"] = Round(gs.mean, 4);
    out["timed"] = std::move(t);
  }
  out["steps"] = steps.Json(10);

  const json::object& d = out["direct"].get_object();
  const json::object& kp = out["keel"].get_object();
  // The simple reading: a call's share of a run through Keel minus a direct call.
  out["call_minus_direct_p50_ms"] =
      Round(kp.at("call_p50_ms").to_number<double>() - d.at("p50_ms").to_number<double>(), 4);
  out["call_minus_direct_p99_ms"] =
      Round(kp.at("call_p99_ms").to_number<double>() - d.at("p99_ms").to_number<double>(), 4);
  Usage total = direct.usage;
  total.Add(keel.usage);
  total.Add(timed.usage);
  total.Add(steps.usage);
  out["other_cpu_s"] = Round(total.other_cpu_s, 2);
  out["measured_wall_s"] = Round(total.wall_s, 3);
  out["errors"] = errs.count();
  out["first_errors"] = errs.first();
  out["server_peak_rss_mb"] = Round(static_cast<double>(StatusKb(server.pid(), "VmHWM")) / 1024, 1);
  if (!server.Alive()) Fail(o, "the server died: " + server.exit_text(), &fx);
  server.Terminate();
  proxy.Stop();
  return out;
}

// --- G2 ------------------------------------------------------------------------------------

namespace {

// Turn 1 asks for the tool, turn 2 answers from its result; anything else is an error, so an
// unscripted request shows up as a failed run.
constexpr const char* kAgentScenario = R"({
  "rules": [
    {"when": {"last_role": "user", "has_tool": "get_weather"},
     "reply": {"content": "Let me check.",
               "tool_calls": [{"name": "get_weather", "arguments": {"city": "Oslo"}}]}},
    {"when": {"last_role": "tool", "tool_name": "get_weather"},
     "reply": {"content": "Weather report: {{tool_result}}"}}
  ],
  "default": "error"
})";

std::string G2Body(const std::string& wf) {
  json::object o{
      {"intent", "g2_agent"},
      {"payload", json::object{{"message", "What is the weather in Oslo? (" + wf + ")"}}}};
  return json::serialize(o);
}

std::string G2Check(const json::object& res) {
  if (Num(res.if_contains("turns")) != 2) return "not 2 turns";
  if (StrOf(res, "answer").rfind("Weather report: ", 0) != 0) return "unexpected answer";
  return "";
}

int64_t CountAt(const json::value& v, std::initializer_list<const char*> path) {
  const json::value* cur = &v;
  for (const char* k : path) {
    if (!cur->is_object() || !cur->get_object().if_contains(k)) return -1;
    cur = &cur->get_object().at(k);
  }
  return cur->is_int64() ? cur->get_int64() : -1;
}

}  // namespace

json::object RunG2(const Options& o) {
  const int c = o.c > 0 ? o.c : 1;
  // A few seconds: 1000 runs one at a time, 125 per client otherwise; with a provider
  // latency, ten runs per client.
  const int n = o.n > 0                ? o.n
                : o.sim_latency_ms > 0 ? std::max(20, 10 * c)
                : c == 1               ? 1000
                                       : 125 * c;
  const int warmup = o.warmup >= 0 ? o.warmup : std::max(20, c);
  std::string prefix = o.label.empty() ? "g2-c" + std::to_string(c) : o.label;

  Fixture fx;
  PrepareFixture(o, fx);
  std::string scenario = WriteFile(o, fx, "scenario.json", kAgentScenario);
  SimChild sim(o.sim_bin, fx.dir,
               {"--scenario", scenario, "--latency", std::to_string(o.sim_latency_ms) + "ms"});
  if (Status st = sim.Start(); !st) Fail(o, "simulator start: " + st.error().message, &fx);
  std::string config = WriteFile(o, fx, "keel.toml",
                                 R"([gateway]
default_model = "sim-large"

[providers.sim]
kind = "openai"
base_url = ")" + Url(sim.port()) + R"(/v1"

[models.sim-large]
provider = "sim"
input_usd_per_mtok = 3.0
output_usd_per_mtok = 15.0

[tools.get_weather]
kind = "http"
description = "Current weather for a city"
url = ")" + Url(sim.port()) + R"(/tools/get_weather"
parameters = { type = "object", properties = { city = { type = "string" } }, required = ["city"] }

[agents.g2_agent]
description = "G2 benchmark agent: model -> tool -> model"
model = "sim-large"
system_prompt = "You are a concise weather assistant. Always call get_weather for the city the user asks about."
tools = ["get_weather"]
stream = )" + std::string(o.agent_stream ? "true" : "false") +
                                     "\n" + StoreTable(o));
  StartServer(o, fx, {"--config", config});
  ServerProcess& server = *fx.server;

  std::vector<client::HttpClient> clients;
  for (int i = 0; i < c; ++i) clients.emplace_back("127.0.0.1", server.port(), 60'000);
  Errors warm_errs;
  ClosedLoop(warmup, c, [&](int t, int i) {
    (void)SubmitRun(clients[t], G2Body(prefix + "-warm-" + Pad(i, 6)), "warm-up", G2Check,
                    warm_errs);
  });
  if (warm_errs.count() > 0) Fail(o, "warm-up errors: " + json::serialize(warm_errs.first()), &fx);
  Progress(o, "warm-up done (" + std::to_string(warmup) + "), measuring " + std::to_string(n) +
                  " agent runs, " + std::to_string(c) + " at a time");

  Errors errs;
  std::vector<std::vector<double>> lat(static_cast<size_t>(c));
  std::string last_id;
  std::mutex id_mu;
  auto m0 = ScrapeMetrics(server.port());
  ProcMonitor mon(server.pid(), 50);
  CpuWindow win(server.pid(), sim.pid());
  mon.Start();
  win.Start();
  ClosedLoop(n, c, [&](int t, int i) {
    std::string id;
    std::string wf = prefix + "-" + Pad(i, 6);
    if (auto ms = SubmitRun(clients[t], G2Body(wf), wf, G2Check, errs, &id)) {
      lat[static_cast<size_t>(t)].push_back(*ms);
      std::lock_guard lock(id_mu);
      last_id = id;
    }
  });
  json::object out = Header(o, fx.load0, fx.fdatasync_us);
  Usage usage = win.Stop();
  usage.Put(out);
  double wall = usage.wall_s;
  ProcMonitor::Window w = mon.Stop();
  auto m1 = ScrapeMetrics(server.port());
  std::vector<double> all = Flatten(lat);
  double ok = static_cast<double>(all.size());
  out["n"] = n;
  out["c"] = c;
  out["warmup"] = warmup;
  out["stream"] = o.agent_stream;
  out["sim_latency_ms"] = o.sim_latency_ms;
  out["synchronous"] = o.synchronous.empty() ? "full" : o.synchronous;
  out["ok"] = static_cast<int64_t>(all.size());
  out["runs_per_s"] = Round(ok / wall, 1);
  PutStats(out, "lat_", Stats(all));
  out["server_cpu_per_run_ms"] = Round(ok > 0 ? w.cpu_s * 1000 / ok : 0, 3);
  out["server_peak_rss_mb"] = Round(w.peak_rss_mb, 1);
  if (m0 && m1) PutServerSide(out, *m0, *m1);

  // What one run journaled, and what the simulator served over the whole workload.
  if (!last_id.empty()) {
    client::HttpClient kc("127.0.0.1", server.port(), 30'000);
    if (auto r = kc.Get("/v1/runs/" + last_id + "/journal"); r && r->status == 200) {
      boost::system::error_code ec;
      json::value v = json::parse(r->body, ec);
      json::array kinds;
      if (!ec && v.is_object() && v.get_object().if_contains("entries")) {
        for (const auto& e : v.get_object().at("entries").as_array()) {
          if (e.is_object()) kinds.emplace_back(StrOf(e.get_object(), "kind"));
        }
      }
      out["journal_kinds"] = std::move(kinds);
    }
  }
  client::HttpClient sc("127.0.0.1", sim.port(), 30'000);
  if (auto r = sc.Get("/admin/stats"); r && r->status == 200) {
    boost::system::error_code ec;
    json::value v = json::parse(r->body, ec);
    int64_t model_calls = ec ? -1 : CountAt(v, {"models", "sim-large", "requests"});
    int64_t tool_calls = ec ? -1 : CountAt(v, {"tools", "get_weather", "requests"});
    out["sim_model_requests"] = model_calls;
    out["sim_tool_requests"] = tool_calls;
    int64_t runs = n + warmup;
    if (model_calls != 2 * runs || tool_calls != runs) {
      errs.Add("the simulator served " + std::to_string(model_calls) + " model and " +
               std::to_string(tool_calls) + " tool requests for " + std::to_string(runs) +
               " runs (expected 2 and 1 per run)");
    }
  } else {
    errs.Add("GET /admin/stats of the simulator failed");
  }
  out["errors"] = errs.count();
  out["first_errors"] = errs.first();
  if (!server.Alive()) Fail(o, "the server died: " + server.exit_text(), &fx);
  server.Terminate();
  return out;
}

}  // namespace keel::bench
