#pragma once

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

#include "model/run.h"

namespace keel::engine {

// Who wants to hear about a run: callers waiting for its end (POST ?wait) and event streams.
// Thread-safe; callbacks run outside the lock on the notifying thread.
class Watchers {
 public:
  using TerminalFn = std::function<void(const model::RunRecord&)>;
  using ChangeFn = std::function<void()>;
  // Events that are not journaled (model tokens, retry decisions): type and JSON data.
  using LiveFn = std::function<void(const std::string& type, const std::string& data_json)>;

  uint64_t AddTerminal(const std::string& run_id, TerminalFn fn) {
    return Add(run_id, std::move(fn), nullptr);
  }
  uint64_t AddChange(const std::string& run_id, ChangeFn fn) {
    return Add(run_id, nullptr, std::move(fn));
  }
  uint64_t AddLive(const std::string& run_id, LiveFn fn) {
    return Add(run_id, nullptr, nullptr, std::move(fn));
  }
  void Remove(uint64_t id);
  // Fires a terminal watch once (it may also fire from NotifyTerminal; whichever is first).
  void FireTerminal(uint64_t id, const model::RunRecord& run);

  void NotifyChange(const std::string& run_id);
  void NotifyTerminal(const model::RunRecord& run);
  void NotifyLive(const std::string& run_id, const std::string& type, const std::string& data_json);

 private:
  uint64_t Add(const std::string& run_id, TerminalFn on_terminal, ChangeFn on_change,
               LiveFn on_live = nullptr);

  struct Watch {
    uint64_t id;
    std::string run_id;
    TerminalFn on_terminal;
    ChangeFn on_change;
    LiveFn on_live;
    std::atomic<bool> fired{false};
  };
  std::mutex mu_;
  uint64_t next_id_ = 1;
  std::unordered_map<uint64_t, std::shared_ptr<Watch>> by_id_;
  std::unordered_map<std::string, std::map<uint64_t, std::shared_ptr<Watch>>> by_run_;
};

}  // namespace keel::engine
