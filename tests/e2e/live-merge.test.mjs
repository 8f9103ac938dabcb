// Issue 12 (Identity + real-time segments): an identity merge carries live segment membership.
// The anonymous object hands its live states over with the messageIds it observed; the
// identified object unites them, re-evaluates and emits the transitions once. Also: at most
// MAX_LIVE_SEGMENTS segments are live. Real workerd, D1 and queues; every wait polls.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startSpur, uid, eventually } from "../helpers/spur.mjs";

let spur;
const WAIT = { timeoutMs: 30_000, intervalMs: 200 };
const MAX_LIVE_SEGMENTS = 20;

/** The admin API, through the harness (`spur.api`). */
const api = (...args) => spur.api(...args);

const putSegment = (id, where, live = true) =>
  api(`/v1/segments/${id}`, { name: id, where, live }, { method: "PUT" });

const event = (who, name, messageId = uid("lm")) => ({
  type: "track",
  event: name,
  messageId,
  timestamp: new Date().toISOString(),
  properties: {},
  ...who,
});
const identify = (anonymousId, userId, messageId = uid("id")) => ({
  type: "identify",
  anonymousId,
  userId,
  messageId,
  timestamp: new Date().toISOString(),
});

const transitions = (person, name, column = "user_id") =>
  spur.rows(
    `SELECT message_id FROM events WHERE ${column} = ? AND event = ? ORDER BY message_id`,
    person,
    name,
  );

/** The person's object as the rule explain shows it (live states, identity). */
async function objectOf(person) {
  const r = await api(`/v1/rules/lm-buyer/explain?user=${encodeURIComponent(person)}`);
  assert.equal(r.status, 200, JSON.stringify(r.body));
  return r.body.live ?? {};
}
const liveStates = async (person) => (await objectOf(person)).segments ?? {};

before(async () => {
  spur = await startSpur();
  for (const [id, where] of [
    ["buyer2", { did: { event: "purchase", min: 2, within: "7d" } }],
    ["looker", { did: { event: "looked" } }],
  ]) {
    const r = await putSegment(id, where);
    assert.equal(r.status, 200, JSON.stringify(r.body));
  }
  await spur.putRule({
    id: "lm-buyer",
    trigger: {
      events: ["$segment_entered"],
      condition: { "==": [{ var: "properties.segmentId" }, "buyer2"] },
    },
    actions: [{ type: "message", title: "Welcome back", body: "Two purchases." }],
  });
});
after(async () => {
  await spur?.close();
});

test("a purchase as a visitor and one after login make one $segment_entered for the user", async () => {
  const anonymousId = uid("anon");
  const userId = uid("user");
  const anonPurchase = event({ anonymousId }, "purchase");
  await spur.batch([anonPurchase]);
  // The visitor's object observed the purchase (one hit, not yet a member).
  const seen = await eventually(async () => {
    const s = await liveStates(anonymousId);
    return s.buyer2?.hits?.[0]?.length === 1 ? s : null;
  }, WAIT);
  assert.ok(seen, "the anonymous object counted the purchase");
  assert.equal(seen.buyer2.member, false);
  const login = identify(anonymousId, userId);
  await spur.batch([login]);
  const gone = await objectOf(anonymousId);
  assert.deepEqual(gone.segments, {}, "the anonymous object handed its live states over");
  assert.equal(gone.identity.mergedInto, userId);
  await spur.batch([event({ userId, anonymousId }, "purchase")]);
  const rows = await eventually(async () => {
    const r = await transitions(userId, "$segment_entered");
    return r.length ? r : null;
  }, WAIT);
  assert.ok(rows, "a $segment_entered was stored for the user");
  assert.deepEqual(
    rows.map((r) => r.message_id),
    [`buyer2:${userId}:1:entered`],
  );
  const states = await liveStates(userId);
  assert.equal(states.buyer2?.member, true, JSON.stringify(states));
  assert.equal(states.buyer2.hits[0].length, 2, "the visitor's purchase counts for the user");
  const fired = await eventually(async () => {
    const r = await spur.rows(
      "SELECT source FROM rule_firings WHERE rule_id = 'lm-buyer' AND user_id = ?",
      userId,
    );
    return r.length ? r : null;
  }, WAIT);
  assert.ok(fired, "the rule on $segment_entered fired");
  assert.equal(fired.length, 1);

  // Redelivery: the same identify again, another identify with the same ids, and the
  // visitor's purchase again (forwarded to the user), with a marker event in the same batch
  // that shows when the forwarded delivery was observed.
  await spur.batch([login, identify(anonymousId, userId)]);
  const repeated = await eventually(async () => {
    const o = await objectOf(userId);
    return o.identity?.repeats >= 1 ? o : null;
  }, WAIT);
  assert.ok(repeated, "the repeated merge was recognised");
  await spur.batch([anonPurchase, event({ anonymousId }, "looked")]);
  const marked = await eventually(async () => {
    const s = await liveStates(userId);
    return s.looker?.member ? s : null;
  }, WAIT);
  assert.ok(marked, "the visitor's later event was forwarded to the user");
  assert.equal(marked.buyer2.hits[0].length, 2, "the redelivered purchase is not counted again");
  assert.equal(marked.buyer2.member, true);
  // Every transition the user has is the two entries (buyer2, then looker): nothing doubled.
  const all = await eventually(async () => {
    const r = await transitions(userId, "$segment_entered");
    return r.length === 2 ? r : null;
  }, WAIT);
  assert.ok(all, "two entries");
  assert.deepEqual(
    all.map((r) => r.message_id),
    [`buyer2:${userId}:1:entered`, `looker:${userId}:1:entered`],
  );
  assert.equal((await transitions(userId, "$segment_exited")).length, 0);
  assert.equal((await transitions(anonymousId, "$segment_entered", "anonymous_id")).length, 0);
  assert.equal(
    (await spur.rows("SELECT 1 FROM rule_firings WHERE rule_id = 'lm-buyer' AND user_id = ?", userId)).length,
    1,
  );
});

