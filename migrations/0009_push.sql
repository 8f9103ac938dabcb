-- Web Push subscriptions (issue 12): one row per browser subscription (its endpoint is unique),
-- owned by a person (userId and/or anonymousId as the tracker knew them when subscribing). The
-- actions consumer sends a `push` action to every row of the person and deletes a row when its
-- push service answers 404/410.
CREATE TABLE push_subscriptions (
  endpoint     TEXT PRIMARY KEY,
  user_id      TEXT,
  anonymous_id TEXT,
  p256dh       TEXT NOT NULL,
  auth         TEXT NOT NULL,
  write_key    TEXT NOT NULL,
  created_at   TEXT NOT NULL
) STRICT;
CREATE INDEX push_subscriptions_user ON push_subscriptions (user_id) WHERE user_id IS NOT NULL;
CREATE INDEX push_subscriptions_anonymous ON push_subscriptions (anonymous_id) WHERE anonymous_id IS NOT NULL;
