#include "test/testing/server_process.h"

#include <signal.h>
#include <sys/wait.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <thread>
#include <utility>

namespace keel::testing {

namespace fs = std::filesystem;

std::string ServerProcess::KeelBinary() {
  const char* dir = std::getenv("KEEL_BIN_DIR");
  return std::string(dir ? dir : "build/debug") + "/bin/keel";
}

std::string ServerProcess::SourceDir() {
  const char* dir = std::getenv("KEEL_SOURCE_DIR");
  return dir ? dir : ".";
}

std::string ServerProcess::MakeTempDir(const std::string& prefix) {
  std::string tmpl = (fs::temp_directory_path() / (prefix + "XXXXXX")).string();
  char* made = mkdtemp(tmpl.data());
  return made ? std::string(made) : std::string();
}

ServerProcess::ServerProcess(Options options) : options_(std::move(options)) {
  static std::atomic<int> next_instance{1};
  instance_ = next_instance++;
  if (options_.data_dir.empty()) {
    data_dir_ = MakeTempDir();
    own_dir_ = true;
  } else {
    data_dir_ = options_.data_dir;
  }
  if (options_.workflows_dir.empty()) options_.workflows_dir = SourceDir() + "/examples";
}

ServerProcess::~ServerProcess() {
  Kill();
  if (own_dir_ && !std::getenv("KEEL_KEEP_TEST_DIRS")) {
    std::error_code ec;
    fs::remove_all(data_dir_, ec);
  }
}

std::string ServerProcess::log_of_start(int n) const {
  return data_dir_ + "/server-" + std::to_string(instance_) + "-" + std::to_string(n) + ".log";
}

Status ServerProcess::Start() {
  if (running()) return Error{Errc::kInvalidArgument, "server already running"};
  ++starts_;
  std::string port_file = data_dir_ + "/port-" + std::to_string(instance_);
  std::vector<std::string> args{
      KeelBinary(),  "serve",       "--data-dir",           data_dir_, "--listen",
      "127.0.0.1:0", "--workflows", options_.workflows_dir, "--lib",   SourceDir() + "/lib",
      "--port-file", port_file};
  args.insert(args.end(), options_.extra_args.begin(), options_.extra_args.end());
  auto port = child_.StartListening(std::move(args), current_log(), port_file);
  if (!port) return port.error();
  port_ = *port;
  return OkStatus();
}

void ServerProcess::Kill() { child_.Kill(); }

Result<int> ServerProcess::WaitExit(int timeout_ms) { return child_.WaitExit(timeout_ms); }

Result<int> ServerProcess::Terminate(int timeout_ms) {
  if (Status s = child_.Signal(SIGTERM); !s.ok()) return s.error();
  auto r = WaitExit(timeout_ms);
  if (!r) Kill();
  return r;
}

client::HttpClient ServerProcess::Client(int64_t timeout_ms) const {
  return client::HttpClient("127.0.0.1", port_, timeout_ms);
}

std::string ServerProcess::Logs() const {
  std::string all;
  for (int i = 1; i <= starts_; ++i) all += ReadFileOrEmpty(log_of_start(i));
  return all;
}

CommandResult RunCommand(const std::string& command, bool merge_stderr) {
  CommandResult r;
  std::string cmd = command + (merge_stderr ? " 2>&1" : "");
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) return r;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) r.output.append(buf, n);
  int status = pclose(p);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

bool WaitFor(const std::function<bool()>& pred, int timeout_ms) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (std::chrono::steady_clock::now() < deadline) {
    if (pred()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return pred();
}

}  // namespace keel::testing
