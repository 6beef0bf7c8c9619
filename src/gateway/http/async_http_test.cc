#include "gateway/http/async_http.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

namespace keel::gateway {
namespace {

using namespace std::chrono_literals;

// A proxy configured on the machine must not intercept loopback test traffic.
const bool kNoProxy = [] {
  setenv("no_proxy", "127.0.0.1,localhost", 1);
  setenv("NO_PROXY", "127.0.0.1,localhost", 1);
  return true;
}();

struct Request {
  std::string method;
  std::string path;
  std::map<std::string, std::string> headers;  // names lower-cased
  std::string body;
};

// A tiny HTTP/1.1 server on 127.0.0.1, one thread per connection, with keep-alive. Paths:
//   /echo          200 JSON naming the method, the X-Test header and the body length
//   /status/<n>    status n with a JSON error body
//   /sse           200 chunked SSE stream: five events 50 ms apart
//   /stall         200 chunked: two chunks, then silence until the server stops
//   /reset         headers and part of the body, then a TCP reset (SO_LINGER 0)
//   /blackhole     reads the request and never answers
class TestServer {
 public:
  TestServer() {
    listen_fd_ = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    EXPECT_EQ(bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    EXPECT_EQ(listen(listen_fd_, 256), 0);
    socklen_t len = sizeof addr;
    getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    accept_thread_ = std::thread([this] { AcceptLoop(); });
  }

  ~TestServer() {
    {
      std::lock_guard lock(mu_);
      stopping_ = true;
    }
    cv_.notify_all();
    shutdown(listen_fd_, SHUT_RDWR);
    accept_thread_.join();
    close(listen_fd_);
    {
      std::lock_guard lock(mu_);
      for (int fd : conns_) shutdown(fd, SHUT_RDWR);
    }
    for (auto& t : threads_) t.join();
  }

  std::string Url(const std::string& path) const {
    return "http://127.0.0.1:" + std::to_string(port_) + path;
  }
  int accepted() const { return accepted_.load(); }

 private:
  void AcceptLoop() {
    for (;;) {
      int fd = accept(listen_fd_, nullptr, nullptr);
      if (fd < 0) {
        std::lock_guard lock(mu_);
        if (stopping_) return;
        continue;
      }
      ++accepted_;
      std::lock_guard lock(mu_);
      conns_.insert(fd);
      threads_.emplace_back([this, fd] { Serve(fd); });
    }
  }

  void Serve(int fd) {
    std::string buf;
    Request req;
    while (ReadRequest(fd, buf, &req) && Handle(fd, req)) {
    }
    std::lock_guard lock(mu_);
    conns_.erase(fd);
    close(fd);
  }

  static bool ReadRequest(int fd, std::string& buf, Request* req) {
    size_t end;
    while ((end = buf.find("\r\n\r\n")) == std::string::npos) {
      if (!ReadMore(fd, buf)) return false;
    }
    std::string head = buf.substr(0, end);
    buf.erase(0, end + 4);
    *req = Request{};
    size_t line_end = head.find("\r\n");
    std::string first = head.substr(0, line_end);
    size_t sp1 = first.find(' ');
    size_t sp2 = first.find(' ', sp1 + 1);
    req->method = first.substr(0, sp1);
    req->path = first.substr(sp1 + 1, sp2 - sp1 - 1);
    size_t pos = line_end == std::string::npos ? head.size() : line_end + 2;
    while (pos < head.size()) {
      size_t next = head.find("\r\n", pos);
      if (next == std::string::npos) next = head.size();
      std::string line = head.substr(pos, next - pos);
      size_t colon = line.find(':');
      if (colon != std::string::npos) {
        std::string name = line.substr(0, colon);
        for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        size_t v = line.find_first_not_of(' ', colon + 1);
        req->headers[name] = v == std::string::npos ? "" : line.substr(v);
      }
      pos = next + 2;
    }
    size_t length = 0;
    if (auto it = req->headers.find("content-length"); it != req->headers.end()) {
      length = std::stoul(it->second);
    }
    while (buf.size() < length) {
      if (!ReadMore(fd, buf)) return false;
    }
    req->body = buf.substr(0, length);
    buf.erase(0, length);
    return true;
  }

  static bool ReadMore(int fd, std::string& buf) {
    char tmp[4096];
    ssize_t n = recv(fd, tmp, sizeof tmp, 0);
    if (n <= 0) return false;
    buf.append(tmp, static_cast<size_t>(n));
    return true;
  }

  static bool Write(int fd, const std::string& s) {
    size_t off = 0;
    while (off < s.size()) {
      ssize_t n = send(fd, s.data() + off, s.size() - off, MSG_NOSIGNAL);
      if (n <= 0) return false;
      off += static_cast<size_t>(n);
    }
    return true;
  }

  static std::string Chunk(const std::string& s) {
    char size[32];
    snprintf(size, sizeof size, "%zx\r\n", s.size());
    return size + s + "\r\n";
  }

  // Returns when the server stops or `d` passes; true when stopping.
  bool WaitStop(std::chrono::milliseconds d) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, d, [&] { return stopping_; });
  }

