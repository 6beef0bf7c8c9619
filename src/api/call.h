#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "api/router.h"

namespace keel::api {

// A fully read HTTP request, with its route already matched.
struct Request {
  std::string method;
  std::string path;  // raw path, without the query string
  QueryParams query;
  RouteMatch match;
  std::string body;
  std::string last_event_id;  // the Last-Event-ID header; empty when absent
};

struct Response {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
  bool close = false;  // close the connection after writing
  // Not sent: what the 5xx warning line says about the failure.
  std::string log_code;
  std::string log_message;
};

// One request being answered: the handler-facing side of an HTTP connection, without Beast.
//
// Handlers and engine callbacks hold it by shared_ptr. It owns no socket or timer (those belong
// to the connection, which the server owns), so an engine callback that outlives the server
// may still hold a Call safely: every operation then does nothing.
//
// Reply() and Post() may be called from any thread. The other methods must be called on the
// connection's strand, i.e. from the handler itself or from a function given to Post() or to
// one of the callbacks below; all callbacks run on that strand.
class Call {
 public:
  virtual ~Call() = default;

  virtual const Request& request() const = 0;

  // Answers the request. Only the first Reply (or BeginStream) counts.
  virtual void Reply(Response r) = 0;
  // Runs `fn` on the connection's strand, even if the connection has closed meanwhile (check
  // Closed()); dropped only once the server is stopping.
  virtual void Post(std::function<void()> fn) = 0;

  // True once this call is over: answered and written, or its connection closed.
  virtual bool Closed() const = 0;

  // One timer per call: `fn(true)` after `ms`, or `fn(false)` if it is cancelled, replaced by
  // another StartTimer, or the call ends (reply written, connection closed) first. `fn` runs
  // exactly once.
  virtual void StartTimer(int64_t ms, std::function<void(bool fired)> fn) = 0;
  virtual void CancelTimer() = 0;

  // `fn` runs once if the connection closes before the call ends (client gone, write error,
  // server stopping).
  virtual void OnAbort(std::function<void()> fn) = 0;

  // Streaming answers (server-sent events): writes `head` (status and headers; the body is
  // sent with chunked transfer encoding), then each WriteStream chunk. One write at a time:
  // wait for `done` before the next. `done(false)` means the connection is gone.
  virtual void BeginStream(Response head, std::function<void(bool ok)> done) = 0;
  virtual void WriteStream(std::string data, std::function<void(bool ok)> done) = 0;
  // Ends the body and closes the connection.
  virtual void EndStream() = 0;
};

}  // namespace keel::api
