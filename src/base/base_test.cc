#include <gtest/gtest.h>

#include <set>

#include "base/duration.h"
#include "base/hash.h"
#include "base/random.h"
#include "base/result.h"

namespace keel {
namespace {

TEST(Duration, ParsesEveryUnit) {
  EXPECT_EQ(*ParseDurationMs("250ms"), 250);
  EXPECT_EQ(*ParseDurationMs("30s"), 30'000);
  EXPECT_EQ(*ParseDurationMs("5m"), 300'000);
  EXPECT_EQ(*ParseDurationMs("24h"), 86'400'000);
  EXPECT_EQ(*ParseDurationMs("2d"), 172'800'000);
  EXPECT_EQ(*ParseDurationMs("1.5s"), 1'500);
  EXPECT_EQ(*ParseDurationMs("40"), 40);
}

TEST(Duration, RejectsGarbageWithAClearMessage) {
  for (const char* bad : {"", "ms", "-5s", "5 s", "5w", "abc", "1e9999s", "99999999999999d"}) {
    auto r = ParseDurationMs(bad);
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.error().code, Errc::kInvalidArgument);
    EXPECT_NE(r.error().message.find("invalid duration"), std::string::npos);
  }
}

TEST(Random, UuidV7SortsByTimeAndIsUnique) {
  Random r(42);
  std::set<std::string> seen;
  std::string prev;
  for (int i = 0; i < 1000; ++i) {
    std::string id = r.UuidV7(1'700'000'000'000 + i);
    ASSERT_EQ(id.size(), 36u);
    EXPECT_EQ(id[14], '7');
    EXPECT_TRUE(seen.insert(id).second);
    EXPECT_LT(prev, id);
    prev = id;
  }
}

TEST(Random, SameSeedSameSequence) {
  Random a(7), b(7);
  for (int i = 0; i < 10; ++i) EXPECT_EQ(a.Next(), b.Next());
  double d = a.NextDouble();
  EXPECT_GE(d, 0.0);
  EXPECT_LT(d, 1.0);
}

TEST(Hash, StableAndSensitive) {
  EXPECT_EQ(Hex64(Fnv1a64("")), "cbf29ce484222325");
  EXPECT_NE(Fnv1a64("a"), Fnv1a64("b"));
  EXPECT_EQ(Hex64(1).size(), 16u);
}

TEST(Result, CarriesValueOrError) {
  Result<int> ok = 5;
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ(*ok, 5);
  Result<int> bad = Error{Errc::kNotFound, "nope"};
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().code, Errc::kNotFound);
  EXPECT_EQ(ErrcName(bad.error().code), "not_found");
}

}  // namespace
}  // namespace keel
