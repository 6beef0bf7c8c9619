#include "test/testing/server_process.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

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
  if (pid_ > 0) return Error{Errc::kInvalidArgument, "server already running"};
  ++starts_;
  std::string port_file = data_dir_ + "/port-" + std::to_string(instance_);
  std::error_code ec;
  fs::remove(port_file, ec);
  std::vector<std::string> args{
      KeelBinary(),  "serve",       "--data-dir",           data_dir_, "--listen",
      "127.0.0.1:0", "--workflows", options_.workflows_dir, "--lib",   SourceDir() + "/lib",
      "--port-file", port_file};
  args.insert(args.end(), options_.extra_args.begin(), options_.extra_args.end());
  std::string log = current_log();
  pid_t pid = fork();
  if (pid < 0) return Error{Errc::kInternal, "fork failed"};
  if (pid == 0) {
    int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd >= 0) {
      dup2(fd, STDERR_FILENO);
      close(fd);
    }
    int devnull = ::open("/dev/null", O_WRONLY);
    if (devnull >= 0) dup2(devnull, STDOUT_FILENO);
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    execv(argv[0], argv.data());
    _exit(127);
  }
  pid_ = pid;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (std::chrono::steady_clock::now() < deadline) {
    std::ifstream in(port_file);
    int port = 0;
    if (in >> port && port > 0) {
      port_ = port;
      return OkStatus();
    }
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      std::ifstream err(log);
      std::stringstream buf;
      buf << err.rdbuf();
      return Error{Errc::kUnavailable, "keel serve exited during start-up: " + buf.str()};
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  Kill();
  return Error{Errc::kTimeout, "keel serve did not listen within 30 s"};
}

void ServerProcess::Kill() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGKILL);
  int status = 0;
  waitpid(pid_, &status, 0);
  pid_ = -1;
}

Result<int> ServerProcess::WaitExit(int timeout_ms) {
  if (pid_ <= 0) return Error{Errc::kInvalidArgument, "server not running"};
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (std::chrono::steady_clock::now() < deadline) {
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      if (WIFEXITED(status)) return WEXITSTATUS(status);
      return -WTERMSIG(status);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return Error{Errc::kTimeout, "server did not exit in time"};
}

Result<int> ServerProcess::Terminate(int timeout_ms) {
  if (pid_ <= 0) return Error{Errc::kInvalidArgument, "server not running"};
  ::kill(pid_, SIGTERM);
  auto r = WaitExit(timeout_ms);
  if (!r) Kill();
  return r;
}

client::HttpClient ServerProcess::Client(int64_t timeout_ms) const {
  return client::HttpClient("127.0.0.1", port_, timeout_ms);
}

std::string ServerProcess::Logs() const {
  std::string all;
  for (int i = 1; i <= starts_; ++i) {
    std::ifstream in(log_of_start(i));
    std::stringstream buf;
    buf << in.rdbuf();
    all += buf.str();
  }
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
