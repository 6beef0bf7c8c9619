#include "client/http_client.h"

#include <gtest/gtest.h>

#include <atomic>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <mutex>
#include <thread>
#include <tuple>
#include <vector>

#include "client/sse.h"

namespace keel::client {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
constexpr auto kTuple = asio::as_tuple(asio::use_awaitable);

// What the fixture server does with one request.
struct Reply {
  std::vector<std::string> pieces;  // raw bytes, written one after another
  int pause_ms = 0;                 // between pieces
  bool close_after = false;         // close the connection after the last piece
  bool drop = false;                // close the connection without answering
  bool hang = false;                // never answer
};

struct Seen {
  std::string method;
  std::string target;
  std::string body;
  std::map<std::string, std::string> headers;  // lowercase names
  int connection = 0;
};

std::string Raw(int status, const std::string& body, const std::string& extra_headers = {}) {
  return "HTTP/1.1 " + std::to_string(status) + " X\r\nContent-Type: application/json\r\n" +
         extra_headers + "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
}

Reply Ok(const std::string& body) { return Reply{{Raw(200, body)}}; }

// A scripted HTTP/1.1 server on 127.0.0.1, port 0, serving on its own thread: a fixture of the
// wire protocol, not a model of Keel's server.
class TestServer {
 public:
  using Handler = std::function<Reply(const Seen&)>;

  explicit TestServer(Handler handler)
      : handler_(std::move(handler)),
        acceptor_(ioc_, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0)) {
    port_ = acceptor_.local_endpoint().port();
    asio::co_spawn(ioc_, Listen(), asio::detached);
    thread_ = std::thread([this] { ioc_.run(); });
  }
  ~TestServer() {
    ioc_.stop();
    thread_.join();
  }

  int port() const { return port_; }
  int connections() const { return connections_.load(); }
  std::vector<Seen> seen() {
    std::lock_guard lock(mu_);
    return seen_;
  }

 private:
  asio::awaitable<void> Listen() {
    for (;;) {
      auto [ec, socket] = co_await acceptor_.async_accept(kTuple);
      if (ec) co_return;
      int id = ++connections_;
      asio::co_spawn(ioc_, Session(std::move(socket), id), asio::detached);
    }
  }

  asio::awaitable<void> Pause(int ms) {
    asio::steady_timer timer(ioc_, std::chrono::milliseconds(ms));
    co_await timer.async_wait(kTuple);
  }

