// Issue 13: trait cohorts on ClickHouse read the consumer's copy of D1's profiles (ClickHouse
// `users`, mirrored with D1's revision), so they cover any number of profiles — more than the
// 1,000 the literal path used to pass into the statement before refusing. The same batches go
// through the real ingest path (Segment batch API, queue consumer) of two Workers, one keeping
// events in D1, one in a real ClickHouse server; both must give the same answers, and the
// answers must be the ones computed here: a trait overwritten later wins (D1's json_patch, in
// processing order), and a redelivered identify (a fault injected after the insert) counts once.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startSpur, eventually, DEMO_WRITE_KEY } from "../helpers/spur.mjs";
import { startClickHouse } from "../helpers/clickhouse.mjs";

const MARKER = "__spur_after_store__";
const TOKEN = "test-admin-token";
const PEOPLE = 1_200;
const PER_BATCH = 400;
const T0 = Date.parse("2026-10-05T00:00:00Z");
const PLANS = ["free", "pro", "team", "scale"];
let ch, d1, chs;

before(async () => {
  ch = await startClickHouse();
  d1 = await startSpur({ secrets: { ADMIN_TOKEN: TOKEN } });
  chs = await startSpur({
    secrets: { ADMIN_TOKEN: TOKEN, CLICKHOUSE_URL: ch.url },
    vars: { EVENTS_STORE: "clickhouse", SPUR_FAULT_AFTER_STORE: MARKER },
  });
});
after(async () => {
  await d1?.close();
  await chs?.close();
  ch?.close();
});

const auth = { Authorization: `Basic ${Buffer.from(`${DEMO_WRITE_KEY}:`).toString("base64")}` };
const iso = (ms) => new Date(ms).toISOString();
const id = (i) => `tr-${i}`;
const msg = (kind, i, n) => `${kind}-${i}-${n}`;

/** Sends one batch to both Workers. */
async function ingest(batch) {
  for (const s of [d1, chs]) {
    const res = await s.post("/v1/batch", { batch }, auth);
    assert.equal(res.status, 200);
    assert.equal((await res.json()).accepted, batch.length);
  }
}

/** Waits until both stores hold `ids` (ClickHouse: its profile mirror too, through `users`). */
async function stored(ids, users) {
  const list = ids.map((m) => `'${m}'`).join(",");
  assert.ok(
    await eventually(
      async () =>
        (await d1.rows(`SELECT COUNT(*) AS n FROM events WHERE message_id IN (${list})`))[0].n === ids.length,
      { timeoutMs: 60_000, message: "D1 stored the batch" },
    ),
  );
  assert.ok(
    await eventually(
      async () =>
        Number(await ch.query(`SELECT uniqExact(message_id) FROM events WHERE message_id IN (${list})`)) ===
        ids.length,
      { timeoutMs: 60_000, message: "ClickHouse stored the batch" },
    ),
  );
  const [{ n }] = await chs.rows("SELECT COUNT(*) AS n FROM users WHERE rev > (SELECT rev FROM user_sync)");
  assert.equal(n, 0, "every changed profile mirrored before its events");
  assert.equal(Number(await ch.query("SELECT uniqExact(user_id) FROM users")), users);
}

async function api(s, path, body) {
  const res = await fetch(`${s.url}${path}`, {
    method: "POST",
    headers: { Authorization: `Bearer ${TOKEN}`, "Content-Type": "application/json" },
    body: JSON.stringify(body),
  });
  const text = await res.text();
  assert.equal(res.status, 200, text);
  return JSON.parse(text);
}

/** The same query on both stores: equal answers, returned once. */
async function both(path, body) {
  const [a, b] = [await api(d1, path, body), await api(chs, path, body)];
  assert.deepEqual(b, a, `${path}: ClickHouse and D1 agree`);
  return a;
}

