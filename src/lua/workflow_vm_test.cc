#include "lua/workflow_vm.h"

#include <gtest/gtest.h>

namespace keel::lua {
namespace {

std::shared_ptr<const CompiledWorkflow> Compile(const std::string& src, VmLimits limits = {}) {
  auto c = CompileWorkflow("t", "t.lua", src, limits);
  EXPECT_TRUE(c.ok()) << c.error().message;
  return c.ok() ? *c : nullptr;
}

std::unique_ptr<WorkflowVm> Vm(const std::string& src, const std::string& input = "{}",
                               VmLimits limits = {}, WorkflowVm::LogFn log = nullptr) {
  auto code = Compile(src, limits);
  auto vm = WorkflowVm::Create(code, "run-1", input, limits, std::move(log));
  EXPECT_TRUE(vm.ok()) << vm.error().message;
  return vm.ok() ? std::move(*vm) : nullptr;
}

TEST(WorkflowVm, StepYieldsLookupThenCommit) {
  auto vm = Vm(R"(return function(ctx, input)
      local a = ctx.step("greet", function() return {text = "hi " .. input.name} end)
      return {got = a.text}
    end)",
               R"({"name":"x"})");
  VmEvent e = vm->Start();
  ASSERT_EQ(e.kind, VmEvent::Kind::kAction);
  EXPECT_EQ(e.action.op, "step");
  EXPECT_EQ(e.action.name, "greet");
  e = vm->Resume(true, {"false"});  // not journaled: run the function
  ASSERT_EQ(e.kind, VmEvent::Kind::kAction);
  EXPECT_EQ(e.action.op, "commit");
  EXPECT_EQ(e.action.arg_json, R"({"text":"hi x"})");
  e = vm->Resume(true, {R"({"text":"hi x"})"});
  ASSERT_EQ(e.kind, VmEvent::Kind::kDone);
  EXPECT_EQ(e.result_json, R"({"got":"hi x"})");
}

TEST(WorkflowVm, JournaledStepIsNotRunAgain) {
  auto vm = Vm(R"(return function(ctx)
      return ctx.step("s", function() error("must not run on replay") end)
    end)");
  VmEvent e = vm->Start();
  ASSERT_EQ(e.action.op, "step");
  e = vm->Resume(true, {"true", "42"});
  ASSERT_EQ(e.kind, VmEvent::Kind::kDone);
  EXPECT_EQ(e.result_json, "42");
}

TEST(WorkflowVm, SignalReturnsPayloadOrTimeout) {
  auto vm = Vm(R"(return function(ctx)
      local v, err = ctx.signal("go", {timeout = "5s"})
      return {v = v, err = err}
    end)");
  VmEvent e = vm->Start();
  ASSERT_EQ(e.action.op, "signal");
  EXPECT_EQ(e.action.name, "go");
  EXPECT_EQ(e.action.arg_json, "\"5s\"");
  e = vm->Resume(true, {"null", "\"timeout\""});
  ASSERT_EQ(e.kind, VmEvent::Kind::kDone);
  EXPECT_EQ(e.result_json, R"({"err":"timeout"})");
}

TEST(WorkflowVm, ErrorsRaisedByTheHostReachTheCallSite) {
  auto vm = Vm(R"(return function(ctx)
      local ok, err = pcall(ctx.sleep, "bogus")
      return err
    end)");
  VmEvent e = vm->Start();
  ASSERT_EQ(e.action.op, "sleep");
  e = vm->Resume(false, {"\"invalid duration\""});
  ASSERT_EQ(e.kind, VmEvent::Kind::kDone);
  EXPECT_NE(e.result_json.find("invalid duration"), std::string::npos);
}

TEST(WorkflowVm, SandboxHasNoOsIoOrUnseededRandom) {
  for (const char* expr : {"os.time()", "io.write('x')", "math.random()", "string.dump(print)",
                           "require('os')", "dofile('/etc/passwd')", "load(string.char(27))()"}) {
    auto vm = Vm(std::string("return function(ctx) return ") + expr + " end");
    VmEvent e = vm->Start();
    EXPECT_EQ(e.kind, VmEvent::Kind::kError) << expr;
  }
  auto vm = Vm("return function(ctx) local ok, e = pcall(math.random) return e end");
  VmEvent e = vm->Start();
  ASSERT_EQ(e.kind, VmEvent::Kind::kDone);
  EXPECT_NE(e.result_json.find("ctx.random"), std::string::npos);
}

TEST(WorkflowVm, RunawayLoopHitsInstructionBudget) {
  VmLimits limits;
  limits.max_instructions_per_slice = 1'000'000;
  auto vm = Vm("return function(ctx) while true do end end", "{}", limits);
  VmEvent e = vm->Start();
  ASSERT_EQ(e.kind, VmEvent::Kind::kError);
  EXPECT_NE(e.error.message.find("instruction budget exceeded"), std::string::npos);
}

TEST(WorkflowVm, MemoryHogHitsMemoryLimit) {
  VmLimits limits;
  limits.max_memory_bytes = 4 << 20;
  auto vm = Vm(R"(return function(ctx)
      local t = {} for i = 1, 1e8 do t[i] = string.rep("x", 100) .. i end
    end)",
               "{}", limits);
  VmEvent e = vm->Start();
  ASSERT_EQ(e.kind, VmEvent::Kind::kError);
  EXPECT_NE(e.error.message.find("memory limit"), std::string::npos) << e.error.message;
}

TEST(WorkflowVm, InterruptFlagStopsARunningScript) {
  auto vm = Vm("return function(ctx) while true do end end");
  vm->interrupt_flag() = true;
  VmEvent e = vm->Start();
  ASSERT_EQ(e.kind, VmEvent::Kind::kError);
  EXPECT_NE(e.error.message.find("stopped by the engine"), std::string::npos);
}

TEST(WorkflowVm, NonJsonStepResultIsAClearError) {
  auto vm = Vm(R"(return function(ctx) return ctx.step("f", function() return print end) end)");
  VmEvent e = vm->Start();
  e = vm->Resume(true, {"false"});
  ASSERT_EQ(e.kind, VmEvent::Kind::kError);
  EXPECT_NE(e.error.message.find("ctx.step(\"f\")"), std::string::npos) << e.error.message;
}

TEST(WorkflowVm, CtxInsideStepIsRejected) {
  auto vm = Vm(R"(return function(ctx)
      return ctx.step("outer", function() return ctx.now() end)
    end)");
  VmEvent e = vm->Start();
  e = vm->Resume(true, {"false"});
  ASSERT_EQ(e.kind, VmEvent::Kind::kError);
  EXPECT_NE(e.error.message.find("cannot be called inside a ctx.step"), std::string::npos);
}

TEST(WorkflowVm, LogGoesToTheHost) {
  std::string logged;
  auto vm = Vm("return function(ctx) ctx.log('a', 1, true) end", "{}", {},
               [&](const std::string& m) { logged = m; });
  EXPECT_EQ(vm->Start().kind, VmEvent::Kind::kDone);
  EXPECT_EQ(logged, "a 1 true");
}

TEST(CompileWorkflow, SyntaxErrorNamesFileAndLine) {
  auto c =
      CompileWorkflow("bad", "examples/bad.lua", "return function(ctx)\n  local x = = 1\nend", {});
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.error().message.find("examples/bad.lua:2:"), std::string::npos) << c.error().message;
}

TEST(CompileWorkflow, MustReturnAFunction) {
  auto c = CompileWorkflow("bad", "x.lua", "return 5", {});
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.error().message.find("must return a function"), std::string::npos);
}

}  // namespace
}  // namespace keel::lua
