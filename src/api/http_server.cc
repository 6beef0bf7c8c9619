// The Beast side of the HTTP API: listener, connections (sessions), limits and dispatch.
//
// Lifetimes. The server owns the io_context, the listener and, through `sessions`, every open
// connection. Handlers and engine callbacks only see a Call (SessionCall below), which holds
// the connection weakly and reaches it through a Gate: once Stop() closes the gate nothing is
// posted to the io_context any more, so an engine callback that runs after the server is gone
// touches no asio object. Asio objects (sockets, timers, strands) live only in Session, which
// is destroyed on an io thread or while the server is being destroyed, never by an engine
// thread.

#include "api/http_server.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <exception>
#include <mutex>
#include <optional>
#include <thread>
#include <unordered_map>

#include <boost/asio/dispatch.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include "api/api_metrics.h"
#include "api/call.h"
#include "api/errors.h"
#include "api/handlers.h"
#include "api/router.h"
#include "base/clock.h"
#include "observability/log.h"

namespace keel::api {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using Strand = asio::strand<asio::io_context::executor_type>;

namespace {

// An idle keep-alive connection is closed after this (nginx's default).
constexpr auto kIdleTimeout = std::chrono::seconds(75);
// Reading a request body, and writing a response.
constexpr auto kIoTimeout = std::chrono::seconds(30);
// After answering with Connection: close, how long unread input is drained so the close does
// not turn into a reset that destroys the answer before the client reads it.
constexpr auto kLingerTimeout = std::chrono::seconds(2);
constexpr uint32_t kHeaderLimit = 16 * 1024;
// How long Stop() lets connections close before stopping the io_context outright.
constexpr auto kStopGrace = std::chrono::seconds(5);
constexpr size_t kMaxPathInMessage = 200;

}  // namespace

// Named (not anonymous): HttpServer::Impl derives from ServerCore.
namespace detail {

// Closed by Stop(); held by every Call. See the file comment.
struct Gate {
  std::mutex mu;
  bool open = true;
};

class Session;

// The Call a request's handler receives. Owns no asio object (see the file comment).
class SessionCall final : public Call, public std::enable_shared_from_this<SessionCall> {
 public:
  SessionCall(Request req, std::weak_ptr<Session> session, std::shared_ptr<Gate> gate)
      : req_(std::move(req)), session_(std::move(session)), gate_(std::move(gate)) {}

  const Request& request() const override { return req_; }
  void Reply(Response r) override;
  void Post(std::function<void()> fn) override;
  bool Closed() const override;
  void StartTimer(int64_t ms, std::function<void(bool fired)> fn) override;
  void CancelTimer() override;
  void OnAbort(std::function<void()> fn) override;
  void BeginStream(Response head, std::function<void(bool ok)> done) override;
  void WriteStream(std::string data, std::function<void(bool ok)> done) override;
  void EndStream() override;

 private:
  // Runs `f(session)` on the session's strand: inline when already there (`allow_inline`),
  // else posted. Dropped once the gate is closed or the session is gone.
  template <typename F>
  void Deliver(F f, bool allow_inline);
  // For strand-only methods: the session, which is alive while its strand runs our code.
  std::shared_ptr<Session> OnStrand() const;

  const Request req_;
  const std::weak_ptr<Session> session_;
  const std::shared_ptr<Gate> gate_;
  std::atomic<bool> answered_{false};
};

// Everything the server shares with its connections.
struct ServerCore {
  ServerCore(HttpOptions o, engine::Engine& e, obs::Registry& m);
  ~ServerCore();

  Result<int> Start();
  void Stop();
  void DoAccept();
  void RunLoop();
  // False once Stop() has begun: the caller then drops the connection.
  bool AddSession(const std::shared_ptr<Session>& s);
  void RemoveSession(Session* s);
  std::string MetricsText();

  const HttpOptions opts;
  engine::Engine& engine;
  obs::Registry& registry;
  ApiMetrics metrics;
  ApiContext ctx;
  std::atomic<bool> draining{false};
  std::shared_ptr<Gate> gate = std::make_shared<Gate>();

  std::mutex hook_mu;
  std::function<std::string()> hook;

