#include "bench/bench_support.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>

#include "client/http_client.h"

namespace keel::bench {

std::atomic<pid_t> g_server_pid{-1};
namespace {
std::atomic<pid_t> g_sim_pid{-1};

// Reads a port written by --port-file; 0 while the file is absent or empty.
int ReadPortFile(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY);
  if (fd < 0) return 0;
  char buf[32] = {};
  ssize_t n = ::read(fd, buf, sizeof(buf) - 1);
  ::close(fd);
  return n > 0 ? std::atoi(buf) : 0;
}

// fork + exec of argv with stderr to `log` and stdin/stdout on /dev/null; -1 if fork failed.
pid_t Spawn(std::vector<std::string> args, const std::string& log) {
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t pid = fork();
  if (pid == 0) {
    int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd >= 0) {
      dup2(fd, STDERR_FILENO);
      close(fd);
    }
    int devnull = ::open("/dev/null", O_RDWR);
    if (devnull >= 0) {
      dup2(devnull, STDIN_FILENO);
      dup2(devnull, STDOUT_FILENO);
    }
    execv(argv[0], argv.data());
    _exit(127);
  }
  return pid;
}
}  // namespace

double SecondsSince(SteadyClock::time_point t0) {
  return std::chrono::duration<double>(SteadyClock::now() - t0).count();
}

double MsSince(SteadyClock::time_point t0) { return SecondsSince(t0) * 1000.0; }

double Percentile(std::vector<double> samples, double p) {
  if (samples.empty()) return 0;
  std::sort(samples.begin(), samples.end());
  auto rank = static_cast<int64_t>(std::ceil(p / 100.0 * static_cast<double>(samples.size()))) - 1;
  rank = std::clamp<int64_t>(rank, 0, static_cast<int64_t>(samples.size()) - 1);
  return samples[static_cast<size_t>(rank)];
}

// --- ServerProcess ---------------------------------------------------------------------------

ServerProcess::ServerProcess(Options options) : options_(std::move(options)) {}

ServerProcess::~ServerProcess() { Kill9(); }

std::string ServerProcess::log_path(int start) const {
  return options_.data_dir + "/server-" + std::to_string(start) + ".log";
}

Status ServerProcess::Start(int timeout_ms) {
  if (pid_ > 0) return Error{Errc::kInvalidArgument, "server already running"};
  ++starts_;
  std::string port_file = options_.data_dir + "/port";
  ::unlink(port_file.c_str());
  std::vector<std::string> args{
      options_.binary, "serve",       "--data-dir",           options_.data_dir, "--listen",
      "127.0.0.1:0",   "--workflows", options_.workflows_dir, "--port-file",     port_file};
  args.insert(args.end(), options_.extra_args.begin(), options_.extra_args.end());
  std::string log = current_log();
  exec_time_ = SteadyClock::now();
  pid_t pid = Spawn(args, log);
  if (pid < 0) return Error{Errc::kInternal, std::string("fork: ") + std::strerror(errno)};
  pid_ = pid;
  g_server_pid = pid;
  auto deadline = exec_time_ + std::chrono::milliseconds(timeout_ms);
  while (SteadyClock::now() < deadline) {
    if (int port = ReadPortFile(port_file); port > 0) {
      port_ = port;
      listening_time_ = SteadyClock::now();
      return OkStatus();
    }
    if (!Alive()) {
      std::ifstream err(log);
      std::stringstream text;
      text << err.rdbuf();
      return Error{Errc::kUnavailable,
                   "keel serve " + exit_text_ + " during start-up; stderr: " + text.str()};
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  Kill9();
  return Error{Errc::kTimeout, "keel serve did not write its port file within " +
                                   std::to_string(timeout_ms) + " ms"};
}

bool ServerProcess::Alive() {
  if (pid_ <= 0) return false;
  int status = 0;
  if (waitpid(pid_, &status, WNOHANG) != pid_) return true;
  exit_text_ = WIFEXITED(status) ? "exited with status " + std::to_string(WEXITSTATUS(status))
                                 : "was killed by signal " + std::to_string(WTERMSIG(status));
  pid_ = -1;
  g_server_pid = -1;
  return false;
}

void ServerProcess::Kill9() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGKILL);
  int status = 0;
  waitpid(pid_, &status, 0);
  exit_text_ = "was killed by signal 9";
  pid_ = -1;
  g_server_pid = -1;
}

