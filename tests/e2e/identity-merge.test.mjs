// Issue 12 (Identity): identify and alias merge the anonymous person's state into the identified
// person's Durable Object exactly once — against real workerd (D1, Queues, Durable Objects +
// alarms) and a real loopback HTTP receiver for journey webhooks. Journey waits use 1 h timeouts
// so no outcome depends on how fast this machine is; every wait is an asserted eventually().
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startSpur, eventually, uid } from "../helpers/spur.mjs";
import { startReceiver } from "../helpers/receiver.mjs";

let spur, hooks;
before(async () => {
  hooks = await startReceiver();
  spur = await startSpur({ secrets: { WEBHOOK_SECRET: "test-webhook-secret" } });
});
after(async () => {
  await spur?.close();
  await hooks?.close();
});

/** A track event from an anonymous visitor (anonymousId only) or a logged-in one. */
const track = (who, event, properties = {}) => ({
  type: "track",
  event,
  properties,
  messageId: uid("m"),
  ...who,
});
const identify = (anonymousId, userId) => ({ type: "identify", anonymousId, userId, messageId: uid("i") });
const send = (...events) => spur.batch(events);
const putRule = (rule) => spur.putRule(rule);
/** The user's live rule state as the rule's explain shows it. */
async function live(rule, user) {
  const res = await spur.admin(`/v1/rules/${rule}/explain?user=${encodeURIComponent(user)}`);
  assert.equal(res.status, 200);
  return (await res.json()).live;
}
const firings = (rule) => spur.rows("SELECT * FROM rule_firings WHERE rule_id = ? ORDER BY fired_ms", rule);
const views = (id) => ({
  id,
  trigger: { events: [`${id} Viewed Product`] },
  window: { count: 3, within: "1h" },
  actions: [{ type: "message", title: `${id} fired`, body: "3 product views" }],
});

test("a count begun anonymously finishes after login: 2 views anonymous, identify, 1 view as the user", async () => {
  await putRule(views("mw"));
  const anon = { anonymousId: uid("anon") };
  const user = { userId: uid("user"), anonymousId: anon.anonymousId };
  assert.equal((await send(track(anon, "mw Viewed Product"))).messages, undefined);
  assert.equal((await send(track(anon, "mw Viewed Product"))).messages, undefined);
  assert.equal((await live("mw", anon.anonymousId)).state.hits.length, 2);
  assert.equal(
    (await send(identify(anon.anonymousId, user.userId))).messages,
    undefined,
    "2 of 3 do not fire",
  );
  const moved = await live("mw", user.userId);
  assert.equal(moved.state?.hits?.length, 2, "the anonymous views now count for the user");
  assert.equal(moved.identity.mergedFrom.length, 1);
  const gone = await live("mw", anon.anonymousId);
  assert.equal(gone.state, null, "nothing stays on the anonymous object");
  assert.equal(gone.identity.mergedInto, user.userId);
  const third = await send(track(user, "mw Viewed Product"));
  assert.equal(third.messages?.length, 1, JSON.stringify(third));
  assert.equal(third.messages[0].user, user.userId);
  const rows = await eventually(async () => ((await firings("mw")).length ? firings("mw") : null));
  assert.equal(rows.length, 1, "the rule fired once");
  assert.equal(rows[0].user_id, user.userId);
  assert.equal(JSON.parse(rows[0].message_ids).length, 3);
});

test("an anonymous tab's event after the merge is forwarded and counts for the user", async () => {
  await putRule(views("mf"));
  const anon = { anonymousId: uid("anon") };
  const userId = uid("user");
  await send(track(anon, "mf Viewed Product"));
  await send(identify(anon.anonymousId, userId));
  await send(track({ userId, anonymousId: anon.anonymousId }, "mf Viewed Product"));
  // Another tab still sends with the anonymous id only: the anonymous object forwards it.
  const late = await send(track(anon, "mf Viewed Product"));
  assert.equal(late.messages?.length, 1, JSON.stringify(late));
  assert.equal(late.messages[0].user, userId);
  const rows = await eventually(async () => ((await firings("mf")).length ? firings("mf") : null));
  assert.equal(rows.length, 1);
  assert.equal(rows[0].user_id, userId);
});