  asio::awaitable<void> Session(tcp::socket socket, int id) {
    beast::flat_buffer buffer;
    for (;;) {
      http::request<http::string_body> req;
      auto [ec, n] = co_await http::async_read(socket, buffer, req, kTuple);
      if (ec) co_return;
      Seen s{std::string(req.method_string()), std::string(req.target()), req.body(), {}, id};
      for (const auto& f : req) {
        std::string name(f.name_string());
        for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        s.headers[name] = std::string(f.value());
      }
      {
        std::lock_guard lock(mu_);
        seen_.push_back(s);
      }
      Reply reply = handler_(s);
      if (reply.hang) {
        co_await Pause(60'000);
        co_return;
      }
      if (reply.drop) co_return;  // the socket closes as the frame ends
      for (size_t i = 0; i < reply.pieces.size(); ++i) {
        if (i > 0 && reply.pause_ms > 0) co_await Pause(reply.pause_ms);
        auto [wec, wn] = co_await asio::async_write(socket, asio::buffer(reply.pieces[i]), kTuple);
        if (wec) co_return;
      }
      if (reply.close_after) co_return;
    }
  }

  Handler handler_;
  asio::io_context ioc_;
  tcp::acceptor acceptor_;
  int port_ = 0;
  std::atomic<int> connections_{0};
  std::mutex mu_;
  std::vector<Seen> seen_;
  std::thread thread_;
};

struct Event {
  std::string id, event, data;
  bool operator==(const Event&) const = default;
};

std::ostream& operator<<(std::ostream& os, const Event& e) {
  return os << "{" << e.id << "," << e.event << "," << e.data << "}";
}

TEST(HttpClientTest, GetAndPost) {
  TestServer server([](const Seen& s) {
    return Reply{{Raw(201, s.method + " " + s.target + " " + s.body, "X-Reply: yes\r\n")}};
  });
  HttpClient client("127.0.0.1", server.port());
  auto get = client.Get("/v1/runs?limit=5", {{"X-Test", "1"}});
  ASSERT_TRUE(get.ok()) << get.error().message;
  EXPECT_EQ(get->status, 201);
  EXPECT_EQ(get->body, "GET /v1/runs?limit=5 ");
  EXPECT_EQ(get->headers["x-reply"], "yes");
  EXPECT_EQ(get->headers["content-type"], "application/json");

  auto post = client.Post("/v1/runs", R"({"intent":"hello"})");
  ASSERT_TRUE(post.ok()) << post.error().message;
  EXPECT_EQ(post->body, R"(POST /v1/runs {"intent":"hello"})");

  auto seen = server.seen();
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(seen[0].headers["x-test"], "1");
  EXPECT_EQ(seen[0].headers["host"], "127.0.0.1:" + std::to_string(server.port()));
  EXPECT_EQ(seen[1].headers["content-type"], "application/json");
  EXPECT_EQ(seen[1].headers["content-length"], "18");
}

TEST(HttpClientTest, FromUrl) {
  TestServer server([](const Seen&) { return Ok("{}"); });
  auto client = HttpClient::FromUrl("http://127.0.0.1:" + std::to_string(server.port()) + "/");
  ASSERT_TRUE(client.ok()) << client.error().message;
  EXPECT_EQ(client->BaseUrl(), "http://127.0.0.1:" + std::to_string(server.port()));
  auto r = client->Get("/healthz");
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->body, "{}");

  EXPECT_EQ(HttpClient::FromUrl("localhost:9").value().BaseUrl(), "http://localhost:9");
  EXPECT_EQ(HttpClient::FromUrl("http://example.com").value().BaseUrl(), "http://example.com:80");
  EXPECT_EQ(HttpClient::FromUrl("http://[::1]:8080").value().BaseUrl(), "http://[::1]:8080");
  for (const char* bad : {"https://x:1", "http://x:1/api", "http://:80", "http://x:0",
                          "http://x:99999", "http://x:", "::1:80", ""}) {
    auto r = HttpClient::FromUrl(bad);
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.error().code, Errc::kInvalidArgument) << bad;
  }
}

TEST(HttpClientTest, ReusesTheConnection) {
  TestServer server([](const Seen&) { return Ok("{}"); });
  HttpClient client("127.0.0.1", server.port());
  for (int i = 0; i < 10; ++i) {
    auto r = i % 2 ? client.Get("/a") : client.Post("/b", "{}");
    ASSERT_TRUE(r.ok()) << r.error().message;
  }
  EXPECT_EQ(server.connections(), 1);
  EXPECT_EQ(client.connections_opened(), 1);
}

TEST(HttpClientTest, ReconnectsAfterTheServerClosed) {
  // The server closes after every answer without saying so (as an idle timeout would).
  TestServer server([](const Seen&) {
    Reply r = Ok("{}");
    r.close_after = true;
    return r;
  });
  HttpClient client("127.0.0.1", server.port());
  for (int i = 0; i < 5; ++i) {
    auto r = client.Post("/x", "{}");
    ASSERT_TRUE(r.ok()) << i << ": " << r.error().message;
    EXPECT_EQ(r->status, 200);
  }
  EXPECT_EQ(server.connections(), 5);
  EXPECT_EQ(server.seen().size(), 5u);
}

TEST(HttpClientTest, HonoursConnectionClose) {
  TestServer server([](const Seen&) { return Reply{{Raw(200, "{}", "Connection: close\r\n")}}; });
  HttpClient client("127.0.0.1", server.port());
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(client.Get("/x").ok());
  EXPECT_EQ(server.connections(), 3);
}