bool ServerProcess::Terminate(int timeout_ms) {
  if (pid_ <= 0) return false;
  ::kill(pid_, SIGTERM);
  auto deadline = SteadyClock::now() + std::chrono::milliseconds(timeout_ms);
  while (SteadyClock::now() < deadline) {
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      g_server_pid = -1;
      return WIFEXITED(status) && WEXITSTATUS(status) == 0;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  Kill9();
  return false;
}

// --- SimChild --------------------------------------------------------------------------------

SimChild::SimChild(std::string binary, std::string dir, std::vector<std::string> extra_args)
    : binary_(std::move(binary)), dir_(std::move(dir)), extra_args_(std::move(extra_args)) {}

SimChild::~SimChild() { Kill9(); }

Status SimChild::Start(int timeout_ms) {
  if (pid_ > 0) return Error{Errc::kInvalidArgument, "simulator already running"};
  std::string port_file = dir_ + "/sim.port";
  ::unlink(port_file.c_str());
  std::vector<std::string> args{binary_, "--listen", "127.0.0.1:0", "--port-file", port_file};
  args.insert(args.end(), extra_args_.begin(), extra_args_.end());
  pid_t pid = Spawn(args, log_path());
  if (pid < 0) return Error{Errc::kInternal, std::string("fork: ") + std::strerror(errno)};
  pid_ = pid;
  g_sim_pid = pid;
  auto deadline = SteadyClock::now() + std::chrono::milliseconds(timeout_ms);
  while (SteadyClock::now() < deadline) {
    if (int port = ReadPortFile(port_file); port > 0) {
      port_ = port;
      return OkStatus();
    }
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      g_sim_pid = -1;
      std::ifstream err(log_path());
      std::stringstream text;
      text << err.rdbuf();
      return Error{Errc::kUnavailable,
                   "keel-llm-sim exited during start-up; stderr: " + text.str()};
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  Kill9();
  return Error{Errc::kTimeout, "keel-llm-sim did not write its port file within " +
                                   std::to_string(timeout_ms) + " ms"};
}

void SimChild::Kill9() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGKILL);
  int status = 0;
  waitpid(pid_, &status, 0);
  pid_ = -1;
  g_sim_pid = -1;
}

void KillSim() {
  pid_t pid = g_sim_pid.load();
  if (pid > 0) ::kill(pid, SIGKILL);
}

// --- watchdog --------------------------------------------------------------------------------

void ArmWatchdog(const std::string& workload, double seconds) {
  std::thread([workload, seconds] {
    std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
    pid_t pid = g_server_pid.load();
    if (pid > 0) ::kill(pid, SIGKILL);
    KillSim();
    std::printf(
        "{\"workload\":\"%s\",\"system\":\"keel\",\"error\":\"timeout: the workload did "
        "not finish within %.0f s (server killed)\"}\n",
        workload.c_str(), seconds);
    std::fflush(stdout);
    std::fprintf(stderr, "keel_bench %s: TIMEOUT after %.0f s\n", workload.c_str(), seconds);
    _exit(3);
  }).detach();
}

// --- /proc -----------------------------------------------------------------------------------

double CpuSeconds(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string s((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  auto close = s.rfind(')');
  if (close == std::string::npos) return -1;
  std::istringstream rest(s.substr(close + 2));
  std::vector<std::string> f;
  std::string tok;
  while (rest >> tok && f.size() < 13) f.push_back(tok);
  if (f.size() < 13) return -1;
  // After "pid (comm) ": state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt
  // utime stime.
  double ticks = std::strtod(f[11].c_str(), nullptr) + std::strtod(f[12].c_str(), nullptr);
  return ticks / static_cast<double>(sysconf(_SC_CLK_TCK));
}

int64_t StatusKb(pid_t pid, const char* key) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  size_t klen = std::strlen(key);
  while (std::getline(in, line)) {
    if (line.compare(0, klen, key) == 0 && line.size() > klen && line[klen] == ':') {
      return std::strtoll(line.c_str() + klen + 1, nullptr, 10);
    }
  }
  return 0;
}

double MachineBusyCpuSeconds() {
  std::ifstream in("/proc/stat");
  std::string cpu;
  double user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0, steal = 0;
  if (!(in >> cpu >> user >> nice >> system >> idle >> iowait >> irq >> softirq >> steal))
    return -1;
  return (user + nice + system + irq + softirq + steal) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

double SelfCpuSeconds() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
         static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

int64_t FileBytes(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return 0;
  return static_cast<int64_t>(st.st_size);
}

ProcMonitor::ProcMonitor(pid_t pid, int interval_ms) : pid_(pid), interval_ms_(interval_ms) {}

ProcMonitor::~ProcMonitor() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
}

void ProcMonitor::Start() {
  {
    std::ofstream clear("/proc/" + std::to_string(pid_) + "/clear_refs");
    clear << "5";  // resets VmHWM to the current RSS
  }
  cpu0_ = CpuSeconds(pid_);
  t0_ = SteadyClock::now();
  peak_kb_ = StatusKb(pid_, "VmRSS");
  stop_ = false;
  thread_ = std::thread([this] {
    while (!stop_) {
      int64_t kb = StatusKb(pid_, "VmRSS");
      int64_t seen = peak_kb_.load();
      while (kb > seen && !peak_kb_.compare_exchange_weak(seen, kb)) {
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(interval_ms_));
    }
  });
}

ProcMonitor::Window ProcMonitor::Stop() {
  Window w;
  w.wall_s = SecondsSince(t0_);
  w.cpu_s = CpuSeconds(pid_) - cpu0_;
  stop_ = true;
  if (thread_.joinable()) thread_.join();
  int64_t rss = StatusKb(pid_, "VmRSS");
  int64_t peak = std::max({peak_kb_.load(), rss, StatusKb(pid_, "VmHWM")});
  w.peak_rss_mb = static_cast<double>(peak) / 1024.0;
  w.last_rss_mb = static_cast<double>(rss) / 1024.0;
  return w;
}

// --- metrics ---------------------------------------------------------------------------------

MetricMap ParseMetrics(const std::string& text) {
  MetricMap m;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    // The value follows the last space; label values here never contain one.
    auto sp = line.rfind(' ');
    if (sp == std::string::npos) continue;
    m[line.substr(0, sp)] = std::strtod(line.c_str() + sp + 1, nullptr);
  }
  return m;
}