  // Reset explicitly in ~ServerCore, before the members above, so sessions it destroys can still
  // use them.
  std::unique_ptr<asio::io_context> ioc;
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work;
  std::optional<tcp::acceptor> acceptor;
  std::optional<asio::steady_timer> accept_retry;

  std::mutex sessions_mu;
  std::unordered_map<Session*, std::shared_ptr<Session>> sessions;
  bool accepting = true;  // guarded by sessions_mu

  std::mutex state_mu;
  bool started = false;
  bool stopped = false;
  std::vector<std::thread> threads;
  std::condition_variable threads_cv;
  int running_threads = 0;  // guarded by state_mu
};

}  // namespace detail

using detail::Gate;
using detail::ServerCore;
using detail::Session;
using detail::SessionCall;

namespace {

// A decision wakes its run, like a signal: work a draining node must not take on.
bool IsAdmission(RouteId id) {
  return id == RouteId::kSubmitRun || id == RouteId::kSignalRun || id == RouteId::kInterruptRun ||
         id == RouteId::kDecideApproval;
}

void InvokeHandler(RouteId id, const ApiContext& ctx, const std::shared_ptr<Call>& call) {
  switch (id) {
    case RouteId::kSubmitRun:
      return HandleSubmitRun(ctx, call);
    case RouteId::kListRuns:
      return HandleListRuns(ctx, call);
    case RouteId::kGetRun:
      return HandleGetRun(ctx, call);
    case RouteId::kGetJournal:
      return HandleGetJournal(ctx, call);
    case RouteId::kGetEvents:
      return HandleGetEvents(ctx, call);
    case RouteId::kCancelRun:
      return HandleCancelRun(ctx, call);
    case RouteId::kInterruptRun:
      return HandleInterruptRun(ctx, call);
    case RouteId::kSignalRun:
      return HandleSignalRun(ctx, call);
    case RouteId::kListApprovals:
      return HandleListApprovals(ctx, call);
    case RouteId::kGetApproval:
      return HandleGetApproval(ctx, call);
    case RouteId::kDecideApproval:
      return HandleDecideApproval(ctx, call);
    case RouteId::kListOutbox:
      return HandleListOutbox(ctx, call);
    case RouteId::kHealthz:
      return HandleHealthz(ctx, call);
    case RouteId::kReadyz:
      return HandleReadyz(ctx, call);
    case RouteId::kMetrics:
      return HandleMetrics(ctx, call);
    case RouteId::kStatus:
      return HandleStatus(ctx, call);
  }
  call->Reply(ErrorResponse(Internal("route without a handler")));
}

std::string Truncated(std::string_view s) {
  if (s.size() <= kMaxPathInMessage) return std::string(s);
  return std::string(s.substr(0, kMaxPathInMessage)) + "...";
}

bool IsQuietReadError(const beast::error_code& ec) {
  return ec == http::error::end_of_stream || ec == asio::error::eof ||
         ec == asio::error::connection_reset || ec == asio::error::operation_aborted ||
         ec == asio::error::broken_pipe || ec == beast::error::timeout ||
         ec == http::error::partial_message;
}

bool IsHttpParseError(const beast::error_code& ec) {
  return ec.category() == http::make_error_code(http::error::bad_method).category();
}

}  // namespace

namespace detail {

// One TCP connection: reads requests one at a time (HTTP/1.1 keep-alive), dispatches each to
// its handler through a SessionCall, writes the answer, then reads the next. Everything runs
// on `strand_`. Owned by the server's session table until it closes, and by pending operations.
class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(ServerCore& server, tcp::socket socket, Strand strand);
  ~Session();

  const Strand& strand() const { return strand_; }

  void Start() {
    asio::dispatch(strand_, [self = shared_from_this()] { self->DoRead(); });
  }

  // Closes the connection at once and aborts the current call. Idempotent.
  void Close() {
    if (closed_) return;
    closed_ = true;
    timer_.cancel();
    beast::error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_both, ec);
    stream_.close();
    EndStreaming();
    std::vector<std::function<void()>> fns = std::move(abort_fns_);
    abort_fns_.clear();
    current_.reset();
    for (auto& fn : fns) Safely("abort", nullptr, fn);
    RemoveFromServer();
  }