test("trait cohorts over more than 1,000 profiles: D1 and ClickHouse agree; latest wins; a redelivery counts once", async () => {
  // Person i: identify {plan} (every 7th none), then one Visit, each at its own explicit time.
  const plan = new Map();
  for (let start = 0; start < PEOPLE; start += PER_BATCH) {
    const batch = [];
    for (let i = start; i < Math.min(PEOPLE, start + PER_BATCH); i++) {
      const traits = i % 7 === 0 ? { email: `${i}@x.test` } : { plan: PLANS[i % PLANS.length] };
      if (traits.plan) plan.set(id(i), traits.plan);
      const at = T0 + i * 1000;
      batch.push(
        { type: "identify", userId: id(i), traits, timestamp: iso(at), messageId: msg("id", i, 0) },
        { type: "track", event: "Visit", userId: id(i), timestamp: iso(at + 500), messageId: msg("v", i, 0) },
      );
    }
    await ingest(batch);
    await stored(
      batch.map((e) => e.messageId),
      Math.min(PEOPLE, start + PER_BATCH),
    );
  }
  // Later: the first 60 people change plan (and keep their other traits; json_patch merges).
  const later = [];
  for (let i = 0; i < 60; i++) {
    later.push({
      type: "identify",
      userId: id(i),
      traits: { plan: "enterprise" },
      timestamp: iso(T0 + 2 * 86_400_000 + i),
      messageId: msg("id", i, 1),
    });
    plan.set(id(i), "enterprise");
  }
  // One new person whose identify is delivered twice: the message fails once after ClickHouse
  // stored it and is redelivered (the D1 Worker has no fault and stores it once).
  const redo = [
    {
      type: "identify",
      userId: "tr-redo",
      traits: { plan: "redo" },
      timestamp: iso(T0 + 3600_000),
      messageId: "redo-id",
    },
    { type: "track", event: "Visit", userId: "tr-redo", timestamp: iso(T0 + 3601_000), messageId: "redo-v" },
    {
      type: "track",
      event: `${MARKER}1`,
      userId: "tr-redo",
      timestamp: iso(T0 + 3602_000),
      messageId: "redo-m",
    },
  ];
  plan.set("tr-redo", "redo");
  await ingest(later);
  await stored(
    later.map((e) => e.messageId),
    PEOPLE,
  );
  await ingest(redo);
  await eventually(
    async () => Number(await ch.query("SELECT count() FROM events WHERE message_id = 'redo-id'")) === 2,
    { timeoutMs: 60_000, message: "the identify inserted twice (redelivered)" },
  );
  await stored(
    redo.map((e) => e.messageId),
    PEOPLE + 1,
  );

  // Expected groups: visitors per plan; people without one form the null group.
  const expected = new Map();
  for (let i = 0; i < PEOPLE; i++) {
    const k = plan.get(id(i)) ?? null;
    expected.set(k, (expected.get(k) ?? 0) + 1);
  }
  expected.set("redo", 1);
  const q = {
    event: "Visit",
    from: iso(T0 - 86_400_000),
    to: iso(T0 + 5 * 86_400_000),
    cohort: { by: "trait", trait: "plan" },
    breakdownLimit: 10,
  };
  const ins = await both("/v1/query/insight", q);
  assert.equal(ins.totalUsers, PEOPLE + 1);
  const got = new Map(ins.series.map((s) => [s.key, s.totalUsers]));
  assert.deepEqual(
    new Map([...got].sort(([a], [b]) => String(a).localeCompare(String(b)))),
    new Map([...expected].sort(([a], [b]) => String(a).localeCompare(String(b)))),
  );
  assert.equal(got.get("enterprise"), 60, "the later identify wins");
  assert.equal(got.get("redo"), 1, "the redelivered identify counts once");

  const f = await both("/v1/query/funnel", {
    steps: [{ event: "Visit" }, { event: `${MARKER}1` }],
    from: q.from,
    to: q.to,
    window: "1d",
    cohort: q.cohort,
    breakdownLimit: 10,
  });
  assert.equal(f.steps[0].entered, PEOPLE + 1);
  assert.equal(f.steps[1].entered, 1);

  // The mirrored profile is D1's merged one: the later identify patched, not replaced, it.
  const [{ traits }] = await chs.rows("SELECT traits FROM users WHERE user_id = 'tr-0'");
  assert.deepEqual(JSON.parse(traits), { email: "0@x.test", plan: "enterprise" });
  const mirrored = await ch.query(
    "SELECT argMax(traits, rev) FROM users WHERE user_id = 'tr-0' FORMAT TSVRaw",
  );
  assert.deepEqual(JSON.parse(mirrored), JSON.parse(traits));
});
