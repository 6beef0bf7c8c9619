#include "sim/server.h"

#include <sys/socket.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <chrono>
#include <thread>

#include "sim/conn.h"
#include "sim/router.h"

namespace keel::sim {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

struct Server::Impl {
  asio::io_context io;  // only for constructing sockets: all I/O is blocking
  tcp::acceptor acceptor{io};
};

Server::Server(Simulator& sim)
    : sim_(sim),
      impl_(std::make_unique<Impl>()),
      router_(std::make_unique<Router>(sim, [this](int64_t ms) { return Sleep(ms); })) {}

Server::~Server() { Stop(); }

Result<int> Server::Listen(const std::string& listen) {
  auto colon = listen.rfind(':');
  if (colon == std::string::npos || colon + 1 == listen.size()) {
    return Error{Errc::kInvalidArgument, "--listen " + listen + ": expected host:port"};
  }
  std::string host = listen.substr(0, colon);
  std::string port = listen.substr(colon + 1);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  if (host.empty()) host = "0.0.0.0";
  for (char c : port) {
    if (c < '0' || c > '9')
      return Error{Errc::kInvalidArgument, "--listen " + listen + ": bad port"};
  }
  if (port.size() > 5 || std::stoi(port) > 65535) {
    return Error{Errc::kInvalidArgument, "--listen " + listen + ": bad port"};
  }
  boost::system::error_code ec;
  tcp::resolver resolver(impl_->io);
  auto results =
      resolver.resolve(host, port, tcp::resolver::passive | tcp::resolver::numeric_service, ec);
  if (ec || results.empty()) {
    return Error{Errc::kInvalidArgument, "--listen " + listen + ": cannot resolve " + host};
  }
  tcp::endpoint ep = results.begin()->endpoint();
  tcp::acceptor& a = impl_->acceptor;
  a.open(ep.protocol(), ec);
  if (!ec) a.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) a.bind(ep, ec);
  if (!ec) a.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    return Error{Errc::kUnavailable, "--listen " + listen + ": cannot listen: " + ec.message()};
  }
  return static_cast<int>(a.local_endpoint().port());
}

void Server::Run() {
  while (!stopping_) {
    tcp::socket socket(impl_->io);
    boost::system::error_code ec;
    impl_->acceptor.accept(socket, ec);
    if (stopping_) break;
    if (ec) {
      // Out of descriptors or an aborted handshake: back off briefly rather than spin.
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
      continue;
    }
    {
      std::lock_guard lock(mu_);
      ++active_;
    }
    std::thread([this, s = std::move(socket)]() mutable { Serve(std::move(s)); }).detach();
  }
}

void Server::Serve(tcp::socket socket) {
  Conn conn(std::move(socket));
  int fd = conn.native_handle();
  bool registered = false;
  {
    std::lock_guard lock(mu_);
    if (!stopping_) {
      open_fds_.insert(fd);
      registered = true;
    }
  }
  Router::Next next = Router::Next::kClose;
  while (registered && !stopping_) {
    Request req;
    auto r = conn.Read(req);
    if (r == Conn::ReadResult::kClosed) break;
    if (r != Conn::ReadResult::kOk) {
      router_->RespondUnreadable(conn, r);
      break;
    }
    next = router_->Handle(conn, req);
    if (next != Router::Next::kKeepAlive || !conn.ok()) break;
  }
  {
    // Unregister before closing, so Stop never shuts down a descriptor number that has since
    // been reused.
    std::lock_guard lock(mu_);
    open_fds_.erase(fd);
  }
  if (next == Router::Next::kReset)
    conn.Reset();
  else
    conn.Close();
  std::lock_guard lock(mu_);
  --active_;
  cv_.notify_all();
}

bool Server::Sleep(int64_t ms) {
  if (ms <= 0) return !stopping_;
  std::unique_lock lock(mu_);
  cv_.wait_for(lock, std::chrono::milliseconds(ms), [this] { return stopping_.load(); });
  return !stopping_;
}

bool Server::Stop() {
  std::unique_lock lock(mu_);
  if (!stopping_.exchange(true)) {
    if (impl_->acceptor.is_open()) ::shutdown(impl_->acceptor.native_handle(), SHUT_RDWR);
    for (int fd : open_fds_) ::shutdown(fd, SHUT_RDWR);
    cv_.notify_all();
  }
  return cv_.wait_for(lock, std::chrono::seconds(5), [this] { return active_ == 0; });
}

}  // namespace keel::sim
