#include "gateway/http/async_http.h"

#include <curl/curl.h>

#include <algorithm>
#include <cctype>
#include <exception>
#include <mutex>
#include <thread>
#include <unordered_map>

#include "base/check.h"
#include "base/clock.h"

namespace keel::gateway {

const char* TransportErrorName(TransportError e) {
  switch (e) {
    case TransportError::kNone:
      return "none";
    case TransportError::kConnect:
      return "connect";
    case TransportError::kTimeout:
      return "timeout";
    case TransportError::kStalled:
      return "stalled";
    case TransportError::kReset:
      return "reset";
    case TransportError::kCancelled:
      return "cancelled";
    case TransportError::kOther:
      return "other";
  }
  return "other";
}

std::string HttpResponse::Header(std::string_view name) const {
  for (const auto& [k, v] : headers) {
    if (k.size() == name.size() && std::equal(k.begin(), k.end(), name.begin(), [](char a, char b) {
          return a == std::tolower(static_cast<unsigned char>(b));
        })) {
      return v;
    }
  }
  return "";
}

namespace {

// Stalled transfers are found by polling, so the loop never sleeps longer than this while
// one with an idle timeout is in flight.
constexpr int kStallCheckMs = 100;
constexpr int kIdleWaitMs = 1000;
constexpr size_t kMaxPooledHandles = 64;

int64_t NowMs() { return SystemClock::Instance().MonoUs() / 1000; }

void GlobalInit() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

// The host[:port] of a URL, for error messages: never the path or query, which may carry
// secrets.
std::string HostOf(const std::string& url) {
  size_t start = url.find("://");
  start = start == std::string::npos ? 0 : start + 3;
  size_t end = url.find_first_of("/?#", start);
  std::string authority = url.substr(start, end == std::string::npos ? end : end - start);
  size_t at = authority.rfind('@');
  if (at != std::string::npos) authority.erase(0, at + 1);
  return authority.empty() ? url : authority;
}

bool IsTwoHundred(long status) { return status >= 200 && status < 300; }

struct Transfer {
  uint64_t id = 0;
  HttpRequest request;
  std::shared_ptr<CancelToken> cancel;
  AsyncHttpClient::DataFn on_data;
  AsyncHttpClient::DoneFn done;
  CURL* easy = nullptr;
  curl_slist* headers = nullptr;
  HttpResult result;
  int64_t start_ms = 0;
  int64_t last_data_ms = 0;
  bool connected = false;  // a connection was made or reused (tells connect from timeout)
  std::string callback_error;
  char errbuf[CURL_ERROR_SIZE] = {};
};

size_t OnHeader(char* buf, size_t size, size_t n, void* ud) {
  auto* t = static_cast<Transfer*>(ud);
  size_t len = size * n;
  t->last_data_ms = NowMs();
  std::string_view line(buf, len);
  while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) line.remove_suffix(1);
  auto& resp = t->result.response;
  if (line.starts_with("HTTP/")) {
    // A new status line (after a 1xx, or a retried request) starts a new header block.
    resp.headers.clear();
    size_t sp = line.find(' ');
    if (sp != std::string_view::npos) {
      int status = 0;
      for (size_t i = sp + 1; i < line.size() && std::isdigit(static_cast<unsigned char>(line[i]));
           ++i) {
        status = status * 10 + (line[i] - '0');
      }
      resp.status = status;
    }
    return len;
  }
  size_t colon = line.find(':');
  if (colon == std::string_view::npos) return len;
  std::string name(line.substr(0, colon));
  for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  std::string_view value = line.substr(colon + 1);
  while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
  while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) value.remove_suffix(1);
  resp.headers.emplace_back(std::move(name), std::string(value));
  return len;
}

size_t OnBody(char* buf, size_t size, size_t n, void* ud) {
  auto* t = static_cast<Transfer*>(ud);
  size_t len = size * n;
  t->last_data_ms = NowMs();
  long status = 0;
  curl_easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &status);
  if (t->on_data && IsTwoHundred(status)) {
    // An exception must not unwind through libcurl's C frames: it ends the transfer instead.
    try {
      t->on_data(std::string_view(buf, len));
    } catch (const std::exception& e) {
      t->callback_error = std::string("on_data threw: ") + e.what();
      return CURL_WRITEFUNC_ERROR;
    } catch (...) {
      t->callback_error = "on_data threw";
      return CURL_WRITEFUNC_ERROR;
    }
  } else {
    t->result.response.body.append(buf, len);
  }
  return len;
}

