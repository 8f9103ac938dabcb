// Issue 11: journeys against real workerd (D1, Queues, Durable Objects + alarms) and a real
// loopback HTTP receiver for webhooks. Waits that must time out use 1 s timeouts and are
// observed with eventually(); waits that must be woken by an event use 1 h timeouts, so no
// outcome depends on how fast this machine is.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startSpur, eventually, uid } from "../helpers/spur.mjs";
import { startReceiver, verifySignature } from "../helpers/receiver.mjs";

const SECRET = "test-webhook-secret";
let spur, hooks;
before(async () => {
  hooks = await startReceiver();
  spur = await startSpur({ secrets: { WEBHOOK_SECRET: SECRET }, vars: { WEBHOOK_RETRY_BASE_SECONDS: "1" } });
});
after(async () => {
  await spur?.close();
  await hooks?.close();
});

const track = (userId, event, properties = {}) => ({
  type: "track",
  event,
  userId,
  properties,
  messageId: uid("m"),
});
const send = (...events) => spur.batch(events);
const json = (body) => ({
  method: "PUT",
  body: JSON.stringify(body),
  headers: { "Content-Type": "application/json" },
});
async function publish(journey) {
  const put = await spur.admin(`/v1/journeys/${journey.id}`, json(journey));
  const saved = await put.json();
  assert.ok(put.status === 200 || put.status === 201, JSON.stringify(saved));
  const res = await spur.admin(`/v1/journeys/${journey.id}/publish`, { method: "POST" });
  const body = await res.json();
  assert.equal(res.status, 200, JSON.stringify(body));
  return body;
}
async function enter(id, userId, context) {
  const res = await spur.admin(`/v1/journeys/${id}/enter`, {
    method: "POST",
    body: JSON.stringify({ userId, context }),
  });
  return { status: res.status, body: await res.json() };
}
async function explain(id, user) {
  const res = await spur.admin(`/v1/journeys/${id}/explain?user=${encodeURIComponent(user)}`);
  assert.equal(res.status, 200);
  return res.json();
}
const hook = (path) => ({ type: "webhook", url: `${hooks.url}${path}` });
const bodies = (path) => hooks.hits(path).map((h) => JSON.parse(h.body));

test("a bad journey is refused with a stable reason and the field it concerns", async () => {
  const base = {
    trigger: { type: "event", events: ["X"] },
    start: "a",
    nodes: [
      { id: "a", type: "action", action: hook("/x"), next: "z" },
      { id: "z", type: "exit" },
    ],
  };
  const cases = [
    [{ ...base, start: "nope" }, "unknown_node", "/start"],
    [
      {
        ...base,
        nodes: [
          { id: "a", type: "delay", for: "1m", next: "b" },
          { id: "b", type: "delay", for: "1m", next: "a" },
        ],
      },
      "cycle",
      "without cycles",
    ],
    [
      {
        ...base,
        nodes: [
          { id: "a", type: "delay", for: "0s", next: "z" },
          { id: "z", type: "exit" },
        ],
      },
      "invalid_duration",
      "/nodes/0/for",
    ],
    [
      {
        ...base,
        nodes: [
          { id: "a", type: "action", action: { type: "webhook", url: "ftp://x" }, next: "z" },
          { id: "z", type: "exit" },
        ],
      },
      "invalid_action",
      "/nodes/0/action/url",
    ],
    [
      {
        ...base,
        nodes: [
          {
            id: "a",
            type: "branch",
            branches: [{ condition: { "==": [{ var: "plan" }, 1] }, next: "z" }],
            else: "z",
          },
          { id: "z", type: "exit" },
        ],
      },
      "unknown_variable",
      "trigger",
    ],
    [{ ...base, holdout: 120 }, "invalid_holdout", "/holdout"],
    [{ ...base, id: "other" }, "journey_id_mismatch", "/id"],
    [{ ...base, nodes: [...base.nodes, { id: "lost", type: "exit" }] }, "unreachable_node", "lost"],
  ];
  for (const [journey, reason, hint] of cases) {
    const res = await spur.admin("/v1/journeys/bad-journey", json(journey));
    const body = await res.json();
    assert.equal(res.status, 400, JSON.stringify(body));
    assert.equal(body.reason, reason, JSON.stringify(body));
    assert.ok(body.detail.includes(hint), `${body.detail} should mention ${hint}`);
  }
  assert.equal((await spur.admin("/v1/journeys/bad-journey")).status, 404, "nothing was saved");
  const ok = await spur.admin("/v1/journeys/validate", {
    method: "POST",
    body: JSON.stringify({ ...base, id: "v" }),
  });
  assert.equal(ok.status, 200);
  assert.equal((await ok.json()).valid, true);
  assert.equal((await fetch(`${spur.url}/v1/journeys`)).status, 401, "admin token required");
  // The demo shop's cart-abandonment journey ships as an unpublished, disabled draft.
  const list = await (await spur.admin("/v1/journeys")).json();
  const demo = list.journeys.find((j) => j.id === "cart-abandonment");
  assert.ok(demo && demo.published === null && demo.draft.enabled === false, JSON.stringify(list));
});

