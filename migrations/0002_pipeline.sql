-- Bad rows: every message (or unparseable request) that was turned away, with a stable reason
-- code and the payload exactly as received, so it can be fixed and replayed.
CREATE TABLE bad_rows (
  id           INTEGER PRIMARY KEY AUTOINCREMENT,
  received_at  TEXT NOT NULL,
  write_key    TEXT,
  endpoint     TEXT NOT NULL,          -- '/v1/batch', '/v1/track', …: how to re-read `payload`
  reason       TEXT NOT NULL,          -- stable code (event_too_large, plan_violation, …)
  detail       TEXT NOT NULL,
  message_id   TEXT,
  payload      TEXT NOT NULL,          -- the message as received (or the body, for request-level)
  replayed_at  TEXT,                   -- set when a replay accepted it
  replay_count INTEGER NOT NULL DEFAULT 0
) STRICT;
-- Listing newest first, optionally per reason; replay picks unreplayed rows.
CREATE INDEX bad_rows_received ON bad_rows (received_at);
CREATE INDEX bad_rows_reason ON bad_rows (reason, received_at);

-- Profiles maintained by the queue consumer from identify/group/alias (and every event's ids).
CREATE TABLE users (
  user_id    TEXT PRIMARY KEY,
  traits     TEXT NOT NULL DEFAULT '{}',   -- identify traits, merged (json_patch), newest wins
  first_seen TEXT,
  last_seen  TEXT
) STRICT;

CREATE TABLE groups (
  group_id   TEXT PRIMARY KEY,
  traits     TEXT NOT NULL DEFAULT '{}',
  first_seen TEXT,
  last_seen  TEXT
) STRICT;

CREATE TABLE group_members (
  group_id  TEXT NOT NULL,
  member_id TEXT NOT NULL,                 -- userId, else anonymousId
  joined_at TEXT NOT NULL,
  PRIMARY KEY (group_id, member_id)
) STRICT;

-- anonymousId (or alias previousId) → userId; the first link wins. Queries resolve a person as
-- COALESCE(events.user_id, aliases.user_id, events.anonymous_id).
CREATE TABLE aliases (
  anonymous_id TEXT PRIMARY KEY,
  user_id      TEXT NOT NULL,
  created_at   TEXT NOT NULL
) STRICT;
CREATE INDEX aliases_user ON aliases (user_id);

-- Admin-edited settings (JSON values): 'config' (sources, gpc) and 'tracking_plan'.
CREATE TABLE settings (
  key        TEXT PRIMARY KEY,
  value      TEXT NOT NULL,
  updated_at TEXT NOT NULL
) STRICT;
