#include "lua/pure_function.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>

namespace keel::lua {
namespace {

std::shared_ptr<const PureFunction> Compile(const std::string& src, PureLimits limits = {}) {
  auto fn = CompilePureFunction("tools/t.lua", src, limits);
  EXPECT_TRUE(fn.ok()) << fn.error().message;
  return fn.ok() ? *fn : nullptr;
}

TEST(PureFunction, ComputesOverATable) {
  auto fn = Compile(R"(return function(args)
      local total, names = 0, {}
      for _, item in ipairs(args.items) do
        total = total + item.price * item.qty
        names[#names + 1] = string.upper(item.name)
      end
      return {total = total, names = names, currency = args.currency}
    end)");
  ASSERT_NE(fn, nullptr);
  auto r = RunPureFunction(*fn, R"({"currency":"EUR","items":[
      {"name":"tea","price":2.5,"qty":2},{"name":"cake","price":4,"qty":1}]})");
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(boost::json::parse(*r),
            boost::json::parse(R"({"currency":"EUR","names":["TEA","CAKE"],"total":9.0})"));
}

TEST(PureFunction, NilResultIsNull) {
  auto fn = Compile("return function(args) end");
  auto r = RunPureFunction(*fn, "{}");
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(*r, "null");
}

TEST(PureFunction, EveryCallGetsAFreshState) {
  auto fn = Compile("return function(args) calls = (calls or 0) + 1 return calls end");
  for (int i = 0; i < 2; ++i) {
    auto r = RunPureFunction(*fn, "{}");
    ASSERT_TRUE(r.ok()) << r.error().message;
    EXPECT_EQ(*r, "1");
  }
}

TEST(PureFunction, LuaErrorNamesFileAndLine) {
  auto fn = Compile("return function(args)\n  error('no such city: ' .. args.city)\nend");
  auto r = RunPureFunction(*fn, R"({"city":"Atlantis"})");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Errc::kScript);
  EXPECT_EQ(r.error().message, "tools/t.lua:2: no such city: Atlantis");
}

TEST(PureFunction, RuntimeTypeErrorNamesFileAndLine) {
  auto fn = Compile("return function(args)\n\n  return args.missing.field\nend");
  auto r = RunPureFunction(*fn, "{}");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("tools/t.lua:3:"), std::string::npos) << r.error().message;
  EXPECT_NE(r.error().message.find("missing"), std::string::npos) << r.error().message;
}

TEST(PureFunction, EndlessLoopHitsTheInstructionCap) {
  PureLimits limits;
  limits.max_instructions = 1'000'000;
  auto fn = Compile("return function(args)\n  while true do end\nend", limits);
  auto r = RunPureFunction(*fn, "{}", limits);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("tools/t.lua: instruction budget exceeded: 1000000"),
            std::string::npos)
      << r.error().message;
}

TEST(PureFunction, InterruptFlagStopsTheFunction) {
  auto fn = Compile("return function(args) while true do end end");
  std::atomic<bool> stop{true};
  auto r = RunPureFunction(*fn, "{}", {}, &stop);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("Lua tool stopped"), std::string::npos) << r.error().message;
}

TEST(PureFunction, MemoryHogHitsTheMemoryCap) {
  PureLimits limits;
  limits.max_memory_bytes = 4 << 20;
  auto fn = Compile(R"(return function(args)
      local t = {} for i = 1, 1e8 do t[i] = string.rep("x", 100) .. i end
    end)",
                    limits);
  auto r = RunPureFunction(*fn, "{}", limits);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().message, "tools/t.lua: memory limit of 4 MiB exceeded");
}

TEST(PureFunction, SandboxHasNoOsIoOrRequire) {
  for (const char* expr :
       {"os.time()", "io.open('/etc/passwd')", "require('os')", "dofile('/etc/passwd')",
        "loadfile('/etc/passwd')", "string.dump(print)", "load(string.char(27))()"}) {
    auto fn = Compile(std::string("return function(args) return ") + expr + " end");
    ASSERT_NE(fn, nullptr) << expr;
    auto r = RunPureFunction(*fn, "{}");
    EXPECT_FALSE(r.ok()) << expr << " returned " << (r.ok() ? *r : "");
  }
  auto fn = Compile("return function(args) local ok, e = pcall(math.random) return e end");
  auto r = RunPureFunction(*fn, "{}");
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_NE(r->find("not available in Lua tools"), std::string::npos) << *r;
}

TEST(PureFunction, PrintGoesToTheLog) {
  auto fn = Compile("return function(args) print('seen', args.n) return true end");
  std::string logged;
  auto r = RunPureFunction(*fn, R"({"n":3})", {}, nullptr,
                           [&](const std::string& line) { logged = line; });
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(logged, "seen\t3");
}

TEST(PureFunction, NonJsonResultIsAnError) {
  auto fn = Compile("return function(args) return print end");
  auto r = RunPureFunction(*fn, "{}");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("tools/t.lua: the return value:"), std::string::npos)
      << r.error().message;
}

TEST(CompilePureFunction, SyntaxErrorNamesFileAndLine) {
  auto fn = CompilePureFunction("tools/bad.lua", "return function(args)\n  local x = = 1\nend");
  ASSERT_FALSE(fn.ok());
  EXPECT_NE(fn.error().message.find("tools/bad.lua:2:"), std::string::npos) << fn.error().message;
}

TEST(CompilePureFunction, MustReturnAFunction) {
  auto fn = CompilePureFunction("tools/five.lua", "return 5");
  ASSERT_FALSE(fn.ok());
  EXPECT_EQ(fn.error().message, "tools/five.lua: must return a function(args), returned a number");
}

TEST(CompilePureFunction, TopLevelErrorNamesTheFile) {
  auto fn = CompilePureFunction("tools/boom.lua", "error('at load')");
  ASSERT_FALSE(fn.ok());
  EXPECT_NE(fn.error().message.find("tools/boom.lua: top level failed: tools/boom.lua:1: at load"),
            std::string::npos)
      << fn.error().message;
}

TEST(LoadPureFunction, MissingFileNamesThePath) {
  auto fn = LoadPureFunction("/nonexistent/tool.lua");
  ASSERT_FALSE(fn.ok());
  EXPECT_EQ(fn.error().code, Errc::kNotFound);
  EXPECT_NE(fn.error().message.find("/nonexistent/tool.lua"), std::string::npos);
}

}  // namespace
}  // namespace keel::lua
