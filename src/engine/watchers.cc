#include "engine/watchers.h"

#include <vector>

namespace keel::engine {

uint64_t Watchers::Add(const std::string& run_id, TerminalFn on_terminal, ChangeFn on_change,
                       LiveFn on_live) {
  auto w = std::make_shared<Watch>();
  w->run_id = run_id;
  w->on_terminal = std::move(on_terminal);
  w->on_change = std::move(on_change);
  w->on_live = std::move(on_live);
  std::lock_guard lock(mu_);
  w->id = next_id_++;
  by_id_[w->id] = w;
  by_run_[run_id][w->id] = w;
  return w->id;
}

void Watchers::Remove(uint64_t id) {
  std::lock_guard lock(mu_);
  auto it = by_id_.find(id);
  if (it == by_id_.end()) return;
  auto run_it = by_run_.find(it->second->run_id);
  if (run_it != by_run_.end()) {
    run_it->second.erase(id);
    if (run_it->second.empty()) by_run_.erase(run_it);
  }
  by_id_.erase(it);
}

void Watchers::FireTerminal(uint64_t id, const model::RunRecord& run) {
  std::shared_ptr<Watch> w;
  {
    std::lock_guard lock(mu_);
    auto it = by_id_.find(id);
    if (it == by_id_.end()) return;
    w = it->second;
  }
  if (w->on_terminal && !w->fired.exchange(true)) w->on_terminal(run);
}

void Watchers::NotifyChange(const std::string& run_id) {
  std::vector<std::shared_ptr<Watch>> targets;
  {
    std::lock_guard lock(mu_);
    auto it = by_run_.find(run_id);
    if (it == by_run_.end()) return;
    for (auto& [_, w] : it->second)
      if (w->on_change) targets.push_back(w);
  }
  for (auto& w : targets) w->on_change();
}

void Watchers::NotifyLive(const std::string& run_id, const std::string& type,
                          const std::string& data_json) {
  std::vector<std::shared_ptr<Watch>> targets;
  {
    std::lock_guard lock(mu_);
    auto it = by_run_.find(run_id);
    if (it == by_run_.end()) return;
    for (auto& [_, w] : it->second)
      if (w->on_live) targets.push_back(w);
  }
  for (auto& w : targets) w->on_live(type, data_json);
}

void Watchers::NotifyTerminal(const model::RunRecord& run) {
  std::vector<std::shared_ptr<Watch>> targets;
  {
    std::lock_guard lock(mu_);
    auto it = by_run_.find(run.id);
    if (it == by_run_.end()) return;
    for (auto& [_, w] : it->second) targets.push_back(w);
  }
  for (auto& w : targets) {
    if (w->on_terminal) {
      if (!w->fired.exchange(true)) w->on_terminal(run);
    } else if (w->on_change) {
      w->on_change();
    }
    // Live watchers learn of the end through the change watch their stream also holds.
  }
}

}  // namespace keel::engine
