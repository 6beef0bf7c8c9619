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
      wakeups(r.GetCounter("keel_wakeups_total", "Parked runs woken by a timer or a signal")),
      loops(r.GetCounter("keel_loops_detected_total",
                         "Runs ended because the same model request or tool call repeated")),
      unavailable_waits(r.GetCounter(
          "keel_unavailable_waits_total",
          "Times a run parked because every model of its chain, or a tool, was unavailable")) {}

obs::Counter& LocalEngine::Metrics::Tokens(const std::string& intent, const std::string& tenant,
                                           const std::string& direction) {
  return registry.GetCounter(
      "keel_llm_tokens_total", "Model tokens charged to runs",
      "intent=\"" + intent + "\",tenant=\"" + tenant + "\",direction=\"" + direction + "\"");
}

obs::Counter& LocalEngine::Metrics::CostMicros(const std::string& intent,
                                               const std::string& tenant) {
  return registry.GetCounter("keel_llm_cost_microusd_total",
                             "Model spend charged to runs, in millionths of a US dollar",
                             "intent=\"" + intent + "\",tenant=\"" + tenant + "\"");
}

obs::Counter& LocalEngine::Metrics::ToolCalls(const std::string& intent,
                                              const std::string& outcome) {
  return registry.GetCounter("keel_run_tool_calls_total", "Tool calls journaled by runs",
                             "intent=\"" + intent + "\",outcome=\"" + outcome + "\"");
}

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
