// Issue 9: storage faults end to end (real workerd, real queue retries and dead-letter queue).
//
// The events consumer has a test-only switch, the var SPUR_FAULT_STORE_FAIL (absent from
// wrangler.toml, so never on in production): a queue message holding an event named
// `<marker><n>` fails its D1 write on its first n deliveries, one named `<marker>` on every
// delivery. The queue must retry the first until storage recovers (stored exactly once, archived
// once) and move the second, after max_retries, to the dead-letter queue, whose consumer keeps
// every event as a `storage_failed` bad row — so an acknowledged event is never lost.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { startSpur, eventually, archiveLines, DEMO_WRITE_KEY } from "../helpers/spur.mjs";

const MARKER = "__spur_fault__";
let spur;
before(async () => {
  spur = await startSpur({ vars: { SPUR_FAULT_STORE_FAIL: MARKER } });
});
after(async () => {
  await spur?.close();
});

const auth = { Authorization: `Basic ${Buffer.from(`${DEMO_WRITE_KEY}:`).toString("base64")}` };
let seq = 0;
const track = (event, extra = {}) => ({
  type: "track",
  event,
  userId: "u-fault",
  messageId: `f-${process.pid}-${seq++}`,
  ...extra,
});
const figures = { faults: 0, survived: 0, deadLettered: 0 };

async function ingest(batch) {
  const res = await spur.post("/v1/batch", { batch }, auth);
  assert.equal(res.status, 200);
  const out = await res.json();
  assert.equal(out.accepted, batch.length);
  assert.deepEqual(out.rejected, []);
}

async function stored(ids) {
  const marks = ids.map(() => "?").join(",");
  return spur.rows(
    `SELECT message_id FROM events WHERE message_id IN (${marks}) ORDER BY message_id`,
    ...ids,
  );
}

/** wrangler.toml's max_retries for the events queue (one source of truth). */
function maxRetries() {
  const toml = readFileSync(new URL("../../wrangler.toml", import.meta.url), "utf8");
  const m =
    /queue = "spur-events"\s*\nmax_batch_size = \d+\s*\nmax_batch_timeout = \d+\s*\nmax_retries = (\d+)/.exec(
      toml,
    );
  assert.ok(m, "wrangler.toml sets max_retries on the spur-events consumer");
  return Number(m[1]);
}

test("a D1 write that fails then recovers: the queue retries and every event is stored once", async () => {
  const failures = maxRetries() - 1; // recovers on the last delivery before the dead-letter queue
  const batch = [
    track(`${MARKER}${failures}`),
    track("Neighbour"),
    track("Neighbour", { properties: { n: 2 } }),
  ];
  await ingest(batch);
  // Another request meanwhile is unaffected.
  const clean = [track("Clean")];
  await ingest(clean);
  const ids = batch.map((e) => e.messageId).sort();
  const rows = await eventually(
    async () => {
      const r = await stored(ids);
      return r.length === ids.length ? r : null;
    },
    { timeoutMs: 60_000, message: "events stored once storage recovers" },
  );
  assert.deepEqual(
    rows.map((r) => r.message_id),
    ids,
  );
  assert.equal((await stored([clean[0].messageId])).length, 1);
  assert.deepEqual(await spur.rows("SELECT * FROM bad_rows WHERE reason = 'storage_failed'"), []);
  // Archived once each, although the message was delivered `failures + 1` times.
  const lines = await eventually(
    async () => {
      const seen = (await archiveLines(spur)).filter((l) => ids.includes(l.messageId));
      return seen.length >= ids.length ? seen : null;
    },
    { timeoutMs: 20_000, message: "events archived" },
  );
  assert.deepEqual(lines.map((l) => l.messageId).sort(), ids);
  figures.faults += failures;
  figures.survived += 1;
});

test("many 1-event requests stored together: each event once, and a failing one retries alone", async () => {
  // The consumer stores the events of one delivery's messages in one D1 batch (issue 15); a
  // message that fails must not hold back or duplicate its neighbours.
  const failing = [track(`${MARKER}2`)];
  const singles = Array.from({ length: 24 }, (_, i) => [track("Joined", { properties: { i } })]);
  await Promise.all([failing, ...singles].map((b) => ingest(b)));
  const ids = [failing, ...singles].map((b) => b[0].messageId).sort();
  const rows = await eventually(
    async () => {
      const r = await stored(ids);
      return r.length === ids.length ? r : null;
    },
    { timeoutMs: 60_000, message: "every event stored" },
  );
  assert.deepEqual(
    rows.map((r) => r.message_id),
    ids,
  );
  const lines = await eventually(
    async () => {
      const seen = (await archiveLines(spur)).filter((l) => ids.includes(l.messageId));
      return seen.length >= ids.length ? seen : null;
    },
    { timeoutMs: 20_000, message: "events archived" },
  );
  assert.deepEqual(lines.map((l) => l.messageId).sort(), ids, "archived once each");
  figures.faults += 2;
  figures.survived += 1;
});

test("a poison message reaches the dead-letter queue and becomes storage_failed bad rows", async () => {
  const batch = [track(MARKER), track("Poisoned Neighbour", { properties: { keep: "me" } })];
  await ingest(batch);
  const ids = batch.map((e) => e.messageId).sort();
  const bad = await eventually(
    async () => {
      const r = await spur.rows("SELECT * FROM bad_rows WHERE reason = 'storage_failed' ORDER BY message_id");
      return r.length >= ids.length ? r : null;
    },
    { timeoutMs: 90_000, message: "the poison message dead-lettered as bad rows" },
  );
  assert.deepEqual(
    bad.map((r) => r.message_id),
    ids,
  );
  for (const row of bad) {
    assert.equal(row.write_key, DEMO_WRITE_KEY);
    assert.equal(row.endpoint, "/v1/batch");
    assert.match(row.detail, /storing failed after every retry/);
    const payload = JSON.parse(row.payload);
    assert.equal(payload.messageId, row.message_id);
  }
  assert.equal(
    JSON.parse(bad.find((r) => r.message_id === batch[1].messageId).payload).properties.keep,
    "me",
  );
  // Not stored as events (so each acknowledged event is in exactly one place).
  assert.deepEqual(await stored(ids), []);
  figures.faults += maxRetries() + 1;
  figures.deadLettered += ids.length;
  // Storage works for the next message.
  const after = [track("After The Poison")];
  await ingest(after);
  assert.ok(
    await eventually(async () => (await stored([after[0].messageId])).length === 1, {
      timeoutMs: 30_000,
      message: "next message stored",
    }),
  );
  console.log(`FAULTS ${JSON.stringify(figures)}`);
});
