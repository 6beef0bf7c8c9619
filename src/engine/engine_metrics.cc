// Every metric the engine exports, in one place (STYLE.md rule 12).

#include "engine/active_run.h"

namespace keel::engine {

LocalEngine::Metrics::Metrics(obs::Registry& r)
    : registry(r),
      step_seconds(r.GetHistogram("keel_step_seconds",
                                  "Durable step latency: from the workflow's ctx call until its "
                                  "journal entry is committed and the workflow resumes",
                                  obs::LatencyBuckets())),
      resident_runs(r.GetGauge("keel_active_leases",
                               "Runs whose lease this node holds with their Lua state resident")),
      replayed_entries(r.GetCounter("keel_replayed_entries_total",
                                    "Journal entries answered from the journal during replay")),
      nondeterminism(r.GetCounter("keel_nondeterminism_total",
                                  "Runs stopped because code and journal disagreed")),
      write_retries(r.GetCounter("keel_run_write_retries_total",
                                 "Runs evicted and retried after a failed journal write")),
      wakeups(r.GetCounter("keel_wakeups_total", "Parked runs woken by a timer or a signal")) {}

obs::Counter& LocalEngine::Metrics::Started(const std::string& intent) {
  return registry.GetCounter("keel_runs_started_total", "Runs admitted",
                             "intent=\"" + intent + "\"");
}

obs::Counter& LocalEngine::Metrics::Finished(const std::string& intent, model::RunStatus status) {
  return registry.GetCounter(
      "keel_runs_finished_total", "Runs that reached a terminal status",
      "intent=\"" + intent + "\",status=\"" + std::string(model::StatusName(status)) + "\"");
}

}  // namespace keel::engine
