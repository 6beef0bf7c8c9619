#include "gateway/mcp/stdio_transport.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <optional>
#include <system_error>

#include "gateway/mcp/jsonrpc.h"
#include "observability/log.h"

extern char** environ;

namespace keel::gateway::mcp {

namespace json = boost::json;
using namespace std::chrono_literals;

namespace {

// A line the server writes may not outgrow this: a server that never ends its line is broken.
constexpr size_t kMaxLineBytes = 64 << 20;
constexpr size_t kMaxLoggedBytes = 2000;

std::string ErrnoText(int err) { return std::error_code(err, std::generic_category()).message(); }

std::string DescribeStatus(int status) {
  if (WIFEXITED(status)) return "exited with status " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) {
    int sig = WTERMSIG(status);
    const char* abbrev = sigabbrev_np(sig);
    return "was killed by signal " + std::to_string(sig) +
           (abbrev ? std::string(" (SIG") + abbrev + ")" : std::string());
  }
  return "ended with wait status " + std::to_string(status);
}

void CloseFd(int& fd) {
  if (fd >= 0) ::close(fd);
  fd = -1;
}

// Splits complete lines off the front of `buf`, handing each to `fn`.
template <typename Fn>
void TakeLines(std::string& buf, Fn&& fn) {
  size_t start = 0;
  for (size_t nl; (nl = buf.find('\n', start)) != std::string::npos; start = nl + 1) {
    fn(std::string_view(buf).substr(start, nl - start));
  }
  buf.erase(0, start);
}

}  // namespace

struct StdioTransport::Waiter {
  std::mutex mu;
  std::condition_variable cv;
  bool done = false;
  bool cancelled = false;
  json::object response;
  std::optional<Error> error;

  void Finish(json::object r) {
    std::lock_guard l(mu);
    response = std::move(r);
    done = true;
    cv.notify_all();
  }
  void Fail(Error e) {
    std::lock_guard l(mu);
    error = std::move(e);
    done = true;
    cv.notify_all();
  }
};