test("a draft does not run until published; entry policy once is enforced", async () => {
  const journey = {
    id: "api-once",
    trigger: { type: "api" },
    entry: { policy: "once" },
    start: "send",
    nodes: [
      { id: "send", type: "action", action: hook("/api-once"), next: "end" },
      { id: "end", type: "exit" },
    ],
  };
  const put = await spur.admin(`/v1/journeys/${journey.id}`, json(journey));
  assert.equal(put.status, 201);
  const user = uid("once");
  assert.equal((await enter("api-once", user)).status, 404, "an unpublished journey cannot be entered");
  const published = await publish(journey);
  assert.equal(published.revision, 1);
  const first = await enter("api-once", user, { source: "test" });
  assert.equal(first.status, 200, JSON.stringify(first.body));
  assert.deepEqual([first.body.entered, first.body.run], [true, 0]);
  const again = await enter("api-once", user);
  assert.equal(again.status, 409);
  assert.equal(again.body.reason, "already_entered");
  const [hit] = await eventually(
    () =>
      bodies("/api-once").filter((b) => b.user === user).length &&
      bodies("/api-once").filter((b) => b.user === user),
  );
  assert.equal(hit.id, `api-once:0:send:${user}`, "the idempotency key is (journey, run, node, person)");
  const h = hooks.hits("/api-once").find((x) => JSON.parse(x.body).user === user);
  assert.ok(verifySignature(SECRET, h.headers["spur-signature"], h.body).ok, "signed like rule webhooks");
});

test("entry policies: after_exit lets a person in again once the run ended; interval refuses until it passes", async () => {
  const journey = (id, entry) => ({
    id,
    trigger: { type: "api" },
    entry,
    start: "hold",
    nodes: [
      {
        id: "hold",
        type: "wait_until",
        events: [`${id} Done`],
        timeout: "1h",
        next: "end",
        onTimeout: "end",
      },
      { id: "end", type: "exit" },
    ],
  });
  await publish(journey("again", { policy: "after_exit" }));
  await publish(journey("weekly", { policy: "interval", interval: "7d" }));
  const user = uid("policy");
  for (const id of ["again", "weekly"]) {
    const first = await enter(id, user);
    assert.deepEqual([first.status, first.body.entered, first.body.run], [200, true, 0], id);
    const busy = await enter(id, user);
    assert.deepEqual(
      [busy.status, busy.body.reason],
      [409, "already_active"],
      `${id}: one active run per person`,
    );
  }
  // Both runs end when the waited-for event arrives.
  await send(track(user, "again Done"), track(user, "weekly Done"));
  for (const id of ["again", "weekly"]) {
    const x = await eventually(async () => {
      const e = await explain(id, user);
      return e.active === null && e.ended.length === 1 && e;
    });
    assert.equal(x.ended[0].ended.reason, "exit");
  }
  const again = await enter("again", user);
  assert.deepEqual(
    [again.status, again.body.entered, again.body.run],
    [200, true, 1],
    "after_exit: a second run",
  );
  const weekly = await enter("weekly", user);
  assert.deepEqual(
    [weekly.status, weekly.body.reason],
    [409, "entry_too_soon"],
    "interval: not within 7 days",
  );
});

