-- Keel journal, version 3: workflows that reach beyond one run (docs/journal_format.md):
-- the outbox of side effects, approval gates with their audit trail, child runs, parallel
-- branches and cancellation with compensation.

-- A child run names its parent; a terminal parent cancels its non-terminal descendants in
-- the same transaction. Most runs have no parent, so only child rows are indexed.
ALTER TABLE runs ADD COLUMN parent_run_id TEXT NOT NULL DEFAULT '';
CREATE INDEX runs_children ON runs(parent_run_id, created_at, id) WHERE parent_run_id != '';

-- 1 once a cancel with compensation was asked for (docs/compensation.md).
ALTER TABLE runs ADD COLUMN cancel_requested INTEGER NOT NULL DEFAULT 0;

-- The parallel branch that wrote an entry ("1.3", nested "1.3/1.2"); '' for the main line.
ALTER TABLE journal ADD COLUMN branch TEXT NOT NULL DEFAULT '';

-- Side effects to deliver at least once (docs/outbox.md), written in the transaction of the
-- journal entry that asked for them.
CREATE TABLE outbox (
  key             TEXT PRIMARY KEY,
  run_id          TEXT NOT NULL,
  seq             INTEGER NOT NULL DEFAULT 0,
  tenant          TEXT NOT NULL,
  kind            TEXT NOT NULL,
  target          TEXT NOT NULL,
  args            TEXT NOT NULL,
  status          TEXT NOT NULL,
  attempts        INTEGER NOT NULL DEFAULT 0,
  max_attempts    INTEGER NOT NULL,
  next_attempt_at INTEGER NOT NULL,
  last_error      TEXT NOT NULL DEFAULT '',
  result          TEXT NOT NULL DEFAULT '',
  created_at      INTEGER NOT NULL,
  updated_at      INTEGER NOT NULL
) WITHOUT ROWID;
-- The dispatcher's queue: only pending intents are indexed, delivered ones cost nothing here.
CREATE INDEX outbox_pending ON outbox(next_attempt_at, created_at, key) WHERE status = 'pending';
CREATE INDEX outbox_run ON outbox(run_id, key);

-- Human approval gates (docs/approvals.md). The row is the source of truth for the decision.
CREATE TABLE approvals (
  id               TEXT PRIMARY KEY,
  run_id           TEXT NOT NULL,
  seq              INTEGER NOT NULL,
  tenant           TEXT NOT NULL,
  intent           TEXT NOT NULL,
  step             TEXT NOT NULL,
  payload          TEXT NOT NULL,
  approvers        TEXT NOT NULL,
  escalate_to      TEXT NOT NULL,
  on_timeout       TEXT NOT NULL,
  timeout_ms       INTEGER NOT NULL DEFAULT 0,
  deadline_at      INTEGER NOT NULL DEFAULT 0,
  escalation_level INTEGER NOT NULL DEFAULT 0,
  max_escalations  INTEGER NOT NULL DEFAULT 0,
  status           TEXT NOT NULL,
  decided_by       TEXT NOT NULL DEFAULT '',
  reason           TEXT NOT NULL DEFAULT '',
  decided_at       INTEGER NOT NULL DEFAULT 0,
  timed_out        INTEGER NOT NULL DEFAULT 0,
  created_at       INTEGER NOT NULL
) WITHOUT ROWID;
-- The engine's approval timers: pending approvals by deadline.
CREATE INDEX approvals_pending ON approvals(deadline_at) WHERE status = 'pending';
CREATE INDEX approvals_tenant ON approvals(tenant, status, id);
CREATE INDEX approvals_run ON approvals(run_id, id);

-- The audit trail of every approval, append-only, in order.
CREATE TABLE approval_events (
  id          INTEGER PRIMARY KEY,
  approval_id TEXT NOT NULL,
  at          INTEGER NOT NULL,
  event       TEXT NOT NULL,
  who         TEXT NOT NULL DEFAULT '',
  detail      TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX approval_events_by_approval ON approval_events(approval_id, id);
