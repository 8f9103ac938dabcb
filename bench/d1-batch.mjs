// Issue 15: the events consumer's D1 write for one 100-event batch, per-row statements (the
// old path: one INSERT per event and one users upsert per event) vs the json_each statements
// edge/src/storage/events.rs now sends (one parameter holding every row), on the same SQLite
// schema (migrations/*.sql) in node's built-in SQLite, interleaved, many rounds. This is
// SQLite's share only: in workerd, D1 also pays per statement for binding and results, which
// the per-row path has 100× more of, so the real gain is at least this one.
// Also checks, before timing, that both paths store identical rows (column values and types).
// Prints a markdown section (scripts/bench appends it to bench/RESULTS.md).
import { DatabaseSync } from "node:sqlite";
import { readFileSync, readdirSync } from "node:fs";
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { startSpur } from "../tests/helpers/spur.mjs";

const root = new URL("../", import.meta.url);
// Rounds per path (100 in SQLite, 15 through D1 in workerd: the section took 85 s with 200 and 30).
const ROUNDS = Number(process.env.D1_BATCH_ROUNDS ?? 100);
const D1_ROUNDS = Number(process.env.D1_BATCH_D1_ROUNDS ?? 15);
const EVENTS = 100;

/** The string constants of edge/src/storage/events.rs (one source of truth for the SQL). */
function rustConsts() {
  const src = readFileSync(new URL("edge/src/storage/events.rs", root), "utf8");
  const out = {};
  for (const m of src.matchAll(/const (\w+): &str =\s*"((?:[^"\\]|\\.)*)";/gs)) {
    out[m[1]] = m[2].replace(/\\\n\s*/g, "");
  }
  return out;
}
const sql = rustConsts();
// The per-row statements this change replaced (from git history: INSERT_EVENT, UPSERT_USER).
const INSERT_EVENT =
  "INSERT INTO events (message_id, type, event, name, user_id, anonymous_id, group_id, previous_id, timestamp, ts_ms, received_at, sent_at, original_timestamp, properties, traits, context, integrations, write_key) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18) ON CONFLICT(message_id) DO NOTHING";
const UPSERT_USER =
  "INSERT INTO users (user_id, traits, first_seen, last_seen) VALUES (?1, ?2, ?3, ?3) ON CONFLICT(user_id) DO UPDATE SET traits = json_patch(users.traits, excluded.traits), first_seen = min(users.first_seen, excluded.first_seen), last_seen = max(users.last_seen, excluded.last_seen)";

function open() {
  const db = new DatabaseSync(":memory:");
  for (const f of readdirSync(new URL("migrations/", root))
    .filter((f) => f.endsWith(".sql"))
    .sort()) {
    db.exec(readFileSync(new URL(`migrations/${f}`, root), "utf8"));
  }
  return db;
}

let seq = 0;
/** One event as the consumer's row (column order of INSERT_EVENTS), realistic sizes. */
function eventRow(i, { bare = false } = {}) {
  const ms = 1_764_000_000_000 + seq * 7;
  const ts = new Date(ms).toISOString();
  const id = `bench-${seq++}`;
  if (bare) {
    return [
      id,
      "track",
      "Bare",
      null,
      null,
      `anon-${i}`,
      null,
      null,
      ts,
      ms,
      ts,
      null,
      null,
      "{}",
      "{}",
      "{}",
      "{}",
      null,
    ];
  }
  const context = JSON.stringify({
    ip: "203.0.113.9",
    library: { name: "spur.js", version: "0.1.0" },
    locale: "en-GB",
    page: {
      path: "/pricing",
      referrer: "https://example.com/",
      title: "Pricing — Spur",
      url: "https://shop.example/pricing?utm_source=x",
    },
    spur: { source: "demo" },
    userAgent:
      "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36",
  });
  return [
    id,
    "track",
    "Product Viewed",
    null,
    `user-${i % 10}`,
    `anon-${i}`,
    null,
    null,
    ts,
    ms,
    ts,
    ts,
    ts,
    JSON.stringify({ plan: "pro", price: 19.99, quote: `q"\\ ✓ 🚀\n\u2028 ${i}`, sku: `sku-${i}` }),
    "{}",
    context,
    '{"All":true}',
    "spur_demo_write_key",
  ];
}
const userRow = (r) => [r[4], r[14], r[8]];

function perRow(db, rows) {
  const ev = db.prepare(INSERT_EVENT);
  const us = db.prepare(UPSERT_USER);
  db.exec("BEGIN");
  for (const r of rows) ev.run(...r);
  for (const r of rows) if (r[4] !== null) us.run(...userRow(r));
  db.exec("COMMIT");
}
function jsonEach(db, rows) {
  db.exec("BEGIN");
  const inserted = db.prepare(sql.INSERT_EVENTS).all(JSON.stringify(rows));
  const users = rows.filter((r) => r[4] !== null).map(userRow);
  if (users.length) db.prepare(sql.UPSERT_USERS).run(JSON.stringify(users));
  db.exec("COMMIT");
  return inserted;
}

