-- ClickHouse events store (issue 13): accepted events when EVENTS_STORE = "clickhouse".
-- Written by the events queue consumer (JSONEachRow over HTTP, core::query::clickhouse::row).
--
-- Sort key (type, event, ts_ms, message_id): every analysis filters by event name (or message
-- type for $pageview/…) and a time range, so those lead and one query reads a few contiguous
-- ranges of the primary index. message_id comes last so that it completes the key:
-- ReplacingMergeTree collapses rows with equal sort keys, and a redelivered queue message
-- produces byte-identical rows. Queries read each message_id once (`FINAL`, or `LIMIT 1 BY
-- message_id` when they read the f_* arrays), so a duplicate that has not been merged yet never
-- counts twice; a client retry whose timestamp moved (another sort key)
-- is never inserted: the consumer keeps only each messageId's first copy, recorded in D1's
-- message-id ledger (migrations/0014_message_ids.sql).
-- Partitioning by month of the event time: ranges over weeks touch one or two partitions,
-- and old months can be dropped whole; finer partitions would mean too many parts.
-- Strings are non-Nullable ('' = absent): cheaper, and 18.16 handles it everywhere.
-- Times are ms in Int64: 18.16 has no DateTime64.
CREATE TABLE IF NOT EXISTS events (
  message_id   String,
  type         String,
  event        String,
  name         String,
  user_id      String,
  anonymous_id String,
  group_id     String,
  previous_id  String,
  ts_ms        Int64,
  received_ms  Int64,
  properties   String,
  traits       String,
  context      String,
  write_key    String,
  -- Every JSON key path of properties/context/traits, typed like SQLite's json_extract
  -- (kind 1 null, 2 number/boolean, 3 text/object/array); see core/src/query/clickhouse/mod.rs.
  f_key  Array(String),
  f_kind Array(UInt8),
  f_str  Array(String),
  f_num  Array(Float64)
) ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(toDate(toDateTime(intDiv(ts_ms, 1000))))
ORDER BY (type, event, ts_ms, message_id);

-- anonymousId (or alias previousId) -> userId as the consumer sees them; profiles stay in D1,
-- this copy only lets queries resolve people without leaving ClickHouse. Queries take the
-- earliest link per anonymous id (argMin by created_ms); duplicates collapse on merge.
CREATE TABLE IF NOT EXISTS aliases (
  anonymous_id String,
  user_id      String,
  created_ms   Int64
) ENGINE = ReplacingMergeTree
ORDER BY (anonymous_id, user_id);