  bool Handle(int fd, const Request& req) {
    if (req.path == "/echo") {
      std::string x_test = req.headers.count("x-test") ? req.headers.at("x-test") : "";
      std::string body = "{\"method\":\"" + req.method + "\",\"x_test\":\"" + x_test +
                         "\",\"body_length\":" + std::to_string(req.body.size()) + "}";
      return Write(fd,
                   "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nX-Reply: Yes\r\n"
                   "Content-Length: " +
                       std::to_string(body.size()) + "\r\n\r\n" + body);
    }
    if (req.path.starts_with("/status/")) {
      std::string code = req.path.substr(8);
      std::string body = "{\"error\":{\"message\":\"boom " + code + "\"}}";
      return Write(fd, "HTTP/1.1 " + code + " Failed\r\nContent-Length: " +
                           std::to_string(body.size()) + "\r\n\r\n" + body);
    }
    if (req.path == "/sse") {
      if (!Write(fd,
                 "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
                 "Transfer-Encoding: chunked\r\n\r\n")) {
        return false;
      }
      for (int i = 0; i < 5; ++i) {
        if (WaitStop(50ms)) return false;
        if (!Write(fd, Chunk("data: {\"n\":" + std::to_string(i) + "}\n\n"))) return false;
      }
      return Write(fd, "0\r\n\r\n");
    }
    if (req.path == "/stall") {
      Write(fd, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + Chunk("first") +
                    Chunk("second"));
      WaitStop(60s);
      return false;
    }
    if (req.path == "/reset") {
      Write(fd, "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\npartial...");
      // Give the client time to read what was sent, so it sees a reset mid-body.
      WaitStop(50ms);
      linger lg{1, 0};
      setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
      return false;  // Serve closes the socket: with linger 0 that sends RST
    }
    if (req.path == "/blackhole") {
      WaitStop(60s);
      return false;
    }
    return Write(fd, "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n");
  }

  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<int> accepted_{0};
  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  std::set<int> conns_;
  std::thread accept_thread_;
  std::vector<std::thread> threads_;
};

// Collects one transfer's callbacks.
struct Waiter {
  std::mutex mu;
  std::condition_variable cv;
  std::optional<HttpResult> result;
  int done_calls = 0;
  std::vector<std::string> pieces;
  bool first_piece = false;

