#pragma once

#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>
#include <cstddef>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace keel::sim {

using Request = boost::beast::http::request<boost::beast::http::string_body>;
using Headers = std::vector<std::pair<std::string, std::string>>;

inline constexpr size_t kMaxRequestBytes = 4 << 20;

// One accepted TCP connection, used by one thread with blocking I/O. Responses are written as
// raw bytes rather than through Beast's serializer because several faults must send HTTP that
// is wrong on purpose (a Content-Length the body does not reach, a stream that never ends).
// Write errors (the client went away) are remembered, not thrown: the connection just ends.
class Conn {
 public:
  explicit Conn(boost::asio::ip::tcp::socket socket);

  int native_handle() { return socket_.native_handle(); }

  enum class ReadResult { kOk, kClosed, kTooLarge, kBadRequest };
  // Reads the next request. kTooLarge: its body exceeds kMaxRequestBytes (the body is left
  // unread, so the connection must close after the 413); `target()` names what it asked for.
  ReadResult Read(Request& out);
  const std::string& target() const { return target_; }
  // After a kTooLarge answer: reads and discards the rest of the refused body (or, when its size
  // is unknown, whatever arrives until the client pauses for `idle_ms`), so that a client still
  // sending it is not cut off with a broken pipe before it reads the 413.
  void DrainRefusedBody(int idle_ms);

  bool ok() const { return ok_; }
  void Write(std::string_view data);
  // A complete response with Content-Length.
  void Respond(int status, std::string_view content_type, std::string_view body,
               const Headers& extra, bool keep_alive);
  // The status line and headers; `content_length` < 0 means chunked.
  void WriteHead(int status, std::string_view content_type, long long content_length,
                 const Headers& extra, bool keep_alive);
  void WriteChunk(std::string_view data);
  void EndChunks();

  // Blocks until the peer closes the connection (or the server shuts it down), discarding
  // whatever arrives.
  void WaitForClose();
  // Closes with an RST instead of a FIN.
  void Reset();
  void Close();

 private:
  boost::asio::ip::tcp::socket socket_;
  boost::beast::flat_buffer buffer_;
  std::string target_;
  long long refused_body_left_ = -1;  // -1: unknown (chunked)
  bool ok_ = true;
};

std::string_view ReasonPhrase(int status);

}  // namespace keel::sim