  // ---- Strand-only operations behind SessionCall. `c` names the caller: for a call that is
  // no longer current nothing is done, and callbacks are told it failed.

  bool IsCurrent(const SessionCall* c) const { return !closed_ && c && current_.get() == c; }

  void Finish(const SessionCall* c, Response r) {
    if (!IsCurrent(c) || responding_) return;
    responding_ = true;
    Observe(r);
    res_.emplace(static_cast<http::status>(r.status), 11);
    res_->set(http::field::server, "keel");
    res_->set(http::field::content_type, r.content_type);
    for (auto& [k, v] : r.headers) res_->set(k, v);
    res_->body() = std::move(r.body);
    res_->keep_alive(keep_alive_ && !r.close);
    res_->prepare_payload();
    const bool close = !res_->keep_alive();
    stream_.expires_after(kIoTimeout);
    http::async_write(stream_, *res_,
                      [self = shared_from_this(), close](beast::error_code ec, size_t) {
                        self->OnWritten(ec, close);
                      });
  }

  void StartTimer(const SessionCall* c, int64_t ms, std::function<void(bool)> fn) {
    if (!IsCurrent(c)) {
      asio::post(strand_, [self = shared_from_this(), c, fn = std::move(fn)] {
        self->Safely("timer", c, [&] { fn(false); });
      });
      return;
    }
    timer_.expires_after(std::chrono::milliseconds(std::max<int64_t>(ms, 0)));
    timer_.async_wait([self = shared_from_this(), c, fn = std::move(fn)](beast::error_code ec) {
      self->Safely("timer", c, [&] { fn(!ec); });
    });
  }

  void CancelTimer(const SessionCall* c) {
    if (IsCurrent(c)) timer_.cancel();
  }

  void AddAbort(const SessionCall* c, std::function<void()> fn) {
    if (IsCurrent(c)) {
      abort_fns_.push_back(std::move(fn));
    } else if (closed_) {
      // Registered after the connection closed: abort right away (posted, like any abort).
      asio::post(strand_, [self = shared_from_this(), fn = std::move(fn)] {
        self->Safely("abort", nullptr, fn);
      });
    }
  }

  void BeginStream(const SessionCall* c, Response head, std::function<void(bool)> done) {
    if (!IsCurrent(c) || responding_) return Fail(c, std::move(done));
    responding_ = true;
    streaming_ = true;
    server_.metrics.event_streams().Add(1);
    Observe(head);
    auto status = static_cast<http::status>(head.status);
    stream_buf_ = "HTTP/1.1 " + std::to_string(head.status) + " " +
                  std::string(http::obsolete_reason(status)) +
                  "\r\nServer: keel\r\nContent-Type: " + head.content_type + "\r\n";
    for (auto& [k, v] : head.headers) stream_buf_ += k + ": " + v + "\r\n";
    stream_buf_ += "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n";
    WriteBuf(c, std::move(done));
    WatchForHangup();
  }

  void WriteStream(const SessionCall* c, std::string data, std::function<void(bool)> done) {
    if (!IsCurrent(c) || !streaming_ || writing_) return Fail(c, std::move(done));
    if (data.empty()) {
      // An empty chunk would end the body; there is nothing to send.
      asio::post(strand_, [self = shared_from_this(), c, done = std::move(done)] {
        self->Safely("stream", c, [&] { done(true); });
      });
      return;
    }
    char size[32];
    int n = std::snprintf(size, sizeof(size), "%zx\r\n", data.size());
    stream_buf_.assign(size, static_cast<size_t>(n));
    stream_buf_ += data;
    stream_buf_ += "\r\n";
    WriteBuf(c, std::move(done));
  }

  void EndStream(const SessionCall* c) {
    if (!IsCurrent(c)) return;
    if (!streaming_ || writing_) return Close();
    stream_buf_ = "0\r\n\r\n";
    WriteBuf(c, [self = shared_from_this()](bool) {
      self->EndCall();
      self->Close();
    });
  }

  // Tells `done` the operation failed, later on the strand.
  void Fail(const SessionCall* c, std::function<void(bool)> done) {
    asio::post(strand_, [self = shared_from_this(), c, done = std::move(done)] {
      self->Safely("stream", c, [&] { done(false); });
    });
  }

