#include "engine/workflow_registry.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "base/hash.h"
#include "observability/log.h"

namespace keel::engine {

std::string CodeHash(const std::string& source) { return Hex64(Fnv1a64(source)); }

WorkflowRegistry::WorkflowRegistry(store::Store& store, lua::VmLimits limits)
    : store_(store), limits_(std::move(limits)) {}

Status WorkflowRegistry::Register(const std::string& intent, const std::string& file_name,
                                  const std::string& source) {
  auto compiled = lua::CompileWorkflow(intent, file_name, source, limits_);
  if (!compiled) return compiled.error();
  std::string hash = CodeHash(source);
  if (Status st = store_.PutWorkflow(hash, intent, source); !st) return st;
  auto code = std::make_shared<lua::CompiledWorkflow>(**compiled);
  code->code_hash = hash;
  std::lock_guard lock(mu_);
  by_intent_[intent] = code;
  by_hash_[hash] = code;
  return OkStatus();
}

WorkflowRegistry::LoadReport WorkflowRegistry::LoadDirectory(const std::string& dir) {
  LoadReport report;
  std::error_code ec;
  std::vector<std::filesystem::path> files;
  for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
    if (entry.is_regular_file() && entry.path().extension() == ".lua")
      files.push_back(entry.path());
  }
  if (ec) {
    report.errors.push_back(dir + ": " + ec.message());
    return report;
  }
  std::sort(files.begin(), files.end());
  for (const auto& path : files) {
    std::ifstream in(path, std::ios::binary);
    std::stringstream buf;
    buf << in.rdbuf();
    std::string intent = path.stem().string();
    if (Status st = Register(intent, path.string(), buf.str()); !st) {
      if (st.error().code == Errc::kStorage || st.error().code == Errc::kStorageFull) {
        report.storage_error = st.error();
        return report;
      }
      report.errors.push_back(st.error().message);
      obs::Error("workflow_rejected", {{"file", path.string()}, {"error", st.error().message}});
      continue;
    }
    report.loaded.push_back(intent);
  }
  return report;
}

Result<std::shared_ptr<const lua::CompiledWorkflow>> WorkflowRegistry::Current(
    const std::string& intent) const {
  std::lock_guard lock(mu_);
  auto it = by_intent_.find(intent);
  if (it != by_intent_.end()) return it->second;
  std::string known;
  for (const auto& [name, _] : by_intent_) known += (known.empty() ? "" : ", ") + name;
  return Error{Errc::kNotFound, "unknown intent \"" + intent +
                                    "\" (loaded: " + (known.empty() ? "none" : known) + ")"};
}

Result<std::shared_ptr<const lua::CompiledWorkflow>> WorkflowRegistry::ByHash(
    const std::string& code_hash) {
  {
    std::lock_guard lock(mu_);
    auto it = by_hash_.find(code_hash);
    if (it != by_hash_.end()) return it->second;
  }
  // An older version a run started with: its source is in the store.
  auto source = store_.GetWorkflow(code_hash);
  if (!source) return source.error();
  auto compiled = lua::CompileWorkflow("", "workflow@" + code_hash, *source, limits_);
  if (!compiled) return compiled.error();
  auto code = std::make_shared<lua::CompiledWorkflow>(**compiled);
  code->code_hash = code_hash;
  std::lock_guard lock(mu_);
  by_hash_[code_hash] = code;
  return std::shared_ptr<const lua::CompiledWorkflow>(code);
}

std::vector<std::string> WorkflowRegistry::Intents() const {
  std::lock_guard lock(mu_);
  std::vector<std::string> out;
  for (const auto& [name, _] : by_intent_) out.push_back(name);
  return out;
}

}  // namespace keel::engine
