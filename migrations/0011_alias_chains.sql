-- Alias chains of any length (issue 12). The events consumer keeps every row pointing at the
-- root of its chain: linking id X to Y stores X -> root(Y) and re-points the rows that pointed
-- at X, so queries resolve any chain (A -> B, later B -> C) with the one join they already
-- make, now on the event's own id (user id, else anonymous id). A link whose target's root is
-- X itself would close a cycle and is not stored (the first link wins, as before).
-- `rev` increases with every change (each transaction takes MAX(rev) + 1); rows with a rev
-- above alias_sync.rev are still to be mirrored to ClickHouse's alias_roots. Rows stored
-- before this migration keep rev 0: ClickHouse already has them in its `aliases` table.
ALTER TABLE aliases ADD COLUMN rev INTEGER NOT NULL DEFAULT 0;
CREATE INDEX aliases_rev ON aliases (rev);

CREATE TABLE alias_sync (
  id  INTEGER PRIMARY KEY CHECK (id = 1),
  rev INTEGER NOT NULL
) STRICT;

-- Flatten chains stored before (each pass shortens every chain by at least one hop; links
-- stored before were at most a few hops). A row whose next hop points back at it is left
-- alone, so an old cycle does not collapse onto one id.
UPDATE aliases SET user_id = (SELECT b.user_id FROM aliases b WHERE b.anonymous_id = aliases.user_id)
WHERE user_id IN (SELECT anonymous_id FROM aliases)
  AND (SELECT b.user_id FROM aliases b WHERE b.anonymous_id = aliases.user_id) != anonymous_id;
UPDATE aliases SET user_id = (SELECT b.user_id FROM aliases b WHERE b.anonymous_id = aliases.user_id)
WHERE user_id IN (SELECT anonymous_id FROM aliases)
  AND (SELECT b.user_id FROM aliases b WHERE b.anonymous_id = aliases.user_id) != anonymous_id;
UPDATE aliases SET user_id = (SELECT b.user_id FROM aliases b WHERE b.anonymous_id = aliases.user_id)
WHERE user_id IN (SELECT anonymous_id FROM aliases)
  AND (SELECT b.user_id FROM aliases b WHERE b.anonymous_id = aliases.user_id) != anonymous_id;
