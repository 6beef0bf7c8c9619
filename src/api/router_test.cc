#include "api/router.h"

#include <gtest/gtest.h>

#include "api/errors.h"

namespace keel::api {
namespace {

TEST(RouterTest, MatchesLiteralRoutes) {
  RouteMatch m = MatchRoute("POST", "/v1/runs");
  ASSERT_EQ(m.kind, RouteMatch::Kind::kFound);
  EXPECT_EQ(m.route->id, RouteId::kSubmitRun);
  EXPECT_TRUE(m.params.empty());

  m = MatchRoute("GET", "/v1/runs");
  ASSERT_EQ(m.kind, RouteMatch::Kind::kFound);
  EXPECT_EQ(m.route->id, RouteId::kListRuns);

  EXPECT_EQ(MatchRoute("GET", "/healthz").route->id, RouteId::kHealthz);
  EXPECT_EQ(MatchRoute("GET", "/readyz").route->id, RouteId::kReadyz);
  EXPECT_EQ(MatchRoute("GET", "/metrics").route->id, RouteId::kMetrics);
}

TEST(RouterTest, ExtractsPathParams) {
  RouteMatch m = MatchRoute("GET", "/v1/runs/0192f1c4-abc");
  ASSERT_EQ(m.kind, RouteMatch::Kind::kFound);
  EXPECT_EQ(m.route->id, RouteId::kGetRun);
  EXPECT_EQ(m.Param("id"), "0192f1c4-abc");
  EXPECT_EQ(m.Param("missing"), "");

  m = MatchRoute("POST", "/v1/runs/r1/signals/approve");
  ASSERT_EQ(m.kind, RouteMatch::Kind::kFound);
  EXPECT_EQ(m.route->id, RouteId::kSignalRun);
  EXPECT_EQ(m.Param("id"), "r1");
  EXPECT_EQ(m.Param("name"), "approve");
  ASSERT_EQ(m.params.size(), 2u);
  EXPECT_EQ(m.params[0].first, "id");
  EXPECT_EQ(m.params[1].first, "name");

  EXPECT_EQ(MatchRoute("GET", "/v1/runs/r1/journal").route->id, RouteId::kGetJournal);
  EXPECT_EQ(MatchRoute("GET", "/v1/runs/r1/events").route->id, RouteId::kGetEvents);
  EXPECT_EQ(MatchRoute("POST", "/v1/runs/r1/cancel").route->id, RouteId::kCancelRun);
  EXPECT_EQ(MatchRoute("POST", "/v1/runs/r1/interrupt").route->id, RouteId::kInterruptRun);
}

TEST(RouterTest, MatchesApprovalAndOutboxRoutes) {
  RouteMatch m = MatchRoute("GET", "/v1/approvals");
  ASSERT_EQ(m.kind, RouteMatch::Kind::kFound);
  EXPECT_EQ(m.route->id, RouteId::kListApprovals);

  m = MatchRoute("GET", "/v1/approvals/ap%3A1");
  ASSERT_EQ(m.kind, RouteMatch::Kind::kFound);
  EXPECT_EQ(m.route->id, RouteId::kGetApproval);
  EXPECT_EQ(m.Param("id"), "ap:1");

  m = MatchRoute("POST", "/v1/approvals/ap1/decision");
  ASSERT_EQ(m.kind, RouteMatch::Kind::kFound);
  EXPECT_EQ(m.route->id, RouteId::kDecideApproval);
  EXPECT_EQ(m.Param("id"), "ap1");

  EXPECT_EQ(MatchRoute("GET", "/v1/outbox").route->id, RouteId::kListOutbox);

  // A decision is only ever posted; an approval only read.
  m = MatchRoute("GET", "/v1/approvals/ap1/decision");
  ASSERT_EQ(m.kind, RouteMatch::Kind::kMethodNotAllowed);
  EXPECT_EQ(m.allow, "POST");
  m = MatchRoute("POST", "/v1/approvals/ap1");
  ASSERT_EQ(m.kind, RouteMatch::Kind::kMethodNotAllowed);
  EXPECT_EQ(m.allow, "GET");
  EXPECT_EQ(MatchRoute("POST", "/v1/outbox").kind, RouteMatch::Kind::kMethodNotAllowed);
  for (const char* path :
       {"/v1/approvals/", "/v1/approvals//decision", "/v1/approvals/a/b", "/v1/outbox/k1"}) {
    EXPECT_EQ(MatchRoute("GET", path).kind, RouteMatch::Kind::kNotFound) << path;
  }
}

TEST(RouterTest, DecodesPathParams) {
  RouteMatch m = MatchRoute("POST", "/v1/runs/a%2Fb/signals/ns%3Ago");
  ASSERT_EQ(m.kind, RouteMatch::Kind::kFound);
  EXPECT_EQ(m.Param("id"), "a/b");  // an encoded slash stays inside its segment
  EXPECT_EQ(m.Param("name"), "ns:go");
}

TEST(RouterTest, UnknownPathIsNotFound) {
  for (const char* path : {"/", "", "v1/runs", "/v1", "/v1/runs/", "/v1/runs//cancel",
                           "/v1/runs/r1/unknown", "/v1/runs/r1/signals", "/v1/runs/r1/signals/",
                           "/v1/runs/r1/signals/a/b", "/v2/runs", "/healthz/x"}) {
    RouteMatch m = MatchRoute("GET", path);
    EXPECT_EQ(m.kind, RouteMatch::Kind::kNotFound) << path;
    EXPECT_EQ(m.route, nullptr) << path;
  }
}

TEST(RouterTest, KnownPathWithWrongMethodIsMethodNotAllowed) {
  RouteMatch m = MatchRoute("DELETE", "/v1/runs");
  ASSERT_EQ(m.kind, RouteMatch::Kind::kMethodNotAllowed);
  EXPECT_EQ(m.allow, "POST, GET");
  EXPECT_EQ(m.route->path, "/v1/runs");

  m = MatchRoute("POST", "/v1/runs/r1");
  ASSERT_EQ(m.kind, RouteMatch::Kind::kMethodNotAllowed);
  EXPECT_EQ(m.allow, "GET");
  EXPECT_EQ(m.route->path, "/v1/runs/{id}");

  m = MatchRoute("GET", "/v1/runs/r1/cancel");
  ASSERT_EQ(m.kind, RouteMatch::Kind::kMethodNotAllowed);
  EXPECT_EQ(m.allow, "POST");

  m = MatchRoute("POST", "/healthz");
  ASSERT_EQ(m.kind, RouteMatch::Kind::kMethodNotAllowed);
  EXPECT_EQ(m.allow, "GET");

  // Methods are case-sensitive (RFC 9110).
  EXPECT_EQ(MatchRoute("get", "/healthz").kind, RouteMatch::Kind::kMethodNotAllowed);
}

TEST(RouterTest, EveryRouteIdIsInTheTableOnce) {
  const auto& table = RouteTable();
  for (size_t i = 0; i < table.size(); ++i) {
    EXPECT_EQ(RouteIndex(table[i].id), i);
    for (size_t j = i + 1; j < table.size(); ++j) {
      EXPECT_FALSE(table[i].method == table[j].method && table[i].path == table[j].path)
          << table[i].method << " " << table[i].path;
    }
  }
}

TEST(RouterTest, SplitsTargets) {
  auto [p1, q1] = SplitTarget("/v1/runs?wait=10&x=y");
  EXPECT_EQ(p1, "/v1/runs");
  EXPECT_EQ(q1, "wait=10&x=y");
  auto [p2, q2] = SplitTarget("/v1/runs");
  EXPECT_EQ(p2, "/v1/runs");
  EXPECT_EQ(q2, "");
  auto [p3, q3] = SplitTarget("/a?");
  EXPECT_EQ(p3, "/a");
  EXPECT_EQ(q3, "");
}

TEST(RouterTest, ParsesQueries) {
  QueryParams q =
      QueryParams::Parse("intent=hello%20world&status=waiting&empty=&flag&a=1&a=2&b=x+y");
  EXPECT_EQ(q.Get("intent"), "hello world");
  EXPECT_EQ(q.Get("status"), "waiting");
  EXPECT_EQ(q.Get("empty"), "");
  EXPECT_EQ(q.Get("flag"), "");
  EXPECT_EQ(q.Get("a"), "1");  // first wins
  EXPECT_EQ(q.Get("b"), "x y");
  EXPECT_FALSE(q.Get("missing").has_value());
  EXPECT_FALSE(QueryParams::Parse("").Get("x").has_value());
  EXPECT_EQ(QueryParams::Parse("&&x=1&").Get("x"), "1");
}

TEST(RouterTest, PercentDecodeKeepsInvalidEscapes) {
  EXPECT_EQ(PercentDecode("a%zzb%4", false), "a%zzb%4");
  EXPECT_EQ(PercentDecode("%41%62", false), "Ab");
  EXPECT_EQ(PercentDecode("a+b", false), "a+b");
  EXPECT_EQ(PercentDecode("a+b", true), "a b");
  EXPECT_EQ(PercentDecode("%", true), "%");
}

TEST(RouterTest, ParsesNonNegativeInts) {
  EXPECT_EQ(ParseNonNegativeInt("0"), 0);
  EXPECT_EQ(ParseNonNegativeInt("300000"), 300000);
  EXPECT_EQ(ParseNonNegativeInt("9223372036854775807"), INT64_MAX);
  for (const char* bad : {"", "-1", "+1", " 1", "1 ", "1.5", "abc", "9223372036854775808", "1e3"}) {
    EXPECT_FALSE(ParseNonNegativeInt(bad).has_value()) << bad;
  }
}

TEST(RouterTest, ValidatesSignalNames) {
  EXPECT_TRUE(ValidSignalName("approve"));
  EXPECT_TRUE(ValidSignalName("ns:a.b-c_d9"));
  EXPECT_TRUE(ValidSignalName(std::string(128, 'a')));
  EXPECT_FALSE(ValidSignalName(std::string(129, 'a')));
  EXPECT_FALSE(ValidSignalName(""));
  EXPECT_FALSE(ValidSignalName("a b"));
  EXPECT_FALSE(ValidSignalName("a/b"));
  EXPECT_FALSE(ValidSignalName("é"));
}

TEST(ErrorsTest, MapsErrorCodes) {
  struct Case {
    Errc code;
    int status;
    const char* name;
  };
  for (const Case& c :
       {Case{Errc::kInvalidArgument, 400, "invalid_argument"},
        Case{Errc::kNotFound, 404, "not_found"}, Case{Errc::kConflict, 409, "conflict"},
        Case{Errc::kAlreadyFinished, 409, "already_finished"},
        Case{Errc::kUnavailable, 503, "unavailable"}, Case{Errc::kStorageFull, 507, "storage_full"},
        Case{Errc::kStorage, 500, "storage_error"}, Case{Errc::kFenced, 500, "internal"},
        Case{Errc::kInternal, 500, "internal"}}) {
    ApiError e = ToApiError(Error{c.code, "m"});
    EXPECT_EQ(e.status, c.status) << c.name;
    EXPECT_EQ(e.code, c.name);
  }
  EXPECT_EQ(SubmitToApiError(Error{Errc::kNotFound, "unknown intent 'x'"}).code, "unknown_intent");
  EXPECT_EQ(SubmitToApiError(Error{Errc::kNotFound, "x"}).status, 404);
  EXPECT_EQ(SubmitToApiError(Error{Errc::kInvalidArgument, "unknown intent 'x'"}).code,
            "unknown_intent");
  EXPECT_EQ(SubmitToApiError(Error{Errc::kInvalidArgument, "payload: bad"}).code,
            "invalid_argument");
}

TEST(ErrorsTest, BuildsErrorResponses) {
  Response r = ErrorResponse(Unavailable("draining"));
  EXPECT_EQ(r.status, 503);
  EXPECT_EQ(r.body, R"({"error":{"code":"unavailable","message":"draining"}})");
  ASSERT_EQ(r.headers.size(), 1u);
  EXPECT_EQ(r.headers[0].first, "Retry-After");
  EXPECT_EQ(r.headers[0].second, "5");
  EXPECT_TRUE(ErrorResponse(InvalidJson("x")).headers.empty());
  EXPECT_EQ(ErrorJson("a", "quote \" and\nnewline"),
            R"({"error":{"code":"a","message":"quote \" and\nnewline"}})");
}

}  // namespace
}  // namespace keel::api
