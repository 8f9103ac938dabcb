-- Alias chains of any length (issue 12): D1's `aliases` keeps every id pointing at the root of
-- its chain (the consumer re-points older links when a new link is added), and each changed
-- row is mirrored here with D1's revision. Queries take the row with the highest `rev` per id
-- (argMax), so mirror inserts may arrive in any order or twice; ReplacingMergeTree(rev) keeps
-- only that row on merge. The older `aliases` table stays readable for links stored before.
CREATE TABLE IF NOT EXISTS alias_roots (
  id   String,
  root String,
  rev  Int64
) ENGINE = ReplacingMergeTree(rev)
ORDER BY id;