  // Runs `fn` and contains what it throws: the error is logged, and the call `c` (or, with
  // nullptr, whichever call is current) answers 500, or the connection closes if an answer is
  // already under way. An exception for a call that is over is only logged.
  template <typename F>
  void Safely(const char* where, const SessionCall* c, F&& fn) {
    try {
      fn();
      return;
    } catch (const std::exception& e) {
      obs::Error("http_handler_exception", {{"where", where}, {"what", e.what()}});
    } catch (...) {
      obs::Error("http_handler_exception", {{"where", where}, {"what", "unknown exception"}});
    }
    if (closed_) return;
    if (c == nullptr) c = current_.get();
    if (c == nullptr || !IsCurrent(c)) {
      if (current_ == nullptr && !reading_) Close();  // nothing would ever run again
      return;
    }
    if (responding_) return Close();
    Finish(c, ErrorResponse(Internal("internal error")));
  }

 private:
  void DoRead() {
    if (closed_) return;
    parser_.emplace();
    parser_->body_limit(server_.opts.max_body_bytes);
    parser_->header_limit(kHeaderLimit);
    route_index_ = RouteTable().size();
    reading_ = true;
    stream_.expires_after(kIdleTimeout);
    http::async_read_header(stream_, buffer_, *parser_,
                            [self = shared_from_this()](beast::error_code ec, size_t) {
                              self->reading_ = false;
                              self->Safely("read", nullptr, [&] { self->OnHeader(ec); });
                            });
  }

  void OnHeader(beast::error_code ec) {
    if (closed_) return;
    start_us_ = SystemClock::Instance().MonoUs();
    if (!ec || ec == http::error::body_limit) {
      // Known before the body is read, so a 413 is counted under its route.
      auto [path, query] = SplitTarget(parser_->get().target());
      RouteMatch m = MatchRoute(parser_->get().method_string(), path);
      if (m.route != nullptr) route_index_ = static_cast<size_t>(m.route - RouteTable().data());
    }
    if (ec) return OnReadError(ec);
    keep_alive_ = parser_->get().keep_alive();
    if (auto len = parser_->content_length(); len && *len > server_.opts.max_body_bytes) {
      return ReplyAndClose(TooLarge());
    }
    if (parser_->is_done()) return Dispatch();
    if (beast::iequals(parser_->get()[http::field::expect], "100-continue")) {
      static const std::string kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
      stream_.expires_after(kIoTimeout);
      asio::async_write(stream_, asio::buffer(kContinue),
                        [self = shared_from_this()](beast::error_code ec, size_t) {
                          self->Safely("read", nullptr, [&] {
                            if (ec) return self->Close();
                            self->ReadBody();
                          });
                        });
      return;
    }
    ReadBody();
  }

  void ReadBody() {
    if (closed_) return;
    reading_ = true;
    stream_.expires_after(kIoTimeout);
    http::async_read(stream_, buffer_, *parser_,
                     [self = shared_from_this()](beast::error_code ec, size_t) {
                       self->reading_ = false;
                       self->Safely("read", nullptr, [&] {
                         if (self->closed_) return;
                         if (ec) return self->OnReadError(ec);
                         self->Dispatch();
                       });
                     });
  }

  ApiError TooLarge() const {
    return PayloadTooLarge("request body over " + std::to_string(server_.opts.max_body_bytes) +
                           " bytes");
  }

  void OnReadError(beast::error_code ec) {
    if (ec == http::error::body_limit) return ReplyAndClose(TooLarge());
    if (IsQuietReadError(ec)) return Close();
    if (ec == http::error::header_limit) {
      return ReplyAndClose(
          InvalidArgument("request headers over " + std::to_string(kHeaderLimit) + " bytes"));
    }
    if (IsHttpParseError(ec)) {
      return ReplyAndClose(InvalidArgument("malformed HTTP request: " + ec.message()));
    }
    Close();  // a socket error: nobody to answer
  }

  // Answers a request that could not be read properly, then closes the connection.
  void ReplyAndClose(const ApiError& e) {
    auto call = NewCall(Request{});
    Response r = ErrorResponse(e);
    r.close = true;
    Finish(call.get(), std::move(r));
  }