test("a visitor who enters before login is announced once more for the user, numbered after", async () => {
  const anonymousId = uid("anon");
  const userId = uid("user");
  await spur.batch([event({ anonymousId }, "purchase"), event({ anonymousId }, "purchase")]);
  const entered = await eventually(async () => {
    const r = await transitions(anonymousId, "$segment_entered", "anonymous_id");
    return r.length ? r : null;
  }, WAIT);
  assert.ok(entered, "the visitor entered");
  assert.deepEqual(
    entered.map((r) => r.message_id),
    [`buyer2:${anonymousId}:1:entered`],
  );
  await spur.batch([identify(anonymousId, userId)]);
  // The merge itself makes the user a member: one entry, numbered after the visitor's.
  const rows = await eventually(async () => {
    const r = await transitions(userId, "$segment_entered");
    return r.length ? r : null;
  }, WAIT);
  assert.ok(rows, "the user entered on the merge");
  assert.deepEqual(
    rows.map((r) => r.message_id),
    [`buyer2:${userId}:2:entered`],
  );
  assert.equal((await liveStates(userId)).buyer2?.member, true);
  // A further purchase as the user changes no membership.
  await spur.batch([event({ userId }, "purchase"), event({ userId }, "looked")]);
  const later = await eventually(async () => {
    const s = await liveStates(userId);
    return s.looker?.member ? s : null;
  }, WAIT);
  assert.ok(later, "the later events were observed");
  // The looker entry is stored once it is consumed; buyer2 is not entered again.
  const all = await eventually(async () => {
    const r = await transitions(userId, "$segment_entered");
    return r.length === 2 ? r : null;
  }, WAIT);
  assert.ok(all, "buyer2 once, looker once");
  assert.deepEqual(
    all.map((r) => r.message_id),
    [`buyer2:${userId}:2:entered`, `looker:${userId}:1:entered`],
  );
});

test(`a segment save past MAX_LIVE_SEGMENTS (${MAX_LIVE_SEGMENTS}) is refused`, async () => {
  const listed = await api("/v1/segments");
  assert.equal(listed.status, 200);
  const liveNow = listed.body.segments.filter((s) => s.live).length;
  const extra = [];
  for (let i = liveNow; i < MAX_LIVE_SEGMENTS; i++) {
    const id = `cap-${i}`;
    const r = await putSegment(id, { did: { event: `cap ${i}` } });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    extra.push(id);
  }
  const refused = await putSegment("one-too-many", { did: { event: "x" } });
  assert.equal(refused.status, 400, JSON.stringify(refused.body));
  assert.match(JSON.stringify(refused.body), /MAX_LIVE_SEGMENTS/);
  assert.match(JSON.stringify(refused.body), /20/);
  assert.equal((await api("/v1/segments/one-too-many")).status, 404, "nothing was stored");
  // Re-saving a live one and saving one not live are fine at the limit.
  assert.equal((await putSegment("looker", { did: { event: "looked" } })).status, 200);
  assert.equal((await putSegment("not-live", { did: { event: "x" } }, false)).status, 200);
  for (const id of extra) {
    assert.equal((await api(`/v1/segments/${id}`, undefined, { method: "DELETE" })).status, 204);
  }
  assert.equal((await putSegment("one-too-many", { did: { event: "x" } })).status, 200, "room again");
});
