-- Trigger rules (issue 5). The admin API validates a rule with spur-core before saving it here;
-- `body` is the rule document as JSON. The set's version lives in settings('rules_version') and
-- changes on every write, so per-isolate caches and Durable Objects know to reload.
CREATE TABLE rules (
  id         TEXT PRIMARY KEY,
  body       TEXT NOT NULL,
  enabled    INTEGER NOT NULL,
  created_at TEXT NOT NULL,
  updated_at TEXT NOT NULL
) STRICT;

-- One row per firing (or firing suppressed by the rule's frequency cap). Written by the actions
-- queue consumer, idempotently by id; `actions` holds each action's outcome
-- ([{type, target, status, detail?}]; status: returned, pending_pickup, delivered, retrying,
-- dead_lettered, forwarded, failed) and is updated as webhook deliveries are retried.
CREATE TABLE rule_firings (
  id          TEXT PRIMARY KEY,
  rule_id     TEXT NOT NULL,
  user_id     TEXT NOT NULL,            -- userId, else anonymousId
  fired_at    TEXT NOT NULL,            -- RFC 3339
  fired_ms    INTEGER NOT NULL,
  message_ids TEXT NOT NULL,            -- JSON array: the events that made it fire
  source      TEXT NOT NULL,            -- 'ingest' (stateless), 'state' (per-user object), 'alarm'
  capped      INTEGER NOT NULL DEFAULT 0,
  actions     TEXT NOT NULL DEFAULT '[]',
  attempts    INTEGER NOT NULL DEFAULT 0, -- webhook delivery attempts so far
  updated_at  TEXT NOT NULL
) STRICT;
CREATE INDEX rule_firings_rule ON rule_firings (rule_id, fired_ms);
CREATE INDEX rule_firings_user ON rule_firings (user_id, fired_ms);
