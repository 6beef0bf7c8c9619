#include "bench/workload.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <filesystem>

namespace json = boost::json;
namespace fs = std::filesystem;

namespace keel::bench {

// The 1-minute load average: other work on the machine skews every number, so say how much.
double LoadAverage() {
  std::FILE* f = std::fopen("/proc/loadavg", "r");
  double l = -1;
  if (f) {
    if (std::fscanf(f, "%lf", &l) != 1) l = -1;
    std::fclose(f);
  }
  return l;
}

// Median microseconds of a 4 KiB pwrite + fdatasync in `dir` (the data directory's disk): the
// floor under every durable step, and the first thing a busy machine slows down.
double FdatasyncUs(const std::string& dir, int n) {
  std::string path = dir + "/fsync-probe";
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0) return -1;
  std::vector<double> us;
  char page[4096] = {};
  for (int i = 0; i < n; ++i) {
    auto t0 = SteadyClock::now();
    if (::pwrite(fd, page, sizeof page, static_cast<off_t>(i % 4) * 4096) < 0 ||
        ::fdatasync(fd) != 0) {
      break;
    }
    us.push_back(MsSince(t0) * 1000);
  }
  ::close(fd);
  ::unlink(path.c_str());
  return us.empty() ? -1 : Percentile(us, 50);
}

void Progress(const Options& o, const std::string& msg) {
  std::fprintf(stderr, "[keel_bench %s] %s\n", o.workload.c_str(), msg.c_str());
}

namespace {

// json::serialize prints doubles as 1.5E1; results are read by people too.
void AppendJson(const json::value& v, std::string& out) {
  switch (v.kind()) {
    case json::kind::object: {
      out += '{';
      bool first = true;
      for (const auto& [k, x] : v.get_object()) {
        if (!first) out += ',';
        first = false;
        out += json::serialize(json::string(k));
        out += ':';
        AppendJson(x, out);
      }
      out += '}';
      return;
    }
    case json::kind::array: {
      out += '[';
      bool first = true;
      for (const auto& x : v.get_array()) {
        if (!first) out += ',';
        first = false;
        AppendJson(x, out);
      }
      out += ']';
      return;
    }
    case json::kind::double_: {
      double d = v.get_double();
      if (!std::isfinite(d)) {
        out += "null";
        return;
      }
      char buf[64];
      auto r = std::to_chars(buf, buf + sizeof buf, d);
      out.append(buf, r.ptr);
      return;
    }
    default:
      out += json::serialize(v);
  }
}

}  // namespace

std::string ToJson(const json::object& o) {
  std::string out;
  AppendJson(o, out);
  return out;
}

double Round(double v, int digits) {
  double f = std::pow(10.0, digits);
  return std::round(v * f) / f;
}

void Errors::Add(std::string msg) {
  std::lock_guard lock(mu_);
  ++count_;
  if (first_.size() < 3) first_.push_back(std::move(msg));
}

int64_t Errors::count() const {
  std::lock_guard lock(mu_);
  return count_;
}

json::array Errors::first() const {
  std::lock_guard lock(mu_);
  json::array a;
  for (const auto& s : first_) a.emplace_back(s);
  return a;
}

std::string Clip(const std::string& s, size_t n) { return s.size() > n ? s.substr(0, n) : s; }

std::string Pad(int i, int width) {
  std::string s = std::to_string(i);
  return std::string(width > static_cast<int>(s.size()) ? width - s.size() : 0, '0') + s;
}

std::string SubmitBody(const std::string& intent, const std::string& wf) {
  json::object o{{"intent", intent}, {"payload", json::object{{"wf", wf}}}};
  return json::serialize(o);
}

double Num(const json::value* v) {
  if (!v) return -1;
  if (v->is_int64()) return static_cast<double>(v->get_int64());
  if (v->is_uint64()) return static_cast<double>(v->get_uint64());
  if (v->is_double()) return v->get_double();
  return -1;
}

Fixture::~Fixture() {
  if (server) server->Kill9();
  if (!dir.empty() && o && !o->keep) {
    std::error_code ec;
    fs::remove_all(dir, ec);
  }
}

[[noreturn]] void Fail(const Options& o, const std::string& what, Fixture* fx) {
  json::object out{
      {"workload", o.workload}, {"system", "keel"}, {"label", o.label}, {"error", what}};
  if (fx && fx->server) out["server_log"] = fx->server->current_log();
  std::printf("%s\n", ToJson(out).c_str());
  std::fflush(stdout);
  Progress(o, "ERROR: " + what);
  if (fx && fx->server) fx->server->Kill9();
  KillSim();
  std::_Exit(1);
}

