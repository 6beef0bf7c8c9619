#include "test/testing/child_process.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

namespace keel::testing {

namespace {

using Clock = std::chrono::steady_clock;

constexpr auto kPollEvery = std::chrono::milliseconds(10);

std::string HowItEnded(int code) {
  return code >= 0 ? "exited with status " + std::to_string(code)
                   : "was killed by signal " + std::to_string(-code);
}

}  // namespace

std::string ReadFileOrEmpty(const std::string& path) {
  std::ifstream in(path);
  std::stringstream buf;
  buf << in.rdbuf();
  return buf.str();
}

ChildProcess::~ChildProcess() { Kill(); }

Result<int> ChildProcess::StartListening(std::vector<std::string> argv, const std::string& log_file,
                                         const std::string& port_file, int timeout_ms) {
  if (pid_ > 0) return Error{Errc::kInvalidArgument, name_ + " already running"};
  std::error_code ec;
  std::filesystem::remove(port_file, ec);
  pid_t pid = fork();
  if (pid < 0) return Error{Errc::kInternal, "fork failed"};
  if (pid == 0) {
    int fd = ::open(log_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd >= 0) {
      dup2(fd, STDERR_FILENO);
      close(fd);
    }
    int devnull = ::open("/dev/null", O_WRONLY);
    if (devnull >= 0) dup2(devnull, STDOUT_FILENO);
    std::vector<char*> cargv;
    for (auto& a : argv) cargv.push_back(a.data());
    cargv.push_back(nullptr);
    execv(cargv[0], cargv.data());
    _exit(127);
  }
  pid_ = pid;
  auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
  while (Clock::now() < deadline) {
    std::ifstream in(port_file);
    int port = 0;
    if (in >> port && port > 0) return port;
    if (std::optional<int> code = Reap()) {
      return Error{Errc::kUnavailable, name_ + " " + HowItEnded(*code) +
                                           " during start-up: " + ReadFileOrEmpty(log_file)};
    }
    std::this_thread::sleep_for(kPollEvery);
  }
  Kill();
  return Error{Errc::kTimeout, name_ + " did not listen within " +
                                   std::to_string(timeout_ms / 1000) +
                                   " s: " + ReadFileOrEmpty(log_file)};
}

void ChildProcess::Kill() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGKILL);
  int status = 0;
  waitpid(pid_, &status, 0);
  pid_ = -1;
}

Status ChildProcess::Signal(int signal) {
  if (pid_ <= 0) return Error{Errc::kInvalidArgument, name_ + " is not running"};
  ::kill(pid_, signal);
  return OkStatus();
}

Result<int> ChildProcess::WaitExit(int timeout_ms) {
  if (pid_ <= 0) return Error{Errc::kInvalidArgument, name_ + " is not running"};
  auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
  while (Clock::now() < deadline) {
    if (std::optional<int> code = Reap()) return *code;
    std::this_thread::sleep_for(kPollEvery);
  }
  return Error{Errc::kTimeout,
               name_ + " did not exit within " + std::to_string(timeout_ms) + " ms"};
}

std::optional<int> ChildProcess::Reap() {
  int status = 0;
  if (waitpid(pid_, &status, WNOHANG) != pid_) return std::nullopt;
  pid_ = -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status);
}

}  // namespace keel::testing