  std::shared_ptr<SessionCall> NewCall(Request req);

  void Dispatch() {
    auto& msg = parser_->get();
    Request req;
    req.method = std::string(msg.method_string());
    auto [path, query] = SplitTarget(msg.target());
    req.path = std::string(path);
    req.query = QueryParams::Parse(query);
    req.match = MatchRoute(req.method, req.path);
    if (auto it = msg.find("Last-Event-ID"); it != msg.end()) {
      req.last_event_id = std::string(it->value());
    }
    req.body = std::move(msg.body());
    parser_.reset();
    std::shared_ptr<SessionCall> call = NewCall(std::move(req));
    const Request& r = call->request();

    switch (r.match.kind) {
      case RouteMatch::Kind::kNotFound:
        return call->Reply(
            ErrorResponse(NotFound("no route for " + r.method + " " + Truncated(r.path))));
      case RouteMatch::Kind::kMethodNotAllowed: {
        Response res = ErrorResponse(MethodNotAllowed(r.method + " is not allowed on " +
                                                      std::string(r.match.route->path) +
                                                      "; allowed: " + r.match.allow));
        res.headers.emplace_back("Allow", r.match.allow);
        return call->Reply(std::move(res));
      }
      case RouteMatch::Kind::kFound:
        break;
    }
    if (server_.draining.load(std::memory_order_relaxed) && IsAdmission(r.match.route->id)) {
      return call->Reply(
          ErrorResponse(Unavailable("the server is draining; retry on another node")));
    }
    RouteId id = r.match.route->id;
    Safely("handler", call.get(), [&] { InvokeHandler(id, server_.ctx, call); });
  }

  void OnWritten(beast::error_code ec, bool close) {
    responding_ = false;
    if (closed_) return;
    if (ec) return Close();
    EndCall();
    if (close) return LingerClose();
    DoRead();
  }

  // The current call is over: its timer callback runs with false, its abort hooks are dropped.
  void EndCall() {
    timer_.cancel();
    current_.reset();
    abort_fns_.clear();
    responding_ = false;
  }

  void EndStreaming() {
    if (!streaming_) return;
    streaming_ = false;
    server_.metrics.event_streams().Add(-1);
  }

  void LingerClose() {
    beast::error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
    if (ec) return Close();
    stream_.expires_after(kLingerTimeout);
    Discard();
  }

  void Discard() {
    stream_.async_read_some(asio::buffer(scratch_),
                            [self = shared_from_this()](beast::error_code ec, size_t) {
                              if (ec) return self->Close();
                              self->Discard();
                            });
  }

  // A stream reads nothing more from the client, but a read that ends tells us the client
  // left, so the stream stops at once instead of at its next write.
  void WatchForHangup() {
    stream_.expires_never();
    stream_.async_read_some(asio::buffer(scratch_),
                            [self = shared_from_this()](beast::error_code ec, size_t) {
                              if (ec) return self->Close();
                              self->WatchForHangup();
                            });
  }

  void WriteBuf(const SessionCall* c, std::function<void(bool)> done) {
    writing_ = true;
    // A client that stops reading is dropped; keepalives keep a healthy stream busy.
    stream_.expires_after(std::chrono::milliseconds(server_.opts.sse_keepalive_ms) + kIoTimeout);
    asio::async_write(
        stream_, asio::buffer(stream_buf_),
        [self = shared_from_this(), c, done = std::move(done)](beast::error_code ec, size_t) {
          self->writing_ = false;
          if (ec) self->Close();
          self->Safely("stream", c, [&] { done(!ec); });
        });
  }

  void Observe(const Response& r) {
    double seconds = static_cast<double>(SystemClock::Instance().MonoUs() - start_us_) / 1e6;
    server_.metrics.Record(route_index_, r.status, seconds);
    if (r.status >= 500) {
      const auto& table = RouteTable();
      std::string_view route =
          route_index_ < table.size() ? table[route_index_].path : kUnmatchedRoute;
      obs::Warn("http_server_error", {{"route", route},
                                      {"status", r.status},
                                      {"code", r.log_code},
                                      {"message", r.log_message}});
    }
  }