Result<std::unique_ptr<StdioTransport>> StdioTransport::Start(
    std::string server, const std::vector<std::string>& argv) {
  if (argv.empty() || argv[0].empty()) {
    return Error{Errc::kInvalidArgument, "no command configured for the stdio transport"};
  }
  int in[2] = {-1, -1}, out[2] = {-1, -1}, err[2] = {-1, -1}, wake[2] = {-1, -1};
  auto close_all = [&] {
    for (int* p : {in, out, err, wake}) {
      CloseFd(p[0]);
      CloseFd(p[1]);
    }
  };
  // O_CLOEXEC everywhere so a child another thread spawns meanwhile inherits none of them.
  for (int* p : {in, out, err, wake}) {
    if (::pipe2(p, O_CLOEXEC) != 0) {
      int e = errno;
      close_all();
      return Error{Errc::kUnavailable, "cannot create pipes: " + ErrnoText(e)};
    }
  }

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, in[0], STDIN_FILENO);
  posix_spawn_file_actions_adddup2(&actions, out[1], STDOUT_FILENO);
  posix_spawn_file_actions_adddup2(&actions, err[1], STDERR_FILENO);
  // fds opened elsewhere without O_CLOEXEC (a listening socket, a database) must not leak.
  posix_spawn_file_actions_addclosefrom_np(&actions, 3);

  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  // Its own process group, so termination reaches whatever the server itself spawned; and a
  // clean signal state rather than keel's (which ignores SIGPIPE when serving).
  posix_spawnattr_setflags(&attr,
                           POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  posix_spawnattr_setpgroup(&attr, 0);
  sigset_t mask;
  sigemptyset(&mask);
  posix_spawnattr_setsigmask(&attr, &mask);
  sigset_t defaults;
  sigemptyset(&defaults);
  for (int sig : {SIGPIPE, SIGINT, SIGTERM, SIGHUP, SIGQUIT}) sigaddset(&defaults, sig);
  posix_spawnattr_setsigdefault(&attr, &defaults);

  std::vector<char*> cargv;
  for (const std::string& a : argv) cargv.push_back(const_cast<char*>(a.c_str()));
  cargv.push_back(nullptr);
  pid_t pid = -1;
  int rc = posix_spawnp(&pid, cargv[0], &actions, &attr, cargv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  CloseFd(in[0]);
  CloseFd(out[1]);
  CloseFd(err[1]);
  if (rc != 0) {
    close_all();
    Errc code = (rc == ENOENT || rc == EACCES || rc == ENOEXEC) ? Errc::kInvalidArgument
                                                                : Errc::kUnavailable;
    return Error{code, "cannot start '" + argv[0] + "': " + ErrnoText(rc)};
  }
  // Writes poll for room so a server that stops reading cannot block a caller past its
  // deadline.
  ::fcntl(in[1], F_SETFL, ::fcntl(in[1], F_GETFL) | O_NONBLOCK);
  return std::unique_ptr<StdioTransport>(
      new StdioTransport(std::move(server), pid, in[1], out[0], err[0], wake[0], wake[1]));
}

StdioTransport::StdioTransport(std::string server, pid_t pid, int in_fd, int out_fd, int err_fd,
                               int wake_r, int wake_w)
    : server_(std::move(server)),
      pid_(pid),
      in_fd_(in_fd),
      out_fd_(out_fd),
      err_fd_(err_fd),
      wake_r_(wake_r),
      wake_w_(wake_w) {
  obs::Info("mcp_server_started", {{"server", server_}, {"pid", pid_}});
  io_ = std::thread([this] { IoLoop(); });
}

StdioTransport::~StdioTransport() {
  stopping_ = true;  // the exit that follows is ours, not news
  {
    // A well-behaved server exits when its stdin closes.
    AcquireWriter(Clock::time_point::max());
    CloseFd(in_fd_);
    ReleaseWriter();
  }
  Signal(SIGTERM);
  {
    std::unique_lock l(mu_);
    exited_cv_.wait_for(l, 2s, [&] { return dead_; });
  }
  Signal(SIGKILL);
  char c = 'x';
  [[maybe_unused]] ssize_t n = ::write(wake_w_, &c, 1);
  io_.join();
  CloseFd(out_fd_);
  CloseFd(err_fd_);
  CloseFd(wake_r_);
  CloseFd(wake_w_);
}

void StdioTransport::Signal(int sig) {
  // Until reaped the child is at worst a zombie, so its pid (= its group) cannot be reused.
  std::lock_guard l(mu_);
  if (!dead_) ::killpg(pid_, sig);
}

bool StdioTransport::alive() const {
  std::lock_guard l(mu_);
  return !dead_;
}

bool StdioTransport::AcquireWriter(Clock::time_point deadline) {
  std::unique_lock l(write_mu_);
  auto idle = [&] { return !writing_; };
  if (deadline == Clock::time_point::max()) {
    write_cv_.wait(l, idle);
  } else if (!write_cv_.wait_until(l, deadline, idle)) {
    return false;
  }
  writing_ = true;
  return true;
}

void StdioTransport::ReleaseWriter() {
  {
    std::lock_guard l(write_mu_);
    writing_ = false;
  }
  write_cv_.notify_one();
}

Status StdioTransport::WriteLine(std::string line, Clock::time_point deadline) {
  if (!AcquireWriter(deadline)) {
    return Error{Errc::kTimeout, "timed out waiting to write to the server's stdin"};
  }
  line.push_back('\n');
  Status result = WriteWhole(line, deadline);
  ReleaseWriter();
  return result;
}

Status StdioTransport::WriteWhole(const std::string& line, Clock::time_point deadline) {
  if (in_fd_ < 0) return Error{Errc::kUnavailable, "the server's stdin is closed"};

  // A child that exited leaves a pipe without reader: write(2) would raise SIGPIPE, which kills
  // the process unless ignored. Block it on this thread and swallow the one we cause.
  sigset_t pipe_set, old_set, pending;
  sigemptyset(&pipe_set);
  sigaddset(&pipe_set, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &pipe_set, &old_set);
  sigpending(&pending);
  bool was_pending = sigismember(&pending, SIGPIPE);
  Status result = OkStatus();
  size_t off = 0;
  while (off < line.size()) {
    ssize_t n = ::write(in_fd_, line.data() + off, line.size() - off);
    if (n > 0) {
      off += size_t(n);
      continue;
    }
    int e = errno;
    if (n < 0 && e == EINTR) continue;
    if (n < 0 && e == EAGAIN) {
      int wait_ms = -1;
      if (deadline != Clock::time_point::max()) {
        auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - Clock::now());
        if (left.count() <= 0) {
          result = Error{Errc::kTimeout, "timed out writing to the server's stdin"};
          break;
        }
        wait_ms = int(std::min<int64_t>(left.count(), 60'000));
      }
      pollfd p{in_fd_, POLLOUT, 0};
      ::poll(&p, 1, wait_ms);
      continue;
    }
    if (n < 0 && e == EPIPE) {
      if (!was_pending) {
        timespec zero{};
        sigtimedwait(&pipe_set, nullptr, &zero);
      }
      result = Error{Errc::kUnavailable, "the server process closed its stdin"};
    } else {
      result = Error{Errc::kUnavailable, "cannot write to the server: " + ErrnoText(e)};
    }
    break;
  }
  pthread_sigmask(SIG_SETMASK, &old_set, nullptr);
  return result;
}

Result<json::object> StdioTransport::Request(std::string_view method, const json::value& params,
                                             int64_t timeout_ms,
                                             const std::shared_ptr<CancelToken>& cancel) {
  if (cancel && cancel->cancelled()) return Error{Errc::kUnavailable, "cancelled"};
  auto waiter = std::make_shared<Waiter>();
  int64_t id;
  {
    std::lock_guard l(mu_);
    if (dead_) return Error{Errc::kUnavailable, "the server process " + exit_text_};
    id = next_id_++;
    pending_[id] = waiter;
  }
  Clock::time_point deadline = timeout_ms > 0 ? Clock::now() + std::chrono::milliseconds(timeout_ms)
                                              : Clock::time_point::max();
  if (cancel) {
    // The token may outlive this call (and this transport): hold the waiter weakly.
    cancel->OnCancel([weak = std::weak_ptr<Waiter>(waiter)] {
      if (auto w = weak.lock()) {
        std::lock_guard l(w->mu);
        w->cancelled = true;
        w->cv.notify_all();
      }
    });
  }
  if (Status sent = WriteLine(RequestText(id, method, params), deadline); !sent.ok()) {
    std::lock_guard l(mu_);
    pending_.erase(id);
    return sent.error();
  }

  bool cancelled;
  {
    std::unique_lock l(waiter->mu);
    auto ready = [&] { return waiter->done || waiter->cancelled; };
    if (deadline == Clock::time_point::max()) {
      waiter->cv.wait(l, ready);
    } else {
      waiter->cv.wait_until(l, deadline, ready);
    }
    if (waiter->done) {
      if (waiter->error) return *waiter->error;
      return std::move(waiter->response);
    }
    cancelled = waiter->cancelled;
  }
  {
    std::lock_guard l(mu_);
    pending_.erase(id);
  }
  // Let the server stop working on it; the spec asks this of a client that gives up.
  json::object note{{"requestId", id}, {"reason", cancelled ? "cancelled" : "timed out"}};
  (void)WriteLine(NotificationText("notifications/cancelled", note), Clock::now() + 1s);
  if (cancelled) return Error{Errc::kUnavailable, "cancelled"};
  return Error{Errc::kTimeout, "no answer within " + std::to_string(timeout_ms) + " ms"};
}

Status StdioTransport::Notify(std::string_view method, const json::value& params,
                              int64_t timeout_ms) {
  {
    std::lock_guard l(mu_);
    if (dead_) return Error{Errc::kUnavailable, "the server process " + exit_text_};
  }
  Clock::time_point deadline = timeout_ms > 0 ? Clock::now() + std::chrono::milliseconds(timeout_ms)
                                              : Clock::time_point::max();
  return WriteLine(NotificationText(method, params), deadline);
}

void StdioTransport::IoLoop() {
  std::string out, err;
  bool err_open = true;
  char buf[64 * 1024];
  while (true) {
    pollfd fds[3] = {{out_fd_, POLLIN, 0}, {wake_r_, POLLIN, 0}, {err_fd_, POLLIN, 0}};
    if (::poll(fds, err_open ? 3 : 2, -1) < 0) {
      if (errno == EINTR) continue;
      break;
    }
    if (fds[1].revents != 0) {
      [[maybe_unused]] ssize_t n = ::read(wake_r_, buf, sizeof buf);
      if (stopping_) break;
    }
    if (err_open && fds[2].revents != 0) {
      ssize_t n = ::read(err_fd_, buf, sizeof buf);
      if (n > 0) {
        err.append(buf, size_t(n));
        TakeLines(err, [&](std::string_view line) { LogStderr(line); });
        // A line this long is not worth keeping whole for a debug log.
        if (err.size() > kMaxLoggedBytes) {
          LogStderr(err);
          err.clear();
        }
      } else if (n == 0 || (errno != EINTR && errno != EAGAIN)) {
        err_open = false;
      }
    }
    if (fds[0].revents != 0) {
      ssize_t n = ::read(out_fd_, buf, sizeof buf);
      if (n > 0) {
        out.append(buf, size_t(n));
        TakeLines(out, [&](std::string_view line) { HandleLine(line); });
        if (out.size() > kMaxLineBytes) {
          obs::Warn("mcp_server_line_too_long", {{"server", server_}, {"bytes", out.size()}});
          out.clear();
          Signal(SIGKILL);
        }
      } else if (n == 0 || (errno != EINTR && errno != EAGAIN)) {
        break;  // stdout closed: the child is gone or going
      }
    }
  }
  if (!err.empty()) LogStderr(err);
  Reap();
}

void StdioTransport::Reap() {
  // Wait without reaping (WNOWAIT) so that Signal never targets a recycled pid.
  auto give_up = Clock::now() + 2s;
  while (true) {
    siginfo_t info{};
    int r = ::waitid(P_PID, id_t(pid_), &info, WEXITED | WNOHANG | WNOWAIT);
    if (r == 0 && info.si_pid == pid_) break;
    if (r < 0 && errno != EINTR) break;
    if (Clock::now() >= give_up) {
      // Its stdout is closed yet it lingers: it can serve nobody any more.
      Signal(SIGKILL);
      while (::waitid(P_PID, id_t(pid_), &info, WEXITED | WNOWAIT) < 0 && errno == EINTR) {
      }
      break;
    }
    std::this_thread::sleep_for(10ms);
  }
  std::map<int64_t, std::shared_ptr<Waiter>> pending;
  std::string exit_text;
  {
    std::lock_guard l(mu_);
    int status = 0;
    pid_t r;
    while ((r = ::waitpid(pid_, &status, 0)) < 0 && errno == EINTR) {
    }
    exit_text_ = r == pid_ ? DescribeStatus(status) : "exited (status unknown)";
    dead_ = true;
    pending.swap(pending_);
    exit_text = exit_text_;
  }
  exited_cv_.notify_all();
  if (stopping_) {
    obs::Info("mcp_server_stopped", {{"server", server_}, {"pid", pid_}, {"exit", exit_text}});
  } else {
    obs::Warn("mcp_server_exited", {{"server", server_}, {"pid", pid_}, {"exit", exit_text}});
  }
  for (auto& [id, w] : pending)
    w->Fail(Error{Errc::kUnavailable, "the server process " + exit_text});
}

void StdioTransport::HandleLine(std::string_view line) {
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  if (line.find_first_not_of(" \t") == std::string_view::npos) return;
  boost::system::error_code ec;
  json::value v = json::parse(line, ec);
  if (ec) {
    obs::Warn(
        "mcp_bad_message",
        {{"server", server_}, {"error", ec.message()}, {"line", line.substr(0, kMaxLoggedBytes)}});
    return;
  }
  if (v.is_array()) {
    for (const json::value& m : v.as_array()) HandleMessage(m);
  } else {
    HandleMessage(v);
  }
}

void StdioTransport::HandleMessage(const json::value& v) {
  Message m = Classify(v);
  switch (m.kind) {
    case MessageKind::kResponse: {
      std::optional<int64_t> id = IdNumber(m.id);
      std::shared_ptr<Waiter> w;
      if (id) {
        std::lock_guard l(mu_);
        if (auto it = pending_.find(*id); it != pending_.end()) {
          w = std::move(it->second);
          pending_.erase(it);
        }
      }
      // No waiter: an answer after its caller gave up.
      if (w) w->Finish(std::move(m.body));
      return;
    }
    case MessageKind::kRequest:
      // Bounded: this thread must get back to reading, or the server may block writing.
      (void)WriteLine(AnswerServerRequest(m), Clock::now() + 1s);
      return;
    case MessageKind::kNotification:
      return;
    case MessageKind::kInvalid:
      obs::Warn("mcp_bad_message", {{"server", server_}, {"error", "not a JSON-RPC message"}});
      return;
  }
}

void StdioTransport::LogStderr(std::string_view line) {
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  if (line.empty()) return;
  obs::Log(obs::Level::kDebug, "mcp_server_stderr",
           {{"server", server_}, {"line", line.substr(0, kMaxLoggedBytes)}});
}

}  // namespace keel::gateway::mcp
