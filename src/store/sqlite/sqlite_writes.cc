// The write operations of SqliteStore. Each builds an Op whose `apply` runs on the writer
// thread inside a group-commit transaction; results reach the caller after the commit.

#include <boost/json.hpp>

#include "store/sqlite/rows.h"
#include "store/sqlite/sqlite_store.h"
#include "store/sqlite/write_steps.h"

namespace keel::store::sqlite {

namespace {

using model::RunStatus;

Status ValidateChild(const std::string& parent_id, const model::RunRecord& child) {
  if (child.id.empty()) {
    return Error{Errc::kInvalidArgument, "run " + parent_id + ": a child run has no id"};
  }
  if (child.parent_run_id != parent_id) {
    return Error{Errc::kInvalidArgument, "child run " + child.id + " names parent \"" +
                                             child.parent_run_id + "\", not " + parent_id};
  }
  if (model::IsTerminal(child.status) || child.status == RunStatus::kWaiting) {
    return Error{Errc::kInvalidArgument, "child run " + child.id +
                                             " must start queued or running, not " +
                                             std::string(model::StatusName(child.status))};
  }
  return OkStatus();
}

}  // namespace

void SqliteStore::Admit(AdmitRequest req, Callback<AdmitOutcome> done) {
  auto out = std::make_shared<AdmitOutcome>();
  auto apply = [req = std::move(req), out](Conn& c) -> Status {
    const model::RunRecord& run = req.run;
    auto existing = [&](const std::string& id, const std::string& what) -> Status {
      auto r = LoadRun(c, id);
      if (!r) return r.error();
      auto hash = c.Prepare("SELECT payload_hash FROM runs WHERE id = ?");
      if (!hash) return hash.error();
      (*hash)->Bind(1, id);
      auto row = (*hash)->Step();
      if (!row) return row.error();
      std::string stored = *row ? (*hash)->Text(0) : "";
      (*hash)->Reset();
      if (stored != req.payload_hash || r->tenant != run.tenant) {
        return Error{Errc::kConflict, what + " was already used by run " + id +
                                          " with a different intent or payload"};
      }
      out->run = std::move(*r);
      out->existing = true;
      return OkStatus();
    };
    if (!run.idempotency_key.empty()) {
      auto st = c.Prepare("SELECT run_id FROM idempotency_keys WHERE tenant = ? AND key = ?");
      if (!st) return st.error();
      (*st)->Bind(1, run.tenant).Bind(2, run.idempotency_key);
      auto row = (*st)->Step();
      if (!row) return row.error();
      if (*row) {
        std::string id = (*st)->Text(0);
        (*st)->Reset();
        return existing(id, "idempotency_key \"" + run.idempotency_key + "\"");
      }
    }
    {
      auto st = c.Prepare("SELECT 1 FROM runs WHERE id = ?");
      if (!st) return st.error();
      (*st)->Bind(1, run.id);
      auto row = (*st)->Step();
      if (!row) return row.error();
      (*st)->Reset();
      if (*row) return existing(run.id, "run_id \"" + run.id + "\"");
    }
    auto inserted = InsertRun(c, req, /*or_ignore=*/false);
    if (!inserted) return inserted.error();
    out->run = run;
    out->run.updated_at_ms = run.created_at_ms;
    out->existing = false;
    return OkStatus();
  };
  Submit(Op{std::move(apply), Deliver(out, std::move(done))});
}

void SqliteStore::Append(AppendRequest req, Callback<Ok> done) {
  auto apply = [req = std::move(req)](Conn& c) -> Status {
    if (Status st = CheckLease(c, req.run_id, req.lease_owner, req.lease_epoch); !st) return st;
    int64_t now = NowMs();
    for (const auto& b : req.blobs) {
      if (Status st = InsertBlob(c, b, now); !st) return st;
    }
    for (const auto& e : req.entries) {
      if (Status st = InsertEntry(c, e, now); !st) return st;
    }
    // Children, intents and approvals may be written again by a run that replays the step
    // that created them: each is inserted only if its id or key is new.
    for (const auto& child : req.children) {
      if (Status st = ValidateChild(req.run_id, child.run); !st) return st;
      AdmitRequest row = child;
      if (row.run.created_at_ms == 0) row.run.created_at_ms = now;
      if (auto r = InsertRun(c, row, /*or_ignore=*/true); !r) return r.error();
    }
    for (const auto& o : req.outbox) {
      if (auto r = InsertOutbox(c, o, now); !r) return r.error();
    }
    for (const auto& a : req.approvals) {
      if (Status st = InsertApproval(c, a, now); !st) return st;
    }
    if (req.transition) return ApplyTransition(c, req.run_id, *req.transition, req.usage, now);
    if (req.usage) return WriteUsage(c, req.run_id, *req.usage);
    return OkStatus();
  };
  Submit(Op{std::move(apply), [done = std::move(done)](Status st) {
              if (!st) return done(st.error());
              done(Ok{});
            }});
}

void SqliteStore::WaitForSignal(SignalWaitRequest req, Callback<SignalWaitOutcome> done) {
  auto out = std::make_shared<SignalWaitOutcome>();
  auto apply = [req = std::move(req), out](Conn& c) -> Status {
    if (Status st = CheckLease(c, req.run_id, req.lease_owner, req.lease_epoch); !st) return st;
    int64_t now = req.now_ms ? req.now_ms : NowMs();
    auto sel = c.Prepare(
        "SELECT id, payload FROM signals WHERE run_id = ? AND name = ? AND consumed_seq = 0 "
        "ORDER BY id LIMIT 1");
    if (!sel) return sel.error();
    (*sel)->Bind(1, req.run_id).Bind(2, req.name);
    auto row = (*sel)->Step();
    if (!row) return row.error();
    model::JournalEntry e;
    e.run_id = req.run_id;
    e.seq = req.seq;
    e.kind = model::EntryKind::kSignal;
    e.name = req.name;
    e.created_at_ms = now;
    if (*row) {
      int64_t signal_id = (*sel)->Int(0);
      std::string payload = (*sel)->Text(1);
      (*sel)->Reset();
      auto upd = c.Prepare("UPDATE signals SET consumed_seq = ? WHERE id = ?");
      if (!upd) return upd.error();
      (*upd)->Bind(1, req.seq).Bind(2, signal_id);
      if (Status st = (*upd)->Exec(); !st) return st;
      e.result_json = "{\"signal\":" + payload + "}";
    } else if (req.timeout_at_ms > 0 && now >= req.timeout_at_ms) {
      e.result_json = "{\"timeout\":true}";
    } else {
      Transition t;
      t.status = RunStatus::kWaiting;
      t.wait_reason = "signal:" + req.name;
      t.wake_at_ms = req.timeout_at_ms;
      t.release_lease = true;
      out->parked = true;
      return ApplyTransition(c, req.run_id, t, std::optional<UsageUpdate>(req.usage), now);
    }
    if (Status st = InsertEntry(c, e, now); !st) return st;
    out->parked = false;
    out->entry = std::move(e);
    return OkStatus();
  };
  Submit(Op{std::move(apply), Deliver(out, std::move(done))});
}

void SqliteStore::TakeInterrupts(std::string run_id, std::string owner, int64_t epoch, int64_t seq,
                                 Callback<model::JournalEntry> done) {
  auto out = std::make_shared<model::JournalEntry>();
  auto apply = [run_id = std::move(run_id), owner = std::move(owner), epoch, seq,
                out](Conn& c) -> Status {
    if (Status st = CheckLease(c, run_id, owner, epoch); !st) return st;
    auto sel = c.Prepare(
        "SELECT id, payload FROM signals WHERE run_id = ? AND name = '$interrupt' "
        "AND consumed_seq = 0 ORDER BY id");
    if (!sel) return sel.error();
    (*sel)->Bind(1, run_id);
    std::string items = "[";
    for (;;) {
      auto row = (*sel)->Step();
      if (!row) return row.error();
      if (!*row) break;
      if (items.size() > 1) items += ",";
      items += (*sel)->Text(1);
    }
    items += "]";
    auto upd = c.Prepare(
        "UPDATE signals SET consumed_seq = ? WHERE run_id = ? AND name = '$interrupt' "
        "AND consumed_seq = 0");
    if (!upd) return upd.error();
    (*upd)->Bind(1, seq).Bind(2, run_id);
    if (Status st = (*upd)->Exec(); !st) return st;
    int64_t now = NowMs();
    out->run_id = run_id;
    out->seq = seq;
    out->kind = model::EntryKind::kInterrupts;
    out->name = "interrupts";
    out->result_json = items;
    out->created_at_ms = now;
    return InsertEntry(c, *out, now);
  };
  Submit(Op{std::move(apply), Deliver(out, std::move(done))});
}

void SqliteStore::DeliverSignal(std::string run_id, std::string name, std::string payload_json,
                                Callback<DeliverOutcome> done) {
  auto out = std::make_shared<DeliverOutcome>();
  auto apply = [run_id = std::move(run_id), name = std::move(name),
                payload = std::move(payload_json), out](Conn& c) -> Status {
    auto run = LoadRun(c, run_id);
    if (!run) return run.error();
    if (model::IsTerminal(run->status)) {
      return Error{Errc::kAlreadyFinished, "run " + run_id + " has already finished (" +
                                               std::string(model::StatusName(run->status)) + ")"};
    }
    auto woke = RecordSignal(c, *run, name, payload, NowMs());
    if (!woke) return woke.error();
    out->woke = *woke;
    return OkStatus();
  };
  Submit(Op{std::move(apply), Deliver(out, std::move(done))});
}

void SqliteStore::Finish(std::string run_id, Transition t, Callback<model::RunRecord> done) {
  auto out = std::make_shared<model::RunRecord>();
  auto apply = [run_id = std::move(run_id), t = std::move(t), out](Conn& c) -> Status {
    auto run = LoadRun(c, run_id);
    if (!run) return run.error();
    if (model::IsTerminal(run->status)) {
      return Error{Errc::kAlreadyFinished, "run " + run_id + " has already finished (" +
                                               std::string(model::StatusName(run->status)) + ")"};
    }
    Transition final = t;
    final.release_lease = true;
    final.wake_at_ms = 0;
    if (Status st = ApplyTransition(c, run_id, final, std::nullopt, NowMs()); !st) return st;
    auto updated = LoadRun(c, run_id);
    if (!updated) return updated.error();
    *out = std::move(*updated);
    return OkStatus();
  };
  Submit(Op{std::move(apply), Deliver(out, std::move(done))});
}

void SqliteStore::RequestCancel(std::string run_id, Callback<model::RunRecord> done) {
  auto out = std::make_shared<model::RunRecord>();
  auto apply = [run_id = std::move(run_id), out](Conn& c) -> Status {
    auto run = LoadRun(c, run_id);
    if (!run) return run.error();
    if (model::IsTerminal(run->status)) {
      return Error{Errc::kAlreadyFinished, "run " + run_id + " has already finished (" +
                                               std::string(model::StatusName(run->status)) + ")"};
    }
    // A parked run holds no lease and no executor would look at it before its timer or
    // signal: queue it so that one picks it up and runs its undo steps. A running or queued
    // run sees the flag at its next step.
    auto upd = c.Prepare(
        "UPDATE runs SET cancel_requested = 1, "
        "status = CASE WHEN status = 'waiting' THEN 'queued' ELSE status END, "
        "wait_reason = CASE WHEN status = 'waiting' THEN '' ELSE wait_reason END, "
        "wake_at = CASE WHEN status = 'waiting' THEN 0 ELSE wake_at END, updated_at = ? "
        "WHERE id = ?");
    if (!upd) return upd.error();
    (*upd)->Bind(1, NowMs()).Bind(2, run_id);
    if (Status st = (*upd)->Exec(); !st) return st;
    auto updated = LoadRun(c, run_id);
    if (!updated) return updated.error();
    *out = std::move(*updated);
    return OkStatus();
  };
  Submit(Op{std::move(apply), Deliver(out, std::move(done))});
}

void SqliteStore::Acquire(std::string run_id, std::string owner, int64_t expires_at_ms,
                          Callback<AcquireOutcome> done) {
  auto out = std::make_shared<AcquireOutcome>();
  auto apply = [run_id = std::move(run_id), owner = std::move(owner), expires_at_ms,
                out](Conn& c) -> Status {
    auto run = LoadRun(c, run_id);
    if (!run) return run.error();
    if (model::IsTerminal(run->status)) {
      return Error{Errc::kAlreadyFinished, "run " + run_id + " has already finished"};
    }
    auto upd = c.Prepare(
        "UPDATE runs SET status = 'running', wait_reason = '', wake_at = 0, lease_owner = ?, "
        "lease_epoch = lease_epoch + 1, lease_expires_at = ?, updated_at = ? WHERE id = ?");
    if (!upd) return upd.error();
    (*upd)->Bind(1, owner).Bind(2, expires_at_ms).Bind(3, NowMs()).Bind(4, run_id);
    if (Status st = (*upd)->Exec(); !st) return st;
    // The caller gets the record as it was (wait reason and wake time tell it what the run
    // was waiting for) with the new lease.
    out->run = std::move(*run);
    out->run.lease_owner = owner;
    out->run.lease_epoch += 1;
    out->run.lease_expires_at_ms = expires_at_ms;
    return OkStatus();
  };
  Submit(Op{std::move(apply), Deliver(out, std::move(done))});
}

void SqliteStore::Heartbeat(std::string owner, int64_t expires_at_ms, Callback<Ok> done) {
  auto apply = [owner = std::move(owner), expires_at_ms](Conn& c) -> Status {
    auto upd = c.Prepare(
        "UPDATE runs SET lease_expires_at = ? WHERE lease_owner = ? "
        "AND status IN ('queued', 'running')");
    if (!upd) return upd.error();
    (*upd)->Bind(1, expires_at_ms).Bind(2, owner);
    return (*upd)->Exec();
  };
  Submit(Op{std::move(apply), [done = std::move(done)](Status st) {
              if (!st) return done(st.error());
              done(Ok{});
            }});
}

void SqliteStore::ReleaseAll(std::string owner, Callback<Ok> done) {
  auto apply = [owner = std::move(owner)](Conn& c) -> Status {
    auto upd = c.Prepare(
        "UPDATE runs SET lease_owner = '', lease_expires_at = 0 WHERE lease_owner = ? "
        "AND status IN ('queued', 'running')");
    if (!upd) return upd.error();
    (*upd)->Bind(1, owner);
    return (*upd)->Exec();
  };
  Submit(Op{std::move(apply), [done = std::move(done)](Status st) {
              if (!st) return done(st.error());
              done(Ok{});
            }});
}

Result<std::vector<model::RunRecord>> SqliteStore::TakeOverRuns(std::string owner,
                                                                int64_t expires_at_ms,
                                                                bool take_all, int64_t now_ms) {
  auto out = std::make_shared<std::vector<model::RunRecord>>();
  Status st = SubmitSync([&, out](Conn& c) -> Status {
    auto upd = c.Prepare(
        "UPDATE runs SET lease_owner = ?, lease_epoch = lease_epoch + 1, lease_expires_at = ?, "
        "status = 'running' WHERE status IN ('queued', 'running') "
        "AND (? OR lease_owner = '' OR lease_expires_at < ?)");
    if (!upd) return upd.error();
    (*upd)->Bind(1, owner).Bind(2, expires_at_ms).Bind(3, int64_t{take_all}).Bind(4, now_ms);
    if (Status s = (*upd)->Exec(); !s) return s;
    auto sel = c.Prepare("SELECT " KEEL_RUN_COLUMNS
                         " FROM runs WHERE status = 'running' AND lease_owner = ? ORDER BY id");
    if (!sel) return sel.error();
    (*sel)->Bind(1, owner);
    for (;;) {
      auto row = (*sel)->Step();
      if (!row) return row.error();
      if (!*row) break;
      out->push_back(ReadRun(**sel));
    }
    return OkStatus();
  });
  if (!st) return st.error();
  return std::move(*out);
}

Status SqliteStore::PutWorkflow(const std::string& code_hash, const std::string& intent,
                                const std::string& source) {
  return SubmitSync([&](Conn& c) -> Status {
    auto sel = c.Prepare("SELECT source FROM workflows WHERE code_hash = ?");
    if (!sel) return sel.error();
    (*sel)->Bind(1, code_hash);
    auto row = (*sel)->Step();
    if (!row) return row.error();
    if (*row) {
      bool same = (*sel)->Text(0) == source;
      (*sel)->Reset();
      if (!same) {
        return Error{Errc::kConflict, "workflow " + intent + ": content hash " + code_hash +
                                          " collides with different stored source"};
      }
      return OkStatus();
    }
    auto ins =
        c.Prepare("INSERT INTO workflows (code_hash, intent, source, created_at) VALUES (?,?,?,?)");
    if (!ins) return ins.error();
    (*ins)->Bind(1, code_hash).Bind(2, intent).Bind(3, source).Bind(4, NowMs());
    return (*ins)->Exec();
  });
}

}  // namespace keel::store::sqlite
