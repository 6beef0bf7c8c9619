// The write operations of SqliteStore. Each builds an Op whose `apply` runs on the writer
// thread inside a group-commit transaction; results reach the caller after the commit.

#include <boost/json.hpp>

#include "store/sqlite/rows.h"
#include "store/sqlite/sqlite_store.h"

namespace keel::store::sqlite {

namespace {

using model::RunStatus;

// The fencing check every lease-holding write makes in its own transaction.
Status CheckLease(Conn& c, const std::string& run_id, const std::string& owner, int64_t epoch) {
  auto st = c.Prepare("SELECT status, lease_owner, lease_epoch FROM runs WHERE id = ?");
  if (!st) return st.error();
  (*st)->Bind(1, run_id);
  auto row = (*st)->Step();
  if (!row) return row.error();
  if (!*row) return Error{Errc::kNotFound, "run " + run_id + " not found"};
  auto status = model::ParseStatus((*st)->Text(0));
  std::string cur_owner = (*st)->Text(1);
  int64_t cur_epoch = (*st)->Int(2);
  (*st)->Reset();
  if (!status || model::IsTerminal(*status)) {
    return Error{Errc::kAlreadyFinished, "run " + run_id + " has already finished"};
  }
  if (cur_owner != owner || cur_epoch != epoch) {
    return Error{Errc::kFenced, "run " + run_id + ": lease epoch " + std::to_string(epoch) +
                                    " of " + owner + " is stale (now " + std::to_string(cur_epoch) +
                                    " of " + cur_owner + ")"};
  }
  return OkStatus();
}

Status InsertEntry(Conn& c, const model::JournalEntry& e, int64_t now) {
  // Journals are contiguous: entry n is accepted only after entry n-1 (docs/journal_format.md).
  if (e.seq > 1) {
    auto prev = c.Prepare("SELECT 1 FROM journal WHERE run_id = ? AND seq = ?");
    if (!prev) return prev.error();
    (*prev)->Bind(1, e.run_id).Bind(2, e.seq - 1);
    auto row = (*prev)->Step();
    if (!row) return row.error();
    (*prev)->Reset();
    if (!*row) {
      return Error{Errc::kFenced, "run " + e.run_id + ": journal entry " + std::to_string(e.seq) +
                                      " would leave a gap after a failed write"};
    }
  } else if (e.seq < 1) {
    return Error{Errc::kInternal, "journal seq must start at 1"};
  }
  auto st = c.Prepare("INSERT INTO journal (" KEEL_JOURNAL_COLUMNS ") VALUES (?,?,?,?,?,?,?,?)");
  if (!st) return st.error();
  (*st)->Bind(1, e.run_id).Bind(2, e.seq).Bind(3, model::EntryKindName(e.kind)).Bind(4, e.name);
  (*st)
      ->Bind(5, e.request_hash)
      .Bind(6, e.result_json)
      .Bind(7, e.created_at_ms ? e.created_at_ms : now)
      .Bind(8, e.request_json);
  Status s = (*st)->Exec();
  if (!s && s.error().code == Errc::kConflict) {
    return Error{Errc::kFenced, "run " + e.run_id + ": journal entry " + std::to_string(e.seq) +
                                    " already exists (a stale executor?)"};
  }
  return s;
}

Status WriteUsage(Conn& c, const std::string& run_id, const UsageUpdate& u) {
  auto st = c.Prepare(
      "UPDATE runs SET steps_used = ?, tools_used = ?, tokens_used = ?, cost_usd = ? "
      "WHERE id = ?");
  if (!st) return st.error();
  (*st)->Bind(1, u.steps_used).Bind(2, u.tools_used).Bind(3, u.tokens_used);
  (*st)->BindDouble(4, u.cost_usd).Bind(5, run_id);
  return (*st)->Exec();
}

Status InsertBlob(Conn& c, const Blob& b, int64_t now) {
  auto st = c.Prepare("INSERT OR IGNORE INTO blobs (key, data, created_at) VALUES (?,?,?)");
  if (!st) return st.error();
  (*st)->Bind(1, b.key).Bind(2, b.data).Bind(3, now);
  return (*st)->Exec();
}

Status ApplyTransition(Conn& c, const std::string& run_id, const Transition& t,
                       const std::optional<UsageUpdate>& usage, int64_t now) {
  if (usage) {
    if (Status st = WriteUsage(c, run_id, *usage); !st) return st;
  }
  auto st = c.Prepare(
      "UPDATE runs SET status = ?, wait_reason = ?, wake_at = ?, result = ?, error_code = ?, "
      "error_message = ?, lease_owner = CASE WHEN ? THEN '' ELSE lease_owner END, "
      "lease_expires_at = CASE WHEN ? THEN 0 ELSE lease_expires_at END, updated_at = ? "
      "WHERE id = ?");
  if (!st) return st.error();
  (*st)->Bind(1, model::StatusName(t.status)).Bind(2, t.wait_reason).Bind(3, t.wake_at_ms);
  (*st)->Bind(4, t.result_json).Bind(5, t.error_code).Bind(6, t.error_message);
  (*st)->Bind(7, int64_t{t.release_lease}).Bind(8, int64_t{t.release_lease}).Bind(9, now);
  (*st)->Bind(10, run_id);
  return (*st)->Exec();
}

int64_t NowMs() {
  // The store stamps updated_at/created_at of bookkeeping rows; journaled times come from
  // the engine's Clock.
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

template <typename T>
std::function<void(Status)> Deliver(std::shared_ptr<T> out, Callback<T> done) {
  return [out = std::move(out), done = std::move(done)](Status st) {
    if (!st) return done(st.error());
    done(std::move(*out));
  };
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
    auto ins = c.Prepare(
        "INSERT INTO runs (id, intent, tenant, caller_user, idempotency_key, correlation_id, "
        "payload, payload_hash, budget_deadline_ms, budget_max_steps, code_hash, status, "
        "deadline_at, lease_owner, lease_epoch, lease_expires_at, created_at, updated_at, "
        "budget_max_tools, budget_max_tokens, budget_max_context, budget_max_cost_usd) "
        "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)");
    if (!ins) return ins.error();
    Stmt& s = **ins;
    s.Bind(1, run.id).Bind(2, run.intent).Bind(3, run.tenant).Bind(4, run.user);
    s.Bind(5, run.idempotency_key).Bind(6, run.correlation_id).Bind(7, run.payload_json);
    s.Bind(8, req.payload_hash).Bind(9, run.budget.deadline_ms).Bind(10, run.budget.max_steps);
    s.Bind(11, run.code_hash).Bind(12, model::StatusName(run.status)).Bind(13, run.deadline_at_ms);
    s.Bind(14, run.lease_owner).Bind(15, run.lease_epoch).Bind(16, run.lease_expires_at_ms);
    s.Bind(17, run.created_at_ms).Bind(18, run.created_at_ms);
    s.Bind(19, run.budget.max_tools).Bind(20, run.budget.max_tokens);
    s.Bind(21, run.budget.max_context).BindDouble(22, run.budget.max_cost_usd);
    if (Status st = s.Exec(); !st) return st;
    if (!run.idempotency_key.empty()) {
      auto key = c.Prepare(
          "INSERT INTO idempotency_keys (tenant, key, run_id, payload_hash, created_at) "
          "VALUES (?,?,?,?,?)");
      if (!key) return key.error();
      (*key)->Bind(1, run.tenant).Bind(2, run.idempotency_key).Bind(3, run.id);
      (*key)->Bind(4, req.payload_hash).Bind(5, run.created_at_ms);
      if (Status st = (*key)->Exec(); !st) return st;
    }
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
    int64_t now = NowMs();
    auto ins =
        c.Prepare("INSERT INTO signals (run_id, name, payload, created_at) VALUES (?,?,?,?)");
    if (!ins) return ins.error();
    (*ins)->Bind(1, run_id).Bind(2, name).Bind(3, payload).Bind(4, now);
    if (Status st = (*ins)->Exec(); !st) return st;
    out->woke = false;
    if (run->status == RunStatus::kWaiting && run->wait_reason == "signal:" + name) {
      auto upd = c.Prepare(
          "UPDATE runs SET status = 'queued', updated_at = ? WHERE id = ? AND status = 'waiting'");
      if (!upd) return upd.error();
      (*upd)->Bind(1, now).Bind(2, run_id);
      if (Status st = (*upd)->Exec(); !st) return st;
      out->woke = true;
    }
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