const cart = (id, timeout) => ({
  id,
  trigger: { type: "event", events: [`${id} Added`] },
  start: "wait",
  nodes: [
    {
      id: "wait",
      type: "wait_until",
      events: [`${id} Ordered`],
      match: "properties.cart_id",
      timeout,
      next: "arrived",
      onTimeout: "tier",
    },
    { id: "arrived", type: "action", action: hook(`/${id}/arrived`), next: "bye" },
    {
      id: "tier",
      type: "branch",
      branches: [{ condition: { "==": [{ var: "trigger.properties.plan" }, "pro"] }, next: "sales" }],
      else: "remind",
    },
    { id: "sales", type: "action", action: hook(`/${id}/sales`), next: "bye" },
    { id: "remind", type: "action", action: hook(`/${id}/remind`), next: "bye" },
    { id: "bye", type: "exit" },
  ],
});

test("wait_until times out, then a branch on the trigger's property picks the action", async () => {
  await publish(cart("cart-t", "1s"));
  const [free, pro] = [uid("free"), uid("pro")];
  await send(
    track(free, "cart-t Added", { cart_id: "c1", plan: "free" }),
    track(pro, "cart-t Added", { cart_id: "c2", plan: "pro" }),
  );
  const [r] = await eventually(() => bodies("/cart-t/remind").length && bodies("/cart-t/remind"), {
    message: "reminder after the timeout",
  });
  const [s] = await eventually(() => bodies("/cart-t/sales").length && bodies("/cart-t/sales"), {
    message: "sales webhook after the timeout",
  });
  assert.equal(r.user, free);
  assert.equal(s.user, pro);
  assert.equal(r.event.properties.cart_id, "c1", "the payload carries the trigger event");
  const x = await eventually(async () => {
    const e = await explain("cart-t", free);
    return e.ended.length && e;
  });
  const path = x.ended[0].path.map((p) => `${p.node}:${p.outcome}`);
  assert.deepEqual(path, ["wait:waiting", "wait:timeout", "tier:else", "remind:sent", "bye:exit"]);
  assert.deepEqual(
    x.ended[0].path[2].read,
    { "trigger.properties.plan": "free" },
    "explain shows what the branch read",
  );
  assert.equal(x.active, null);
});