void PrepareFixture(const Options& o, Fixture& fx) {
  fx.o = &o;
  fx.load0 = LoadAverage();
  fx.dir = MakeTempDir(o.work_dir, "keel-bench-" + o.workload + "-");
  if (fx.dir.empty()) Fail(o, "cannot create a temporary directory under " + o.work_dir);
  fx.fdatasync_us = FdatasyncUs(fx.dir);
}

void StartServer(const Options& o, Fixture& fx, const std::vector<std::string>& extra_args) {
  ServerProcess::Options so;
  so.binary = o.keel_bin;
  so.data_dir = fx.dir;
  so.workflows_dir = o.workflows_dir;
  so.extra_args = extra_args;
  so.extra_args.insert(so.extra_args.end(), o.server_args.begin(), o.server_args.end());
  fx.server = std::make_unique<ServerProcess>(so);
  if (Status st = fx.server->Start(); !st) Fail(o, "server start: " + st.error().message, &fx);
  Progress(o, "server pid " + std::to_string(fx.server->pid()) +
                  " on 127.0.0.1:" + std::to_string(fx.server->port()) + ", data " + fx.dir);
}

void StartFixture(const Options& o, Fixture& fx) {
  PrepareFixture(o, fx);
  StartServer(o, fx);
}

json::object Header(const Options& o, double load_at_start, double fdatasync_us) {
  json::array args;
  for (const auto& a : o.server_args) args.emplace_back(a);
  return json::object{{"workload", o.workload},
                      {"system", "keel"},
                      {"label", o.label},
                      {"server_args", args},
                      {"loadavg_start", load_at_start},
                      {"loadavg_end", LoadAverage()},
                      {"fdatasync_us", Round(fdatasync_us, 1)}};
}

std::optional<double> SubmitRun(client::HttpClient& c, const std::string& body,
                                const std::string& what, const ResultCheck& check, Errors& errs,
                                std::string* id) {
  auto t0 = SteadyClock::now();
  auto r = c.Post("/v1/runs?wait=30000", body);
  double ms = MsSince(t0);
  if (!r) {
    errs.Add(what + ": " + r.error().message);
    return std::nullopt;
  }
  if (r->status != 200) {
    errs.Add(what + ": HTTP " + std::to_string(r->status) + " " + Clip(r->body));
    return std::nullopt;
  }
  boost::system::error_code ec;
  json::value v = json::parse(r->body, ec);
  const json::object* run = (!ec && v.is_object()) ? &v.get_object() : nullptr;
  const json::value* status = run ? run->if_contains("status") : nullptr;
  const json::value* result = run ? run->if_contains("result") : nullptr;
  std::string bad;
  if (!status || !status->is_string() || status->get_string() != "succeeded" || !result ||
      !result->is_object()) {
    bad = "not succeeded";
  } else {
    bad = check(result->get_object());
  }
  if (!bad.empty()) {
    errs.Add(what + ": " + bad + ": " + Clip(r->body, 400));
    return std::nullopt;
  }
  if (id && run->if_contains("id") && run->at("id").is_string()) {
    *id = std::string(run->at("id").get_string());
  }
  return ms;
}

std::optional<double> SubmitAndWait(client::HttpClient& c, const std::string& wf, Errors& errs) {
  return SubmitRun(
      c, SubmitBody("w1", wf), wf,
      [&wf](const json::object& res) -> std::string {
        const auto* last = res.if_contains("last");
        bool good = Num(res.if_contains("steps")) == 10 && last && last->is_object() &&
                    Num(last->get_object().if_contains("step")) == 9 &&
                    last->get_object().if_contains("wf") &&
                    last->get_object().at("wf").is_string() &&
                    last->get_object().at("wf").get_string() == wf;
        return good ? "" : "unexpected result";
      },
      errs);
}

LatencyStats Stats(const std::vector<double>& samples) {
  LatencyStats s;
  s.n = static_cast<int64_t>(samples.size());
  if (samples.empty()) return s;
  double sum = 0;
  for (double x : samples) {
    sum += x;
    s.max = std::max(s.max, x);
  }
  s.mean = sum / static_cast<double>(samples.size());
  s.p50 = Percentile(samples, 50);
  s.p99 = Percentile(samples, 99);
  return s;
}

std::vector<double> Flatten(const std::vector<std::vector<double>>& per_thread) {
  std::vector<double> all;
  for (const auto& v : per_thread) all.insert(all.end(), v.begin(), v.end());
  return all;
}

}  // namespace keel::bench
