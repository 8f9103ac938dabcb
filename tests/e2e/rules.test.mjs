// Issue 5: real-time trigger rules against real workerd (D1, Queues, Durable Objects + alarms)
// and a real loopback HTTP receiver for webhooks.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startSpur, eventually, uid } from "../helpers/spur.mjs";
import { startReceiver, verifySignature } from "../helpers/receiver.mjs";

const SECRET = "test-webhook-secret";
let spur, hooks;
before(async () => {
  hooks = await startReceiver({
    // /flaky fails twice then succeeds; /down always fails.
    respond: (req, _body, n) => (req.url === "/down" ? 500 : req.url === "/flaky" && n <= 2 ? 503 : 200),
  });
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
const putRule = (rule) => spur.putRule(rule);
const firings = (rule) => spur.rows("SELECT * FROM rule_firings WHERE rule_id = ? ORDER BY fired_ms", rule);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

test("a bad rule is refused with a stable reason and the field it concerns", async () => {
  const base = { trigger: { events: ["X"] }, actions: [{ type: "webhook", url: `${hooks.url}/x` }] };
  const cases = [
    [
      { ...base, trigger: { events: ["X"], condition: { equals: [{ var: "properties.a" }, 1] } } },
      "invalid_condition",
      "/trigger/condition",
    ],
    [
      { ...base, trigger: { events: ["X"], condition: { "==": [{ var: "plan" }, "pro"] } } },
      "unknown_variable",
      "properties.plan",
    ],
    [{ ...base, window: { count: 3, within: "7 days" } }, "invalid_rule", "not a duration"],
    [
      { ...base, window: { count: 3, within: "7d" }, absence: { events: ["Y"], within: "1h" } },
      "conflicting_rule_kinds",
      "at most one",
    ],
    [{ ...base, actions: [{ type: "webhook", url: "ftp://nope" }] }, "invalid_action", "/actions/0/url"],
    [{ ...base, cap: { max: 0, per: "1d" } }, "invalid_cap", "/cap/max"],
    [{ ...base, id: "other-id" }, "rule_id_mismatch", "/id"],
    [{ ...base, name: "x".repeat(20_000) }, "invalid_rule", "the limit is 16384"],
  ];
  for (const [rule, reason, hint] of cases) {
    const res = await spur.admin("/v1/rules/bad-rule", { method: "PUT", body: JSON.stringify(rule) });
    const body = await res.json();
    assert.equal(res.status, 400, JSON.stringify(body));
    assert.equal(body.reason, reason, JSON.stringify(body));
    assert.ok(body.detail.includes(hint), `${body.detail} should mention ${hint}`);
  }
  assert.equal((await spur.admin("/v1/rules/bad-rule")).status, 404, "nothing was saved");
  // The seeded rules are listed (disabled until an operator turns them on).
  const list = await (await spur.admin("/v1/rules")).json();
  assert.ok(list.rules.some((r) => r.id === "cart-abandoned" && r.enabled === false));
  assert.equal((await spur.admin("/v1/rules")).status, 200);
  assert.equal((await fetch(`${spur.url}/v1/rules`)).status, 401, "admin token required");
});

test("property condition → signed webhook reaches a real receiver", async () => {
  await putRule({
    id: "big-view",
    name: "Pricey product viewed",
    trigger: { events: ["Viewed Pricey"], condition: { ">=": [{ var: "properties.price" }, 50] } },
    actions: [{ type: "webhook", url: `${hooks.url}/big-view` }],
  });
  const user = uid("cond");
  const cheap = track(user, "Viewed Pricey", { price: 20 });
  const pricey = track(user, "Viewed Pricey", { price: 90 });
  await send(cheap, pricey);
  const [hit] = await eventually(() => hooks.hits("/big-view").length && hooks.hits("/big-view"));
  assert.ok(hit, "webhook received");
  const check = verifySignature(SECRET, hit.headers["spur-signature"], hit.body);
  assert.ok(check.ok, `signature: ${check.why}`);
  assert.equal(verifySignature("wrong-secret", hit.headers["spur-signature"], hit.body).ok, false);
  assert.equal(
    verifySignature(SECRET, hit.headers["spur-signature"], `${hit.body} `).ok,
    false,
    "tampered body",
  );
  assert.equal(
    verifySignature(SECRET, hit.headers["spur-signature"], hit.body, { now: Date.now() / 1000 + 3600 }).why,
    "stale",
    "replay an hour later",
  );
  const payload = JSON.parse(hit.body);
  assert.equal(payload.rule, "big-view");
  assert.equal(payload.user, user);
  assert.deepEqual(payload.messageIds, [pricey.messageId]);
  assert.equal(payload.event.properties.price, 90);
  assert.equal(hit.headers["spur-delivery"], payload.id);
  await sleep(500);
  assert.equal(hooks.hits("/big-view").length, 1, "the cheap view did not fire");
  const row = await eventually(async () => {
    const [r] = await firings("big-view");
    return r && JSON.parse(r.actions)[0].status === "delivered" && r;
  });
  assert.ok(row, "firing recorded as delivered");
  assert.equal(row.user_id, user);
  assert.equal(row.source, "ingest");
});

test("3 views in the window fire once (in-app message in the ingest response); 2 do not", async () => {
  await putRule({
    id: "three-views",
    trigger: { events: ["Viewed Shoe"] },
    window: { count: 3, within: "1h" },
    actions: [{ type: "message", title: "Like these shoes?", body: "They are on sale today.", url: "/sale" }],
  });
  const a = uid("win-a");
  const b = uid("win-b");
  assert.equal((await send(track(a, "Viewed Shoe"))).messages, undefined);
  assert.equal((await send(track(a, "Viewed Shoe"))).messages, undefined);
  const third = await send(track(a, "Viewed Shoe"));
  assert.equal(third.accepted, 1);
  assert.equal(third.messages.length, 1);
  const [msg] = third.messages;
  assert.equal(msg.rule, "three-views");
  assert.equal(msg.user, a);
  assert.equal(msg.title, "Like these shoes?");
  assert.equal(msg.url, "/sale");
  assert.ok(msg.id);
  assert.equal(
    (await send(track(a, "Viewed Shoe"))).messages,
    undefined,
    "a fourth view does not fire again",
  );
  await send(track(b, "Viewed Shoe"), track(b, "Viewed Shoe"));
  const rows = await eventually(async () =>
    (await firings("three-views")).length ? firings("three-views") : null,
  );
  await sleep(300);
  const all = await firings("three-views");
  assert.deepEqual(
    all.map((r) => r.user_id),
    [a],
    "only the user with three views fired",
  );
  assert.equal(JSON.parse(rows[0].actions)[0].status, "returned");
  assert.equal(JSON.parse(rows[0].message_ids).length, 3);

  // Explain says why b did not fire; dry-run over stored events finds a.
  assert.ok(
    await eventually(
      async () => (await spur.rows("SELECT count(*) AS n FROM events WHERE user_id = ?", b))[0].n === 2,
    ),
  );
  const ex = await (await spur.admin(`/v1/rules/three-views/explain?user=${encodeURIComponent(b)}`)).json();
  assert.equal(ex.explanation.verdict, "not_fired");
  assert.match(ex.explanation.summary, /never 3 within 1h/);
  assert.equal(ex.explanation.events[1].effect, "counted: 2 of 3 within 1h");
  assert.equal(ex.live.state.hits.length, 2, "the live object holds b's two views");
  assert.ok(
    await eventually(
      async () => (await spur.rows("SELECT count(*) AS n FROM events WHERE user_id = ?", a))[0].n === 4,
    ),
  );
  const dry = await (
    await spur.admin("/v1/rules/three-views/dry-run", { method: "POST", body: "{}" })
  ).json();
  assert.deepEqual(
    dry.result.firings.map((f) => f.user),
    [a],
  );
  assert.equal(dry.result.users, 2);
});

test("explain names the failing condition and its value", async () => {
  const user = uid("explain");
  await putRule({
    id: "explain-me",
    trigger: {
      events: ["Checked Out"],
      condition: {
        and: [
          { "==": [{ var: "properties.currency" }, "EUR"] },
          { ">=": [{ var: "properties.total" }, 100] },
        ],
      },
    },
    actions: [{ type: "webhook", url: `${hooks.url}/explain` }],
  });
  await send(track(user, "Checked Out", { currency: "EUR", total: 40 }), track(user, "Checkd Out", {}));
  assert.ok(
    await eventually(
      async () => (await spur.rows("SELECT count(*) AS n FROM events WHERE user_id = ?", user))[0].n === 2,
    ),
  );
  const ex = await (await spur.admin(`/v1/rules/explain-me/explain?user=${encodeURIComponent(user)}`)).json();
  const x = ex.explanation;
  assert.equal(x.verdict, "not_fired");
  const failed = x.events[0].conditions.trigger.failed;
  assert.deepEqual(
    failed.map((c) => c.condition),
    [{ ">=": [{ var: "properties.total" }, 100] }],
  );
  assert.equal(failed[0].values["properties.total"], 40);
  assert.equal(x.otherEvents["Checkd Out"], 1, "a near-miss event name is listed");
  assert.equal((await spur.admin("/v1/rules/explain-me/explain")).status, 400, "?user= required");
});

test("absence: fires after the deadline, not when the cancelling event arrives in time", async () => {
  await putRule({
    id: "abandon",
    trigger: { events: ["Added Widget"] },
    absence: { events: ["Bought Widget"], within: "5s" },
    actions: [
      { type: "webhook", url: `${hooks.url}/abandon` },
      { type: "message", title: "Forgot something?", body: "Your widget is waiting." },
    ],
  });
  const gone = uid("abs-gone");
  const buyer = uid("abs-buyer");
  const started = Date.now();
  await send(track(gone, "Added Widget"), track(buyer, "Added Widget"));
  // Well inside the 5 s window even on a loaded machine.
  await send(track(buyer, "Bought Widget"));
  const hit = await eventually(() => hooks.hits("/abandon")[0], { timeoutMs: 15_000 });
  assert.ok(hit, "absence webhook received");
  assert.ok(hit.at - started >= 5_000, `fired after the deadline (${hit.at - started} ms)`);
  assert.equal(JSON.parse(hit.body).user, gone);
  assert.ok(verifySignature(SECRET, hit.headers["spur-signature"], hit.body).ok);
  await sleep(2_500);
  assert.deepEqual(
    hooks.hits("/abandon").map((h) => JSON.parse(h.body).user),
    [gone],
    "the buyer cancelled in time",
  );
  const [row] = await eventually(async () => ((await firings("abandon")).length ? firings("abandon") : null));
  assert.equal(row.source, "alarm");
  // The in-app message fired with no request in flight: the tracker picks it up next time.
  const next = await send(track(gone, "Opened App"));
  assert.equal(next.messages?.length, 1, JSON.stringify(next));
  assert.equal(next.messages[0].title, "Forgot something?");
  assert.equal((await send(track(gone, "Opened App"))).messages, undefined, "picked up once");
});

test("sequence: A then B within the span fires; B then A does not", async () => {
  await putRule({
    id: "a-then-b",
    trigger: { events: ["Seq Signed Up"] },
    sequence: {
      // biome-ignore lint/suspicious/noThenProperty: `then` is the rule schema's sequence step list.
      then: [{ events: ["Seq Ordered"], condition: { ">": [{ var: "properties.total" }, 0] } }],
      within: "1h",
    },
    actions: [{ type: "message", title: "Welcome aboard", body: "Thanks for your first order." }],
  });
  const good = uid("seq-good");
  const backwards = uid("seq-back");
  assert.equal((await send(track(good, "Seq Signed Up"))).messages, undefined);
  assert.equal(
    (await send(track(good, "Seq Ordered", { total: 0 }))).messages,
    undefined,
    "step condition fails",
  );
  const done = await send(track(good, "Seq Ordered", { total: 12 }));
  assert.equal(done.messages?.[0]?.rule, "a-then-b");
  await send(track(backwards, "Seq Ordered", { total: 5 }));
  assert.equal((await send(track(backwards, "Seq Signed Up"))).messages, undefined);
});

test("frequency cap holds", async () => {
  await putRule({
    id: "capped",
    trigger: { events: ["Pinged"] },
    cap: { max: 2, per: "1h" },
    actions: [{ type: "message", title: "Hi", body: "At most twice an hour." }],
  });
  const user = uid("cap");
  let shown = 0;
  for (let i = 0; i < 5; i++) shown += (await send(track(user, "Pinged"))).messages?.length ?? 0;
  assert.equal(shown, 2);
  const rows = await eventually(async () => {
    const r = await firings("capped");
    return r.length === 5 && r;
  });
  assert.deepEqual(
    rows.map((r) => r.capped),
    [0, 0, 1, 1, 1],
  );
  assert.equal(JSON.parse(rows[4].actions)[0].status, "capped");
});

test("a batch with many users: 8 objects called inline, the rest reached through the queue", async () => {
  await putRule({
    id: "many-users",
    trigger: { events: ["Crowd Event"] },
    cap: { max: 1, per: "1d" },
    actions: [{ type: "message", title: "Hello", body: "One per user per day." }],
  });
  const users = Array.from({ length: 11 }, () => uid("crowd"));
  const res = await send(...users.map((u) => track(u, "Crowd Event")));
  assert.equal(res.accepted, 11);
  assert.equal(res.messages.length, 8, "the first 8 users' objects answered inline");
  const rows = await eventually(async () => {
    const r = await firings("many-users");
    return r.length === 11 && r;
  });
  assert.deepEqual(new Set(rows.map((r) => r.user_id)), new Set(users), "every user's rule fired once");
  const statuses = rows.map((r) => JSON.parse(r.actions)[0].status).sort();
  assert.deepEqual(statuses, [...Array(8).fill("returned"), ...Array(3).fill("pending_pickup")].sort());
});

test("a queued user's events larger than one queue message still reach their object, and the request's other firings survive", async () => {
  await putRule({
    id: "heavy-capped",
    trigger: { events: ["Heavy Event"] },
    cap: { max: 10, per: "1d" },
    actions: [{ type: "message", title: "Heavy", body: "Stateful: judged in the person's object." }],
  });
  await putRule({
    id: "heavy-instant",
    trigger: { events: ["Heavy Instant"] },
    actions: [{ type: "message", title: "Instant", body: "Stateless: judged in the request." }],
  });
  // Eight users fill the inline calls; the ninth's events (≈ 144 KB in all) must go through the actions queue, whose messages carry at most 128 KB.
  const inline = Array.from({ length: 8 }, () => uid("light"));
  const heavy = uid("heavy");
  const pad = "x".repeat(8_000); // the longest string is 8,192 characters
  const padded = (i) => ({ i, a: pad, b: pad, c: pad }); // ≈ 24 KB, under the 32 KB event limit
  const res = await send(
    ...inline.map((u) => track(u, "Heavy Event")),
    ...Array.from({ length: 6 }, (_, i) => track(heavy, "Heavy Event", padded(i))),
    track(heavy, "Heavy Instant"),
  );
  assert.equal(res.accepted, 15);
  const rows = await eventually(
    async () => {
      const r = await firings("heavy-capped");
      return r.filter((x) => x.user_id === heavy).length === 6 && r;
    },
    { timeoutMs: 30_000 },
  );
  assert.equal(
    rows.filter((x) => x.user_id === heavy).length,
    6,
    "each of the heavy user's events fired once",
  );
  assert.equal(rows.length, 14, "and every light user's once");
  const instant = await eventually(
    async () => {
      const r = await firings("heavy-instant");
      return r.length === 1 && r;
    },
    { timeoutMs: 30_000 },
  );
  assert.equal(instant[0].user_id, heavy, "the request's stateless firing was recorded too");
});

test(
  "webhooks are retried with backoff, then dead-lettered",
  async () => {
    await putRule({
      id: "retry-hooks",
      trigger: { events: ["Needs Hooks"] },
      actions: [
        { type: "webhook", url: `${hooks.url}/flaky` },
        { type: "webhook", url: `${hooks.url}/down` },
      ],
    });
    await send(track(uid("retry"), "Needs Hooks"));
    const row = await eventually(
      async () => {
        const [r] = await firings("retry-hooks");
        return r && JSON.parse(r.actions)[1].status === "dead_lettered" && r;
      },
      { timeoutMs: 45_000, intervalMs: 500 },
    );
    assert.ok(row, "the always-failing webhook was dead-lettered");
    const [flaky, down] = JSON.parse(row.actions);
    assert.equal(flaky.status, "delivered");
    assert.equal(hooks.hits("/flaky").length, 3, "delivered on the third try, then left alone");
    assert.equal(hooks.hits("/down").length, 5, "1 try + 4 retries (max_retries = 4)");
    assert.equal(down.detail, "HTTP 500");
    const gaps = hooks
      .hits("/down")
      .slice(1)
      .map((h, i) => h.at - hooks.hits("/down")[i].at);
    assert.ok(gaps[3] > gaps[0], `backoff grows: ${gaps}`);
  },
  { timeout: 60_000 },
);

test("forward sends the firing to a named queue; an unknown binding is recorded as failed", async () => {
  await putRule({
    id: "forwarder",
    trigger: { events: ["Forward Me"] },
    actions: [
      { type: "forward", queue: "FORWARD_QUEUE" },
      { type: "forward", queue: "NO_SUCH_QUEUE" },
    ],
  });
  await send(track(uid("fwd"), "Forward Me"));
  const row = await eventually(async () => {
    const [r] = await firings("forwarder");
    return r && JSON.parse(r.actions).every((a) => a.status !== "queued") && r;
  });
  const [ok, missing] = JSON.parse(row.actions);
  assert.equal(ok.status, "forwarded");
  assert.equal(missing.status, "failed");
  assert.match(missing.detail, /NO_SUCH_QUEUE/);
});

test("rules are read back, replaced and deleted", async () => {
  const rule = {
    id: "crud-rule",
    trigger: { events: ["A"] },
    actions: [{ type: "message", title: "t", body: "b" }],
  };
  const created = await spur.admin("/v1/rules/crud-rule", { method: "PUT", body: JSON.stringify(rule) });
  assert.equal(created.status, 201);
  const got = await (await spur.admin("/v1/rules/crud-rule")).json();
  assert.equal(got.enabled, true);
  assert.ok(got.createdAt);
  const replaced = await spur.admin("/v1/rules/crud-rule", {
    method: "PUT",
    body: JSON.stringify({ ...rule, enabled: false }),
  });
  assert.equal(replaced.status, 200);
  assert.equal((await replaced.json()).enabled, false);
  assert.equal((await spur.admin("/v1/rules/crud-rule", { method: "DELETE" })).status, 204);
  assert.equal((await spur.admin("/v1/rules/crud-rule", { method: "DELETE" })).status, 404);
});

test("GET /v1/rules gives each rule's firings in the last 24 hours (the dashboard shows them)", async () => {
  const { rules } = await (await spur.admin("/v1/rules")).json();
  const stored = await spur.rows("SELECT rule_id, count(*) AS n FROM rule_firings GROUP BY rule_id");
  assert.ok(stored.length > 0, "earlier tests fired rules");
  for (const { rule_id: id, n } of stored) {
    const rule = rules.find((r) => r.id === id);
    if (rule) assert.equal(rule.firings, n, id);
  }
  for (const r of rules) assert.equal(typeof r.firings, "number", r.id);
});
