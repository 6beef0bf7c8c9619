#include "gateway/mcp/http_transport.h"

#include <curl/curl.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <memory>
#include <mutex>

#include "gateway/http/sse_parser.h"
#include "observability/log.h"

namespace keel::gateway::mcp {

namespace json = boost::json;

namespace {

using Clock = std::chrono::steady_clock;

constexpr size_t kMaxBodyBytes = 64 << 20;

void InitCurlOnce() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

std::string Lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return char(std::tolower(c)); });
  return out;
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() &&
         (s.back() == ' ' || s.back() == '\t' || s.back() == '\r' || s.back() == '\n')) {
    s.remove_suffix(1);
  }
  return s;
}

struct CurlSlist {
  curl_slist* list = nullptr;
  explicit CurlSlist(const std::vector<std::string>& lines) {
    for (const std::string& l : lines) list = curl_slist_append(list, l.c_str());
  }
  ~CurlSlist() { curl_slist_free_all(list); }
};

// The state one POST fills in from libcurl's callbacks.
struct Transfer {
  CURL* easy = nullptr;
  std::optional<int64_t> want_id;
  std::string content_type;  // lower-cased
  std::string session_id;
  std::string body;  // a non-SSE body
  bool decided = false;
  bool sse = false;
  bool too_big = false;
  std::string stream_error;  // the event stream could not be read
  SseParser parser;
  std::optional<json::object> response;
  std::vector<Message> server_requests;

  void OnMessage(const json::value& v) {
    Message m = Classify(v);
    if (m.kind == MessageKind::kResponse && want_id && IdNumber(m.id) == want_id) {
      response = std::move(m.body);
    } else if (m.kind == MessageKind::kRequest) {
      server_requests.push_back(std::move(m));
    }
  }
};

size_t OnHeader(char* data, size_t size, size_t n, void* user) {
  auto* t = static_cast<Transfer*>(user);
  std::string_view line(data, size * n);
  if (line.starts_with("HTTP/")) {
    // A new response begins (after a 100 Continue): forget the previous one's headers.
    t->content_type.clear();
    t->session_id.clear();
    return size * n;
  }
  size_t colon = line.find(':');
  if (colon == std::string_view::npos) return size * n;
  std::string name = Lower(Trim(line.substr(0, colon)));
  std::string_view value = Trim(line.substr(colon + 1));
  if (name == "content-type") t->content_type = Lower(value);
  if (name == "mcp-session-id") t->session_id = std::string(value);
  return size * n;
}

size_t OnBody(char* data, size_t size, size_t n, void* user) {
  auto* t = static_cast<Transfer*>(user);
  std::string_view chunk(data, size * n);
  if (!t->decided) {
    long status = 0;
    curl_easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &status);
    t->sse = status / 100 == 2 && t->content_type.starts_with("text/event-stream");
    t->decided = true;
  }
  if (t->sse) {
    Status s = t->parser.Feed(chunk, [&](const SseEvent& event) {
      boost::system::error_code ec;
      json::value v = json::parse(event.data, ec);
      // Not JSON-RPC (a keep-alive, a priming event): nothing for us.
      if (ec) return OkStatus();
      if (v.is_array()) {
        for (const json::value& m : v.as_array()) t->OnMessage(m);
      } else {
        t->OnMessage(v);
      }
      return OkStatus();
    });
    if (!s.ok()) {
      t->stream_error = s.error().message;
      return 0;  // aborts the transfer
    }
    return chunk.size();
  }
  if (t->body.size() + chunk.size() > kMaxBodyBytes) {
    t->too_big = true;
    return 0;  // aborts the transfer
  }
  t->body.append(chunk);
  return chunk.size();
}

// Lets a CancelToken listener (which may run after the call returned) wake the transfer.
struct CancelHook {
  std::mutex mu;
  CURLM* multi = nullptr;  // null once the transfer is over
  bool fired = false;
};

// What the body of an error answer says, for the message.
std::string Detail(const std::string& body) {
  boost::system::error_code ec;
  json::value v = json::parse(body, ec);
  if (!ec && v.is_object()) {
    if (const json::value* e = v.as_object().if_contains("error"); e && e->is_object()) {
      if (const json::value* m = e->as_object().if_contains("message"); m && m->is_string()) {
        return std::string(m->as_string());
      }
    }
  }
  std::string_view t = Trim(body);
  return std::string(t.substr(0, 200));
}

}  // namespace

struct HttpTransport::Exchange {
  long status = 0;
  std::string content_type;
  std::string session_id;
  std::string body;
  bool sse = false;
  std::optional<json::object> response;
};

HttpTransport::HttpTransport(std::string server, std::string url)
    : server_(std::move(server)), url_(std::move(url)) {
  InitCurlOnce();
}

HttpTransport::~HttpTransport() {
  bool end_session;
  {
    std::lock_guard l(mu_);
    end_session = !session_id_.empty() && !expired_;
  }
  if (end_session) Simple("DELETE", "", 1000);
}