  AsyncHttpClient::DoneFn Done() {
    return [this](HttpResult r) {
      std::lock_guard lock(mu);
      ++done_calls;
      result = std::move(r);
      cv.notify_all();
    };
  }
  AsyncHttpClient::DataFn Data() {
    return [this](std::string_view chunk) {
      std::lock_guard lock(mu);
      pieces.emplace_back(chunk);
      first_piece = true;
      cv.notify_all();
    };
  }
  // Waits (generously) for done; a failure here means done was never called.
  HttpResult Wait() {
    std::unique_lock lock(mu);
    bool got = cv.wait_for(lock, 20s, [&] { return result.has_value(); });
    EXPECT_TRUE(got) << "done was not called";
    return got ? *result : HttpResult{TransportError::kOther, "no result", {}, 0};
  }
  bool WaitFirstPiece() {
    std::unique_lock lock(mu);
    return cv.wait_for(lock, 20s, [&] { return first_piece; });
  }
  std::string Joined() {
    std::lock_guard lock(mu);
    std::string s;
    for (auto& p : pieces) s += p;
    return s;
  }
};

HttpRequest Post(const std::string& url, std::string body = "{}") {
  HttpRequest r;
  r.url = url;
  r.body = std::move(body);
  r.headers = {{"Content-Type", "application/json"}, {"X-Test", "abc"}};
  r.timeout_ms = 20'000;
  return r;
}

// A port that refuses connections: bound, never listening.
struct RefusingPort {
  RefusingPort() {
    fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
    socklen_t len = sizeof addr;
    getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
    port = ntohs(addr.sin_port);
  }
  ~RefusingPort() { close(fd); }
  int fd = -1;
  int port = 0;
};

TEST(AsyncHttpTest, PostRoundTripCarriesHeadersStatusAndBody) {
  TestServer server;
  Waiter w;
  AsyncHttpClient client;
  client.Send(Post(server.Url("/echo"), "0123456789"), nullptr, nullptr, w.Done());
  HttpResult r = w.Wait();
  EXPECT_EQ(r.error, TransportError::kNone) << r.error_message;
  EXPECT_EQ(r.response.status, 200);
  EXPECT_EQ(r.response.body, R"({"method":"POST","x_test":"abc","body_length":10})");
  EXPECT_EQ(r.response.Header("x-reply"), "Yes");
  EXPECT_EQ(r.response.Header("content-type"), "application/json");
  EXPECT_EQ(r.response.Header("missing"), "");
  EXPECT_GE(r.latency_ms, 0);
}

TEST(AsyncHttpTest, NonSuccessBodyIsCollectedNotStreamed) {
  TestServer server;
  Waiter w;
  AsyncHttpClient client;
  client.Send(Post(server.Url("/status/503")), nullptr, w.Data(), w.Done());
  HttpResult r = w.Wait();
  EXPECT_EQ(r.error, TransportError::kNone);
  EXPECT_EQ(r.response.status, 503);
  EXPECT_EQ(r.response.body, R"({"error":{"message":"boom 503"}})");
  EXPECT_TRUE(w.pieces.empty());
}

TEST(AsyncHttpTest, StreamedPiecesConcatenateToTheWholeBody) {
  TestServer server;
  Waiter w;
  AsyncHttpClient client;
  client.Send(Post(server.Url("/sse")), nullptr, w.Data(), w.Done());
  HttpResult r = w.Wait();
  EXPECT_EQ(r.error, TransportError::kNone) << r.error_message;
  EXPECT_EQ(r.response.status, 200);
  EXPECT_EQ(r.response.body, "");
  std::string expected;
  for (int i = 0; i < 5; ++i) expected += "data: {\"n\":" + std::to_string(i) + "}\n\n";
  EXPECT_EQ(w.Joined(), expected);
  // The events are 50 ms apart: they must not all arrive in one piece at the end.
  EXPECT_GT(w.pieces.size(), 1u);
}

TEST(AsyncHttpTest, SilentResponseIsAbandonedAsStalled) {
  TestServer server;
  Waiter w;
  AsyncHttpClient client;
  HttpRequest req = Post(server.Url("/stall"));
  req.idle_timeout_ms = 300;
  client.Send(req, nullptr, w.Data(), w.Done());
  HttpResult r = w.Wait();
  EXPECT_EQ(r.error, TransportError::kStalled) << r.error_message;
  EXPECT_NE(r.error_message.find("127.0.0.1"), std::string::npos) << r.error_message;
  EXPECT_EQ(w.Joined(), "firstsecond");
}

TEST(AsyncHttpTest, WholeExchangeTimeout) {
  TestServer server;
  Waiter w;
  AsyncHttpClient client;
  HttpRequest req = Post(server.Url("/blackhole"));
  req.timeout_ms = 300;
  client.Send(req, nullptr, nullptr, w.Done());
  HttpResult r = w.Wait();
  EXPECT_EQ(r.error, TransportError::kTimeout) << r.error_message;
}

TEST(AsyncHttpTest, ResetMidResponse) {
  TestServer server;
  Waiter w;
  AsyncHttpClient client;
  client.Send(Post(server.Url("/reset")), nullptr, nullptr, w.Done());
  HttpResult r = w.Wait();
  EXPECT_EQ(r.error, TransportError::kReset) << r.error_message;
}

TEST(AsyncHttpTest, RefusedConnection) {
  RefusingPort refusing;
  Waiter w;
  AsyncHttpClient client;
  client.Send(Post("http://127.0.0.1:" + std::to_string(refusing.port) + "/x"), nullptr, nullptr,
              w.Done());
  HttpResult r = w.Wait();
  EXPECT_EQ(r.error, TransportError::kConnect) << r.error_message;
  EXPECT_NE(r.error_message.find("127.0.0.1:" + std::to_string(refusing.port)), std::string::npos)
      << r.error_message;
}

TEST(AsyncHttpTest, CancelMidStreamEndsTheTransfer) {
  TestServer server;
  Waiter w;
  AsyncHttpClient client;
  auto token = std::make_shared<CancelToken>();
  HttpRequest req = Post(server.Url("/stall"));
  req.timeout_ms = 60'000;  // far beyond Wait's bound: only the cancel can end it in time
  client.Send(req, token, w.Data(), w.Done());
  ASSERT_TRUE(w.WaitFirstPiece());
  token->Cancel();
  HttpResult r = w.Wait();
  EXPECT_EQ(r.error, TransportError::kCancelled);
  EXPECT_EQ(w.done_calls, 1);
}

TEST(AsyncHttpTest, CancelWhileWaitingForAnAnswer) {
  TestServer server;
  Waiter w;
  AsyncHttpClient client;
  auto token = std::make_shared<CancelToken>();
  HttpRequest req = Post(server.Url("/blackhole"));
  req.timeout_ms = 60'000;
  client.Send(req, token, nullptr, w.Done());
  for (int i = 0; i < 2000 && server.accepted() == 0; ++i) std::this_thread::sleep_for(5ms);
  ASSERT_EQ(server.accepted(), 1);
  token->Cancel();
  HttpResult r = w.Wait();
  EXPECT_EQ(r.error, TransportError::kCancelled);
}

TEST(AsyncHttpTest, TokenCancelledBeforeSendNeverConnects) {
  TestServer server;
  Waiter w;
  AsyncHttpClient client;
  auto token = std::make_shared<CancelToken>();
  token->Cancel();
  client.Send(Post(server.Url("/echo")), token, nullptr, w.Done());
  HttpResult r = w.Wait();
  EXPECT_EQ(r.error, TransportError::kCancelled);
  EXPECT_EQ(server.accepted(), 0);
}

TEST(AsyncHttpTest, CancelAfterCompletionChangesNothing) {
  TestServer server;
  Waiter first;
  Waiter second;
  AsyncHttpClient client;
  auto token = std::make_shared<CancelToken>();
  client.Send(Post(server.Url("/echo")), token, nullptr, first.Done());
  EXPECT_EQ(first.Wait().error, TransportError::kNone);
  token->Cancel();
  // The loop handles the cancel before (or with) the next request, so once that one is done
  // a second done call for the first would have happened.
  client.Send(Post(server.Url("/echo")), nullptr, nullptr, second.Done());
  EXPECT_EQ(second.Wait().error, TransportError::kNone);
  std::lock_guard lock(first.mu);
  EXPECT_EQ(first.done_calls, 1);
  EXPECT_EQ(first.result->error, TransportError::kNone);
}

TEST(AsyncHttpTest, HundredConcurrentRequestsAllComplete) {
  TestServer server;
  std::mutex mu;
  std::condition_variable cv;
  int ok = 0;
  int finished = 0;
  {
    AsyncHttpClient client;
    for (int i = 0; i < 100; ++i) {
      client.Send(Post(server.Url("/echo")), nullptr, nullptr, [&](HttpResult r) {
        std::lock_guard lock(mu);
        ++finished;
        if (r.error == TransportError::kNone && r.response.status == 200) ++ok;
        cv.notify_all();
      });
    }
    std::unique_lock lock(mu);
    cv.wait_for(lock, 20s, [&] { return finished == 100; });
  }
  EXPECT_EQ(finished, 100);
  EXPECT_EQ(ok, 100);
}

TEST(AsyncHttpTest, SequentialRequestsReuseOneConnection) {
  TestServer server;
  AsyncHttpClient client;
  for (int i = 0; i < 5; ++i) {
    Waiter w;
    client.Send(Post(server.Url("/echo")), nullptr, nullptr, w.Done());
    HttpResult r = w.Wait();
    ASSERT_EQ(r.error, TransportError::kNone) << r.error_message;
    ASSERT_EQ(r.response.status, 200);
  }
  EXPECT_EQ(server.accepted(), 1);
}

TEST(AsyncHttpTest, DoneMaySendAgain) {
  TestServer server;
  Waiter last;
  std::atomic<int> sent{1};
  AsyncHttpClient client;
  std::function<void(HttpResult)> chain = [&](HttpResult r) {
    EXPECT_EQ(r.error, TransportError::kNone);
    if (sent.fetch_add(1) < 3) {
      client.Send(Post(server.Url("/echo")), nullptr, nullptr, chain);
    } else {
      last.Done()(std::move(r));
    }
  };
  client.Send(Post(server.Url("/echo")), nullptr, nullptr, chain);
  EXPECT_EQ(last.Wait().error, TransportError::kNone);
  EXPECT_EQ(sent.load(), 4);
}

TEST(AsyncHttpTest, DestructorCancelsTransfersInFlight) {
  TestServer server;
  Waiter a;
  Waiter b;
  Waiter c;
  {
    AsyncHttpClient client;
    client.Send(Post(server.Url("/blackhole")), nullptr, nullptr, a.Done());
    client.Send(Post(server.Url("/stall")), nullptr, b.Data(), b.Done());
    client.Send(Post(server.Url("/blackhole")), nullptr, nullptr, c.Done());
    for (int i = 0; i < 2000 && server.accepted() < 3; ++i) std::this_thread::sleep_for(5ms);
    ASSERT_EQ(server.accepted(), 3);
  }
  // The destructor returned, so every done has run already.
  for (Waiter* w : {&a, &b, &c}) {
    std::lock_guard lock(w->mu);
    EXPECT_EQ(w->done_calls, 1);
    ASSERT_TRUE(w->result.has_value());
    EXPECT_EQ(w->result->error, TransportError::kCancelled);
  }
}

TEST(AsyncHttpTest, TransportErrorNames) {
  EXPECT_STREQ(TransportErrorName(TransportError::kStalled), "stalled");
  EXPECT_STREQ(TransportErrorName(TransportError::kCancelled), "cancelled");
  EXPECT_STREQ(TransportErrorName(TransportError::kConnect), "connect");
}

}  // namespace
}  // namespace keel::gateway
