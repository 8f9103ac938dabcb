// Issue 12 ("`in_segment` is a condition"): a rule condition reads live segment membership as
// `segments.<id>`. Such a rule is evaluated in the person's object, with the membership the
// live upkeep last observed; a save naming a segment that is not live is refused with a 400.
// Journey conditions read it too (a branch, at the time it is taken).
// Real workerd, D1 and queues; every wait polls with a generous timeout.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startSpur, uid, eventually } from "../helpers/spur.mjs";

let spur;
const WAIT = { timeoutMs: 30_000, intervalMs: 200 };
const MSG = [{ type: "message", title: "t", body: "b" }];

const track = (userId, event) => ({
  type: "track",
  event,
  userId,
  messageId: uid("sc"),
  timestamp: new Date().toISOString(),
  properties: {},
});

async function admin(path, body, method = "PUT") {
  const res = await spur.admin(path, { method, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : null };
}

const firings = (rule, user) =>
  spur.rows("SELECT message_ids, source FROM rule_firings WHERE rule_id = ? AND user_id = ?", rule, user);

/** Polls until the rule has fired for the user; returns the firing rows. */
const fired = (rule, user) =>
  eventually(async () => {
    const r = await firings(rule, user);
    return r.length ? r : null;
  }, WAIT);

/** The person's live states, as the rule explain endpoint shows them from the object. */
async function liveStates(user) {
  const res = await spur.admin(`/v1/rules/vip-x/explain?user=${encodeURIComponent(user)}`);
  const body = await res.json();
  assert.equal(res.status, 200, JSON.stringify(body));
  return body.live?.segments ?? {};
}

before(async () => {
  spur = await startSpur();
  const vip = await admin("/v1/segments/vip", {
    name: "VIP",
    where: { did: { event: "purchase", min: 1, within: "7d" } },
    live: true,
  });
  assert.equal(vip.status, 200, JSON.stringify(vip.body));
  const saved = await admin("/v1/segments/saved-only", {
    name: "not live",
    where: { did: { event: "purchase" } },
  });
  assert.equal(saved.status, 200, JSON.stringify(saved.body));
  await spur.putRule({
    id: "vip-x",
    trigger: { events: ["X"], condition: { var: "segments.vip" } },
    actions: MSG,
  });
  await spur.putRule({
    id: "not-vip-x",
    trigger: { events: ["X"], condition: { "!": { var: "segments.vip" } } },
    actions: MSG,
  });
});
after(async () => {
  await spur?.close();
});

test("a rule on segments.vip fires for a member, not for a non-member", async () => {
  const member = uid("vip");
  const other = uid("plain");
  await spur.batch([track(member, "purchase"), track(other, "browse")]);
  // The upkeep observes the purchase once it is stored: poll the person's object.
  const joined = await eventually(async () => ((await liveStates(member)).vip?.member ? true : null), WAIT);
  assert.ok(joined, "the purchase made the member a vip");
  const x = track(member, "X");
  const y = track(other, "X");
  await spur.batch([x, y]);
  const vipRows = await fired("vip-x", member);
  assert.ok(vipRows, "the vip rule fired for the member");
  assert.deepEqual(
    vipRows.map((r) => [JSON.parse(r.message_ids), r.source]),
    [[[x.messageId], "state"]],
  );
  // The non-member's X reached the object and read membership `false`: the negated rule fired
  // for them, from the same evaluation that kept the vip rule silent.
  const otherRows = await fired("not-vip-x", other);
  assert.ok(otherRows, "the negated rule fired for the non-member");
  assert.deepEqual(
    otherRows.map((r) => [JSON.parse(r.message_ids), r.source]),
    [[[y.messageId], "state"]],
  );
  assert.deepEqual(await firings("vip-x", other), []);
  assert.deepEqual(await firings("not-vip-x", member), []);
});

test("a condition naming a segment that is not live is refused at save", async () => {
  const cases = [
    [{ var: "segments.nope" }, "unknown_segment"],
    [{ var: "segments.saved-only" }, "unknown_segment"],
    [{ var: "segments.vip.since" }, "invalid_condition"],
    [{ var: "segments" }, "invalid_condition"],
  ];
  for (const [condition, reason] of cases) {
    const r = await admin("/v1/rules/bad-seg", { trigger: { events: ["X"], condition }, actions: MSG });
    assert.equal(r.status, 400, JSON.stringify(r.body));
    assert.equal(r.body.reason, reason, JSON.stringify(r.body));
    assert.match(r.body.detail, /segments/);
  }
  const missing = await spur.admin("/v1/rules/bad-seg");
  assert.equal(missing.status, 404);
});

/** A journey started by `start` whose branch emits `<id> VIP` for members of vip, else `<id> Std`. */
const routed = (id, start, condition = { var: "segments.vip" }) => ({
  id,
  trigger: { type: "event", events: [start] },
  start: "tier",
  nodes: [
    { id: "tier", type: "branch", branches: [{ condition, next: "vip" }], else: "std" },
    { id: "vip", type: "action", action: { type: "emit", event: `${id} VIP` }, next: "bye" },
    { id: "std", type: "action", action: { type: "emit", event: `${id} Std` }, next: "bye" },
    { id: "bye", type: "exit" },
  ],
});

/** The journey's emitted events stored for the user: [message_id, event]. */
const emitted = (id, user) =>
  spur.rows(
    "SELECT message_id, event FROM events WHERE user_id = ? AND event IN (?, ?) ORDER BY event",
    user,
    `${id} VIP`,
    `${id} Std`,
  );

test("a journey branch on segments.vip routes a member and a non-member apart, once each", async () => {
  const put = await admin("/v1/journeys/seg-route", routed("seg-route", "J"));
  assert.equal(put.status, 201, JSON.stringify(put.body));
  const pub = await admin("/v1/journeys/seg-route/publish", undefined, "POST");
  assert.equal(pub.status, 200, JSON.stringify(pub.body));
  const member = uid("jvip");
  const other = uid("jplain");
  await spur.batch([track(member, "purchase"), track(other, "browse")]);
  const joined = await eventually(async () => ((await liveStates(member)).vip?.member ? true : null), WAIT);
  assert.ok(joined, "the purchase made the member a vip");
  await spur.batch([track(member, "J"), track(other, "J")]);
  const both = await eventually(async () => {
    const [m, o] = [await emitted("seg-route", member), await emitted("seg-route", other)];
    return m.length && o.length ? [m, o] : null;
  }, WAIT);
  assert.ok(both, "the journey ran for both people");
  const [m, o] = both;
  assert.deepEqual(
    m.map((r) => [r.message_id, r.event]),
    [[`seg-route:0:vip:${member}`, "seg-route VIP"]],
  );
  assert.deepEqual(
    o.map((r) => [r.message_id, r.event]),
    [[`seg-route:0:std:${other}`, "seg-route Std"]],
  );
  // Explain shows what the branch read, per person.
  for (const [user, read] of [
    [member, true],
    [other, false],
  ]) {
    const res = await spur.admin(`/v1/journeys/seg-route/explain?user=${encodeURIComponent(user)}`);
    const x = await res.json();
    assert.equal(res.status, 200, JSON.stringify(x));
    const step = JSON.stringify(x).includes(`"segments.vip":${read}`);
    assert.ok(step, JSON.stringify(x));
  }
  // Nothing else arrived meanwhile.
  assert.equal((await emitted("seg-route", member)).length, 1);
  assert.equal((await emitted("seg-route", other)).length, 1);
});

test("a journey naming a segment that is not live is refused at save, validate and publish", async () => {
  for (const [name, reason] of [
    ["nope", "unknown_segment"],
    ["saved-only", "unknown_segment"],
  ]) {
    const doc = routed("seg-bad", "J", { "!": { var: `segments.${name}` } });
    const put = await admin("/v1/journeys/seg-bad", doc);
    assert.equal(put.status, 400, JSON.stringify(put.body));
    assert.equal(put.body.reason, reason, JSON.stringify(put.body));
    assert.match(put.body.detail, /\/nodes\/0\/branches\/0\/condition.*segments\./, JSON.stringify(put.body));
    const v = await admin("/v1/journeys/validate", doc, "POST");
    assert.equal(v.status, 400, JSON.stringify(v.body));
    assert.equal(v.body.reason, reason, JSON.stringify(v.body));
  }
  const trig = await admin("/v1/journeys/seg-bad", {
    ...routed("seg-bad", "J"),
    trigger: { type: "event", events: ["J"], condition: { var: "segments.nope" } },
  });
  assert.equal(trig.status, 400, JSON.stringify(trig.body));
  assert.equal(trig.body.reason, "unknown_segment");
  assert.match(trig.body.detail, /\/trigger\/condition/);
  assert.equal((await spur.admin("/v1/journeys/seg-bad")).status, 404);
  // A draft saved while its segment was live is refused at publish once it is not.
  const tmp = await admin("/v1/segments/seg-tmp", {
    name: "tmp",
    where: { did: { event: "purchase" } },
    live: true,
  });
  assert.equal(tmp.status, 200, JSON.stringify(tmp.body));
  const draft = await admin("/v1/journeys/seg-late", routed("seg-late", "J2", { var: "segments.seg-tmp" }));
  assert.equal(draft.status, 201, JSON.stringify(draft.body));
  const gone = await spur.admin("/v1/segments/seg-tmp", { method: "DELETE" });
  assert.ok(gone.status === 200 || gone.status === 204, String(gone.status));
  const pub = await admin("/v1/journeys/seg-late/publish", undefined, "POST");
  assert.equal(pub.status, 400, JSON.stringify(pub.body));
  assert.equal(pub.body.reason, "unknown_segment");
});
