// Issue 12 (real-time segments): a saved segment marked live is evaluated per person by the live
// evaluator (spur_core::query::live), and its answer must agree with the segment query over the
// stored events. Real workerd and D1; seeded history with explicit timestamps and an explicit
// asOf, so no answer depends on the wall clock.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startSpur } from "../helpers/spur.mjs";
import { generate, insertAll, DAY } from "../helpers/generate.mjs";

const T0 = Date.UTC(2026, 10, 1);
const iso = (ms) => new Date(ms).toISOString();
let spur;

/** The admin API, through the harness (`spur.api`). */
const api = (...args) => spur.api(...args);

before(async () => {
  spur = await startSpur();
  const data = generate({ users: 120, seed: 12, start: T0, days: 14 });
  await insertAll(spur.db, data);
});
after(async () => {
  await spur?.close();
});

const SEGMENTS = {
  "recent-buyers": { did: { event: "Order Completed", within: "3d" } },
  "viewers-2-3": { did: { event: "Product Viewed", min: 2, max: 3, within: "7d" } },
  "pro-not-hats": {
    and: [
      { trait: { name: "plan", value: "pro" } },
      {
        not: {
          did: {
            event: "Added To Cart",
            filters: [{ field: "properties.category", op: "in", value: ["hats"] }],
          },
        },
      },
    ],
  },
  "lapsed-or-big": {
    or: [
      { lastSeen: { before: "5d" } },
      { did: { event: "Order Completed", filters: [{ field: "properties.total", op: "gt", value: 150 }] } },
      {
        did: {
          event: "$pageview",
          filters: [{ field: "context.campaign.source", op: "contains", value: "ai" }],
        },
      },
    ],
  },
};

test("live membership agrees with the segment query for every seeded person", async () => {
  const asOf = iso(T0 + 10 * DAY + 7 * 3_600_000);
  const everyone = await api("/v1/query/segment", {
    where: { not: { did: { event: "Nobody Does This" } } },
    asOf,
    limit: 1000,
  });
  assert.equal(everyone.status, 200, JSON.stringify(everyone.body));
  const people = everyone.body.users;
  assert.ok(people.length > 100, `${people.length} people`);
  for (const [id, where] of Object.entries(SEGMENTS)) {
    const put = await api(`/v1/segments/${id}`, { name: id, where, live: true }, { method: "PUT" });
    assert.equal(put.status, 200, JSON.stringify(put.body));
    assert.equal(put.body.live, true);
    const q = await api(`/v1/segments/${id}/query`, { asOf, limit: 1000 });
    assert.equal(q.status, 200, JSON.stringify(q.body));
    const members = new Set(q.body.users);
    assert.ok(members.size > 0 && members.size < people.length, `${id}: ${members.size} members`);
    const wrong = [];
    for (const person of people) {
      const r = await api(`/v1/segments/${id}/live?userId=${encodeURIComponent(person)}&asOf=${asOf}`);
      assert.equal(r.status, 200, JSON.stringify(r.body));
      if (r.body.member !== members.has(person)) wrong.push(person);
    }
    assert.deepEqual(wrong, [], `${id}: live and query disagree`);
  }
});

test("a window leave is announced for the moment the window expires", async () => {
  const asOf = T0 + 10 * DAY;
  const q = await api("/v1/segments/recent-buyers/query", { asOf: iso(asOf), limit: 1 });
  const person = q.body.users[0];
  assert.ok(person);
  const r = await api(`/v1/segments/recent-buyers/live?userId=${person}&asOf=${iso(asOf)}`);
  assert.equal(r.body.member, true);
  const next = Date.parse(r.body.nextChange);
  assert.ok(next > asOf && next <= asOf + 3 * DAY + 1, r.body.nextChange);
  // At the announced time the query and the live answer agree again (checked at both sides).
  for (const at of [next - 1, next]) {
    const live = await api(`/v1/segments/recent-buyers/live?userId=${person}&asOf=${iso(at)}`);
    const qq = await api("/v1/query/segment", {
      where: SEGMENTS["recent-buyers"],
      asOf: iso(at),
      limit: 1000,
    });
    assert.equal(live.body.member, qq.body.users.includes(person), iso(at));
  }
});

test("what cannot be kept live is refused with a stable reason; a plain segment is not live", async () => {
  const big = await api(
    "/v1/segments/too-many",
    { name: "x", where: { did: { event: "A", min: 500 } }, live: true },
    { method: "PUT" },
  );
  assert.equal(big.status, 400);
  assert.match(JSON.stringify(big.body), /segment_not_live/);
  const plain = await api(
    "/v1/segments/plain",
    { name: "p", where: { did: { event: "A" } } },
    { method: "PUT" },
  );
  assert.equal(plain.status, 200);
  assert.equal(plain.body.live, undefined);
  const r = await api("/v1/segments/plain/live?userId=u1");
  assert.equal(r.status, 400);
  assert.match(JSON.stringify(r.body), /segment_not_live/);
  assert.equal((await api("/v1/segments/nope/live?userId=u1")).status, 404);
  assert.equal((await api("/v1/segments/recent-buyers/live")).status, 400);
});
