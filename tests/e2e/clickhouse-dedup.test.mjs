// Issue 13: exactly-once at write time in ClickHouse mode. The events consumer records every
// messageId in D1's ledger (message_ids) with the digest of its first copy's row and inserts
// only copies with that digest, so queries read `FROM events FINAL`. A client retry of a
// messageId without `timestamp` (a new ts) is dropped — the first copy's content wins, as in
// D1 mode — and reaches neither the archive nor the live stream; a queue redelivery
// (SPUR_FAULT_AFTER_STORE, a test-only var) inserts the same row again, which counts once.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startSpur, eventually, archiveLines, basicAuth, uid, ADMIN_TOKEN } from "../helpers/spur.mjs";
import { startClickHouse } from "../helpers/clickhouse.mjs";

const MARKER = "__spur_dedup_after_store__";
// Node 22 has a global WebSocket; Node 20 only behind a flag, so its undici (wrangler's) serves.
const WebSocketClient = globalThis.WebSocket ?? (await import("undici")).WebSocket;
let ch, spur;
before(async () => {
  ch = await startClickHouse();
  spur = await startSpur({
    secrets: { CLICKHOUSE_URL: ch.url },
    vars: { EVENTS_STORE: "clickhouse", SPUR_FAULT_AFTER_STORE: MARKER },
  });
});
after(async () => {
  await spur?.close();
  ch?.close();
});

const auth = basicAuth();
const track = (event, messageId, properties = {}) => ({
  type: "track",
  event,
  userId: "u-dedup",
  messageId,
  properties,
});

async function ingest(batch) {
  const res = await spur.post("/v1/batch", { batch }, auth);
  assert.equal(res.status, 200);
  assert.equal((await res.json()).accepted, batch.length);
}

/** Raw ClickHouse rows of a messageId (before FINAL collapses anything). */
const rawCount = async (id) =>
  Number(await ch.query(`SELECT count() FROM events WHERE message_id = '${id}'`));

async function insight(event) {
  const now = Date.now();
  const res = await spur.admin("/v1/query/insight", {
    method: "POST",
    body: JSON.stringify({
      event,
      from: new Date(now - 86_400_000).toISOString(),
      to: new Date(now + 86_400_000).toISOString(),
    }),
  });
  const body = await res.json();
  assert.equal(res.status, 200, JSON.stringify(body));
  return body;
}

async function recent() {
  const res = await spur.admin("/v1/events/recent?limit=50");
  const body = await res.json();
  assert.equal(res.status, 200, JSON.stringify(body));
  return body.events;
}

/** A dashboard socket collecting what the live stream pushes. */
async function liveSocket() {
  const ws = new WebSocketClient(`${spur.url.replace(/^http/, "ws")}/v1/live`);
  const got = [];
  ws.addEventListener("message", (m) => got.push(...(JSON.parse(m.data).events ?? [])));
  const ready = [];
  ws.addEventListener("message", (m) => JSON.parse(m.data).ready && ready.push(true));
  await new Promise((resolve, reject) => {
    ws.addEventListener("open", resolve);
    ws.addEventListener("error", reject);
  });
  ws.send(JSON.stringify({ token: ADMIN_TOKEN }));
  assert.ok(await eventually(() => ready.length > 0, { message: "live socket ready" }));
  return { ws, got };
}

test("a client retry without timestamp counts once; the first copy wins in queries, archive and live stream", async () => {
  const live = await liveSocket();
  try {
    const id = uid("dedup-retry");
    await ingest([track("Dedup Paid", id, { plan: "first" })]);
    assert.ok(
      await eventually(async () => (await rawCount(id)) === 1, {
        timeoutMs: 30_000,
        message: "first copy inserted",
      }),
    );
    const ledger = await spur.rows("SELECT digest FROM message_ids WHERE message_id = ?", id);
    assert.equal(ledger.length, 1);
    assert.match(ledger[0].digest, /^[0-9a-f]{16}$/);
    // The retry travels with a sentinel in the same request (one queue message): once the
    // sentinel is stored, archived and pushed, the retry has been handled too.
    const sentinel = uid("dedup-sentinel");
    await ingest([track("Dedup Paid", id, { plan: "retry" }), track("Dedup Sentinel", sentinel)]);
    assert.ok(
      await eventually(async () => (await rawCount(sentinel)) === 1, {
        timeoutMs: 30_000,
        message: "sentinel inserted",
      }),
    );
    assert.equal(await rawCount(id), 1, "the retry is not inserted");
    assert.equal(
      (await spur.rows("SELECT digest FROM message_ids WHERE message_id = ?", id))[0].digest,
      ledger[0].digest,
    );

    const paid = await insight("Dedup Paid");
    assert.equal(paid.totalEvents, 1);
    assert.equal(paid.totalUsers, 1);
    const copies = (await recent()).filter((e) => e.messageId === id);
    assert.equal(copies.length, 1);
    assert.deepEqual(copies[0].properties, { plan: "first" });

    const archived = await eventually(
      async () => {
        const lines = await archiveLines(spur);
        return lines.some((e) => e.messageId === sentinel) && lines;
      },
      { timeoutMs: 30_000, message: "sentinel archived" },
    );
    const archivedCopies = archived.filter((e) => e.messageId === id);
    assert.equal(archivedCopies.length, 1);
    assert.deepEqual(archivedCopies[0].properties, { plan: "first" });

    // The retry would have been pushed with the sentinel, in the same push.
    assert.ok(
      await eventually(() => live.got.some((e) => e.messageId === sentinel), {
        timeoutMs: 30_000,
        message: "sentinel pushed",
      }),
    );
    const pushed = live.got.filter((e) => e.messageId === id);
    assert.equal(pushed.length, 1);
    assert.deepEqual(pushed[0].properties, { plan: "first" });
  } finally {
    live.ws.close(1000);
  }
});

