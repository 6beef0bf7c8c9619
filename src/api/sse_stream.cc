// GET /v1/runs/{id}/events: the run's journal as server-sent events, interleaved with live
// events that are not journaled (model tokens, retry decisions) as they happen.

#include <algorithm>

#include <boost/json.hpp>

#include "api/errors.h"
#include "api/handlers.h"
#include "observability/log.h"

namespace keel::api {

namespace json = boost::json;

namespace {

constexpr int kJournalBatch = 256;
// Live events waiting for a slow client are dropped beyond this: the journal, not the token
// stream, is what a client may not miss.
constexpr size_t kMaxLivePending = 1 << 20;

// Streams one run's journal. Lives on the connection's strand: every method below runs there.
//
// The loop: read the journal after the last sent seq and write it; when nothing is new, check
// whether the run ended (then send `end` and close), else arm the call's timer as a wakeup.
// An OnChange notification cancels the timer (-> read again); the timer firing sends a
// keepalive comment. The watch is registered before the first read, so no change is missed.
//
// Owned by the callbacks it hands out (engine watch, call timer, writes); it holds no socket
// or timer itself, so the engine may keep it past the server's life.
class EventStream : public std::enable_shared_from_this<EventStream> {
 public:
  EventStream(engine::Engine& engine, std::shared_ptr<Call> call, std::string run_id,
              int64_t after_seq, int64_t keepalive_ms)
      : engine_(engine),
        call_(std::move(call)),
        run_id_(std::move(run_id)),
        last_seq_(after_seq),
        keepalive_ms_(keepalive_ms) {}

  void Begin() {
    auto self = shared_from_this();
    call_->OnAbort([self] { self->Finish(); });
    watch_ = engine_.OnChange(run_id_, [self] {
      // Engine thread: hop to the strand.
      self->call_->Post([self] { self->OnChange(); });
    });
    live_watch_ = engine_.OnLive(run_id_, [self](const std::string& type, const std::string& data) {
      std::string event = "event: " + type + "\ndata: " + data + "\n\n";
      self->call_->Post(
          [self, event = std::move(event)]() mutable { self->OnLive(std::move(event)); });
    });
    watching_ = true;
    Response head;
    head.status = 200;
    head.content_type = "text/event-stream";
    head.headers.emplace_back("Cache-Control", "no-cache");
    head.headers.emplace_back("X-Accel-Buffering", "no");
    call_->BeginStream(std::move(head), [self](bool ok) {
      if (!ok) return self->Finish();
      self->Pump();
    });
  }

 private:
  void OnChange() {
    if (waiting_) call_->CancelTimer();  // -> Pump via the timer callback
    // Otherwise a write is in flight, and Pump reads again once it completes.
  }

  void OnLive(std::string event) {
    if (finished_) return;
    if (live_pending_.size() + event.size() > kMaxLivePending) return;
    live_pending_ += event;
    if (waiting_) call_->CancelTimer();
  }

  void Pump() {
    if (finished_ || writing_ || waiting_ || call_->Closed()) return;
    if (!live_pending_.empty()) {
      std::string out;
      out.swap(live_pending_);
      return Write(std::move(out));
    }
    auto entries = engine_.ReadJournal(run_id_, last_seq_, kJournalBatch);
    if (!entries.ok()) return Fail(entries.error());
    if (!entries->empty()) return WriteEntries(*entries);

    auto run = engine_.GetRun(run_id_);
    if (!run.ok()) return Fail(run.error());
    if (model::IsTerminal(run->status)) {
      // Entries committed between the two reads above come before the end.
      auto more = engine_.ReadJournal(run_id_, last_seq_, kJournalBatch);
      if (!more.ok()) return Fail(more.error());
      if (!more->empty()) return WriteEntries(*more);
      std::string end = "event: end\ndata: " + json::serialize(RunJson(*run)) + "\n\n";
      auto self = shared_from_this();
      writing_ = true;
      call_->WriteStream(std::move(end), [self](bool ok) {
        self->writing_ = false;
        if (ok) self->call_->EndStream();
        self->Finish();
      });
      return;
    }

    waiting_ = true;
    auto self = shared_from_this();
    call_->StartTimer(keepalive_ms_, [self](bool fired) {
      self->waiting_ = false;
      if (!fired) return self->Pump();
      self->Write(": keepalive\n\n");
    });
  }

  void WriteEntries(const std::vector<model::JournalEntry>& entries) {
    std::string out;
    for (const auto& e : entries) {
      out += "id: " + std::to_string(e.seq) + "\nevent: ";
      out += model::EntryKindName(e.kind);
      out += "\ndata: " + json::serialize(EntryJson(e)) + "\n\n";
      last_seq_ = e.seq;
    }
    Write(std::move(out));
  }

  void Write(std::string data) {
    writing_ = true;
    auto self = shared_from_this();
    call_->WriteStream(std::move(data), [self](bool ok) {
      self->writing_ = false;
      if (!ok) return self->Finish();
      self->Pump();
    });
  }

  void Fail(const Error& e) {
    obs::Warn(
        "http_event_stream_failed",
        {{"run_id", run_id_}, {"code", std::string(ErrcName(e.code))}, {"message", e.message}});
    call_->EndStream();
    Finish();
  }

  // Idempotent; safe on every path that ends the stream.
  void Finish() {
    finished_ = true;
    if (watching_) {
      watching_ = false;
      engine_.Unwatch(watch_);
      engine_.Unwatch(live_watch_);
    }
  }

  engine::Engine& engine_;
  std::shared_ptr<Call> call_;
  const std::string run_id_;
  int64_t last_seq_;
  const int64_t keepalive_ms_;
  engine::Engine::WatchId watch_ = 0;
  engine::Engine::WatchId live_watch_ = 0;
  std::string live_pending_;
  bool watching_ = false;
  bool writing_ = false;
  bool waiting_ = false;
  bool finished_ = false;
};

}  // namespace

void HandleGetEvents(const ApiContext& ctx, const std::shared_ptr<Call>& call) {
  const Request& req = call->request();
  const std::string& id = req.match.Param("id");
  int64_t after = 0;
  if (!req.last_event_id.empty()) {
    auto v = ParseNonNegativeInt(req.last_event_id);
    if (!v) {
      return call->Reply(
          ErrorResponse(InvalidArgument("Last-Event-ID: must be a journal seq (an integer)")));
    }
    after = *v;
  } else if (auto raw = req.query.Get("after")) {
    auto v = ParseNonNegativeInt(*raw);
    if (!v)
      return call->Reply(ErrorResponse(InvalidArgument("after: must be a non-negative integer")));
    after = *v;
  }
  auto run = ctx.engine.GetRun(id);
  if (!run.ok()) return call->Reply(ErrorResponse(ToApiError(run.error())));
  auto stream = std::make_shared<EventStream>(ctx.engine, call, id, after,
                                              std::max<int64_t>(ctx.opts.sse_keepalive_ms, 1));
  stream->Begin();
}

}  // namespace keel::api
