#include "bench/timing_proxy.h"

#include <arpa/inet.h>
#include <linux/errqueue.h>
#include <linux/net_tstamp.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <ctime>

namespace keel::bench {
namespace {

int64_t RealtimeNs() {
  timespec ts{};
  clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

void NoDelay(int fd) {
  int on = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
}

bool WriteAll(int fd, const std::string& data) {
  size_t off = 0;
  while (off < data.size()) {
    ssize_t n = ::send(fd, data.data() + off, data.size() - off, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    off += static_cast<size_t>(n);
  }
  return true;
}

// Appends what one recvmsg returns to `buf`. *rx_ns gets the kernel's receive timestamp of
// the bytes read, or the clock when there is none (counted in *fallbacks). False on EOF/error.
bool Receive(int fd, std::string& buf, int64_t* rx_ns, std::atomic<int64_t>* fallbacks) {
  char data[65536];
  alignas(cmsghdr) char control[512];
  for (;;) {
    iovec iov{data, sizeof data};
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control;
    msg.msg_controllen = sizeof control;
    ssize_t n = ::recvmsg(fd, &msg, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    buf.append(data, static_cast<size_t>(n));
    if (!rx_ns) return true;
    int64_t ts = 0;
    for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
      if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_TIMESTAMPING) {
        scm_timestamping stamps{};
        std::memcpy(&stamps, CMSG_DATA(c), sizeof stamps);
        ts = static_cast<int64_t>(stamps.ts[0].tv_sec) * 1'000'000'000 + stamps.ts[0].tv_nsec;
      }
    }
    if (ts == 0) {
      ts = RealtimeNs();
      fallbacks->fetch_add(1);
    }
    *rx_ns = ts;
    return true;
  }
}

std::string Lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char ch) { return std::tolower(ch); });
  return s;
}

// Value of header `name` (lower case) in a lower-cased head, or "".
std::string HeaderValue(const std::string& head, const std::string& name) {
  size_t at = head.find("\r\n" + name + ":");
  if (at == std::string::npos) return "";
  size_t start = at + name.size() + 3;
  size_t end = head.find("\r\n", start);
  std::string v = head.substr(start, end == std::string::npos ? std::string::npos : end - start);
  v.erase(0, v.find_first_not_of(' '));
  return v;
}

// Reads one HTTP/1.1 message with a Content-Length body (or none) from fd; `buf` carries
// bytes read ahead between calls. For a request that asks for `Expect: 100-continue`, sends
// the interim answer before reading the body. A response's interim 1xx messages are skipped.
// False on EOF, error or a message the proxy does not handle (chunked).
bool ReadMessage(int fd, std::string& buf, std::string& out, int64_t* rx_ns,
                 std::atomic<int64_t>* fallbacks, bool request) {
  for (;;) {
    size_t head_end;
    while ((head_end = buf.find("\r\n\r\n")) == std::string::npos) {
      if (!Receive(fd, buf, rx_ns, fallbacks)) return false;
    }
    std::string head = Lower(buf.substr(0, head_end + 2));
    if (!request && head.rfind("http/1.1 1", 0) == 0) {
      buf.erase(0, head_end + 4);
      continue;
    }
    if (HeaderValue(head, "transfer-encoding").find("chunked") != std::string::npos) return false;
    std::string cl = HeaderValue(head, "content-length");
    size_t body = cl.empty() ? 0 : static_cast<size_t>(std::strtoull(cl.c_str(), nullptr, 10));
    size_t total = head_end + 4 + body;
    if (request && buf.size() < total && HeaderValue(head, "expect") == "100-continue" &&
        !WriteAll(fd, "HTTP/1.1 100 Continue\r\n\r\n")) {
      return false;
    }
    while (buf.size() < total) {
      if (!Receive(fd, buf, rx_ns, fallbacks)) return false;
    }
    out = buf.substr(0, total);
    buf.erase(0, total);
    return true;
  }
}

// "<wf>:<i>" from the "g1call:<wf>:<i>:" marker in a request, or "".
std::string KeyOf(const std::string& message) {
  static const std::string kMarker = "g1call:";
  size_t at = message.find(kMarker);
  if (at == std::string::npos) return "";
  size_t start = at + kMarker.size();
  size_t end = start;
  while (end < message.size() && (std::isalnum(static_cast<unsigned char>(message[end])) ||
                                  std::strchr("_.:-", message[end]))) {
    ++end;
  }
  std::string key = message.substr(start, end - start);
  while (!key.empty() && key.back() == ':') key.pop_back();
  return key;
}