test("time_window reads the person's zone from the platform: open now sends, closed now waits for its opening", async () => {
  // Asia/Kathmandu is +05:45 all year (no DST), so the opening is exact in ms. The windows are
  // placed relative to the current local minute with hours of margin either way.
  const zone = "Asia/Kathmandu";
  const now = Date.now();
  const parts = Object.fromEntries(
    new Intl.DateTimeFormat("en-US", { timeZone: zone, hourCycle: "h23", hour: "numeric", minute: "numeric" })
      .formatToParts(new Date(now))
      .map((p) => [p.type, p.value]),
  );
  const minute = Number(parts.hour) * 60 + Number(parts.minute);
  const clock = (m) => {
    const x = ((m % 1440) + 1440) % 1440;
    return `${String(Math.floor(x / 60)).padStart(2, "0")}:${String(x % 60).padStart(2, "0")}`;
  };
  const windowed = (id, from, to) => ({
    id,
    trigger: { type: "event", events: [`${id} Signed Up`] },
    start: "hours",
    nodes: [
      { id: "hours", type: "time_window", from: clock(from), to: clock(to), next: "hello" },
      { id: "hello", type: "action", action: hook(`/${id}`), next: "bye" },
      { id: "bye", type: "exit" },
    ],
  });
  // An unknown zone is refused on save with the field it concerns.
  const bad = windowed("tw-bad", 0, 60);
  bad.nodes[0].timezone = "Mars/Olympus_Mons";
  const refused = await spur.admin("/v1/journeys/tw-bad", json(bad));
  const why = await refused.json();
  assert.equal(refused.status, 400);
  assert.equal(why.reason, "invalid_time_window");
  assert.ok(why.detail.includes("/nodes/0/timezone"), why.detail);

  await publish(windowed("tw-open", minute - 120, minute + 120));
  await publish(windowed("tw-closed", minute + 180, minute + 240));
  const [a, b] = [uid("tw"), uid("tw")];
  const signUp = (user, id) => ({ ...track(user, `${id} Signed Up`), context: { timezone: zone } });
  await send(signUp(a, "tw-open"), signUp(b, "tw-closed"));
  const [hit] = await eventually(() => bodies("/tw-open").length && bodies("/tw-open"), {
    message: "the open window lets the action through",
  });
  assert.equal(hit.user, a);
  const x = await eventually(async () => {
    const e = await explain("tw-closed", b);
    return e.active && e;
  });
  assert.equal(x.active.node, "hours");
  const opens = now - (now % 60_000) + 180 * 60_000;
  assert.equal(x.active.wakeAt, opens, "waits for the local opening time (+3 h, to the minute)");
  assert.deepEqual(x.active.path[0].read, { timezone: zone, known: true });
  assert.equal(bodies("/tw-closed").length, 0, "nothing sent while the window is closed");
});

test("an emit step stores one event for the person, keyed by the step, that triggers nothing", async () => {
  await publish({
    id: "emitter",
    trigger: { type: "event", events: ["emitter Started"] },
    start: "mark",
    nodes: [
      {
        id: "mark",
        type: "action",
        action: { type: "emit", event: "emitter Step", properties: { step: 1 } },
        next: "bye",
      },
      { id: "bye", type: "exit" },
    ],
  });
  // A second journey triggered by the emitted name: it must never start (no feedback loops).
  await publish({
    id: "emit-listener",
    trigger: { type: "event", events: ["emitter Step"] },
    start: "hook",
    nodes: [
      { id: "hook", type: "action", action: hook("/emit-listener"), next: "bye" },
      { id: "bye", type: "exit" },
    ],
  });
  const user = uid("emit");
  await send(track(user, "emitter Started"));
  const rows = await eventually(
    async () => {
      const r = await spur.rows(
        "SELECT message_id, event, user_id, properties FROM events WHERE event = 'emitter Step' AND user_id = ?",
        user,
      );
      return r.length && r;
    },
    { message: "the emitted event stored" },
  );
  assert.equal(rows.length, 1);
  assert.equal(rows[0].message_id, `emitter:0:mark:${user}`);
  assert.deepEqual(JSON.parse(rows[0].properties), {
    step: 1,
    journeyId: "emitter",
    journeyNode: "mark",
    journeyRun: 0,
  });
  const x = await explain("emit-listener", user);
  assert.equal(x.entries, 0, "an emitted event starts no journey");
  assert.equal(bodies("/emit-listener").length, 0);
});

test("wait_until wakes on the matching event only (same cart_id), long before its timeout", async () => {
  await publish(cart("cart-e", "1h"));
  const user = uid("buyer");
  await send(track(user, "cart-e Added", { cart_id: "c1" }));
  await send(track(user, "cart-e Ordered", { cart_id: "other" }));
  const waiting = await explain("cart-e", user);
  assert.equal(waiting.active?.node, "wait", "an order of another cart does not wake the wait");
  assert.ok(waiting.alarm > Date.now() + 30 * 60_000, "the alarm is set for the timeout");
  await send(track(user, "cart-e Ordered", { cart_id: "c1" }));
  const [hit] = await eventually(() => bodies("/cart-e/arrived").length && bodies("/cart-e/arrived"));
  assert.equal(hit.user, user);
  const x = await explain("cart-e", user);
  assert.deepEqual(
    x.ended[0].path.map((p) => p.outcome),
    ["waiting", "event", "sent", "exit"],
  );
  assert.equal(bodies("/cart-e/remind").length + bodies("/cart-e/sales").length, 0);
});

