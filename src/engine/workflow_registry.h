#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "lua/workflow_vm.h"
#include "store/store.h"

namespace keel::engine {

// Knows every workflow: the current version of each intent (loaded from the workflows
// directory at start-up) and any older version a run started with (its source is in the
// store by content hash, compiled on first use). Thread-safe.
class WorkflowRegistry {
 public:
  WorkflowRegistry(store::Store& store, lua::VmLimits limits);

  struct LoadReport {
    std::vector<std::string> loaded;     // intents
    std::vector<std::string> errors;     // "file:line: message" per rejected file
    std::optional<Error> storage_error;  // the store failed: not the files' fault, fatal
  };
  // Loads every *.lua file of `dir` (intent = file name without .lua). A file that does not
  // compile is reported and skipped; the others still load.
  LoadReport LoadDirectory(const std::string& dir);
  // Registers one workflow from source (tests, and LoadDirectory).
  Status Register(const std::string& intent, const std::string& file_name,
                  const std::string& source);

  // The current code of an intent; kNotFound with the list of known intents.
  Result<std::shared_ptr<const lua::CompiledWorkflow>> Current(const std::string& intent) const;
  // The code a run started with.
  Result<std::shared_ptr<const lua::CompiledWorkflow>> ByHash(const std::string& code_hash);
  std::vector<std::string> Intents() const;

 private:
  store::Store& store_;
  lua::VmLimits limits_;
  mutable std::mutex mu_;
  std::map<std::string, std::shared_ptr<const lua::CompiledWorkflow>> by_intent_;
  std::map<std::string, std::shared_ptr<const lua::CompiledWorkflow>> by_hash_;
};

// The content hash of a workflow's source.
std::string CodeHash(const std::string& source);

}  // namespace keel::engine