int ConnectLoopback(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    return -1;
  }
  NoDelay(fd);
  return fd;
}

}  // namespace

TimingProxy::TimingProxy(int upstream_port) : upstream_port_(upstream_port) {}

TimingProxy::~TimingProxy() { Stop(); }

Status TimingProxy::Start() {
  listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (listen_fd_ < 0) return Error{Errc::kInternal, std::string("socket: ") + std::strerror(errno)};
  int on = 1;
  setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = 0;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  if (::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::listen(listen_fd_, 512) != 0 ||
      ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    std::string why = std::strerror(errno);
    ::close(listen_fd_);
    listen_fd_ = -1;
    return Error{Errc::kInternal, "timing proxy listen: " + why};
  }
  port_ = ntohs(addr.sin_port);
  // Accepted sockets inherit this: a connection's first request may arrive before accept().
  int flags = SOF_TIMESTAMPING_RX_SOFTWARE | SOF_TIMESTAMPING_SOFTWARE;
  setsockopt(listen_fd_, SOL_SOCKET, SO_TIMESTAMPING, &flags, sizeof flags);
  acceptor_ = std::thread([this] { AcceptLoop(); });
  return OkStatus();
}

void TimingProxy::Stop() {
  if (listen_fd_ < 0) return;
  stopping_ = true;
  ::shutdown(listen_fd_, SHUT_RDWR);
  if (acceptor_.joinable()) acceptor_.join();
  ::close(listen_fd_);
  listen_fd_ = -1;
  std::vector<std::thread> workers;
  {
    std::lock_guard lock(mu_);
    for (int fd : client_fds_) {
      if (fd >= 0) ::shutdown(fd, SHUT_RDWR);
    }
    workers.swap(workers_);
  }
  for (auto& t : workers) t.join();
}

void TimingProxy::AcceptLoop() {
  while (!stopping_) {
    int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      return;  // shut down by Stop()
    }
    NoDelay(fd);
    int flags = SOF_TIMESTAMPING_RX_SOFTWARE | SOF_TIMESTAMPING_SOFTWARE;
    setsockopt(fd, SOL_SOCKET, SO_TIMESTAMPING, &flags, sizeof flags);
    std::lock_guard lock(mu_);
    client_fds_.push_back(fd);
    workers_.emplace_back([this, fd] { Serve(fd); });
  }
}

void TimingProxy::Serve(int fd) {
  std::string in, up_in, request, response;
  int upstream = -1;
  while (!stopping_) {
    int64_t in_ns = 0;
    if (!ReadMessage(fd, in, request, &in_ns, &fallback_timestamps_, true)) break;
    bool answered = false;
    // A keep-alive connection the simulator closed while idle is replaced once.
    for (int attempt = 0; attempt < 2 && !answered; ++attempt) {
      if (upstream < 0) upstream = ConnectLoopback(upstream_port_);
      if (upstream < 0) break;
      if (WriteAll(upstream, request) &&
          ReadMessage(upstream, up_in, response, nullptr, nullptr, false)) {
        answered = true;
      } else {
        ::close(upstream);
        upstream = -1;
        up_in.clear();
      }
    }
    if (!answered) {
      errors_++;
      break;
    }
    // Taken before the write, so that the write itself, and any delay of this thread in it,
    // count as Keel's time rather than the provider's: the gap errs on the long side.
    int64_t out_ns = RealtimeNs();
    if (!WriteAll(fd, response)) break;
    size_t body = request.find("\r\n\r\n");
    std::string body_text = body == std::string::npos ? "" : request.substr(body + 4);
    std::lock_guard lock(mu_);
    calls_.push_back(Call{KeyOf(body_text), in_ns, out_ns});
    last_body_ = std::move(body_text);
  }
  if (upstream >= 0) ::close(upstream);
  std::lock_guard lock(mu_);
  for (int& f : client_fds_) {
    if (f == fd) f = -1;
  }
  ::close(fd);
}

std::vector<TimingProxy::Call> TimingProxy::Take() {
  std::lock_guard lock(mu_);
  std::vector<Call> out;
  out.swap(calls_);
  return out;
}

std::string TimingProxy::LastRequestBody() const {
  std::lock_guard lock(mu_);
  return last_body_;
}

}  // namespace keel::bench