test("entry.maxActive: a run per cart, each woken by its own order; an entry beyond the bound is refused", async () => {
  await publish({ ...cart("cart-m", "1h"), entry: { policy: "after_exit", maxActive: 2 } });
  const user = uid("multi");
  await send(track(user, "cart-m Added", { cart_id: "a" }));
  await send(track(user, "cart-m Added", { cart_id: "b" }));
  await send(track(user, "cart-m Added", { cart_id: "c" }));
  const two = await explain("cart-m", user);
  assert.deepEqual(
    two.activeRuns.map((r) => [r.seq, r.trigger.properties.cart_id, r.node]),
    [
      [0, "a", "wait"],
      [1, "b", "wait"],
    ],
    "the third cart found both places taken",
  );
  assert.equal(two.active.seq, 1, "`active` is the latest run");
  const busy = await enter("cart-m", user);
  assert.deepEqual([busy.status, busy.body.reason], [409, "already_active"]);
  // Ordering cart b wakes only b's run; a keeps waiting.
  await send(track(user, "cart-m Ordered", { cart_id: "b" }));
  const [hit] = await eventually(() => bodies("/cart-m/arrived").length && bodies("/cart-m/arrived"));
  assert.equal(hit.user, user);
  const one = await explain("cart-m", user);
  assert.deepEqual(
    one.activeRuns.map((r) => r.seq),
    [0],
  );
  assert.deepEqual(
    one.ended.map((r) => [r.seq, r.ended.reason]),
    [[1, "exit"]],
  );
  // A place is free again: the next cart enters as run 2.
  const again = await enter("cart-m", user, { cart_id: "d" });
  assert.deepEqual([again.status, again.body.entered, again.body.run], [200, true, 2]);
  const bad = await spur.admin(
    "/v1/journeys/cart-m-bad",
    json({ ...cart("cart-m-bad", "1h"), entry: { maxActive: 0 } }),
  );
  const refusal = await bad.json();
  assert.deepEqual([bad.status, refusal.reason], [400, "invalid_entry"], JSON.stringify(refusal));
  assert.ok(refusal.detail.includes("/entry/maxActive"), refusal.detail);
});

test("goal exit, and a holdout run that is counted but sends nothing", async () => {
  const goal = (id, holdout) => ({
    id,
    holdout,
    trigger: { type: "event", events: [`${id} Start`] },
    start: "wait",
    nodes: [
      { id: "wait", type: "delay", for: "1h", next: "nag" },
      { id: "nag", type: "action", action: hook(`/${id}`), next: "bye" },
      { id: "bye", type: "exit" },
    ],
    goal: { events: [`${id} Bought`], within: "1d" },
  });
  await publish(goal("goal-j", 0));
  const user = uid("conv");
  await send(track(user, "goal-j Start"));
  await send(track(user, "goal-j Bought"));
  const x = await explain("goal-j", user);
  assert.equal(x.active, null);
  assert.equal(x.ended[0].ended.reason, "goal");
  assert.ok(x.ended[0].convertedAt > 0);
  const stats = await eventually(async () => {
    const s = await (await spur.admin("/v1/journeys/goal-j/stats")).json();
    return s.totals.converted === 1 && s;
  });
  assert.equal(stats.conversionRate, 1);

  const held = {
    id: "held-j",
    holdout: 100,
    trigger: { type: "api" },
    start: "send",
    nodes: [
      { id: "send", type: "action", action: hook("/held"), next: "end" },
      { id: "end", type: "exit" },
    ],
  };
  await publish(held);
  const marker = {
    ...held,
    id: "marker-j",
    holdout: 0,
    nodes: [{ ...held.nodes[0], action: hook("/marker") }, held.nodes[1]],
  };
  await publish(marker);
  const h = uid("held");
  assert.equal((await enter("held-j", h)).status, 200);
  assert.equal((await enter("marker-j", h)).status, 200);
  assert.ok(
    await eventually(() => hooks.hits("/marker").some((x) => JSON.parse(x.body).user === h), {
      message: "the marker webhook",
    }),
  );
  assert.equal(hooks.hits("/held").length, 0, "a holdout run sends nothing");
  const hx = await explain("held-j", h);
  assert.equal(hx.ended[0].holdout, true);
  assert.deepEqual(
    hx.ended[0].path.map((p) => p.outcome),
    ["held_out", "exit"],
  );
  const hs = await eventually(async () => {
    const s = await (await spur.admin("/v1/journeys/held-j/stats")).json();
    return s.totals.holdoutEntered === 1 && s;
  });
  assert.equal(hs.totals.entered, 0);
  assert.equal(hs.nodes.send.visitedHoldout, 1);
  assert.equal(hs.lift, null, "no lift until both groups have runs");
});