  void RemoveFromServer();

  ServerCore& server_;
  Strand strand_;
  beast::tcp_stream stream_;
  asio::steady_timer timer_;  // the current call's timer
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  std::optional<http::response<http::string_body>> res_;
  std::string stream_buf_;
  std::array<char, 1024> scratch_;

  std::shared_ptr<SessionCall> current_;
  std::vector<std::function<void()>> abort_fns_;
  size_t route_index_ = 0;
  int64_t start_us_ = 0;
  bool keep_alive_ = true;
  bool closed_ = false;
  bool reading_ = false;     // a request read is in flight
  bool responding_ = false;  // an answer (response or stream head) was started
  bool streaming_ = false;
  bool writing_ = false;  // a stream write is in flight
};

Session::Session(ServerCore& server, tcp::socket socket, Strand strand)
    : server_(server), strand_(std::move(strand)), stream_(std::move(socket)), timer_(strand_) {
  server_.metrics.connections().Add(1);
}

Session::~Session() { server_.metrics.connections().Add(-1); }

std::shared_ptr<SessionCall> Session::NewCall(Request req) {
  current_ = std::make_shared<SessionCall>(std::move(req), weak_from_this(), server_.gate);
  return current_;
}

void Session::RemoveFromServer() { server_.RemoveSession(this); }

// ---- SessionCall

template <typename F>
void SessionCall::Deliver(F f, bool allow_inline) {
  std::shared_ptr<Session> s;
  {
    std::lock_guard lock(gate_->mu);
    if (!gate_->open) return;
    s = session_.lock();
    if (!s) return;
    if (!allow_inline || !s->strand().running_in_this_thread()) {
      Strand strand = s->strand();  // before `s` is moved into the handler
      asio::post(strand, [s = std::move(s), self = shared_from_this(), f = std::move(f)]() mutable {
        s->Safely("post", self.get(), [&] { f(*s, self.get()); });
      });
      return;
    }
  }
  // On the strand, hence on an io thread: the server cannot be destroyed under us.
  f(*s, this);
}

std::shared_ptr<Session> SessionCall::OnStrand() const {
  // Only called on the strand, where the server is alive; the gate is not needed.
  return session_.lock();
}

void SessionCall::Reply(Response r) {
  if (answered_.exchange(true)) return;
  Deliver([r = std::move(r)](Session& s, SessionCall* c) mutable { s.Finish(c, std::move(r)); },
          /*allow_inline=*/true);
}

void SessionCall::Post(std::function<void()> fn) {
  Deliver([fn = std::move(fn)](Session&, SessionCall*) { fn(); }, /*allow_inline=*/false);
}

bool SessionCall::Closed() const {
  auto s = OnStrand();
  return !s || !s->IsCurrent(this);
}

void SessionCall::StartTimer(int64_t ms, std::function<void(bool fired)> fn) {
  if (auto s = OnStrand()) return s->StartTimer(this, ms, std::move(fn));
  // The connection is gone; nothing is left to run `fn` on, and nobody waits for it.
}

void SessionCall::CancelTimer() {
  if (auto s = OnStrand()) s->CancelTimer(this);
}

void SessionCall::OnAbort(std::function<void()> fn) {
  if (auto s = OnStrand()) s->AddAbort(this, std::move(fn));
}

void SessionCall::BeginStream(Response head, std::function<void(bool ok)> done) {
  auto s = OnStrand();
  if (!s) return;
  if (answered_.exchange(true)) return s->Fail(this, std::move(done));
  s->BeginStream(this, std::move(head), std::move(done));
}

void SessionCall::WriteStream(std::string data, std::function<void(bool ok)> done) {
  if (auto s = OnStrand()) s->WriteStream(this, std::move(data), std::move(done));
}

void SessionCall::EndStream() {
  if (auto s = OnStrand()) s->EndStream(this);
}

}  // namespace detail

// ---- HttpServer::Impl

ServerCore::ServerCore(HttpOptions o, engine::Engine& e, obs::Registry& m)
    : opts(std::move(o)),
      engine(e),
      registry(m),
      metrics(m),
      ctx{e, opts, model::JsonLimits{opts.max_body_bytes, opts.max_json_depth},
          [this] { return draining.load(std::memory_order_relaxed); },
          [this] { return MetricsText(); }},
      ioc(std::make_unique<asio::io_context>(std::max(opts.threads, 1))) {}