test("an in-app message pending for the anonymous id reaches the logged-in user", async () => {
  await putRule({
    id: "mp",
    trigger: { events: ["mp Added Widget"] },
    absence: { events: ["mp Bought Widget"], within: "1s" },
    actions: [{ type: "message", title: "Forgot something?", body: "Your widget is waiting." }],
  });
  const anon = { anonymousId: uid("anon") };
  const userId = uid("user");
  await send(track(anon, "mp Added Widget"));
  // The absence fires by alarm with no request in flight: the message waits in the outbox.
  assert.ok(
    await eventually(async () => (await live("mp", anon.anonymousId)).outbox?.length === 1, {
      timeoutMs: 15_000,
      message: "message parked for the anonymous id",
    }),
  );
  const [row] = await eventually(async () => ((await firings("mp")).length ? firings("mp") : null));
  assert.equal(row.user_id, anon.anonymousId);
  const first = await send(identify(anon.anonymousId, userId));
  const next = await send(track({ userId, anonymousId: anon.anonymousId }, "mp Opened App"));
  const got = [...(first.messages ?? []), ...(next.messages ?? [])];
  assert.equal(got.length, 1, JSON.stringify({ first, next }));
  assert.equal(got[0].title, "Forgot something?");
  assert.equal(got[0].user, userId, "addressed to the logged-in user");
  assert.equal((await send(track({ userId }, "mp Opened App"))).messages, undefined, "picked up once");
  assert.deepEqual((await live("mp", anon.anonymousId)).outbox, [], "nothing left for the anonymous id");
});

test("a redelivered merge does not double count (queue redelivery and a repeated identify)", async () => {
  await putRule(views("md"));
  const anon = uid("anon");
  const userId = uid("user");
  await send(
    track({ anonymousId: anon }, "md Viewed Product"),
    track({ anonymousId: anon }, "md Viewed Product"),
  );
  await send(identify(anon, userId));
  // The same merge again: twice through the actions queue (as a redelivery would) and once
  // more inline through a second identify and an alias.
  const merge = JSON.stringify({ kind: "merge", from: anon, into: userId });
  await spur.env.ACTIONS_QUEUE.send(merge);
  await spur.env.ACTIONS_QUEUE.send(merge);
  await send(identify(anon, userId), { type: "alias", previousId: anon, userId, messageId: uid("a") });
  const seen = await eventually(
    async () => {
      const l = await live("md", userId);
      return l.identity.repeats >= 3 ? l : null;
    },
    { message: "the repeated merges reached the user's object" },
  );
  assert.equal(seen.state.hits.length, 2, "still 2 views, not 4 or 8");
  assert.equal((await firings("md")).length, 0, "no firing from a double count");
  const third = await send(track({ userId }, "md Viewed Product"));
  assert.equal(third.messages?.length, 1, JSON.stringify(third));
  const rows = await eventually(async () => ((await firings("md")).length ? firings("md") : null));
  assert.equal(rows.length, 1);
});

const hook = (path) => ({ type: "webhook", url: `${hooks.url}${path}` });
test("a journey run waiting for the anonymous id continues as the user", async () => {
  const id = "mj";
  const journey = {
    id,
    trigger: { type: "event", events: [`${id} Added`] },
    start: "wait",
    nodes: [
      {
        id: "wait",
        type: "wait_until",
        events: [`${id} Ordered`],
        match: "properties.cart_id",
        timeout: "1h",
        next: "arrived",
        onTimeout: "late",
      },
      { id: "arrived", type: "action", action: hook(`/${id}/arrived`), next: "bye" },
      { id: "late", type: "action", action: hook(`/${id}/late`), next: "bye" },
      { id: "bye", type: "exit" },
    ],
  };
  const put = await spur.admin(`/v1/journeys/${id}`, { method: "PUT", body: JSON.stringify(journey) });
  assert.ok(put.status === 200 || put.status === 201, await put.text());
  const pub = await spur.admin(`/v1/journeys/${id}/publish`, { method: "POST" });
  assert.equal(pub.status, 200, await pub.text());
  const explain = async (user) => {
    const res = await spur.admin(`/v1/journeys/${id}/explain?user=${encodeURIComponent(user)}`);
    assert.equal(res.status, 200);
    return res.json();
  };
  const anon = uid("anon");
  const userId = uid("user");
  await send(track({ anonymousId: anon }, `${id} Added`, { cart_id: "c1" }));
  assert.equal((await explain(anon)).active?.node, "wait");
  await send(identify(anon, userId));
  const moved = await explain(userId);
  assert.equal(moved.active?.node, "wait", JSON.stringify(moved));
  assert.ok(moved.alarm > Date.now() + 30 * 60_000, "the wait's alarm is set on the user's object");
  assert.equal((await explain(anon)).active, null, "the run left the anonymous object");
  await send(track({ userId }, `${id} Ordered`, { cart_id: "c1" }));
  const [hit] = await eventually(() => hooks.hits(`/${id}/arrived`).length && hooks.hits(`/${id}/arrived`));
  assert.equal(JSON.parse(hit.body).user, userId);
  assert.equal(hooks.hits(`/${id}/late`).length, 0);
});