int OnConnected(void* ud, char*, char*, int, int) {
  auto* t = static_cast<Transfer*>(ud);
  t->connected = true;
  // Silence is measured from here: time spent queued for a free connection is not a stall.
  t->last_data_ms = NowMs();
  return CURL_PREREQFUNC_OK;
}

TransportError Classify(const Transfer& t, CURLcode code) {
  switch (code) {
    case CURLE_OK:
      return TransportError::kNone;
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_CONNECT:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
    case CURLE_SSL_INVALIDCERTSTATUS:
    case CURLE_USE_SSL_FAILED:
      return TransportError::kConnect;
    case CURLE_OPERATION_TIMEDOUT: {
      // libcurl reports both timeouts with one code; a transfer that never got a connection
      // timed out connecting unless the whole-exchange budget was what ran out.
      if (t.connected) return TransportError::kTimeout;
      int64_t elapsed = NowMs() - t.start_ms;
      bool whole = t.request.timeout_ms > 0 && elapsed >= t.request.timeout_ms;
      return whole ? TransportError::kTimeout : TransportError::kConnect;
    }
    case CURLE_RECV_ERROR:
    case CURLE_SEND_ERROR:
    case CURLE_PARTIAL_FILE:
    case CURLE_GOT_NOTHING:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
    case CURLE_HTTP3:
      return TransportError::kReset;
    default:
      return TransportError::kOther;
  }
}

// What client threads share with the loop thread, and with cancel listeners that may outlive
// the client (they hold it weakly). Owns the multi handle so a listener can wake it safely.
struct Inbox {
  std::mutex mu;
  std::vector<std::unique_ptr<Transfer>> pending;
  std::vector<uint64_t> cancelled;
  bool stopping = false;
  uint64_t next_id = 0;
  CURLM* multi = nullptr;

  ~Inbox() {
    if (multi) curl_multi_cleanup(multi);
  }
};

}  // namespace

struct AsyncHttpClient::Impl {
  explicit Impl(Options options) : inbox(std::make_shared<Inbox>()) {
    GlobalInit();
    inbox->multi = curl_multi_init();
    KEEL_CHECK(inbox->multi != nullptr);
    curl_multi_setopt(inbox->multi, CURLMOPT_MAX_HOST_CONNECTIONS,
                      static_cast<long>(options.max_connections_per_host));
    curl_multi_setopt(inbox->multi, CURLMOPT_MAX_TOTAL_CONNECTIONS,
                      static_cast<long>(options.max_total_connections));
    // Keep as many idle connections as may be open, so bursts find warm ones.
    curl_multi_setopt(inbox->multi, CURLMOPT_MAXCONNECTS,
                      static_cast<long>(options.max_total_connections));
    thread = std::thread([this] { Run(); });
  }

  ~Impl() {
    {
      std::lock_guard lock(inbox->mu);
      inbox->stopping = true;
    }
    curl_multi_wakeup(inbox->multi);
    thread.join();
  }

  void Run();
  bool Start(Transfer& t);
  void Retire(Transfer& t);
  void Finish(std::unique_ptr<Transfer> t, TransportError error, std::string message);

  std::shared_ptr<Inbox> inbox;
  std::thread thread;
  // Loop-thread state.
  std::unordered_map<uint64_t, std::unique_ptr<Transfer>> active;
  std::vector<CURL*> pool;
  std::vector<std::unique_ptr<Transfer>> finished;
};

