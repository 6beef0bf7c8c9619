-- Keel journal, version 2: model and tool calls (docs/journal_format.md).

-- The full budget of the envelope, and what a run has used of it. Usage is also derivable
-- from the journal (replay recomputes it); the columns serve reads and listings.
ALTER TABLE runs ADD COLUMN budget_max_tools INTEGER NOT NULL DEFAULT 0;
ALTER TABLE runs ADD COLUMN budget_max_tokens INTEGER NOT NULL DEFAULT 0;
ALTER TABLE runs ADD COLUMN budget_max_context INTEGER NOT NULL DEFAULT 0;
ALTER TABLE runs ADD COLUMN budget_max_cost_usd REAL NOT NULL DEFAULT 0;
ALTER TABLE runs ADD COLUMN tools_used INTEGER NOT NULL DEFAULT 0;
ALTER TABLE runs ADD COLUMN tokens_used INTEGER NOT NULL DEFAULT 0;
ALTER TABLE runs ADD COLUMN cost_usd REAL NOT NULL DEFAULT 0;

-- What an llm or tool entry sent (the prompt, the arguments), for transcripts. Replay does
-- not read it.
ALTER TABLE journal ADD COLUMN request TEXT NOT NULL DEFAULT '';

-- Large tool results, stored once under "<run_id>:<seq>" of the tool entry and referenced from
-- journal entries as {"$ref": "blob:<run_id>:<seq>"}, so they do not bloat every later step.
CREATE TABLE blobs (
  key        TEXT PRIMARY KEY,
  data       TEXT NOT NULL,
  created_at INTEGER NOT NULL
) WITHOUT ROWID;
