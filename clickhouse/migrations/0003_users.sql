-- Profile traits (issue 13): D1's `users` rows (traits merged by json_patch on identify, in
-- processing order) mirrored here with D1's revision, so trait cohorts read profiles without
-- leaving ClickHouse and without a cap on their number. Queries take the row with the highest
-- `rev` per user (argMax), so mirror inserts may arrive in any order or twice (a redelivered
-- queue message, a retried insert); ReplacingMergeTree(rev) keeps only that row on merge.
-- `traits` is D1's JSON text; f_* flatten it exactly like the events table's f_* columns.
CREATE TABLE IF NOT EXISTS users (
  user_id String,
  rev     Int64,
  traits  String,
  f_key   Array(String),
  f_kind  Array(UInt8),
  f_str   Array(String),
  f_num   Array(Float64)
) ENGINE = ReplacingMergeTree(rev)
ORDER BY user_id;