bool AsyncHttpClient::Impl::Start(Transfer& t) {
  CURL* easy = nullptr;
  if (!pool.empty()) {
    easy = pool.back();
    pool.pop_back();
  } else {
    easy = curl_easy_init();
    if (!easy) return false;
  }
  t.easy = easy;
  const HttpRequest& r = t.request;
  curl_easy_setopt(easy, CURLOPT_URL, r.url.c_str());
  curl_easy_setopt(easy, CURLOPT_PRIVATE, &t);
  curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(easy, CURLOPT_TCP_KEEPALIVE, 1L);
  curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, t.errbuf);
  curl_easy_setopt(easy, CURLOPT_HEADERFUNCTION, &OnHeader);
  curl_easy_setopt(easy, CURLOPT_HEADERDATA, &t);
  curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, &OnBody);
  curl_easy_setopt(easy, CURLOPT_WRITEDATA, &t);
  curl_easy_setopt(easy, CURLOPT_PREREQFUNCTION, &OnConnected);
  curl_easy_setopt(easy, CURLOPT_PREREQDATA, &t);
  if (r.timeout_ms > 0) curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, static_cast<long>(r.timeout_ms));
  if (r.connect_timeout_ms > 0) {
    curl_easy_setopt(easy, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(r.connect_timeout_ms));
  }

  const std::string& m = r.method;
  bool sends_body = !r.body.empty() || m == "POST" || m == "PUT" || m == "PATCH";
  if (m == "GET") {
    curl_easy_setopt(easy, CURLOPT_HTTPGET, 1L);
  } else if (m == "HEAD") {
    curl_easy_setopt(easy, CURLOPT_NOBODY, 1L);
  } else {
    if (m != "POST") curl_easy_setopt(easy, CURLOPT_CUSTOMREQUEST, m.c_str());
    if (sends_body) {
      curl_easy_setopt(easy, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(r.body.size()));
      curl_easy_setopt(easy, CURLOPT_POSTFIELDS, r.body.data());
    }
  }

  bool has_expect = false;
  for (const auto& [name, value] : r.headers) {
    // "Name;" is libcurl's spelling of a header with an empty value.
    std::string line = value.empty() ? name + ";" : name + ": " + value;
    t.headers = curl_slist_append(t.headers, line.c_str());
    std::string lower = name;
    for (auto& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    has_expect = has_expect || lower == "expect";
  }
  // libcurl would otherwise send "Expect: 100-continue" for larger bodies and wait up to a
  // second for a 100 that most API servers never send.
  if (!has_expect) t.headers = curl_slist_append(t.headers, "Expect:");
  curl_easy_setopt(easy, CURLOPT_HTTPHEADER, t.headers);

  t.last_data_ms = NowMs();
  if (curl_multi_add_handle(inbox->multi, easy) != CURLM_OK) {
    Retire(t);
    return false;
  }
  return true;
}

void AsyncHttpClient::Impl::Retire(Transfer& t) {
  if (t.easy) {
    curl_multi_remove_handle(inbox->multi, t.easy);
    curl_easy_reset(t.easy);
    if (pool.size() < kMaxPooledHandles) {
      pool.push_back(t.easy);
    } else {
      curl_easy_cleanup(t.easy);
    }
    t.easy = nullptr;
  }
  if (t.headers) {
    curl_slist_free_all(t.headers);
    t.headers = nullptr;
  }
}

void AsyncHttpClient::Impl::Finish(std::unique_ptr<Transfer> t, TransportError error,
                                   std::string message) {
  Retire(*t);
  t->result.error = error;
  if (error != TransportError::kNone) {
    t->result.error_message = HostOf(t->request.url) + ": " + message;
  }
  t->result.latency_ms = NowMs() - t->start_ms;
  finished.push_back(std::move(t));
}