ServerCore::~ServerCore() {
  Stop();
  // Asio objects go before the io_context; destroying it then destroys pending handlers and
  // with them the last sessions, while the members they use are still alive.
  work.reset();
  accept_retry.reset();
  acceptor.reset();
  sessions.clear();
  ioc.reset();
}

std::string ServerCore::MetricsText() {
  std::string out = registry.Render();
  std::function<std::string()> h;
  {
    std::lock_guard lock(hook_mu);
    h = hook;
  }
  if (!h) return out;
  std::string extra = h();
  if (extra.empty()) return out;
  if (!out.empty() && out.back() != '\n') out += '\n';
  out += extra;
  if (out.back() != '\n') out += '\n';
  return out;
}

namespace {

struct ListenAddress {
  std::string host;
  std::string port;
};

Result<ListenAddress> ParseListen(const std::string& listen) {
  size_t colon = listen.rfind(':');
  if (colon == std::string::npos) {
    return Error{Errc::kInvalidArgument, "listen '" + listen + "': expected host:port"};
  }
  ListenAddress a{listen.substr(0, colon), listen.substr(colon + 1)};
  if (a.host.size() >= 2 && a.host.front() == '[' && a.host.back() == ']') {
    a.host = a.host.substr(1, a.host.size() - 2);
  }
  if (a.host.empty()) a.host = "0.0.0.0";
  auto port = ParseNonNegativeInt(a.port);
  if (!port || *port > 65535) {
    return Error{Errc::kInvalidArgument,
                 "listen '" + listen + "': port must be an integer in 0..65535"};
  }
  return a;
}

}  // namespace

Result<int> ServerCore::Start() {
  {
    std::lock_guard lock(state_mu);
    if (stopped) return Error{Errc::kUnavailable, "HTTP server already stopped"};
    if (started) return Error{Errc::kInvalidArgument, "HTTP server already started"};
  }
  auto addr = ParseListen(opts.listen);
  if (!addr.ok()) return addr.error();

  beast::error_code ec;
  tcp::endpoint endpoint;
  auto ip = asio::ip::make_address(addr->host, ec);
  if (!ec) {
    endpoint = tcp::endpoint(ip, static_cast<unsigned short>(std::stoi(addr->port)));
  } else {
    tcp::resolver resolver(*ioc);
    auto results = resolver.resolve(addr->host, addr->port, ec);
    if (ec || results.empty()) {
      return Error{Errc::kInvalidArgument, "listen '" + opts.listen + "': cannot resolve host '" +
                                               addr->host + "'" +
                                               (ec ? ": " + ec.message() : std::string())};
    }
    endpoint = results.begin()->endpoint();
  }

  tcp::acceptor acc(*ioc);
  auto fail = [&](const char* what) -> Error {
    Errc code = ec == boost::system::errc::address_not_available ? Errc::kInvalidArgument
                                                                 : Errc::kUnavailable;
    return Error{code, "listen '" + opts.listen + "': cannot " + what + ": " + ec.message()};
  };
  acc.open(endpoint.protocol(), ec);
  if (ec) return fail("open a socket");
  acc.set_option(asio::socket_base::reuse_address(true), ec);
  if (ec) return fail("set SO_REUSEADDR");
  acc.bind(endpoint, ec);
  if (ec) return fail("bind");
  acc.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) return fail("listen");
  int port = acc.local_endpoint(ec).port();
  if (ec) return fail("read the bound port");

  std::lock_guard lock(state_mu);
  if (stopped) return Error{Errc::kUnavailable, "HTTP server already stopped"};
  started = true;
  acceptor.emplace(std::move(acc));
  accept_retry.emplace(*ioc);
  work.emplace(ioc->get_executor());
  DoAccept();
  int n = std::max(opts.threads, 1);
  running_threads = n;
  for (int i = 0; i < n; ++i) {
    threads.emplace_back([this] {
      RunLoop();
      std::lock_guard l(state_mu);
      --running_threads;
      threads_cv.notify_all();
    });
  }
  return port;
}

