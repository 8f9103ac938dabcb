// Issue 13: the analysis suite's seeded history and plain-JS reference answers against the
// ClickHouse events store — a real ClickHouse server (Debian's 18.16) on a loopback port and
// a Worker configured with EVENTS_STORE = "clickhouse". Same data and expectations as
// analysis.test.mjs (D1), so both stores give identical answers.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startSpur } from "../helpers/spur.mjs";
import { startClickHouse } from "../helpers/clickhouse.mjs";
import { generate, edgeCases, referenceFunnel, referenceInsight, DAY, HOUR } from "../helpers/generate.mjs";

const TOKEN = "test-admin-token";
let spur, ch, data;
const T0 = Date.UTC(2026, 10, 1);
const iso = (ms) => new Date(ms).toISOString();

async function api(path, body) {
  const res = await fetch(`${spur.url}${path}`, {
    method: body === undefined ? "GET" : "POST",
    headers: { Authorization: `Bearer ${TOKEN}`, "Content-Type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : null };
}

before(async () => {
  ch = await startClickHouse();
  data = generate({ users: 1000, seed: 7, start: T0, days: 14 });
  data.events.push(...edgeCases(T0 + 2 * DAY, T0 + 12 * DAY));
  await ch.load(data);
  // Every event loaded twice: a redelivered batch must never count twice.
  await ch.load({ events: data.events.slice(0, 5000) });
  spur = await startSpur({
    secrets: { ADMIN_TOKEN: TOKEN, CLICKHOUSE_URL: ch.url },
    vars: { EVENTS_STORE: "clickhouse" },
  });
});
after(async () => {
  await spur?.close();
  ch?.close();
});

const track = (name) => (e) => e.type === "track" && e.event === name;
const strip = (steps) => steps.map(({ index, event, ...rest }) => rest);

test("clickhouse: values are literals, never SQL", async () => {
  const inj = await api("/v1/query/insight", {
    event: "x'); DROP TABLE events; --",
    from: iso(T0),
    to: iso(T0 + DAY),
  });
  assert.equal(inj.status, 200, JSON.stringify(inj.body));
  assert.equal(inj.body.totalEvents, 0);
  assert.ok(Number(await ch.query("SELECT count() FROM events")) > 0);
});

test("clickhouse: funnel edge cases (window boundary, order, repeats, same ms, range ends)", async () => {
  const r = await api("/v1/query/funnel", {
    steps: [{ event: "Edge Start" }, { event: "Edge Mid" }, { event: "Edge End" }],
    from: iso(T0 + 2 * DAY),
    to: iso(T0 + 12 * DAY),
    window: "1h",
  });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  assert.deepEqual(
    r.body.steps.map((s) => s.entered),
    [7, 5, 3],
  );
  assert.deepEqual(
    r.body.steps.map((s) => s.dropOff),
    [2, 2, null],
  );
  assert.equal(r.body.steps[0].medianMsToNext, 10 * 60_000);
  assert.equal(r.body.steps[1].medianMsToNext, 30 * 60_000);
});

test("clickhouse: funnel over 1,000 generated users with breakdown matches the reference", async () => {
  const from = T0,
    to = T0 + 12 * DAY;
  const names = ["Product Viewed", "Added To Cart", "Order Completed"];
  const r = await api("/v1/query/funnel", {
    steps: names.map((event) => ({ event })),
    from: iso(from),
    to: iso(to),
    window: "1d",
    breakdown: "properties.category",
    breakdownLimit: 3,
  });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  const ref = referenceFunnel(data, {
    steps: names.map(track),
    from,
    to,
    window: DAY,
    breakdown: (e) => e.properties.category,
  });
  assert.deepEqual(strip(r.body.steps), ref.steps);
  const counts = new Map();
  for (const p of ref.people) counts.set(p.key, (counts.get(p.key) ?? 0) + 1);
  const top = [...counts.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, 3)
    .map(([k]) => k);
  assert.deepEqual(
    r.body.breakdown.map((b) => b.key),
    [...top, null],
  );
  for (const [i, key] of top.entries()) {
    assert.deepEqual(
      strip(r.body.breakdown[i].steps),
      ref.summarize(ref.people.filter((p) => p.key === key)),
    );
  }
  assert.deepEqual(
    strip(r.body.breakdown[3].steps),
    ref.summarize(ref.people.filter((p) => !top.includes(p.key))),
  );
});

test("clickhouse: funnel with a page-view step and property filters matches the reference", async () => {
  const from = T0 + DAY,
    to = T0 + 10 * DAY;
  const r = await api("/v1/query/funnel", {
    steps: [
      { event: "$pageview", filters: [{ field: "properties.path", value: "/" }] },
      { event: "Product Viewed", filters: [{ field: "properties.price", op: "gte", value: 50 }] },
      {
        event: "Order Completed",
        filters: [{ field: "properties.category", op: "in", value: ["shoes", "bags"] }],
      },
    ],
    from: iso(from),
    to: iso(to),
    window: "6h",
  });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  const ref = referenceFunnel(data, {
    steps: [
      (e) => e.type === "page" && e.properties.path === "/",
      (e) => track("Product Viewed")(e) && e.properties.price >= 50,
      (e) => track("Order Completed")(e) && ["shoes", "bags"].includes(e.properties.category),
    ],
    from,
    to,
    window: 6 * HOUR,
  });
  assert.deepEqual(strip(r.body.steps), ref.steps);
});

test("clickhouse: insight daily counts, unique users, top-N breakdown with other", async () => {
  const from = T0 + 12 * HOUR,
    to = T0 + 10 * DAY;
  const r = await api("/v1/query/insight", {
    event: "Product Viewed",
    from: iso(from),
    to: iso(to),
    interval: "day",
    breakdown: "properties.category",
    breakdownLimit: 2,
  });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  const ref = referenceInsight(data, {
    match: track("Product Viewed"),
    from,
    to,
    interval: DAY,
    breakdown: (e) => e.properties.category,
    limit: 2,
  });
  assert.deepEqual(
    r.body.buckets.map((b) => iso(Date.parse(b))),
    ref.buckets.map(iso),
  );
  assert.deepEqual(r.body.series, ref.series);
  assert.equal(r.body.totalEvents, ref.totalEvents);
  assert.equal(r.body.totalUsers, ref.totalUsers);

  const hourly = await api("/v1/query/insight", { from: iso(T0), to: iso(T0 + DAY), interval: "hour" });
  assert.equal(hourly.status, 200, JSON.stringify(hourly.body));
  const refAll = referenceInsight(data, { match: () => true, from: T0, to: T0 + DAY, interval: HOUR });
  assert.deepEqual(hourly.body.series, refAll.series);
});

test("clickhouse: recent events and event names", async () => {
  const recent = await api("/v1/events/recent?limit=5");
  assert.equal(recent.status, 200, JSON.stringify(recent.body));
  const newest = [...data.events]
    .sort((a, b) => b.ts_ms - a.ts_ms)
    .slice(0, 5)
    .map((e) => e.message_id);
  assert.deepEqual(
    recent.body.events.map((e) => e.messageId),
    newest,
  );
  assert.equal(recent.body.events[0].timestamp, iso(Math.max(...data.events.map((e) => e.ts_ms))));
  const names = await api("/v1/events/names");
  const orders = data.events.filter(track("Order Completed")).length;
  assert.equal(names.body.events.find((e) => e.event === "Order Completed").count, orders);
});

test("clickhouse: segment queries are refused with a stable reason, never answered from D1", async () => {
  const r = await api("/v1/query/segment", {
    where: { did: { event: "Product Viewed" } },
    asOf: iso(T0 + 14 * DAY),
  });
  assert.equal(r.status, 400, JSON.stringify(r.body));
  assert.equal(r.body.reason, "not_on_clickhouse");
});