TEST(HttpClientTest, RetriesOnceWhenAReusedConnectionDiesBeforeAnswering) {
  // The second request arrives as the server closes the connection: it is sent again on a
  // fresh connection. A request on a fresh connection is never retried.
  std::atomic<int> n{0};
  TestServer server([&](const Seen&) {
    Reply r = Ok("{}");
    r.drop = (++n == 2);
    return r;
  });
  HttpClient client("127.0.0.1", server.port());
  ASSERT_TRUE(client.Get("/1").ok());
  auto second = client.Post("/2", "{}");
  ASSERT_TRUE(second.ok()) << second.error().message;
  EXPECT_EQ(server.connections(), 2);
  auto seen = server.seen();
  ASSERT_EQ(seen.size(), 3u);
  EXPECT_EQ(seen[1].target, "/2");
  EXPECT_EQ(seen[2].target, "/2");
  EXPECT_EQ(seen[2].connection, 2);

  TestServer dropper([](const Seen&) { return Reply{.drop = true}; });
  HttpClient fresh("127.0.0.1", dropper.port());
  auto r = fresh.Get("/x");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Errc::kUnavailable);
  EXPECT_EQ(dropper.seen().size(), 1u);
}

TEST(HttpClientTest, ConnectionRefused) {
  int port;
  {
    asio::io_context ioc;
    tcp::acceptor acceptor(ioc, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
    port = acceptor.local_endpoint().port();
  }
  HttpClient client("127.0.0.1", port);
  auto r = client.Get("/healthz");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Errc::kUnavailable);
  EXPECT_EQ(r.error().message, "cannot connect to http://127.0.0.1:" + std::to_string(port) +
                                   ": connection refused (is `keel serve` running?)");
  auto s = client.Stream("/events", {}, [](auto&, auto&, auto&) { return true; });
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code, Errc::kUnavailable);
}

TEST(HttpClientTest, Timeout) {
  TestServer server([](const Seen&) { return Reply{.hang = true}; });
  HttpClient client("127.0.0.1", server.port(), 200);
  auto r = client.Get("/slow");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Errc::kTimeout) << r.error().message;
  auto s = client.Stream("/slow", {}, [](auto&, auto&, auto&) { return true; });
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code, Errc::kTimeout) << s.error().message;
}

const char* kSseHeader =
    "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n";

TEST(HttpClientTest, StreamParsesEvents) {
  TestServer server([](const Seen&) {
    Reply r;
    r.pieces = {std::string(kSseHeader) + "Connection: close\r\n\r\n",
                ": keepalive\n\n",
                "id: 1\nevent: step\ndata: {\"a\":\n",
                "data: 1}\n\n",
                "id: 2\r\nevent: emit\r\ndata: x\r",
                "\n\r\n",
                "data: plain\n\n",
                "event: no-data\n\n",
                "retry: 10\nid:3\nevent:end\ndata:{}\n\n"};
    r.pause_ms = 5;
    r.close_after = true;
    return r;
  });
  HttpClient client("127.0.0.1", server.port());
  std::vector<Event> events;
  auto last =
      client.Stream("/v1/runs/r1/events", {{"Last-Event-ID", "0"}},
                    [&](const std::string& id, const std::string& ev, const std::string& d) {
                      events.push_back({id, ev, d});
                      return true;
                    });
  ASSERT_TRUE(last.ok()) << last.error().message;
  EXPECT_EQ(*last, "3");
  std::vector<Event> want = {{"1", "step", "{\"a\":\n1}"},
                             {"2", "emit", "x"},
                             {"2", "message", "plain"},
                             {"3", "end", "{}"}};
  EXPECT_EQ(events, want);
  auto seen = server.seen();
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].headers["last-event-id"], "0");
  EXPECT_EQ(seen[0].headers["accept"], "text/event-stream");
}

