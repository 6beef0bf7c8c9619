#include "client/http_client.h"

#include <sys/socket.h>

#include <array>
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <exception>
#include <limits>
#include <optional>
#include <utility>

#include "client/sse.h"

namespace keel::client {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using boost::system::error_code;
using Deadline = std::chrono::steady_clock::time_point;
using Headers = std::map<std::string, std::string>;

namespace {

constexpr std::string_view kUserAgent = "keel-client/0.1";
// An error body of a stream request is read for the message only; anything longer is cut.
constexpr size_t kMaxErrorBody = 64 * 1024;

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

const std::string* FindHeader(const Headers& headers, std::string_view lower_name) {
  for (const auto& [name, value] : headers) {
    if (Lower(name) == lower_name) return &value;
  }
  return nullptr;
}

// CR, LF or NUL in a request line or header would let a caller inject headers.
bool HasControlChars(std::string_view s) {
  return s.find_first_of(std::string_view("\r\n\0", 3)) != std::string_view::npos;
}

Status ValidateRequest(std::string_view method, const std::string& target, const Headers& headers) {
  if (method.empty() || method.find_first_of(" \t\r\n") != std::string_view::npos) {
    return Error{Errc::kInvalidArgument, "invalid HTTP method \"" + std::string(method) + "\""};
  }
  if (target.empty() || target.front() != '/' || HasControlChars(target) ||
      target.find(' ') != std::string::npos) {
    return Error{Errc::kInvalidArgument, "invalid request target \"" + target + "\""};
  }
  for (const auto& [name, value] : headers) {
    if (name.empty() || HasControlChars(name) || name.find(':') != std::string::npos ||
        HasControlChars(value)) {
      return Error{Errc::kInvalidArgument, "invalid header \"" + name + "\""};
    }
  }
  return OkStatus();
}

}  // namespace

struct HttpClient::Impl {
  Impl(std::string h, int p, int64_t t) : host(std::move(h)), port(p), timeout_ms(t) {}

  std::string host;
  int port;
  int64_t timeout_ms;

  asio::io_context ioc{1};
  beast::tcp_stream stream{ioc};
  beast::flat_buffer buffer;  // bytes read past the previous response stay here
  tcp::resolver::results_type endpoints;
  bool resolved = false;
  bool connected = false;
  bool reused = false;  // the current connection already carried a complete exchange
  int64_t connections_opened = 0;

  std::string BaseUrl() const {
    std::string h = host.find(':') != std::string::npos ? "[" + host + "]" : host;
    return "http://" + h + ":" + std::to_string(port);
  }

  Deadline NewDeadline() const {
    return std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  }

  // Runs one asynchronous operation to completion on our private io_context. The operations
  // are asynchronous only so that tcp_stream's expiry can bound them; the caller blocks.
  template <typename Initiate>
  error_code RunOp(Initiate&& initiate) {
    error_code result = asio::error::operation_aborted;
    initiate([&result](error_code ec, auto&&...) { result = ec; });
    ioc.restart();
    ioc.run();
    return result;
  }

  void Close() {
    error_code ignored;
    stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
    stream.socket().close(ignored);
    connected = false;
    reused = false;
    buffer.clear();
  }

  // A keep-alive connection the server closed while it sat idle reads as EOF; finding that out
  // before sending is what makes the common reconnect case safe even for POST.
  bool IdleConnectionUsable() {
    if (buffer.size() != 0) return false;  // unsolicited bytes: out of step with the server
    char c;
    ssize_t n = ::recv(stream.socket().native_handle(), &c, 1, MSG_PEEK | MSG_DONTWAIT);
    if (n >= 0) return false;  // 0: closed by the server; >0: unsolicited bytes
    return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR;
  }

