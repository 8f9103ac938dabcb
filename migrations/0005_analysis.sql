-- Analysis (issue 6): identity tables the queries read, saved segments, and indexes for the
-- query shapes in core/src/query/. The identity tables use IF NOT EXISTS because the
-- ingestion side creates and fills them too; this migration must not depend on the order.

-- Anonymous id -> user id, written on identify/alias. Queries resolve a person as
-- COALESCE(e.user_id, a.user_id, e.anonymous_id) with a LEFT JOIN on this table; the primary
-- key makes that join one index lookup per event.
CREATE TABLE IF NOT EXISTS aliases (
  anonymous_id TEXT PRIMARY KEY,
  user_id      TEXT NOT NULL,
  created_at   TEXT NOT NULL
);

-- Latest traits per user (segments' `trait` conditions read it first, then identify events).
CREATE TABLE IF NOT EXISTS users (
  user_id    TEXT PRIMARY KEY,
  traits     TEXT NOT NULL DEFAULT '{}',
  first_seen TEXT,
  last_seen  TEXT
);

-- Saved segment definitions (validated JSON: {"name", "where"}), usable by trigger rules.
CREATE TABLE IF NOT EXISTS segments (
  id         TEXT PRIMARY KEY,
  name       TEXT NOT NULL,
  definition TEXT NOT NULL,
  created_at TEXT NOT NULL,
  updated_at TEXT NOT NULL
) STRICT;

-- Funnels over track events filter `event IN (step names) AND ts_ms in [from, to + window)`.
-- events_event_ts (0001) finds those rows; carrying user_id and anonymous_id in the index lets
-- funnels without property filters, and insights without filters or breakdown, read the
-- index alone instead of every row's JSON columns (the bulk of a row). It supersedes
-- events_event_ts for reads, which is kept only because 0001 owns it.
CREATE INDEX IF NOT EXISTS events_event_ts_ids ON events (event, ts_ms, user_id, anonymous_id);

-- Steps, insights and segment leaves on `$pageview`/`$screen`/`$identify` select by message
-- type (track events are found by name above); trait lookups scan identify events only.
CREATE INDEX IF NOT EXISTS events_type_ts ON events (type, ts_ms);
