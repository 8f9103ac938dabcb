-- The request facts a bad row keeps (spur_core::KeptFacts as JSON: truncated IP, user agent
-- and client hints, Sec-GPC, Origin, request.cf without postal code or coordinates, batch
-- sentAt), so a replay enriches its message as the original request would have.
ALTER TABLE bad_rows ADD COLUMN request TEXT;