bool HttpTransport::alive() const {
  std::lock_guard l(mu_);
  return !expired_;
}

void HttpTransport::Initialized(const std::string& protocol_version) {
  std::lock_guard l(mu_);
  protocol_version_ = protocol_version;
}

std::vector<std::string> HttpTransport::Headers() const {
  std::vector<std::string> h{"Content-Type: application/json",
                             "Accept: application/json, text/event-stream",
                             // No "Expect: 100-continue" round trip before larger bodies.
                             "Expect:"};
  std::lock_guard l(mu_);
  if (!session_id_.empty()) h.push_back("Mcp-Session-Id: " + session_id_);
  if (!protocol_version_.empty()) h.push_back("MCP-Protocol-Version: " + protocol_version_);
  return h;
}

Result<HttpTransport::Exchange> HttpTransport::Post(const std::string& body,
                                                    std::optional<int64_t> want_id,
                                                    int64_t timeout_ms,
                                                    const std::shared_ptr<CancelToken>& cancel) {
  if (cancel && cancel->cancelled()) return Error{Errc::kUnavailable, "cancelled"};
  Transfer t;
  t.want_id = want_id;
  CurlSlist headers(Headers());
  char errbuf[CURL_ERROR_SIZE] = {0};
  CURL* easy = curl_easy_init();
  CURLM* multi = curl_multi_init();
  if (!easy || !multi) {
    if (easy) curl_easy_cleanup(easy);
    if (multi) curl_multi_cleanup(multi);
    return Error{Errc::kUnavailable, "cannot create an HTTP transfer"};
  }
  t.easy = easy;
  curl_easy_setopt(easy, CURLOPT_URL, url_.c_str());
  curl_easy_setopt(easy, CURLOPT_POST, 1L);
  curl_easy_setopt(easy, CURLOPT_POSTFIELDS, body.data());
  curl_easy_setopt(easy, CURLOPT_POSTFIELDSIZE_LARGE, curl_off_t(body.size()));
  curl_easy_setopt(easy, CURLOPT_HTTPHEADER, headers.list);
  curl_easy_setopt(easy, CURLOPT_HEADERFUNCTION, OnHeader);
  curl_easy_setopt(easy, CURLOPT_HEADERDATA, &t);
  curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, OnBody);
  curl_easy_setopt(easy, CURLOPT_WRITEDATA, &t);
  curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, errbuf);
  curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
  if (timeout_ms > 0) {
    curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, long(timeout_ms));
    curl_easy_setopt(easy, CURLOPT_CONNECTTIMEOUT_MS, long(std::min<int64_t>(timeout_ms, 10'000)));
  }
  curl_multi_add_handle(multi, easy);

  auto hook = std::make_shared<CancelHook>();
  hook->multi = multi;
  if (cancel) {
    cancel->OnCancel([weak = std::weak_ptr<CancelHook>(hook)] {
      if (auto h = weak.lock()) {
        std::lock_guard l(h->mu);
        h->fired = true;
        if (h->multi) curl_multi_wakeup(h->multi);
      }
    });
  }

  Clock::time_point deadline = timeout_ms > 0 ? Clock::now() + std::chrono::milliseconds(timeout_ms)
                                              : Clock::time_point::max();
  bool finished = false, cancelled = false, timed_out = false;
  CURLcode code = CURLE_OK;
  while (true) {
    int running = 0;
    curl_multi_perform(multi, &running);
    // The server may need these answered before it sends our response.
    std::vector<Message> requests;
    requests.swap(t.server_requests);
    for (const Message& m : requests) Answer(m);
    if (t.response) break;
    int queued = 0;
    while (CURLMsg* msg = curl_multi_info_read(multi, &queued)) {
      if (msg->msg == CURLMSG_DONE) {
        finished = true;
        code = msg->data.result;
      }
    }
    if (finished) break;
    {
      std::lock_guard l(hook->mu);
      cancelled = hook->fired;
    }
    if (cancelled) break;
    int wait_ms = 1000;
    if (deadline != Clock::time_point::max()) {
      auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - Clock::now());
      if (left.count() <= 0) {
        timed_out = true;
        break;
      }
      wait_ms = int(std::min<int64_t>(left.count(), wait_ms));
    }
    curl_multi_poll(multi, nullptr, 0, wait_ms, nullptr);
  }
  {
    std::lock_guard l(hook->mu);
    hook->multi = nullptr;
  }
  long status = 0;
  curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
  curl_multi_remove_handle(multi, easy);
  curl_easy_cleanup(easy);
  curl_multi_cleanup(multi);

  Exchange ex;
  ex.status = status;
  ex.content_type = std::move(t.content_type);
  ex.session_id = std::move(t.session_id);
  ex.sse = t.sse;
  ex.response = std::move(t.response);
  ex.body = std::move(t.body);
  if (ex.response) return ex;
  if (cancelled) return Error{Errc::kUnavailable, "cancelled"};
  if (timed_out || code == CURLE_OPERATION_TIMEDOUT) {
    return Error{Errc::kTimeout, "no answer within " + std::to_string(timeout_ms) + " ms"};
  }
  if (!t.stream_error.empty()) {
    return Error{Errc::kUnavailable, "the event stream is unreadable: " + t.stream_error};
  }
  if (t.too_big) {
    return Error{Errc::kUnavailable,
                 "the answer is larger than " + std::to_string(kMaxBodyBytes) + " bytes"};
  }
  if (code != CURLE_OK) {
    return Error{Errc::kUnavailable,
                 "POST " + url_ + " failed: " + (errbuf[0] ? errbuf : curl_easy_strerror(code))};
  }
  return ex;
}