// MAX_INLINE_MERGES (4) at its boundary: a batch with 5 identify merges performs 4 inline (done
// when the request answers) and sends the 5th through the actions queue; all 5 end merged.
test("a batch with MAX_INLINE_MERGES + 1 merges: 4 inline, the 5th through the actions queue", async () => {
  await putRule(views("mi"));
  const pairs = Array.from({ length: 5 }, () => [uid("anon"), uid("user")]);
  await send(...pairs.map(([anon]) => track({ anonymousId: anon }, "mi Viewed Product")));
  for (const [anon] of pairs) assert.equal((await live("mi", anon)).state.hits.length, 1);
  await send(...pairs.map(([anon, user]) => identify(anon, user)));
  // The first 4 are merged before the request answers.
  for (const [anon, user] of pairs.slice(0, 4)) {
    const l = await live("mi", anon);
    assert.equal(l.identity.mergedInto, user, "merged inline");
    assert.equal((await live("mi", user)).state?.hits?.length, 1);
  }
  // The 5th arrives through the queue.
  const [anon5, user5] = pairs[4];
  const moved = await eventually(
    async () => {
      const l = await live("mi", user5);
      return l.state?.hits?.length === 1 ? l : null;
    },
    { timeoutMs: 30_000, message: "the queued merge reached the user's object" },
  );
  assert.equal(moved.identity.mergedFrom.length, 1);
  assert.equal((await live("mi", anon5)).identity.mergedInto, user5);
});

// MAX_MERGE_HOPS (4) at its boundary: an event reaching an id merged along a chain of exactly 4
// merges is forwarded to the end and counted there; with a 5th merge it stops after 4 hops and
// is kept (counted) at the object it reached, as documented.
test("an event forwarded along MAX_MERGE_HOPS merges counts at the end; one hop more keeps it", async () => {
  await putRule(views("mh"));
  const ids = Array.from({ length: 6 }, () => uid("hop"));
  for (let k = 0; k < 4; k++) await send(identify(ids[k], ids[k + 1]));
  for (let k = 0; k < 4; k++) assert.equal((await live("mh", ids[k])).identity.mergedInto, ids[k + 1]);
  await send(track({ anonymousId: ids[0] }, "mh Viewed Product"));
  const end = await live("mh", ids[4]);
  assert.equal(end.state?.hits?.length, 1, "forwarded 4 hops to the end of the chain");
  for (let k = 0; k < 4; k++)
    assert.equal((await live("mh", ids[k])).state, null, `nothing kept at hop ${k}`);
  // A 5th merge: the chain is now one hop longer than an event is forwarded.
  await send(identify(ids[4], ids[5]));
  assert.equal((await live("mh", ids[4])).identity.mergedInto, ids[5]);
  assert.equal((await live("mh", ids[5])).state?.hits?.length, 1, "the first view moved with the merge");
  await send(track({ anonymousId: ids[0] }, "mh Viewed Product"));
  assert.equal((await live("mh", ids[4])).state?.hits?.length, 1, "kept at the object 4 hops along");
  assert.equal((await live("mh", ids[5])).state?.hits?.length, 1, "not forwarded a 5th hop");
});

// MAX_MERGE_SOURCES (1,000) at its boundary: a person's object remembers the hand-overs of
// exactly 1,000 anonymous ids; the 1,001st is remembered and the oldest forgotten.
test("a person remembers MAX_MERGE_SOURCES merged ids; one more forgets the oldest", async () => {
  await putRule(views("ms"));
  const SOURCES = 1000; // MAX_MERGE_SOURCES
  const userId = uid("user");
  const anons = Array.from({ length: SOURCES + 1 }, () => uid("src"));
  const mergedFrom = async () => (await live("ms", userId)).identity.mergedFrom;
  await send(...anons.slice(0, SOURCES).map((a) => identify(a, userId)));
  const full = await eventually(async () => ((await mergedFrom()).length === SOURCES ? mergedFrom() : null), {
    timeoutMs: 180_000,
    intervalMs: 500,
    message: "1,000 merges imported",
  });
  assert.deepEqual([...full].sort(), anons.slice(0, SOURCES).sort(), "all 1,000 remembered");
  await send(identify(anons[SOURCES], userId));
  const after = await eventually(async () => {
    const m = await mergedFrom();
    return m.includes(anons[SOURCES]) ? m : null;
  });
  assert.equal(after.length, SOURCES, "still 1,000: the oldest is forgotten");
  assert.equal(after.at(-1), anons[SOURCES], "the newest is the last");
});