void AsyncHttpClient::Impl::Run() {
  CURLM* multi = inbox->multi;
  for (;;) {
    std::vector<std::unique_ptr<Transfer>> incoming;
    std::vector<uint64_t> cancels;
    bool stop = false;
    {
      std::lock_guard lock(inbox->mu);
      incoming.swap(inbox->pending);
      cancels.swap(inbox->cancelled);
      stop = inbox->stopping;
    }
    for (auto& t : incoming) {
      if (stop || (t->cancel && t->cancel->cancelled())) {
        Finish(std::move(t), TransportError::kCancelled, "cancelled");
        continue;
      }
      if (!Start(*t)) {
        Finish(std::move(t), TransportError::kOther, "could not start the transfer");
        continue;
      }
      uint64_t id = t->id;
      active.emplace(id, std::move(t));
    }
    for (uint64_t id : cancels) {
      auto it = active.find(id);
      if (it == active.end()) continue;  // already finished
      auto t = std::move(it->second);
      active.erase(it);
      Finish(std::move(t), TransportError::kCancelled, "cancelled");
    }
    if (stop) {
      for (auto& [id, t] : active) Finish(std::move(t), TransportError::kCancelled, "cancelled");
      active.clear();
    } else {
      int running = 0;
      curl_multi_perform(multi, &running);
      std::vector<std::pair<CURL*, CURLcode>> done;
      int left = 0;
      while (CURLMsg* msg = curl_multi_info_read(multi, &left)) {
        if (msg->msg == CURLMSG_DONE) done.emplace_back(msg->easy_handle, msg->data.result);
      }
      for (auto [easy, code] : done) {
        Transfer* raw = nullptr;
        curl_easy_getinfo(easy, CURLINFO_PRIVATE, &raw);
        auto it = active.find(raw->id);
        KEEL_CHECK(it != active.end());
        auto t = std::move(it->second);
        active.erase(it);
        TransportError error = Classify(*t, code);
        std::string message;
        if (code == CURLE_OK) {
          long status = 0;
          curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
          t->result.response.status = static_cast<int>(status);
        } else if (!t->callback_error.empty()) {
          message = t->callback_error;
        } else {
          message = t->errbuf[0] ? t->errbuf : curl_easy_strerror(code);
        }
        Finish(std::move(t), error, std::move(message));
      }
      int64_t now = NowMs();
      for (auto it = active.begin(); it != active.end();) {
        const Transfer& t = *it->second;
        int64_t idle = t.request.idle_timeout_ms;
        // Before the connection is made the connect timeout is what applies.
        if (idle > 0 && t.connected && now - t.last_data_ms >= idle) {
          auto owned = std::move(it->second);
          it = active.erase(it);
          Finish(std::move(owned), TransportError::kStalled,
                 "no data for " + std::to_string(idle) + " ms");
        } else {
          ++it;
        }
      }
    }

    // `done` runs with no lock held: it may call Send.
    std::vector<std::unique_ptr<Transfer>> to_deliver;
    to_deliver.swap(finished);
    for (auto& t : to_deliver) {
      auto fn = std::move(t->done);
      HttpResult result = std::move(t->result);
      t.reset();
      if (fn) fn(std::move(result));
    }

    if (stop) {
      std::lock_guard lock(inbox->mu);
      // A done callback may have queued more work while we were stopping: cancel it too.
      if (inbox->pending.empty()) break;
      continue;
    }
    bool watch_stalls = std::any_of(active.begin(), active.end(), [](const auto& kv) {
      return kv.second->request.idle_timeout_ms > 0;
    });
    curl_multi_poll(multi, nullptr, 0, watch_stalls ? kStallCheckMs : kIdleWaitMs, nullptr);
  }
  for (CURL* easy : pool) curl_easy_cleanup(easy);
  pool.clear();
}

AsyncHttpClient::AsyncHttpClient() : AsyncHttpClient(Options{}) {}
AsyncHttpClient::AsyncHttpClient(Options options) : impl_(std::make_unique<Impl>(options)) {}
AsyncHttpClient::~AsyncHttpClient() = default;

void AsyncHttpClient::Send(HttpRequest request, std::shared_ptr<CancelToken> cancel, DataFn on_data,
                           DoneFn done) {
  auto t = std::make_unique<Transfer>();
  t->request = std::move(request);
  t->cancel = cancel;
  t->on_data = std::move(on_data);
  t->done = std::move(done);
  t->start_ms = NowMs();
  std::shared_ptr<Inbox> inbox = impl_->inbox;
  uint64_t id = 0;
  {
    std::lock_guard lock(inbox->mu);
    id = t->id = ++inbox->next_id;
    inbox->pending.push_back(std::move(t));
  }
  curl_multi_wakeup(inbox->multi);
  // Registered after queuing: if the token fires first, the loop sees it as already cancelled
  // when it picks the transfer up; if it fires later, the id finds the running transfer.
  if (cancel) {
    cancel->OnCancel([weak = std::weak_ptr<Inbox>(inbox), id] {
      auto in = weak.lock();
      if (!in) return;
      {
        std::lock_guard lock(in->mu);
        in->cancelled.push_back(id);
      }
      curl_multi_wakeup(in->multi);
    });
  }
}

}  // namespace keel::gateway
