#include "test/testing/sim_process.h"

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <utility>

#include "client/http_client.h"
#include "test/testing/server_process.h"

namespace keel::testing {

namespace fs = std::filesystem;

std::string SimProcess::Binary() {
  const char* dir = std::getenv("KEEL_BIN_DIR");
  return std::string(dir ? dir : "build/debug") + "/bin/keel-llm-sim";
}

SimProcess::SimProcess(Options options) : options_(std::move(options)) {
  static std::atomic<int> next_instance{1};
  instance_ = next_instance++;
  if (options_.log_dir.empty()) {
    log_dir_ = ServerProcess::MakeTempDir("keel-sim-");
    own_dir_ = true;
  } else {
    log_dir_ = options_.log_dir;
  }
}

SimProcess::~SimProcess() {
  Kill();
  if (own_dir_ && !std::getenv("KEEL_KEEP_TEST_DIRS")) {
    std::error_code ec;
    fs::remove_all(log_dir_, ec);
  }
}

std::string SimProcess::base_url() const { return "http://127.0.0.1:" + std::to_string(port_); }

std::string SimProcess::openai_base_url() const { return base_url() + "/v1"; }

std::string SimProcess::log_of_start(int n) const {
  return log_dir_ + "/sim-" + std::to_string(instance_) + "-" + std::to_string(n) + ".log";
}

std::string SimProcess::Logs() const {
  std::string all;
  for (int i = 1; i <= starts_; ++i) all += ReadFileOrEmpty(log_of_start(i));
  return all;
}

Status SimProcess::Start() {
  if (running()) return Error{Errc::kInvalidArgument, "keel-llm-sim already running"};
  if (log_dir_.empty()) return Error{Errc::kInternal, "cannot create a log directory"};
  ++starts_;
  std::string port_file = log_dir_ + "/sim-port-" + std::to_string(instance_);
  std::vector<std::string> args{Binary(), "--listen", "127.0.0.1:0", "--port-file", port_file};
  if (!options_.scenario_file.empty()) {
    args.push_back("--scenario");
    args.push_back(options_.scenario_file);
  }
  args.insert(args.end(), options_.extra_args.begin(), options_.extra_args.end());
  auto port = child_.StartListening(std::move(args), log_of_start(starts_), port_file);
  if (!port) return port.error();
  port_ = *port;
  return OkStatus();
}

void SimProcess::Kill() { child_.Kill(); }

Result<std::string> SimProcess::Admin(const std::string& method, const std::string& target,
                                      const std::string& body) {
  if (!running()) return Error{Errc::kUnavailable, "keel-llm-sim is not running"};
  client::HttpClient c("127.0.0.1", port_, 10'000);
  auto r = c.Request(method, target, body);
  if (!r) return r.error();
  if (r->status != 200) {
    return Error{client::ErrcForHttpStatus(r->status),
                 method + " " + target + " -> " + std::to_string(r->status) + ": " + r->body};
  }
  return std::move(r->body);
}

namespace {

Result<boost::json::value> ParseJson(const std::string& text, const std::string& what) {
  boost::system::error_code ec;
  boost::json::value v = boost::json::parse(text, ec);
  if (ec) return Error{Errc::kInternal, what + " returned invalid JSON: " + text};
  return v;
}

}  // namespace

Result<boost::json::value> SimProcess::Stats() {
  auto body = Admin("GET", "/admin/stats", "");
  if (!body) return body.error();
  return ParseJson(*body, "GET /admin/stats");
}

Result<boost::json::array> SimProcess::Requests() {
  auto body = Admin("GET", "/admin/requests", "");
  if (!body) return body.error();
  auto v = ParseJson(*body, "GET /admin/requests");
  if (!v) return v.error();
  if (!v->is_array()) return Error{Errc::kInternal, "GET /admin/requests: not an array"};
  return std::move(v->as_array());
}

Status SimProcess::SetFaults(const std::string& faults_json) {
  auto body = Admin("POST", "/admin/faults", faults_json);
  if (!body) return body.error();
  return OkStatus();
}

Status SimProcess::LoadScenario(const std::string& scenario_json) {
  auto body = Admin("POST", "/admin/scenario", scenario_json);
  if (!body) return body.error();
  return OkStatus();
}

Result<boost::json::value> SimProcess::Effects() {
  auto body = Admin("GET", "/admin/effects", "");
  if (!body) return body.error();
  return ParseJson(*body, "GET /admin/effects");
}

Status SimProcess::Reset() {
  auto body = Admin("POST", "/admin/reset", "");
  if (!body) return body.error();
  return OkStatus();
}

}  // namespace keel::testing
