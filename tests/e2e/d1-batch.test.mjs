// Issue 15: the events consumer writes a queue batch's events (and users, groups, members) a
// few statements at a time — one JSON parameter of rows read with json_each — instead of one
// INSERT each. Real workerd, queue, D1 and R2. What must not change: each event stored once
// (duplicates inside a batch and redeliveries included), the first copy of a messageId wins,
// column values identical to the per-row statement's (NULLs, INTEGER ts_ms, JSON text), and
// identify traits merged in event order.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { gunzipSync } from "node:zlib";
import { startSpur, eventually, DEMO_WRITE_KEY } from "../helpers/spur.mjs";

let spur;
before(async () => {
  spur = await startSpur();
});
after(async () => {
  await spur?.close();
});

const auth = { Authorization: `Basic ${Buffer.from(`${DEMO_WRITE_KEY}:`).toString("base64")}` };
const run = `${process.pid}-${Date.now()}`;
let seq = 0;
const uid = (p) => `${p}-${run}-${seq++}`;

async function ingest(batch, extra = {}) {
  const res = await spur.post("/v1/batch", { batch, ...extra }, auth);
  assert.equal(res.status, 200);
  const out = await res.json();
  assert.deepEqual(out, { accepted: batch.length, rejected: [] });
}

async function rowsFor(ids, n) {
  const marks = ids.map(() => "?").join(",");
  return eventually(
    async () => {
      const rows = await spur.rows(
        `SELECT * FROM events WHERE message_id IN (${marks}) ORDER BY message_id`,
        ...ids,
      );
      return rows.length >= n ? rows : null;
    },
    { timeoutMs: 30_000, message: `${n} rows stored` },
  );
}

async function archiveLines() {
  const out = [];
  let cursor;
  do {
    const list = await spur.env.ARCHIVE.list({ prefix: "events/", cursor });
    for (const o of list.objects) {
      const obj = await spur.env.ARCHIVE.get(o.key);
      for (const line of gunzipSync(Buffer.from(await obj.arrayBuffer()))
        .toString()
        .split("\n")) {
        if (line) out.push(JSON.parse(line));
      }
    }
    cursor = list.truncated ? list.cursor : undefined;
  } while (cursor);
  return out;
}

/** JSON text as serde_json writes a map (keys sorted, compact). */
function serdeText(v) {
  const sort = (x) =>
    Array.isArray(x)
      ? x.map(sort)
      : x && typeof x === "object"
        ? Object.fromEntries(
            Object.keys(x)
              .sort()
              .map((k) => [k, sort(x[k])]),
          )
        : x;
  return JSON.stringify(sort(v));
}

test("a 100-event batch with duplicate messageIds, sent twice: one row each, first copy wins, archived once", async () => {
  const unique = Array.from({ length: 90 }, (_, i) => ({
    type: "track",
    event: "Bulk",
    userId: `bulk-${run}`,
    anonymousId: `bulk-anon-${run}`,
    messageId: uid("bulk"),
    properties: { i, copy: "first" },
  }));
  // Ten later copies of earlier ids, with other content: the per-row path kept the first.
  const dupes = unique.slice(0, 10).map((e) => ({ ...e, properties: { i: e.properties.i, copy: "second" } }));
  const batch = [...unique.slice(0, 50), ...dupes, ...unique.slice(50)];
  assert.equal(batch.length, 100);
  const ids = unique.map((e) => e.messageId);
  await ingest(batch);
  const rows = await rowsFor(ids, ids.length);
  assert.equal(rows.length, 90);
  for (const r of rows) assert.equal(JSON.parse(r.properties).copy, "first", r.message_id);
  const archived = await eventually(
    async () => {
      const seen = (await archiveLines()).filter((l) => ids.includes(l.messageId));
      return seen.length >= ids.length ? seen : null;
    },
    { timeoutMs: 20_000, message: "first delivery archived" },
  );
  assert.deepEqual(archived.map((l) => l.messageId).sort(), [...ids].sort(), "new events archived once");

  // The same batch again (a client retry: a second queue message with the same events), plus
  // one new event in the same request so there is something to wait for.
  const sentinel = { type: "track", event: "Sentinel", userId: `bulk-${run}`, messageId: uid("sentinel") };
  await ingest([...batch.slice(0, 99), sentinel]);
  await rowsFor([sentinel.messageId], 1);
  assert.ok(
    await eventually(async () => (await archiveLines()).some((l) => l.messageId === sentinel.messageId), {
      timeoutMs: 20_000,
      message: "sentinel archived",
    }),
  );
  const counts = await spur.rows(
    `SELECT COUNT(*) AS n, COUNT(DISTINCT message_id) AS d FROM events WHERE message_id IN (${ids
      .map(() => "?")
      .join(",")})`,
    ...ids,
  );
  assert.deepEqual(counts, [{ n: 90, d: 90 }]);
  const again = await rowsFor(ids, ids.length);
  for (const r of again) assert.equal(JSON.parse(r.properties).copy, "first", r.message_id);
  const lines = (await archiveLines()).filter((l) => ids.includes(l.messageId));
  assert.equal(lines.length, 90, "a redelivered event is not archived again");
  // One alias link for the pair the 100 events repeat.
  const links = await spur.rows("SELECT user_id FROM aliases WHERE anonymous_id = ?", `bulk-anon-${run}`);
  assert.deepEqual(links, [{ user_id: `bulk-${run}` }]);
});

