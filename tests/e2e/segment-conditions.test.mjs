// Issue 12 ("`in_segment` is a condition"): a rule condition reads live segment membership as
// `segments.<id>`. Such a rule is evaluated in the person's object, with the membership the
// live upkeep last observed; a save naming a segment that is not live is refused with a 400.
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
  const res = await spur.admin(path, { method, body: JSON.stringify(body) });
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
  // A journey cannot read membership (it can start on $segment_entered instead).
  const j = await admin("/v1/journeys/seg-journey", {
    name: "j",
    trigger: { type: "event", events: ["X"], condition: { var: "segments.vip" } },
    start: "a",
    nodes: [{ id: "a", type: "exit" }],
  });
  assert.equal(j.status, 400, JSON.stringify(j.body));
  assert.match(j.body.detail, /read by rule conditions only/, JSON.stringify(j.body));
});
