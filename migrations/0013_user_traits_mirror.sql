-- ClickHouse copy of profile traits (issue 13). The events consumer merges identify traits into
-- `users` (json_patch, in processing order); every change that alters a row's traits takes a
-- new, higher `rev` (each statement takes MAX(rev) + 1 + the row's position), and rows with a
-- rev above user_sync.rev are still to be mirrored to ClickHouse's `users`, where queries take
-- the highest rev per user. Rows stored before this migration get rev = rowid, so the mirror
-- backfills every existing profile once a deployment selects ClickHouse (a page at a time, a
-- few pages per consumer run).
ALTER TABLE users ADD COLUMN rev INTEGER NOT NULL DEFAULT 0;
UPDATE users SET rev = rowid;
CREATE INDEX users_rev ON users (rev);

CREATE TABLE user_sync (
  id  INTEGER PRIMARY KEY CHECK (id = 1),
  rev INTEGER NOT NULL
) STRICT;
