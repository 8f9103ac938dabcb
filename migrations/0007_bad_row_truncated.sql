-- A rejected message larger than the kept-payload bound (spur_core::limits::
-- MAX_BAD_ROW_PAYLOAD_BYTES) is stored cut and flagged, so the row still records the rejection
-- and its reason; a truncated row cannot be replayed.
ALTER TABLE bad_rows ADD COLUMN payload_truncated INTEGER NOT NULL DEFAULT 0;
