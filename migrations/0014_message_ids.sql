-- The message-id ledger of the ClickHouse events store (issue 13). ClickHouse cannot say
-- whether a messageId was stored before, so with EVENTS_STORE = "clickhouse" the events
-- consumer records each id here first, with the digest of its first copy's ClickHouse row
-- (core::query::clickhouse::row_digest: FNV-1a 64 of the JSONEachRow text, 16 hex digits)
-- and when the consumer first saw it (the edge's clock, ms). Only copies whose digest equals
-- the recorded one are inserted into ClickHouse: the first copy, and byte-identical queue
-- redeliveries of it, which ClickHouse's `FINAL` collapses. A later copy with another digest
-- (a client retry without `timestamp`) is dropped, as D1's events table drops it.
-- Rows older than limits::MESSAGE_ID_WINDOW_MS (7 days) are swept by the consumer, a bounded
-- range of `message_ids_seen` per run; unused in D1 mode.
CREATE TABLE message_ids (
  message_id TEXT PRIMARY KEY,
  digest     TEXT NOT NULL,
  seen_ms    INTEGER NOT NULL
) STRICT, WITHOUT ROWID;
CREATE INDEX message_ids_seen ON message_ids (seen_ms);
