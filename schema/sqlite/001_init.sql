-- Keel journal, version 1. docs/journal_format.md describes every table, record kind and
-- invariant. Times are Unix milliseconds (wall clock, as journaled); ids are text UUIDs.

CREATE TABLE runs (
  id               TEXT PRIMARY KEY,
  intent           TEXT NOT NULL,
  tenant           TEXT NOT NULL,
  caller_user      TEXT NOT NULL DEFAULT '',
  idempotency_key  TEXT NOT NULL DEFAULT '',
  correlation_id   TEXT NOT NULL DEFAULT '',
  payload          TEXT NOT NULL,
  payload_hash     TEXT NOT NULL,
  budget_deadline_ms INTEGER NOT NULL DEFAULT 0,
  budget_max_steps INTEGER NOT NULL DEFAULT 0,
  code_hash        TEXT NOT NULL,
  status           TEXT NOT NULL,
  wait_reason      TEXT NOT NULL DEFAULT '',
  wake_at          INTEGER NOT NULL DEFAULT 0,
  deadline_at      INTEGER NOT NULL DEFAULT 0,
  result           TEXT NOT NULL DEFAULT '',
  error_code       TEXT NOT NULL DEFAULT '',
  error_message    TEXT NOT NULL DEFAULT '',
  steps_used       INTEGER NOT NULL DEFAULT 0,
  lease_owner      TEXT NOT NULL DEFAULT '',
  lease_epoch      INTEGER NOT NULL DEFAULT 0,
  lease_expires_at INTEGER NOT NULL DEFAULT 0,
  created_at       INTEGER NOT NULL,
  updated_at       INTEGER NOT NULL
) WITHOUT ROWID;

-- Only non-terminal runs are indexed by status: recovery and the scheduler look for them,
-- and finished runs (the vast majority over time) cost nothing here.
CREATE INDEX runs_active ON runs(status, wake_at)
  WHERE status IN ('queued', 'running', 'waiting');

CREATE TABLE journal (
  run_id       TEXT NOT NULL,
  seq          INTEGER NOT NULL,
  kind         TEXT NOT NULL,
  name         TEXT NOT NULL,
  request_hash TEXT NOT NULL,
  result       TEXT NOT NULL,
  created_at   INTEGER NOT NULL,
  PRIMARY KEY (run_id, seq)
) WITHOUT ROWID;

-- Signals and interrupts (name '$interrupt') delivered to a run, consumed in arrival order.
CREATE TABLE signals (
  id           INTEGER PRIMARY KEY,
  run_id       TEXT NOT NULL,
  name         TEXT NOT NULL,
  payload      TEXT NOT NULL,
  created_at   INTEGER NOT NULL,
  consumed_seq INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX signals_pending ON signals(run_id, name, id) WHERE consumed_seq = 0;

-- Workflow source by content hash: a run resumes with the code it started with.
CREATE TABLE workflows (
  code_hash  TEXT PRIMARY KEY,
  intent     TEXT NOT NULL,
  source     TEXT NOT NULL,
  created_at INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE idempotency_keys (
  tenant       TEXT NOT NULL,
  key          TEXT NOT NULL,
  run_id       TEXT NOT NULL,
  payload_hash TEXT NOT NULL,
  created_at   INTEGER NOT NULL,
  PRIMARY KEY (tenant, key)
) WITHOUT ROWID;
