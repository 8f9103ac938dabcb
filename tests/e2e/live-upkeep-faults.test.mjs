// Issue 12 (real-time segments, upkeep under faults): when the events consumer cannot reach a
// person's object, their stored events are handed to the actions queue, which retries until
// the object observes them — membership misses nothing. The Worker has a test-only switch, the
// var SPUR_FAULT_UPKEEP_FAIL (absent from wrangler.toml): the consumer's own upkeep call fails
// for a person whose events include one named after the marker. Real workerd, D1 and queues;
// every wait polls with a generous timeout.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startSpur, uid, eventually } from "../helpers/spur.mjs";

const MARKER = "__upkeep_fault__";
const WAIT = { timeoutMs: 30_000, intervalMs: 200 };
let spur;

/** The admin API, through the harness (`spur.api`). */
const api = (...args) => spur.api(...args);

const track = (userId, event, properties = {}) => ({
  type: "track",
  event,
  userId,
  messageId: uid("lf"),
  timestamp: new Date().toISOString(),
  properties,
});

before(async () => {
  spur = await startSpur({ vars: { SPUR_FAULT_UPKEEP_FAIL: MARKER } });
  const r = await api(
    "/v1/segments/unreached",
    { name: "unreached", where: { did: { event: MARKER } }, live: true },
    { method: "PUT" },
  );
  assert.equal(r.status, 200, JSON.stringify(r.body));
  const rule = await spur.putRule({
    id: "live-explain",
    trigger: { events: ["$segment_entered"] },
    actions: [{ type: "message", title: "In", body: "Entered." }],
  });
  assert.ok(rule, "the rule was stored");
});
after(async () => {
  await spur?.close();
});

test("a failed upkeep call is retried through the actions queue: one $segment_entered, membership kept", async () => {
  const user = uid("unreached");
  const res = await spur.batch([track(user, MARKER), track(user, "Page Seen")]);
  assert.equal(res.accepted, 2);
  const rows = await eventually(async () => {
    const r = await spur.rows(
      "SELECT message_id FROM events WHERE user_id = ? AND event = '$segment_entered'",
      user,
    );
    return r.length ? r : null;
  }, WAIT);
  assert.ok(rows, "the transition was stored although the consumer's own call failed");
  assert.deepEqual(
    rows.map((r) => r.message_id),
    [`unreached:${user}:1:entered`],
  );
  const explain = await api(`/v1/rules/live-explain/explain?user=${encodeURIComponent(user)}`);
  assert.equal(explain.status, 200, JSON.stringify(explain.body));
  assert.equal(explain.body.live?.segments?.unreached?.member, true, JSON.stringify(explain.body.live));
  const stored = await spur.rows("SELECT event FROM events WHERE user_id = ? ORDER BY event", user);
  assert.deepEqual(
    stored.map((r) => r.event),
    ["$segment_entered", "Page Seen", MARKER],
    "the events were stored once each, and the transition once",
  );
});