TEST(HttpClientTest, ChunkedStreamThenReuse) {
  std::atomic<int> n{0};
  TestServer server([&](const Seen&) {
    if (++n > 1) return Ok("{}");
    auto chunk = [](const std::string& s) {
      char len[16];
      std::snprintf(len, sizeof len, "%zx\r\n", s.size());
      return len + s + "\r\n";
    };
    Reply r;
    r.pieces = {std::string(kSseHeader) + "Transfer-Encoding: chunked\r\n\r\n",
                chunk("id: 7\nevent: step\ndata: a"), chunk("\n\n"), "0\r\n\r\n"};
    r.pause_ms = 5;
    return r;
  });
  HttpClient client("127.0.0.1", server.port());
  std::vector<Event> events;
  auto last = client.Stream("/e", {}, [&](auto& id, auto& ev, auto& d) {
    events.push_back({id, ev, d});
    return true;
  });
  ASSERT_TRUE(last.ok()) << last.error().message;
  EXPECT_EQ(*last, "7");
  EXPECT_EQ(events, (std::vector<Event>{{"7", "step", "a"}}));
  ASSERT_TRUE(client.Get("/after").ok());
  EXPECT_EQ(server.connections(), 1);
}

TEST(HttpClientTest, StreamStopsWhenTheHandlerSaysSo) {
  std::atomic<int> n{0};
  TestServer server([&](const Seen&) {
    if (++n > 1) return Ok("{}");
    Reply r;
    r.pieces = {std::string(kSseHeader) + "\r\n", "id: 1\ndata: a\n\nid: 2\ndata: b\n\n",
                ": keepalive\n\n"};
    r.pause_ms = 20;
    r.hang = false;
    return r;
  });
  HttpClient client("127.0.0.1", server.port(), 5000);
  int calls = 0;
  auto last = client.Stream("/e", {}, [&](auto&, auto&, auto&) { return ++calls < 1; });
  ASSERT_TRUE(last.ok()) << last.error().message;
  EXPECT_EQ(*last, "1");
  EXPECT_EQ(calls, 1);
  auto r = client.Get("/after");  // the stream's connection is not reused
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(server.connections(), 2);
}

TEST(HttpClientTest, StreamErrorStatus) {
  const std::string body = R"({"error":{"code":"not_found","message":"no run r9"}})";
  TestServer server([&](const Seen&) { return Reply{{Raw(404, body)}}; });
  HttpClient client("127.0.0.1", server.port());
  auto last = client.Stream("/v1/runs/r9/events", {}, [](auto&, auto&, auto&) { return true; });
  ASSERT_FALSE(last.ok());
  EXPECT_EQ(last.error().code, Errc::kNotFound);
  EXPECT_EQ(last.error().message, body);
  ASSERT_TRUE(client.Get("/x").ok());
  EXPECT_EQ(server.connections(), 1);
}

TEST(HttpClientTest, RejectsHeaderInjection) {
  HttpClient client("127.0.0.1", 1);
  auto r = client.Get("/x", {{"X-A", "1\r\nX-B: 2"}});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Errc::kInvalidArgument);
  EXPECT_FALSE(client.Get("no-slash").ok());
}

TEST(SseParserTest, SplitAnywhere) {
  const std::string stream =
      "\xEF\xBB\xBF: hi\r\nid: 5\r\nevent: step\r\ndata: one\r\ndata:  two\r\n\r\n"
      "data: three\rdata\r\r:x\nid\nevent: e\ndata: four\n\n";
  std::vector<Event> want = {
      {"5", "step", "one\n two"}, {"5", "message", "three\n"}, {"", "e", "four"}};
  for (size_t piece = 1; piece <= stream.size(); ++piece) {
    SseParser parser;
    std::vector<Event> got;
    for (size_t i = 0; i < stream.size(); i += piece) {
      ASSERT_TRUE(
          parser.Feed(std::string_view(stream).substr(i, piece), [&](auto& id, auto& ev, auto& d) {
            got.push_back({id, ev, d});
            return true;
          }));
    }
    EXPECT_EQ(got, want) << "piece " << piece;
  }
}

TEST(UrlEncodeTest, Reserved) {
  EXPECT_EQ(UrlEncode("a-b_c.d~e"), "a-b_c.d~e");
  EXPECT_EQ(UrlEncode("a b/c?d&e=é"), "a%20b%2Fc%3Fd%26e%3D%C3%A9");
}

}  // namespace
}  // namespace keel::client