// Same rows either way: every column's value and SQLite type, NULLs and odd strings included;
// a duplicate id inside the batch keeps its first copy; two identifies merge in order.
{
  const a = open();
  const b = open();
  const rows = [eventRow(0, { bare: true }), ...Array.from({ length: 98 }, (_, i) => eventRow(i + 1))];
  rows.push([...rows[5]].map((v, k) => (k === 13 ? '{"dupe":true}' : v)));
  rows.push(
    [...eventRow(200)].map((v, k) => (k === 4 ? "user-1" : k === 14 ? '{"plan":"max","n":null}' : v)),
  );
  perRow(a, rows);
  const inserted = jsonEach(b, rows);
  assert.equal(inserted.length, rows.length - 1, "RETURNING names each new row once");
  const dump = (db, t, k) =>
    db
      .prepare(`SELECT *, ${cols(db, t)} FROM ${t} ORDER BY ${k}`)
      .all()
      .map((r) => ({ ...r }));
  const cols = (db, t) =>
    db
      .prepare(`PRAGMA table_info(${t})`)
      .all()
      .map((c) => `typeof(${c.name}) AS t_${c.name}`)
      .join(", ");
  assert.deepEqual(dump(b, "events", "message_id"), dump(a, "events", "message_id"));
  // `rev` (the ClickHouse profile mirror's revision) came after the per-row statements, which
  // never set it: every other column must match.
  const noRev = (rs) => rs.map(({ rev, t_rev, ...r }) => r);
  assert.deepEqual(noRev(dump(b, "users", "user_id")), noRev(dump(a, "users", "user_id")));
}

/** The same two writes through D1 in workerd (the built Worker's binding, from the harness). */
async function inWorkerd() {
  if (!existsSync(new URL("dist/", root))) return null;
  const spur = await startSpur();
  try {
    const db = spur.db;
    const t = { perRow: 0, jsonEach: 0 };
    for (let round = 0; round < D1_ROUNDS + 3; round++) {
      const order = round % 2 ? ["jsonEach", "perRow"] : ["perRow", "jsonEach"];
      for (const which of order) {
        const rows = Array.from({ length: EVENTS }, (_, i) => eventRow(i));
        const users = rows.filter((r) => r[4] !== null).map(userRow);
        const stmts =
          which === "perRow"
            ? [
                ...rows.map((r) => db.prepare(INSERT_EVENT).bind(...r)),
                ...users.map((u) => db.prepare(UPSERT_USER).bind(...u)),
              ]
            : [
                db.prepare(sql.INSERT_EVENTS).bind(JSON.stringify(rows)),
                db.prepare(sql.UPSERT_USERS).bind(JSON.stringify(users)),
              ];
        const start = process.hrtime.bigint();
        const results = await db.batch(stmts);
        const ns = Number(process.hrtime.bigint() - start);
        assert.equal(results.length, stmts.length);
        if (round >= 3) t[which] += ns;
      }
    }
    return t;
  } finally {
    await spur.close();
  }
}

// Timing: fresh ids every round (all inserts new), the two paths interleaved.
const a = open();
const b = open();
const t = { perRow: 0, jsonEach: 0 };
for (let round = 0; round < ROUNDS + 10; round++) {
  const rowsA = Array.from({ length: EVENTS }, (_, i) => eventRow(i));
  const rowsB = Array.from({ length: EVENTS }, (_, i) => eventRow(i));
  const warm = round < 10;
  const order = round % 2 ? ["jsonEach", "perRow"] : ["perRow", "jsonEach"];
  for (const which of order) {
    const start = process.hrtime.bigint();
    if (which === "perRow") perRow(a, rowsA);
    else jsonEach(b, rowsB);
    const ns = Number(process.hrtime.bigint() - start);
    if (!warm) t[which] += ns;
  }
}
const per = (ns) => ns / ROUNDS / 1e6;
const version = a.prepare("SELECT sqlite_version() AS v").get().v;
console.log(`## d1-batch: the events consumer's write of one ${EVENTS}-event batch\n`);
console.log(
  `SQLite ${version} (node:sqlite, in memory, migrations/*.sql), ${ROUNDS} rounds per path, interleaved; ` +
    `events plus users upserts (aliases unchanged, not in either). SQLite's share only: D1 in workerd also pays per statement.\n`,
);
console.log("| path | statements | ms per batch | ratio |\n|---|---:|---:|---:|");
console.log(`| per-row (baseline) | ${EVENTS * 2} | ${per(t.perRow).toFixed(3)} | 1.00× |`);
console.log(`| json_each | 2 | ${per(t.jsonEach).toFixed(3)} | ${(t.jsonEach / t.perRow).toFixed(2)}× |`);
console.log();
const w = await inWorkerd();
if (w) {
  console.log(
    `\nThe same writes through D1 in workerd (wrangler's test harness, the binding's \`batch()\` from node), ` +
      `${D1_ROUNDS} rounds per path, interleaved:\n`,
  );
  console.log("| path | statements | ms per batch | ratio |\n|---|---:|---:|---:|");
  console.log(`| per-row (baseline) | ${EVENTS * 2} | ${(w.perRow / D1_ROUNDS / 1e6).toFixed(2)} | 1.00× |`);
  console.log(
    `| json_each | 2 | ${(w.jsonEach / D1_ROUNDS / 1e6).toFixed(2)} | ${(w.jsonEach / w.perRow).toFixed(2)}× |`,
  );
  console.log();
}
