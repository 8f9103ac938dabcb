-- Refused alias links (issue 12): a link the events consumer does not store (it would close a
-- cycle, the id is already linked to another person, or it would re-point more than
-- MAX_ALIAS_FAN_IN rows) is recorded as a bad row with endpoint 'alias_link', a stable reason
-- (alias_cycle, alias_conflict, alias_fan_in), the event's message id and the link as payload
-- ({"id", "to"}). The event itself is stored; such a row is never replayed. One row per event
-- and link, however often the queue redelivers the event.
CREATE UNIQUE INDEX bad_rows_alias_link ON bad_rows (message_id, payload) WHERE endpoint = 'alias_link';