  Status Connect(Deadline deadline) {
    Close();
    std::string prefix = "cannot connect to " + BaseUrl() + ": ";
    if (!resolved) {
      tcp::resolver resolver(ioc);
      error_code ec;
      auto results = resolver.resolve(host, std::to_string(port), ec);
      if (ec) return Error{Errc::kUnavailable, prefix + "cannot resolve host: " + ec.message()};
      endpoints = std::move(results);
      resolved = true;
    }
    stream.expires_at(deadline);
    error_code ec =
        RunOp([&](auto handler) { stream.async_connect(endpoints, std::move(handler)); });
    if (ec == beast::error::timeout) {
      Close();
      return Error{Errc::kTimeout,
                   prefix + "timed out after " + std::to_string(timeout_ms) + " ms"};
    }
    if (ec) {
      Close();
      if (ec == asio::error::connection_refused) {
        return Error{Errc::kUnavailable, prefix + "connection refused (is `keel serve` running?)"};
      }
      return Error{Errc::kUnavailable, prefix + ec.message()};
    }
    stream.socket().set_option(tcp::no_delay(true), ec);  // best effort
    connected = true;
    reused = false;
    ++connections_opened;
    return OkStatus();
  }

  Error TransportError(error_code ec, std::string_view method, std::string_view target) {
    std::string what = std::string(method) + " " + BaseUrl() + std::string(target);
    if (ec == beast::error::timeout) {
      return Error{Errc::kTimeout,
                   what + ": timed out after " + std::to_string(timeout_ms) + " ms"};
    }
    if (ec == http::error::end_of_stream || ec == asio::error::eof) {
      return Error{Errc::kUnavailable, what + ": the server closed the connection"};
    }
    if (ec.category() == http::make_error_code(http::error::bad_version).category()) {
      return Error{Errc::kUnavailable, what + ": malformed response: " + ec.message()};
    }
    return Error{Errc::kUnavailable, what + ": connection lost: " + ec.message()};
  }

  // Makes sure a usable connection is open. `*fresh` tells whether it was opened just now.
  Status EnsureConnected(Deadline deadline, bool* fresh) {
    if (connected && !IdleConnectionUsable()) Close();
    *fresh = !connected;
    if (connected) return OkStatus();
    return Connect(deadline);
  }

  static http::request<http::string_body> BuildRequest(std::string_view method,
                                                       const std::string& target,
                                                       const std::string& body,
                                                       const Headers& headers,
                                                       const std::string& host_header) {
    http::request<http::string_body> req;
    http::verb verb = http::string_to_verb(method);
    if (verb == http::verb::unknown) {
      req.method_string(method);
    } else {
      req.method(verb);
    }
    req.target(target);
    req.version(11);
    req.set(http::field::host, host_header);
    req.set(http::field::user_agent, kUserAgent);
    for (const auto& [name, value] : headers) req.set(name, value);
    if (!body.empty() && FindHeader(headers, "content-type") == nullptr) {
      req.set(http::field::content_type, "application/json");
    }
    req.body() = body;
    req.keep_alive(true);
    req.prepare_payload();
    return req;
  }

  std::string HostHeader() const { return BaseUrl().substr(7); }

  Result<Response> DoRequest(std::string_view method, const std::string& target,
                             const std::string& body, const Headers& headers) {
    if (Status st = ValidateRequest(method, target, headers); !st) return st.error();
    auto req = BuildRequest(method, target, body, headers, HostHeader());
    Deadline deadline = NewDeadline();
    // A second attempt only when a reused connection failed before any response byte arrived:
    // the server closed it as we sent, so it has not acted on the request.
    for (int attempt = 0;; ++attempt) {
      bool fresh = false;
      if (Status st = EnsureConnected(deadline, &fresh); !st) return st.error();
      bool retryable = false;
      Result<Response> r = Attempt(req, deadline, &retryable);
      if (r.ok() || !retryable || fresh || attempt > 0) return r;
    }
  }

  Result<Response> Attempt(const http::request<http::string_body>& req, Deadline deadline,
                           bool* retryable) {
    *retryable = false;
    stream.expires_at(deadline);
    error_code ec =
        RunOp([&](auto handler) { http::async_write(stream, req, std::move(handler)); });
    if (ec) {
      Close();
      *retryable = ec != beast::error::timeout;
      return TransportError(ec, req.method_string(), req.target());
    }
    http::response_parser<http::string_body> parser;
    parser.body_limit(std::numeric_limits<std::uint64_t>::max());
    ec = RunOp([&](auto handler) { http::async_read(stream, buffer, parser, std::move(handler)); });
    if (ec) {
      *retryable = ec != beast::error::timeout && !parser.got_some();
      Close();
      return TransportError(ec, req.method_string(), req.target());
    }
    auto& res = parser.get();
    Response out;
    out.status = static_cast<int>(res.result_int());
    for (const auto& field : res) {
      std::string name = Lower(field.name_string());
      auto [it, inserted] = out.headers.emplace(name, std::string(field.value()));
      if (!inserted) it->second += ", " + std::string(field.value());
    }
    bool keep_alive = res.keep_alive();
    out.body = std::move(res.body());
    if (keep_alive) {
      reused = true;
    } else {
      Close();
    }
    return out;
  }

