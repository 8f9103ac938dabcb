-- Journeys (issue 11). The admin API validates a journey with spur-core before saving it here.
-- `draft` is the document being edited; `published` is the live revision (NULL until first
-- published), `revision` its number (0 = never published). The set's version lives in
-- settings('journeys_version') and changes on every publish or delete, so per-isolate caches and
-- the per-person Durable Objects know to reload. Runs live in each person's Durable Object;
-- their actions are recorded in rule_firings under rule_id 'journey:<id>'.
CREATE TABLE journeys (
  id         TEXT PRIMARY KEY,
  draft      TEXT NOT NULL,
  published  TEXT,
  revision   INTEGER NOT NULL DEFAULT 0,
  created_at TEXT NOT NULL,
  updated_at TEXT NOT NULL
) STRICT;

-- Per-node live counts, added to by the per-person objects (what: entered, visited, exited,
-- converted; holdout 0/1; node '' for journey-level counts).
CREATE TABLE journey_stats (
  journey_id TEXT NOT NULL,
  node       TEXT NOT NULL,
  what       TEXT NOT NULL,
  holdout    INTEGER NOT NULL,
  n          INTEGER NOT NULL,
  PRIMARY KEY (journey_id, node, what, holdout)
) STRICT;
