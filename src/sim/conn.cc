#include "sim/conn.h"

#include <poll.h>
#include <sys/socket.h>

#include <algorithm>
#include <boost/asio/write.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/status.hpp>

namespace keel::sim {

namespace asio = boost::asio;
namespace http = boost::beast::http;

Conn::Conn(asio::ip::tcp::socket socket) : socket_(std::move(socket)) {
  boost::system::error_code ec;
  // Streamed events go out one small write at a time; Nagle would hold them back.
  socket_.set_option(asio::ip::tcp::no_delay(true), ec);
}

namespace {

// Whether the client sent something that is not HTTP (answered 400), as opposed to the
// connection ending (nothing to answer).
bool IsParseError(const boost::system::error_code& ec) {
  return ec.category() == http::make_error_code(http::error::bad_target).category() &&
         ec != http::error::end_of_stream && ec != http::error::partial_message;
}

}  // namespace

Conn::ReadResult Conn::Read(Request& out) {
  http::request_parser<http::string_body> parser;
  parser.header_limit(64 * 1024);
  // No limit while reading the header (Beast would refuse an oversized Content-Length as a
  // parse error); the size is checked below so the client gets a 413.
  parser.body_limit(boost::none);
  boost::system::error_code ec;
  http::read_header(socket_, buffer_, parser, ec);
  if (ec) {
    return IsParseError(ec) ? ReadResult::kBadRequest : ReadResult::kClosed;
  }
  target_ = std::string(parser.get().target());
  auto length = parser.content_length();
  if (length && *length > kMaxRequestBytes) {
    refused_body_left_ = static_cast<long long>(*length) - static_cast<long long>(buffer_.size());
    return ReadResult::kTooLarge;
  }
  parser.body_limit(kMaxRequestBytes);  // a chunked body
  auto expect = parser.get().find(http::field::expect);
  if (expect != parser.get().end() && boost::beast::iequals(expect->value(), "100-continue")) {
    Write("HTTP/1.1 100 Continue\r\n\r\n");
  }
  http::read(socket_, buffer_, parser, ec);
  if (ec == http::error::body_limit) {
    refused_body_left_ = -1;
    return ReadResult::kTooLarge;
  }
  if (ec) {
    return IsParseError(ec) ? ReadResult::kBadRequest : ReadResult::kClosed;
  }
  out = parser.release();
  return ReadResult::kOk;
}

void Conn::Write(std::string_view data) {
  if (!ok_) return;
  boost::system::error_code ec;
  asio::write(socket_, asio::buffer(data.data(), data.size()), ec);
  if (ec) ok_ = false;
}

std::string_view ReasonPhrase(int status) {
  if (status == 529) return "Site Overloaded";
  auto reason = http::obsolete_reason(static_cast<http::status>(status));
  if (reason.empty() || reason.front() == '<') return "Error";
  return {reason.data(), reason.size()};
}

namespace {

std::string Head(int status, std::string_view content_type, long long content_length,
                 const Headers& extra, bool keep_alive) {
  std::string head;
  head.reserve(256);
  head += "HTTP/1.1 ";
  head += std::to_string(status);
  head += ' ';
  head += ReasonPhrase(status);
  head += "\r\nContent-Type: ";
  head += content_type;
  if (content_length >= 0) {
    head += "\r\nContent-Length: ";
    head += std::to_string(content_length);
  } else {
    head += "\r\nTransfer-Encoding: chunked";
  }
  for (const auto& [name, value] : extra) {
    head += "\r\n";
    head += name;
    head += ": ";
    head += value;
  }
  head += keep_alive ? "\r\nConnection: keep-alive\r\n\r\n" : "\r\nConnection: close\r\n\r\n";
  return head;
}

}  // namespace

void Conn::WriteHead(int status, std::string_view content_type, long long content_length,
                     const Headers& extra, bool keep_alive) {
  Write(Head(status, content_type, content_length, extra, keep_alive));
}

void Conn::Respond(int status, std::string_view content_type, std::string_view body,
                   const Headers& extra, bool keep_alive) {
  std::string out =
      Head(status, content_type, static_cast<long long>(body.size()), extra, keep_alive);
  out += body;  // one write: head and body leave in the same segment
  Write(out);
}

void Conn::WriteChunk(std::string_view data) {
  if (data.empty()) return;  // an empty chunk would end the body
  char size[32];
  int n = std::snprintf(size, sizeof size, "%zx\r\n", data.size());
  std::string chunk;
  chunk.reserve(static_cast<size_t>(n) + data.size() + 2);
  chunk.append(size, static_cast<size_t>(n));
  chunk.append(data);
  chunk.append("\r\n");
  Write(chunk);
}

void Conn::EndChunks() { Write("0\r\n\r\n"); }

void Conn::DrainRefusedBody(int idle_ms) {
  constexpr long long kMaxDrain = 64LL << 20;
  long long left = refused_body_left_ < 0 ? kMaxDrain : refused_body_left_;
  int fd = socket_.native_handle();
  char buf[16384];
  while (left > 0) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, idle_ms) <= 0) return;
    ssize_t n = ::recv(fd, buf, static_cast<size_t>(std::min<long long>(left, sizeof buf)), 0);
    if (n <= 0) return;
    left -= n;
  }
}

void Conn::WaitForClose() {
  char buf[4096];
  boost::system::error_code ec;
  while (!ec) socket_.read_some(asio::buffer(buf), ec);
}

void Conn::Reset() {
  boost::system::error_code ec;
  socket_.set_option(asio::socket_base::linger(true, 0), ec);
  socket_.close(ec);
}

void Conn::Close() {
  boost::system::error_code ec;
  socket_.shutdown(asio::ip::tcp::socket::shutdown_send, ec);
  socket_.close(ec);
}

}  // namespace keel::sim