test("a redelivered journey action is not sent twice", async () => {
  const journey = {
    id: "idem-j",
    trigger: { type: "api" },
    start: "send",
    nodes: [
      { id: "send", type: "action", action: hook("/idem"), next: "end" },
      { id: "end", type: "exit" },
    ],
  };
  await publish(journey);
  const user = uid("idem");
  assert.equal((await enter("idem-j", user)).status, 200);
  const [first] = await eventually(() => bodies("/idem").length && bodies("/idem"));
  const key = `idem-j:0:send:${user}`;
  assert.equal(first.id, key);
  const rows = await eventually(async () => {
    const r = await spur.rows("SELECT * FROM rule_firings WHERE id = ?", key);
    return r.length === 1 && JSON.parse(r[0].actions)[0].status === "delivered" && r;
  });
  assert.equal(rows[0].rule_id, "journey:idem-j");
  // Redeliver the very record (as the queue would after a lost ack), followed by a marker.
  const record = (id, path) => ({
    kind: "fired",
    id,
    rule: "journey:idem-j",
    user,
    at_ms: Date.now(),
    message_ids: [],
    source: "state",
    capped: false,
    actions: [{ type: "webhook", target: `${hooks.url}${path}`, status: "queued" }],
    payload: { id, rule: "journey:idem-j", user, firedAt: new Date().toISOString(), messageIds: [] },
  });
  await spur.env.ACTIONS_QUEUE.sendBatch([
    { body: JSON.stringify(record(key, "/idem")), contentType: "text" },
    { body: JSON.stringify(record(`${key}:marker`, "/idem-marker")), contentType: "text" },
  ]);
  assert.ok(
    await eventually(() => hooks.hits("/idem-marker").length, { message: "the marker after the redelivery" }),
  );
  assert.equal(hooks.hits("/idem").length, 1, "the redelivered action was not sent again");
});

test("sticky split proportions over 1,000 people are within binomial bounds", async () => {
  await publish({
    id: "split-j",
    trigger: { type: "api" },
    start: "ab",
    nodes: [
      {
        id: "ab",
        type: "split",
        paths: [
          { percent: 30, next: "a" },
          { percent: 70, next: "b" },
        ],
      },
      { id: "a", type: "exit" },
      { id: "b", type: "exit" },
    ],
  });
  const n = 1_000;
  const users = Array.from({ length: n }, (_, i) => `split-${process.pid}-${i}`);
  for (let i = 0; i < n; i += 25) {
    const answers = await Promise.all(users.slice(i, i + 25).map((u) => enter("split-j", u)));
    for (const a of answers) assert.equal(a.status, 200, JSON.stringify(a.body));
  }
  const stats = await eventually(
    async () => {
      const s = await (await spur.admin("/v1/journeys/split-j/stats")).json();
      return (s.nodes.a?.visited ?? 0) + (s.nodes.b?.visited ?? 0) === n && s;
    },
    { timeoutMs: 30_000 },
  );
  // Expected 300; σ = sqrt(1000 · 0.3 · 0.7) ≈ 14.5; allow 4σ.
  const a = stats.nodes.a.visited;
  assert.ok(a >= 242 && a <= 358, `${a} of ${n} took the 30% path`);
  // Sticky: the same person takes the same path on every entry.
  const x = await explain("split-j", users[0]);
  const first = x.ended[0].path[1].node;
  assert.equal((await enter("split-j", users[0])).status, 200);
  const again = await explain("split-j", users[0]);
  assert.equal(again.ended.at(-1).path[1].node, first);
});

