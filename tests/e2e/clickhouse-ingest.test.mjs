// Issue 13: the events queue consumer writing to a real ClickHouse server (EVENTS_STORE =
// "clickhouse"). A message whose rows were inserted and then failed (SPUR_FAULT_AFTER_STORE,
// a test-only var) is redelivered and inserted again; queries count each messageId once.
// Profiles stay in D1, events do not go there. A server that refuses every insert sends the
// message through the queue's retries to the dead-letter queue: its events become
// `storage_failed` bad rows, so nothing acknowledged is lost.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { createServer } from "node:net";
import { startSpur, eventually, DEMO_WRITE_KEY } from "../helpers/spur.mjs";
import { startClickHouse } from "../helpers/clickhouse.mjs";

const MARKER = "__spur_after_store__";
const TOKEN = "test-admin-token";
let ch, spur;
before(async () => {
  ch = await startClickHouse();
  spur = await startSpur({
    secrets: { ADMIN_TOKEN: TOKEN, CLICKHOUSE_URL: ch.url },
    vars: { EVENTS_STORE: "clickhouse", SPUR_FAULT_AFTER_STORE: MARKER },
  });
});
after(async () => {
  await spur?.close();
  ch?.close();
});

const auth = { Authorization: `Basic ${Buffer.from(`${DEMO_WRITE_KEY}:`).toString("base64")}` };
let seq = 0;
const track = (event, extra = {}) => ({
  type: "track",
  event,
  userId: "u-ch",
  messageId: `ch-${process.pid}-${seq++}`,
  ...extra,
});

async function ingest(s, batch) {
  const res = await s.post("/v1/batch", { batch }, auth);
  assert.equal(res.status, 200);
  const out = await res.json();
  assert.equal(out.accepted, batch.length);
}

test("a redelivered message is stored again but counted once; profiles stay in D1", async () => {
  const batch = [
    track(`${MARKER}2`),
    track("Paid"),
    track("Paid", { properties: { plan: "pro" } }),
    {
      type: "track",
      event: "Paid",
      anonymousId: "anon-ch",
      userId: "u-ch2",
      messageId: `ch-${process.pid}-x`,
    },
  ];
  const ids = batch.map((e) => e.messageId);
  await ingest(spur, batch);
  const inList = ids.map((id) => `'${id}'`).join(",");
  // Two failed deliveries after the insert, then the ack: three copies of every row were sent.
  const raw = await eventually(
    async () => {
      const n = Number(await ch.query(`SELECT count() FROM events WHERE message_id IN (${inList})`));
      return n >= 3 * ids.length ? n : null;
    },
    { timeoutMs: 60_000, message: "three deliveries inserted" },
  );
  assert.equal(raw, 3 * ids.length);
  const now = Date.now();
  const q = {
    event: "Paid",
    from: new Date(now - 86_400_000).toISOString(),
    to: new Date(now + 86_400_000).toISOString(),
  };
  const res = await fetch(`${spur.url}/v1/query/insight`, {
    method: "POST",
    headers: { Authorization: `Bearer ${TOKEN}` },
    body: JSON.stringify(q),
  });
  const body = await res.json();
  assert.equal(res.status, 200, JSON.stringify(body));
  assert.equal(body.totalEvents, 3);
  assert.equal(body.totalUsers, 2);
  // Profiles and alias links in D1; no events there.
  assert.deepEqual(
    (await spur.rows("SELECT user_id FROM users ORDER BY user_id")).map((r) => r.user_id),
    ["u-ch", "u-ch2"],
  );
  assert.equal(
    (await spur.rows("SELECT user_id FROM aliases WHERE anonymous_id = 'anon-ch'"))[0].user_id,
    "u-ch2",
  );
  assert.equal((await spur.rows("SELECT COUNT(*) AS n FROM events"))[0].n, 0);
  // The alias row went to ClickHouse too (mirrored from D1 before the events), so queries
  // resolve people there.
  assert.equal(
    (await ch.query("SELECT DISTINCT root FROM alias_roots WHERE id = 'anon-ch' FORMAT TabSeparated")).trim(),
    "u-ch2",
  );
});

test("a ClickHouse that refuses every insert: retried, then dead-lettered as storage_failed bad rows", async () => {
  // A loopback port with nothing listening.
  const port = await new Promise((resolve) => {
    const s = createServer().listen(0, "127.0.0.1", () => {
      const p = s.address().port;
      s.close(() => resolve(p));
    });
  });
  const down = await startSpur({
    secrets: { ADMIN_TOKEN: TOKEN, CLICKHOUSE_URL: `http://127.0.0.1:${port}` },
    vars: { EVENTS_STORE: "clickhouse" },
  });
  try {
    const batch = [track("Lost?"), track("Lost?")];
    await ingest(down, batch);
    const rows = await eventually(
      async () => {
        const r = await down.rows(
          "SELECT message_id, reason FROM bad_rows WHERE reason = 'storage_failed' ORDER BY message_id",
        );
        return r.length === batch.length ? r : null;
      },
      { timeoutMs: 90_000, message: "events dead-lettered as bad rows" },
    );
    assert.deepEqual(
      rows.map((r) => r.message_id),
      batch.map((e) => e.messageId).sort(),
    );
  } finally {
    await down.close();
  }
});