test("stored columns are the per-row statement's: NULLs, INTEGER ts_ms, JSON text, odd strings", async () => {
  const odd = `q"uo\\te ✓ 🚀 \n tab\t \u2028 é ${run}`;
  const bare = { type: "track", event: "Bare", anonymousId: uid("anon"), messageId: uid("bare") };
  const sentAt = new Date(Date.now() - 1000).toISOString();
  const full = {
    type: "page",
    name: odd,
    userId: `${odd}-user`,
    anonymousId: uid("anon"),
    groupId: "g-full",
    previousId: "p-full",
    messageId: uid(`full ${odd}`),
    timestamp: new Date(Date.now() - 5000).toISOString(),
    properties: { z: 1, a: [1.5, null, true, { k: odd }], m: "x\u0001y", n: -0, big: 12345678901234 },
    traits: { plan: "pro" },
    context: { library: { name: "d1-batch-test", version: "1" } },
    integrations: { All: false, Mixpanel: true },
  };
  await ingest([bare, full], { sentAt });
  const ids = [bare.messageId, full.messageId];
  await rowsFor(ids, 2);
  const cols = [
    "message_id",
    "type",
    "event",
    "name",
    "user_id",
    "anonymous_id",
    "group_id",
    "previous_id",
    "timestamp",
    "ts_ms",
    "received_at",
    "sent_at",
    "original_timestamp",
    "properties",
    "traits",
    "context",
    "integrations",
    "write_key",
  ];
  const typed = await spur.rows(
    `SELECT ${cols.map((c) => `${c}, typeof(${c}) AS t_${c}`).join(", ")} FROM events WHERE message_id = ?`,
    bare.messageId,
  );
  const b = typed[0];
  for (const c of ["name", "user_id", "group_id", "previous_id", "original_timestamp"]) {
    assert.equal(b[`t_${c}`], "null", c);
  }
  assert.equal(b.t_ts_ms, "integer");
  assert.equal(b.ts_ms, Date.parse(b.timestamp));
  assert.equal(b.event, "Bare");
  assert.equal(b.anonymous_id, bare.anonymousId);
  assert.equal(b.properties, "{}");
  assert.equal(b.traits, "{}");
  assert.equal(b.integrations, "{}");
  assert.equal(b.t_context, "text");
  assert.equal(b.write_key, DEMO_WRITE_KEY);
  assert.equal(Date.parse(b.sent_at), Date.parse(sentAt));

  const [f] = await spur.rows(
    `SELECT ${cols.map((c) => `${c}, typeof(${c}) AS t_${c}`).join(", ")} FROM events WHERE message_id = ?`,
    full.messageId,
  );
  for (const c of cols.filter((c) => c !== "event")) assert.notEqual(f[`t_${c}`], "null", c);
  assert.equal(f.t_ts_ms, "integer");
  assert.equal(f.message_id, full.messageId);
  assert.equal(f.type, "page");
  assert.equal(f.t_event, "null"); // a page has a name, not an event
  assert.equal(f.name, odd);
  assert.equal(f.user_id, full.userId);
  assert.equal(f.group_id, "g-full");
  assert.equal(f.previous_id, "p-full");
  assert.equal(f.properties, serdeText(full.properties));
  assert.equal(f.traits, serdeText(full.traits));
  assert.equal(f.integrations, serdeText(full.integrations));
  assert.deepEqual(JSON.parse(f.context).library, full.context.library);
  assert.equal(Date.parse(f.original_timestamp), Date.parse(full.timestamp));
  for (const c of ["timestamp", "received_at", "sent_at", "original_timestamp", "properties", "context"]) {
    assert.equal(f[`t_${c}`], "text", c);
  }
});

test("two identifies for one user in one batch merge their traits in order; groups and members too", async () => {
  const user = `merge-${run}`;
  const group = `grp-${run}`;
  const batch = [
    {
      type: "identify",
      userId: user,
      messageId: uid("id1"),
      traits: { plan: "free", a: 1, nested: { x: 1, y: 1 } },
    },
    { type: "track", event: "Between", userId: user, messageId: uid("t") },
    {
      type: "identify",
      userId: user,
      messageId: uid("id2"),
      traits: { plan: "pro", b: 2, nested: { y: 2 } },
    },
    { type: "group", userId: user, groupId: group, messageId: uid("g1"), traits: { name: "Old", size: 1 } },
    { type: "group", userId: user, groupId: group, messageId: uid("g2"), traits: { name: "New" } },
    { type: "identify", userId: user, messageId: uid("id3"), traits: { a: null } },
  ];
  await ingest(batch);
  await rowsFor(
    batch.map((e) => e.messageId),
    batch.length,
  );
  const [u] = await spur.rows("SELECT traits FROM users WHERE user_id = ?", user);
  // json_patch applied first to last: later values win, nested objects merge, null deletes.
  assert.deepEqual(JSON.parse(u.traits), { plan: "pro", b: 2, nested: { x: 1, y: 2 } });
  const [g] = await spur.rows("SELECT traits FROM groups WHERE group_id = ?", group);
  assert.deepEqual(JSON.parse(g.traits), { name: "New", size: 1 });
  const members = await spur.rows("SELECT member_id FROM group_members WHERE group_id = ?", group);
  assert.deepEqual(members, [{ member_id: user }]);
});