test("a live-revision edit while runs wait: the run follows its node id, a removed node exits it", async () => {
  const v1 = {
    id: "live-j",
    trigger: { type: "event", events: ["live-j Start"] },
    start: "wait",
    nodes: [
      {
        id: "wait",
        type: "wait_until",
        events: ["live-j Go"],
        timeout: "1h",
        next: "ping",
        onTimeout: "end",
      },
      { id: "ping", type: "action", action: hook("/live/v1"), next: "end" },
      { id: "end", type: "exit" },
    ],
  };
  await publish(v1);
  const [follows, removed] = [uid("follows"), uid("removed")];
  await send(track(follows, "live-j Start"), track(removed, "live-j Start"));
  assert.equal((await explain("live-j", follows)).active?.node, "wait");
  assert.equal((await explain("live-j", removed)).active?.node, "wait");
  // Revision 2: the action after the wait now calls /live/v2.
  const v2 = { ...v1, nodes: [v1.nodes[0], { ...v1.nodes[1], action: hook("/live/v2") }, v1.nodes[2]] };
  assert.equal((await publish(v2)).revision, 2);
  await send(track(follows, "live-j Go"));
  const [hit] = await eventually(() => bodies("/live/v2").length && bodies("/live/v2"));
  assert.equal(hit.user, follows);
  assert.equal(bodies("/live/v1").length, 0);
  // Revision 3 removes the node the other run waits at: it exits with a recorded reason.
  // (Entry policy "once", so the event that touches the person's object enters no new run.)
  const v3 = {
    ...v1,
    entry: { policy: "once" },
    start: "ping2",
    nodes: [{ id: "ping2", type: "action", action: hook("/live/v3"), next: "end" }, v1.nodes[2]],
  };
  assert.equal((await publish(v3)).revision, 3);
  await send(track(removed, "live-j Start"));
  const x = await eventually(async () => {
    const e = await explain("live-j", removed);
    return e.ended.length && e;
  });
  assert.equal(x.ended[0].ended.reason, "node_removed");
  assert.equal(bodies("/live/v3").length, 0, "a removed node's run sends nothing new");
});

test("dry-run replays stored events through the journey without changing anything", async () => {
  // cart-e's events (one buyer: added c1, ordered another cart, ordered c1) are stored by the
  // events queue; replaying them gives what the live journey did.
  const d = await eventually(
    async () => {
      const res = await spur.admin("/v1/journeys/cart-e/dry-run", {
        method: "POST",
        body: JSON.stringify({ published: true }),
      });
      assert.equal(res.status, 200);
      const body = await res.json();
      return body.result.entered === 1 && body.result.nodes.arrived === 1 && body;
    },
    { message: "cart-e's stored events replayed" },
  );
  assert.deepEqual([d.result.people, d.result.actions, d.result.waiting, d.events], [1, 1, 0, 3]);
  assert.equal(bodies("/cart-e/arrived").length, 1, "a dry-run sends nothing");
  const bad = await spur.admin("/v1/journeys/cart-e/dry-run", {
    method: "POST",
    body: JSON.stringify({ from: "yesterday" }),
  });
  assert.equal(bad.status, 400);
});