long HttpTransport::Simple(const char* verb, const std::string& body, int64_t timeout_ms) {
  CurlSlist headers(Headers());
  CURL* easy = curl_easy_init();
  if (!easy) return 0;
  curl_easy_setopt(easy, CURLOPT_URL, url_.c_str());
  curl_easy_setopt(easy, CURLOPT_CUSTOMREQUEST, verb);
  if (!body.empty()) {
    curl_easy_setopt(easy, CURLOPT_POSTFIELDS, body.data());
    curl_easy_setopt(easy, CURLOPT_POSTFIELDSIZE_LARGE, curl_off_t(body.size()));
  }
  curl_easy_setopt(easy, CURLOPT_HTTPHEADER, headers.list);
  curl_easy_setopt(
      easy, CURLOPT_WRITEFUNCTION,
      +[](char*, size_t size, size_t n, void*) -> size_t { return size * n; });
  curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, long(timeout_ms));
  long status = 0;
  if (curl_easy_perform(easy) == CURLE_OK) curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
  curl_easy_cleanup(easy);
  return status;
}

void HttpTransport::Answer(const Message& server_request) {
  long status = Simple("POST", AnswerServerRequest(server_request), 5'000);
  if (status / 100 != 2) {
    obs::Warn("mcp_answer_failed",
              {{"server", server_}, {"method", server_request.method}, {"status", status}});
  }
}

Result<json::object> HttpTransport::Request(std::string_view method, const json::value& params,
                                            int64_t timeout_ms,
                                            const std::shared_ptr<CancelToken>& cancel) {
  int64_t id = next_id_++;
  bool had_session;
  {
    std::lock_guard l(mu_);
    had_session = !session_id_.empty();
  }
  Result<Exchange> r = Post(RequestText(id, method, params), id, timeout_ms, cancel);
  if (!r.ok()) return r.error();
  Exchange& ex = *r;
  if (!ex.session_id.empty()) {
    std::lock_guard l(mu_);
    if (session_id_.empty()) session_id_ = ex.session_id;
  }
  if (ex.response) return std::move(*ex.response);
  if (ex.status == 404 && had_session) {
    std::lock_guard l(mu_);
    expired_ = true;
    return Error{Errc::kUnavailable, "the session expired (HTTP 404)"};
  }
  if (ex.status / 100 != 2) {
    std::string detail = Detail(ex.body);
    return Error{Errc::kUnavailable,
                 "HTTP " + std::to_string(ex.status) + (detail.empty() ? "" : ": " + detail)};
  }
  if (ex.sse) return Error{Errc::kUnavailable, "the event stream ended without the response"};
  if (ex.content_type.starts_with("application/json")) {
    boost::system::error_code ec;
    json::value v = json::parse(ex.body, ec);
    if (ec) return Error{Errc::kUnavailable, "the answer is not JSON: " + ec.message()};
    std::vector<json::value> messages;
    if (v.is_array()) {
      messages.assign(v.as_array().begin(), v.as_array().end());
    } else {
      messages.push_back(std::move(v));
    }
    for (const json::value& m : messages) {
      Message msg = Classify(m);
      if (msg.kind == MessageKind::kResponse && IdNumber(msg.id) == id) return std::move(msg.body);
    }
    return Error{Errc::kUnavailable,
                 "the answer holds no response to request " + std::to_string(id)};
  }
  return Error{Errc::kUnavailable, "unexpected answer: HTTP " + std::to_string(ex.status) +
                                       " with Content-Type '" + ex.content_type + "'"};
}

Status HttpTransport::Notify(std::string_view method, const json::value& params,
                             int64_t timeout_ms) {
  Result<Exchange> r = Post(NotificationText(method, params), std::nullopt, timeout_ms, nullptr);
  if (!r.ok()) return r.error();
  if (r->status / 100 != 2) {
    std::string detail = Detail(r->body);
    return Error{Errc::kUnavailable,
                 "HTTP " + std::to_string(r->status) + (detail.empty() ? "" : ": " + detail)};
  }
  return OkStatus();
}

}  // namespace keel::gateway::mcp