Result<MetricMap> ScrapeMetrics(int port) {
  client::HttpClient c("127.0.0.1", port, 30'000);
  auto r = c.Get("/metrics");
  if (!r) return r.error();
  if (r->status != 200) {
    return Error{Errc::kInternal, "GET /metrics: HTTP " + std::to_string(r->status)};
  }
  return ParseMetrics(r->body);
}

double MetricOr(const MetricMap& m, const std::string& series, double fallback) {
  auto it = m.find(series);
  return it == m.end() ? fallback : it->second;
}

namespace {

// (upper bound, cumulative count delta) of a histogram's buckets, ascending.
std::vector<std::pair<double, double>> BucketDeltas(const MetricMap& before, const MetricMap& after,
                                                    const std::string& name) {
  std::vector<std::pair<double, double>> out;
  std::string prefix = name + "_bucket{le=\"";
  for (auto it = after.lower_bound(prefix); it != after.end(); ++it) {
    if (it->first.compare(0, prefix.size(), prefix) != 0) break;
    std::string le = it->first.substr(prefix.size());
    le = le.substr(0, le.find('"'));
    double bound = le == "+Inf" ? INFINITY : std::strtod(le.c_str(), nullptr);
    out.emplace_back(bound, it->second - MetricOr(before, it->first));
  }
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace

double HistogramQuantile(const MetricMap& before, const MetricMap& after, const std::string& name,
                         double q) {
  auto b = BucketDeltas(before, after, name);
  if (b.empty() || b.back().second <= 0) return -1;
  double total = b.back().second;
  double rank = q * total;
  double prev_bound = 0, prev_count = 0;
  for (const auto& [bound, count] : b) {
    if (count >= rank) {
      if (std::isinf(bound)) return prev_bound;
      double in_bucket = count - prev_count;
      if (in_bucket <= 0) return bound;
      return prev_bound + (bound - prev_bound) * (rank - prev_count) / in_bucket;
    }
    prev_bound = bound;
    prev_count = count;
  }
  return prev_bound;
}

double HistogramCount(const MetricMap& before, const MetricMap& after, const std::string& name) {
  return MetricOr(after, name + "_count") - MetricOr(before, name + "_count");
}

double HistogramMean(const MetricMap& before, const MetricMap& after, const std::string& name) {
  double n = HistogramCount(before, after, name);
  if (n <= 0) return -1;
  return (MetricOr(after, name + "_sum") - MetricOr(before, name + "_sum")) / n;
}

// --- LogTail ---------------------------------------------------------------------------------

int64_t LogTail::Poll(const std::function<void(const std::string& line)>& on_line) {
  int fd = ::open(path_.c_str(), O_RDONLY);
  if (fd < 0) return 0;
  int64_t lines = 0;
  char buf[1 << 16];
  for (;;) {
    ssize_t n = ::pread(fd, buf, sizeof(buf), offset_);
    if (n <= 0) break;
    offset_ += n;
    partial_.append(buf, static_cast<size_t>(n));
    size_t start = 0;
    for (size_t nl; (nl = partial_.find('\n', start)) != std::string::npos; start = nl + 1) {
      on_line(partial_.substr(start, nl - start));
      ++lines;
    }
    partial_.erase(0, start);
  }
  ::close(fd);
  return lines;
}

// --- misc ------------------------------------------------------------------------------------

void ClosedLoop(int n, int threads, const std::function<void(int thread, int i)>& body) {
  std::atomic<int> next{0};
  std::vector<std::thread> pool;
  threads = std::max(1, std::min(threads, n));
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&, t] {
      for (int i; (i = next.fetch_add(1)) < n;) body(t, i);
    });
  }
  for (auto& th : pool) th.join();
}

std::string MakeTempDir(const std::string& base, const std::string& prefix) {
  std::string dir = base;
  if (dir.empty()) {
    const char* t = std::getenv("TMPDIR");
    dir = t && *t ? t : "/tmp";
  }
  std::string tmpl = dir + "/" + prefix + "XXXXXX";
  char* made = mkdtemp(tmpl.data());
  return made ? std::string(made) : std::string();
}

}  // namespace keel::bench