  Result<std::string> DoStream(const std::string& target, const Headers& headers,
                               const SseHandler& on_event) {
    if (Status st = ValidateRequest("GET", target, headers); !st) return st.error();
    Headers all = headers;
    if (FindHeader(all, "accept") == nullptr) all["Accept"] = "text/event-stream";
    if (FindHeader(all, "cache-control") == nullptr) all["Cache-Control"] = "no-cache";
    auto req = BuildRequest("GET", target, {}, all, HostHeader());
    const std::string* last_id_header = FindHeader(headers, "last-event-id");

    // Connect, send and read the response header within one timeout, with the same single
    // retry on a stale keep-alive connection as DoRequest.
    Deadline deadline = NewDeadline();
    std::optional<http::response_parser<http::buffer_body>> parser;
    for (int attempt = 0;; ++attempt) {
      bool fresh = false;
      if (Status st = EnsureConnected(deadline, &fresh); !st) return st.error();
      stream.expires_at(deadline);
      error_code ec =
          RunOp([&](auto handler) { http::async_write(stream, req, std::move(handler)); });
      if (!ec) {
        parser.emplace();
        parser->body_limit(boost::none);
        ec = RunOp([&](auto handler) {
          http::async_read_header(stream, buffer, *parser, std::move(handler));
        });
      }
      if (!ec) break;
      bool retryable = ec != beast::error::timeout && (!parser || !parser->got_some());
      Close();
      if (!retryable || fresh || attempt > 0) return TransportError(ec, "GET", target);
    }

    std::array<char, 16 * 1024> chunk;
    int status = static_cast<int>(parser->get().result_int());
    if (status < 200 || status > 299) {
      std::string body;
      while (!parser->is_done() && body.size() < kMaxErrorBody) {
        parser->get().body().data = chunk.data();
        parser->get().body().size = chunk.size();
        stream.expires_at(deadline);
        error_code ec = RunOp([&](auto handler) {
          http::async_read_some(stream, buffer, *parser, std::move(handler));
        });
        body.append(chunk.data(), chunk.size() - parser->get().body().size);
        if (ec && ec != http::error::need_buffer) break;
      }
      if (parser->is_done() && parser->keep_alive()) {
        reused = true;
      } else {
        Close();
      }
      if (body.empty()) body = "HTTP " + std::to_string(status);
      return Error{ErrcForHttpStatus(status), std::move(body)};
    }

    SseParser sse(last_id_header != nullptr ? *last_id_header : std::string());
    bool stopped = false;
    while (!parser->is_done()) {
      parser->get().body().data = chunk.data();
      parser->get().body().size = chunk.size();
      // Between events the timeout is an idle timeout: a live stream carries keepalives.
      stream.expires_after(std::chrono::milliseconds(timeout_ms));
      error_code ec = RunOp([&](auto handler) {
        http::async_read_some(stream, buffer, *parser, std::move(handler));
      });
      if (ec == http::error::need_buffer) ec = {};
      size_t n = chunk.size() - parser->get().body().size;
      if (n > 0 && !sse.Feed(std::string_view(chunk.data(), n), on_event)) {
        stopped = true;
        break;
      }
      if (ec == http::error::end_of_stream || ec == http::error::partial_message ||
          ec == asio::error::eof) {
        break;  // the server closed the stream
      }
      if (ec) {
        Close();
        return TransportError(ec, "GET", target);
      }
    }
    if (!stopped && parser->is_done() && parser->keep_alive()) {
      reused = true;
    } else {
      Close();  // unread stream bytes would corrupt the next exchange
    }
    return sse.last_id();
  }
};

HttpClient::HttpClient(std::string host, int port, int64_t timeout_ms)
    : impl_(std::make_unique<Impl>(std::move(host), port, timeout_ms)) {}
HttpClient::~HttpClient() = default;
HttpClient::HttpClient(HttpClient&&) noexcept = default;
HttpClient& HttpClient::operator=(HttpClient&&) noexcept = default;

Result<HttpClient> HttpClient::FromUrl(const std::string& base_url, int64_t timeout_ms) {
  auto bad = [&](std::string_view why) {
    return Error{Errc::kInvalidArgument, "invalid server URL \"" + base_url + "\": " +
                                             std::string(why) + " (expected http://HOST:PORT)"};
  };
  std::string_view rest = base_url;
  if (size_t scheme = rest.find("://"); scheme != std::string_view::npos) {
    if (Lower(rest.substr(0, scheme)) != "http") return bad("only http:// is supported");
    rest.remove_prefix(scheme + 3);
  }
  while (!rest.empty() && rest.back() == '/') rest.remove_suffix(1);
  if (rest.find_first_of("/?#@ ") != std::string_view::npos) return bad("unexpected path");
  std::string_view host;
  std::string_view port_text;
  if (!rest.empty() && rest.front() == '[') {
    size_t close = rest.find(']');
    if (close == std::string_view::npos) return bad("unterminated [");
    host = rest.substr(1, close - 1);
    std::string_view after = rest.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') return bad("unexpected text after ]");
      port_text = after.substr(1);
      if (port_text.empty()) return bad("empty port");
    }
  } else {
    size_t colon = rest.rfind(':');
    host = rest.substr(0, colon);
    if (colon != std::string_view::npos) {
      port_text = rest.substr(colon + 1);
      if (port_text.empty()) return bad("empty port");
    }
    if (host.find(':') != std::string_view::npos) return bad("put an IPv6 address in [ ]");
  }
  if (host.empty()) return bad("no host");
  int port = 80;
  if (!port_text.empty()) {
    auto [ptr, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
    if (ec != std::errc() || ptr != port_text.data() + port_text.size() || port < 1 ||
        port > 65535) {
      return bad("invalid port");
    }
  }
  return HttpClient(std::string(host), port, timeout_ms);
}

std::string HttpClient::BaseUrl() const { return impl_->BaseUrl(); }
int64_t HttpClient::timeout_ms() const { return impl_->timeout_ms; }
void HttpClient::set_timeout_ms(int64_t timeout_ms) { impl_->timeout_ms = timeout_ms; }
int64_t HttpClient::connections_opened() const { return impl_->connections_opened; }

Result<Response> HttpClient::Get(const std::string& target, const Headers& headers) {
  return Request("GET", target, {}, headers);
}

Result<Response> HttpClient::Post(const std::string& target, const std::string& body,
                                  const Headers& headers) {
  return Request("POST", target, body, headers);
}

Result<Response> HttpClient::Request(std::string_view method, const std::string& target,
                                     const std::string& body, const Headers& headers) {
  try {
    return impl_->DoRequest(method, target, body, headers);
  } catch (const std::exception& e) {
    impl_->Close();
    return Error{Errc::kInternal, std::string("HTTP client: ") + e.what()};
  }
}

Result<std::string> HttpClient::Stream(const std::string& target, const Headers& headers,
                                       const SseHandler& on_event) {
  try {
    return impl_->DoStream(target, headers, on_event);
  } catch (const std::exception& e) {
    impl_->Close();
    return Error{Errc::kInternal, std::string("HTTP client: ") + e.what()};
  }
}

Errc ErrcForHttpStatus(int status) {
  switch (status) {
    case 400:
    case 413:
    case 422:
      return Errc::kInvalidArgument;
    case 404:
      return Errc::kNotFound;
    case 409:
      return Errc::kConflict;
    case 408:
    case 504:
      return Errc::kTimeout;
    case 502:
    case 503:
      return Errc::kUnavailable;
    case 507:
      return Errc::kStorageFull;
    default:
      return Errc::kInternal;
  }
}

std::string UrlEncode(std::string_view text) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    auto u = static_cast<unsigned char>(c);
    bool unreserved = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
    if (unreserved || c == '-' || c == '.' || c == '_' || c == '~') {
      out.push_back(c);
    } else {
      out.push_back('%');
      out.push_back(kHex[u >> 4]);
      out.push_back(kHex[u & 0xF]);
    }
  }
  return out;
}

}  // namespace keel::client
