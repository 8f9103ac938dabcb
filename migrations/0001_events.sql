-- Accepted events, one row per messageId (the dedupe key: inserts use ON CONFLICT DO NOTHING).
-- JSON columns hold Segment-spec objects as sent (plus Spur's enrichment in `context`).
CREATE TABLE events (
  message_id         TEXT PRIMARY KEY,
  type               TEXT NOT NULL CHECK (type IN ('track','page','screen','identify','group','alias')),
  event              TEXT,            -- track: the event name
  name               TEXT,            -- page/screen: the name
  user_id            TEXT,
  anonymous_id       TEXT,
  group_id           TEXT,
  previous_id        TEXT,
  timestamp          TEXT NOT NULL,   -- RFC 3339, clock-skew corrected
  ts_ms              INTEGER NOT NULL,-- the same instant in ms since 1970, for range queries
  received_at        TEXT NOT NULL,
  sent_at            TEXT,
  original_timestamp TEXT,
  properties         TEXT NOT NULL DEFAULT '{}',
  traits             TEXT NOT NULL DEFAULT '{}',
  context            TEXT NOT NULL DEFAULT '{}',
  integrations       TEXT NOT NULL DEFAULT '{}',
  write_key          TEXT
) STRICT;

-- Time-range scans, optionally per event name (insight queries, the live stream).
CREATE INDEX events_ts ON events (ts_ms);
CREATE INDEX events_event_ts ON events (event, ts_ms);