void ServerCore::RunLoop() {
  while (true) {
    try {
      ioc->run();
      return;
    } catch (const std::exception& e) {
      obs::Error("http_io_exception", {{"what", e.what()}});
    } catch (...) {
      obs::Error("http_io_exception", {{"what", "unknown exception"}});
    }
  }
}

void ServerCore::DoAccept() {
  auto strand = asio::make_strand(*ioc);
  acceptor->async_accept(strand, [this, strand](beast::error_code ec, tcp::socket socket) {
    if (ec == asio::error::operation_aborted || !acceptor->is_open()) return;
    if (ec) {
      // Out of file descriptors, or a connection reset before we took it: go on after a
      // short pause so a persistent error does not spin.
      obs::Warn("http_accept_failed", {{"error", ec.message()}});
      accept_retry->expires_after(std::chrono::milliseconds(50));
      accept_retry->async_wait([this](beast::error_code wec) {
        if (!wec && acceptor->is_open()) DoAccept();
      });
      return;
    }
    beast::error_code opt_ec;
    socket.set_option(tcp::no_delay(true), opt_ec);
    auto s = std::make_shared<Session>(*this, std::move(socket), strand);
    if (!AddSession(s)) return;  // stopping
    s->Start();
    DoAccept();
  });
}

bool ServerCore::AddSession(const std::shared_ptr<Session>& s) {
  std::lock_guard lock(sessions_mu);
  if (!accepting) return false;
  sessions.emplace(s.get(), s);
  return true;
}

void ServerCore::RemoveSession(Session* s) {
  std::shared_ptr<Session> keep;  // released outside the lock
  std::lock_guard lock(sessions_mu);
  auto it = sessions.find(s);
  if (it == sessions.end()) return;
  keep = std::move(it->second);
  sessions.erase(it);
}

void ServerCore::Stop() {
  {
    std::lock_guard lock(state_mu);
    if (stopped) return;
    stopped = true;
    if (!started) return;
  }
  {
    std::lock_guard lock(gate->mu);
    gate->open = false;
  }
  asio::post(*ioc, [this] {
    beast::error_code ec;
    acceptor->close(ec);
    accept_retry->cancel();
  });
  std::vector<std::shared_ptr<Session>> open;
  {
    // Every connection is either in this snapshot or refused by AddSession.
    std::lock_guard lock(sessions_mu);
    accepting = false;
    for (auto& [p, s] : sessions) open.push_back(s);
  }
  for (auto& s : open) asio::post(s->strand(), [s] { s->Close(); });
  open.clear();
  work.reset();
  {
    std::unique_lock lock(state_mu);
    if (!threads_cv.wait_for(lock, kStopGrace, [this] { return running_threads == 0; })) {
      obs::Warn("http_stop_forced", {{"running_threads", running_threads}});
      ioc->stop();
    }
  }
  for (auto& t : threads) t.join();
  threads.clear();
  std::unordered_map<Session*, std::shared_ptr<Session>> left;
  {
    std::lock_guard lock(sessions_mu);
    left.swap(sessions);
  }
}

// ---- HttpServer

struct HttpServer::Impl : ServerCore {
  using ServerCore::ServerCore;
};

HttpServer::HttpServer(HttpOptions opts, engine::Engine& engine, obs::Registry& metrics)
    : impl_(std::make_unique<Impl>(std::move(opts), engine, metrics)) {}

HttpServer::~HttpServer() { Stop(); }

Result<int> HttpServer::Start() { return impl_->Start(); }

void HttpServer::SetDraining(bool draining) { impl_->draining.store(draining); }

void HttpServer::Stop() { impl_->Stop(); }

void HttpServer::SetMetricsHook(std::function<std::string()> hook) {
  std::lock_guard lock(impl_->hook_mu);
  impl_->hook = std::move(hook);
}

const std::vector<RouteInfo>& HttpServer::Routes() {
  static const std::vector<RouteInfo> kRoutes = [] {
    std::vector<RouteInfo> out;
    for (const Route& r : RouteTable()) out.push_back({std::string(r.method), std::string(r.path)});
    return out;
  }();
  return kRoutes;
}

}  // namespace keel::api
