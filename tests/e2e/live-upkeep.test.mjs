// Issue 12 (real-time segments, upkeep): the events consumer hands each stored event a live
// segment wants to the person's object, which keeps membership, emits `$segment_entered` /
// `$segment_exited` (stored once, deterministic messageId) and runs them through the rules.
// Real workerd, D1 and queues; every wait polls with a generous timeout.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startSpur, uid, eventually } from "../helpers/spur.mjs";

let spur;
const WAIT = { timeoutMs: 30_000, intervalMs: 200 };

/** The admin API, through the harness (`spur.api`). */
const api = (...args) => spur.api(...args);

const track = (userId, event, at = Date.now(), messageId = uid("lv")) => ({
  type: "track",
  event,
  userId,
  messageId,
  timestamp: new Date(at).toISOString(),
  properties: {},
});

const transitions = (user, name) =>
  spur.rows(
    "SELECT message_id, properties FROM events WHERE user_id = ? AND event = ? ORDER BY message_id",
    user,
    name,
  );

/** The person's live states, as the rule explain endpoint shows them from the object. */
async function liveStates(user) {
  const r = await api(`/v1/rules/live-vip/explain?user=${encodeURIComponent(user)}`);
  assert.equal(r.status, 200, JSON.stringify(r.body));
  return r.body.live?.segments ?? {};
}

before(async () => {
  spur = await startSpur();
  const put = async (id, where) => {
    const r = await api(`/v1/segments/${id}`, { name: id, where, live: true }, { method: "PUT" });
    assert.equal(r.status, 200, JSON.stringify(r.body));
  };
  await put("vip", { did: { event: "Went Vip" } });
  // Long enough that the consumer's upkeep surely sees the hit inside it (entry), short
  // enough that the alarm's leave comes within the exit wait.
  await put("brief", { did: { event: "Blinked", within: "20s" } });
  await spur.putRule({
    id: "live-vip",
    trigger: { events: ["$segment_entered"], condition: { "==": [{ var: "properties.segmentId" }, "vip"] } },
    actions: [{ type: "message", title: "Welcome, VIP", body: "You are in." }],
  });
});
after(async () => {
  await spur?.close();
});

test("meeting a live segment stores one $segment_entered, agreeing with /live and /query", async () => {
  const user = uid("vip");
  const e = track(user, "Went Vip");
  await spur.batch([e]);
  // The same event delivered again yields no second transition.
  await spur.batch([e]);
  const rows = await eventually(async () => {
    const r = await transitions(user, "$segment_entered");
    return r.length ? r : null;
  }, WAIT);
  assert.ok(rows, "a $segment_entered was stored");
  assert.equal(rows.length, 1);
  assert.equal(rows[0].message_id, `vip:${user}:1:entered`);
  assert.equal(JSON.parse(rows[0].properties).segmentId, "vip");
  const states = await liveStates(user);
  assert.equal(states.vip?.member, true, JSON.stringify(states));
  const live = await api(`/v1/segments/vip/live?userId=${encodeURIComponent(user)}`);
  assert.equal(live.status, 200, JSON.stringify(live.body));
  assert.equal(live.body.member, true);
  const q = await api("/v1/segments/vip/query", { limit: 1000 });
  assert.equal(q.status, 200, JSON.stringify(q.body));
  assert.ok(q.body.users.includes(user), "the segment query agrees");
  // Nothing more arrives for the duplicate (both deliveries were consumed by now: the
  // entered event came from the first, and the object saw the id before).
  const again = await transitions(user, "$segment_entered");
  assert.equal(again.length, 1);
});

test("a rule on $segment_entered fires for the person", async () => {
  const user = uid("vipr");
  await spur.batch([track(user, "Went Vip")]);
  const fired = await eventually(async () => {
    const r = await spur.rows("SELECT * FROM rule_firings WHERE rule_id = 'live-vip' AND user_id = ?", user);
    return r.length ? r : null;
  }, WAIT);
  assert.ok(fired, "the rule fired");
  assert.equal(fired.length, 1);
  assert.equal(fired[0].source, "live");
});

test("a window leave is announced by the alarm as $segment_exited", async () => {
  const user = uid("blink");
  await spur.batch([track(user, "Blinked")]);
  const entered = await eventually(
    async () => (await transitions(user, "$segment_entered")).length > 0,
    WAIT,
  );
  assert.ok(entered, "entered");
  const exited = await eventually(
    async () => {
      const r = await transitions(user, "$segment_exited");
      return r.length ? r : null;
    },
    { timeoutMs: 90_000, intervalMs: 500 },
  );
  assert.ok(exited, "a $segment_exited was stored by the alarm");
  assert.equal(exited.length, 1);
  assert.equal(exited[0].message_id, `brief:${user}:2:exited`);
  const states = await liveStates(user);
  assert.equal(states.brief?.member, false, JSON.stringify(states));
});

test("an anonymous visitor's transitions carry the anonymousId, not a userId", async () => {
  const anon = uid("anon");
  await spur.batch([
    {
      type: "track",
      event: "Went Vip",
      anonymousId: anon,
      messageId: uid("lv"),
      timestamp: new Date().toISOString(),
      properties: {},
    },
  ]);
  const rows = await eventually(async () => {
    const r = await spur.rows(
      "SELECT message_id, user_id, anonymous_id FROM events WHERE anonymous_id = ? AND event = '$segment_entered'",
      anon,
    );
    return r.length ? r : null;
  }, WAIT);
  assert.ok(rows, "a $segment_entered was stored for the anonymous visitor");
  assert.equal(rows.length, 1);
  assert.equal(rows[0].message_id, `vip:${anon}:1:entered`);
  assert.equal(rows[0].user_id, null);
  const profiles = await spur.rows("SELECT user_id FROM users WHERE user_id = ?", anon);
  assert.equal(profiles.length, 0, "no profile was made up for the anonymous id");
});