test("a queue redelivery inserts the same row again, which counts once and is archived once", async () => {
  const id = uid("dedup-redelivered");
  // The marker event makes the message fail twice right after its ClickHouse insert.
  await ingest([track(`${MARKER}2`, uid("dedup-marker")), track("Dedup Redelivered", id, { n: 1 })]);
  assert.ok(
    await eventually(async () => (await rawCount(id)) === 3, {
      timeoutMs: 60_000,
      message: "three deliveries inserted",
    }),
  );
  // Byte-identical rows (one sort key): FINAL collapses them.
  assert.equal(Number(await ch.query(`SELECT count() FROM events FINAL WHERE message_id = '${id}'`)), 1);
  assert.equal((await spur.rows("SELECT COUNT(*) AS n FROM message_ids WHERE message_id = ?", id))[0].n, 1);
  const body = await insight("Dedup Redelivered");
  assert.equal(body.totalEvents, 1);
  assert.equal((await recent()).filter((e) => e.messageId === id).length, 1);
  // Archived by the delivery that got through (the earlier ones failed before archiving),
  // under the queue message's key: one copy.
  const archived = await eventually(
    async () => {
      const lines = await archiveLines(spur);
      return lines.some((e) => e.messageId === id) && lines;
    },
    { timeoutMs: 30_000, message: "redelivered event archived" },
  );
  assert.equal(archived.filter((e) => e.messageId === id).length, 1);
});

test("the ledger forgets ids older than its window: the consumer sweeps them", async () => {
  // A row first seen long ago (8 days, past the 7-day window) is deleted by the next batch.
  const old = uid("dedup-old");
  await spur.rows(
    "INSERT INTO message_ids (message_id, digest, seen_ms) VALUES (?, '0000000000000000', ?)",
    old,
    Date.now() - 8 * 86_400_000,
  );
  const id = uid("dedup-sweep");
  await ingest([track("Dedup Sweep", id)]);
  assert.ok(
    await eventually(async () => (await rawCount(id)) === 1, {
      timeoutMs: 30_000,
      message: "event inserted",
    }),
  );
  assert.deepEqual(await spur.rows("SELECT message_id FROM message_ids WHERE message_id = ?", old), []);
  assert.equal((await spur.rows("SELECT COUNT(*) AS n FROM message_ids WHERE message_id = ?", id))[0].n, 1);
});

test("a dead-lettered message is forgotten by the ledger, so its replay is stored and counts once", async () => {
  // The marker alone (no count) fails every delivery right after the ClickHouse insert: the
  // message reaches the dead-letter queue, whose consumer keeps both events as storage_failed
  // bad rows and forgets their ledger rows. A replay re-judges each event, so its row differs
  // from the first copy's (request id): remembered, the ledger would drop it as a retry,
  // although a first copy that failed before its insert never reached ClickHouse.
  const id = uid("dedup-dead");
  await ingest([track(MARKER, uid("dedup-poison")), track("Dedup Dead", id, { n: 1 })]);
  const bad = await eventually(
    async () => {
      const r = await spur.rows(
        "SELECT id FROM bad_rows WHERE reason = 'storage_failed' AND message_id = ?",
        id,
      );
      return r.length === 1 ? r : null;
    },
    { timeoutMs: 90_000, message: "the poison message dead-lettered as bad rows" },
  );
  assert.deepEqual(await spur.rows("SELECT message_id FROM message_ids WHERE message_id = ?", id), []);
  const delivered = await rawCount(id);
  assert.ok(delivered >= 1, "every delivery inserted before failing");
  const res = await spur.admin("/v1/bad-rows/replay", {
    method: "POST",
    body: JSON.stringify({ ids: [bad[0].id] }),
  });
  assert.equal(res.status, 200, await res.clone().text());
  assert.ok(
    await eventually(
      async () =>
        (await spur.rows("SELECT message_id FROM message_ids WHERE message_id = ?", id)).length === 1,
      { timeoutMs: 30_000, message: "the replayed copy recorded in the ledger" },
    ),
  );
  // Every delivery of the dead message inserted its row, and the replay one more: all keep the
  // event's time, so they read as one event.
  assert.ok(
    await eventually(async () => (await rawCount(id)) >= 2, {
      timeoutMs: 30_000,
      message: "replay inserted",
    }),
  );
  assert.equal(Number(await ch.query(`SELECT uniqExact(ts_ms) FROM events WHERE message_id = '${id}'`)), 1);
  const body = await insight("Dedup Dead");
  assert.equal(body.totalEvents, 1);
  assert.equal((await recent()).filter((e) => e.messageId === id).length, 1);
});

test("recent events name the person of anonymous and identified events, as on D1", async () => {
  const anon = uid("anon-recent");
  const [a, b] = [uid("dedup-recent-anon"), uid("dedup-recent-user")];
  await ingest([
    { type: "track", event: "Dedup Recent", anonymousId: anon, messageId: a },
    track("Dedup Recent", b),
  ]);
  const rows = await eventually(
    async () => {
      const r = (await recent()).filter((e) => e.messageId === a || e.messageId === b);
      return r.length === 2 ? r : null;
    },
    { timeoutMs: 30_000, message: "both events in recent" },
  );
  const byId = Object.fromEntries(rows.map((e) => [e.messageId, e]));
  assert.equal(byId[a].person, anon);
  assert.equal(byId[a].userId, null);
  assert.equal(byId[b].person, "u-dedup");
  assert.equal(byId[b].anonymousId, null);
});
