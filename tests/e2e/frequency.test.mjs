// Issue 12, Audiences: one frequency cap across channels — at most N messages per person per
// day across all rules and journeys, per channel and overall, plus quiet hours. The policy is
// set through the admin API; the person's Durable Object keeps the tally; a refused send is
// recorded in `rule_firings` as `skipped` with reason `frequency_capped` or `quiet_hours`.
// Tests run in order (one project-wide policy): each sets the policy it needs.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startSpur, eventually, DEMO_WRITE_KEY, uid } from "../helpers/spur.mjs";
import { browserKeys, startPushService } from "../helpers/push.mjs";

// The dev-only key of .dev.vars.example.
const VAPID_PRIVATE_KEY = "TZOL60MdzG_t6KuozHHkoDh0zgqRcvvF8RQJmiCPptQ";
const VAPID_SUBJECT = "mailto:push-test@spur.invalid";

let spur, service;
before(async () => {
  service = await startPushService();
  spur = await startSpur({
    secrets: {
      VAPID_PRIVATE_KEY,
      VAPID_SUBJECT,
      WEBHOOK_SECRET: "test-webhook-secret",
      EMAIL_UNSUBSCRIBE_SECRET: "test-unsubscribe-secret",
    },
    // The loopback service doubles as the email provider (it answers 201).
    vars: {
      WEBHOOK_RETRY_BASE_SECONDS: "1",
      EMAIL_PROVIDER_URL: `${service.url}/email`,
      EMAIL_FROM: "noreply@spur.test",
      PUBLIC_URL: "https://spur.test",
    },
  });
});
after(async () => {
  await spur?.close();
  await service?.close();
});

let seq = 0;
const track = (userId, event) => ({ type: "track", event, userId, properties: {}, messageId: uid("m") });

/**
 * A fixed-offset zone whose local time is now within half an hour of noon, so a test's sends
 * never straddle the local midnight that resets the daily counts (no wall-clock luck).
 */
function noonZone() {
  const now = new Date();
  const o = Math.round(12 - (now.getUTCHours() + now.getUTCMinutes() / 60));
  return o === 0 ? "UTC" : o > 0 ? `Etc/GMT-${o}` : `Etc/GMT+${-o}`;
}

/** Sets the policy; a policy without a zone gets {@link noonZone}'s. */
async function setPolicy(policy) {
  policy = { zone: noonZone(), ...policy };
  const res = await spur.admin("/v1/frequency", { method: "PUT", body: JSON.stringify(policy) });
  const body = await res.json();
  assert.equal(res.status, 200, JSON.stringify(body));
  return body;
}
const putRule = (rule) => spur.putRule(rule);
/** Sends events; returns the in-app messages the response carries. */
const send = async (...events) => (await spur.batch(events)).messages ?? [];
/** Each firing's actions of a rule (or `journey:<id>`) for one person, oldest first. */
async function actionsOf(owner, user) {
  const rows = await spur.rows(
    "SELECT actions FROM rule_firings WHERE rule_id = ? AND user_id = ? ORDER BY fired_ms, id",
    owner,
    user,
  );
  return rows.map((r) => JSON.parse(r.actions));
}
/** Waits until `n` firings of `owner` for `user` are recorded; returns their first actions. */
async function recorded(owner, user, n) {
  const all = await eventually(
    async () => {
      const a = await actionsOf(owner, user);
      return a.length === n && a;
    },
    { message: `${n} firings of ${owner} for ${user}` },
  );
  return all.map((actions) => actions[0]);
}
const inApp = (id) => ({
  id,
  trigger: { events: [`${id} Go`] },
  actions: [{ type: "message", title: "Hi", body: `from ${id}` }],
});

test("the policy is set, read back and checked with stable reasons", async () => {
  const empty = await spur.admin("/v1/frequency");
  assert.equal(empty.status, 200);
  assert.deepEqual(await empty.json(), {}, "unset: nothing is limited");

  const policy = {
    zone: "Europe/Istanbul",
    perDay: 5,
    perChannel: { push: 2, email: 1 },
    quietHours: { from: "21:00", to: "08:00" },
  };
  assert.deepEqual(await setPolicy(policy), policy);
  const got = await spur.admin("/v1/frequency");
  assert.deepEqual(await got.json(), policy);

  const bad = [
    "not json",
    JSON.stringify({ perDay: 1001 }),
    JSON.stringify({ perDay: -1 }),
    JSON.stringify({ perChannel: { webhook: 1 } }),
    JSON.stringify({ quietHours: { from: "25:00", to: "08:00" } }),
    JSON.stringify({ quietHours: { from: "08:00", to: "08:00" } }),
    JSON.stringify({ zone: "Mars/Olympus" }),
    JSON.stringify({ perday: 2 }),
  ];
  for (const body of bad) {
    const res = await spur.admin("/v1/frequency", { method: "PUT", body });
    const answer = await res.json();
    assert.equal(res.status, 400, body);
    assert.equal(answer.reason, "invalid_frequency_policy", body);
    assert.ok(answer.detail.length > 0, body);
  }
  assert.deepEqual(await (await spur.admin("/v1/frequency")).json(), policy, "refused: unchanged");

  const del = await spur.admin("/v1/frequency", { method: "DELETE" });
  assert.equal(del.status, 204);
  assert.deepEqual(await (await spur.admin("/v1/frequency")).json(), {});
});

test("at most perDay messages per person: the third is skipped as frequency_capped, others unaffected", async () => {
  await setPolicy({ perDay: 2 });
  const id = `fc-${seq++}`;
  await putRule(inApp(id));
  const [a, b] = [uid("a"), uid("b")];
  const shown = [];
  for (let i = 0; i < 3; i++) shown.push(await send(track(a, `${id} Go`)));
  assert.deepEqual(
    shown.map((m) => m.length),
    [1, 1, 0],
    "two messages returned, the third not shown",
  );
  const outcomes = await recorded(id, a, 3);
  assert.deepEqual(
    outcomes.map((o) => o.status),
    ["returned", "returned", "skipped"],
  );
  assert.match(outcomes[2].detail, /^frequency_capped: 2 messages per day reached/);

  // Another person has their own tally.
  const other = await send(track(b, `${id} Go`));
  assert.equal(other.length, 1);
  const [ob] = await recorded(id, b, 1);
  assert.equal(ob.status, "returned");
});

test("messages sent to the anonymous id count toward the person's cap after identify merges them", async () => {
  await setPolicy({ perDay: 2 });
  const id = `fm-${seq++}`;
  await putRule(inApp(id));
  const [anon, user] = [uid("anon"), uid("user")];
  const before = await send({
    type: "track",
    event: `${id} Go`,
    anonymousId: anon,
    properties: {},
    messageId: uid("m"),
  });
  assert.equal(before.length, 1, "the anonymous visitor gets the first message of the day");
  // identify with both ids merges the anonymous object (and its tally) into the user's, inline.
  await send({ type: "identify", anonymousId: anon, userId: user, traits: {}, messageId: uid("i") });
  const after = [];
  for (let i = 0; i < 2; i++) after.push((await send(track(user, `${id} Go`))).length);
  assert.deepEqual(after, [1, 0], "one more after login, then the cap of 2 is reached");
  const outcomes = await recorded(id, user, 2);
  assert.deepEqual(
    outcomes.map((o) => o.status),
    ["returned", "skipped"],
  );
  assert.match(outcomes[1].detail, /^frequency_capped: 2 messages per day reached/);
});

test("the cap spans rules and journeys; webhooks and forwards are never counted", async () => {
  await setPolicy({ perDay: 2 });
  const [r1, r2, j] = [`span-a-${seq++}`, `span-b-${seq++}`, `span-j-${seq++}`];
  await putRule(inApp(r1));
  // r2 also calls a webhook (to the loopback service): systems are not people, never capped.
  const hookPath = `/hook/${r2}`;
  await putRule({
    ...inApp(r2),
    actions: [...inApp(r2).actions, { type: "webhook", url: `${service.url}${hookPath}` }],
  });
  const journey = {
    id: j,
    trigger: { type: "event", events: [`${j} Go`] },
    start: "say",
    nodes: [
      {
        id: "say",
        type: "action",
        action: { type: "message", title: "J", body: "from a journey" },
        next: "end",
      },
      { id: "end", type: "exit" },
    ],
  };
  const put = await spur.admin(`/v1/journeys/${j}`, { method: "PUT", body: JSON.stringify(journey) });
  assert.ok(put.status === 200 || put.status === 201, await put.text());
  const pub = await spur.admin(`/v1/journeys/${j}/publish`, { method: "POST" });
  assert.equal(pub.status, 200, await pub.text());

  const user = uid("span");
  assert.equal((await send(track(user, `${r1} Go`))).length, 1, "first rule's message");
  assert.equal((await send(track(user, `${j} Go`))).length, 1, "the journey's message");
  assert.equal((await send(track(user, `${r2} Go`))).length, 0, "a third message the same day");
  const [first] = await recorded(r1, user, 1);
  assert.equal(first.status, "returned");
  const [step] = await recorded(`journey:${j}`, user, 1);
  assert.equal(step.status, "returned");
  const [third] = await recorded(r2, user, 1);
  assert.equal(third.status, "skipped");
  assert.match(third.detail, /^frequency_capped: /);
  const [[, webhook]] = await eventually(
    async () => {
      const a = await actionsOf(r2, user);
      return a.length === 1 && a[0][1].status === "delivered" && a;
    },
    { message: "the capped firing's webhook delivered" },
  );
  assert.equal(webhook.type, "webhook");
  assert.equal(service.hits(hookPath).length, 1);
});

test("a per-channel cap stops the second push; the push service sees one request", async () => {
  await setPolicy({ perDay: 10, perChannel: { push: 1 } });
  const id = `push-${seq++}`;
  await putRule({
    id,
    trigger: { events: [`${id} Go`] },
    actions: [{ type: "push", title: "t", body: "b" }],
  });
  const user = uid("p");
  const path = `/ok/${user}`;
  const res = await fetch(`${spur.url}/v1/push/subscriptions`, {
    method: "POST",
    body: JSON.stringify({
      writeKey: DEMO_WRITE_KEY,
      userId: user,
      subscription: { endpoint: `${service.url}${path}`, keys: browserKeys().keys },
    }),
    headers: { "Content-Type": "application/json" },
  });
  assert.ok(res.status === 200 || res.status === 201, await res.text());

  await send(track(user, `${id} Go`));
  const [firstPush] = await eventually(
    async () => {
      const o = await recorded(id, user, 1);
      return o[0].status === "delivered" && o;
    },
    { message: "the first push delivered" },
  );
  assert.equal(firstPush.delivered, 1);
  await send(track(user, `${id} Go`));
  const outcomes = await eventually(
    async () => {
      const o = await actionsOf(id, user);
      return o.length === 2 && o[1][0].status !== "queued" && o.map((a) => a[0]);
    },
    { message: "the second push decided" },
  );
  assert.equal(outcomes[1].status, "skipped");
  assert.match(outcomes[1].detail, /^frequency_capped: 1 messages per day on push reached/);
  assert.equal(service.hits(path).length, 1, "one push request only");
  // Like a skipped email, the capped push is a `$message_failed` event with the reason.
  const rows = await eventually(
    async () => {
      const r = await spur.rows(
        "SELECT event, properties FROM events WHERE user_id = ? AND event LIKE '$message_%' ORDER BY event",
        user,
      );
      return r.length === 3 && r;
    },
    { message: "the pushes' campaign events" },
  );
  assert.deepEqual(
    rows.map((r) => r.event),
    ["$message_delivered", "$message_failed", "$message_sent"],
  );
  const failed = JSON.parse(rows[1].properties);
  assert.equal(failed.channel, "push");
  assert.equal(failed.status, "skipped");
  assert.match(failed.reason, /^frequency_capped: /);
});

test("quiet hours skip a message due inside them (not deferred, not counted)", async () => {
  // A window of four hours centred on now (UTC): no wall-clock luck within the test's time.
  const hhmm = (ms) => new Date(ms).toISOString().slice(11, 16);
  const now = Date.now();
  const quiet = { from: hhmm(now - 2 * 3_600_000), to: hhmm(now + 2 * 3_600_000) };
  await setPolicy({ zone: "UTC", perDay: 1, quietHours: quiet });
  const id = `quiet-${seq++}`;
  await putRule(inApp(id));
  const mail = `quiet-mail-${seq++}`;
  await putRule({
    id: mail,
    trigger: { events: [`${mail} Go`] },
    actions: [{ type: "email", to: "{{ traits.email }}", subject: "s", text: "t" }],
  });
  const user = uid("q");
  await send({ ...track(user, `${mail} Go`), context: { traits: { email: `${user}@example.com` } } });
  assert.equal((await send(track(user, `${id} Go`))).length, 0);
  assert.equal((await send(track(user, `${id} Go`))).length, 0);
  const outcomes = await recorded(id, user, 2);
  for (const o of outcomes) {
    assert.equal(o.status, "skipped");
    assert.match(o.detail, /^quiet_hours: /);
  }
  const [email] = await eventually(
    async () => {
      const o = await recorded(mail, user, 1);
      return o[0].status !== "queued" && o;
    },
    { message: "the email decided" },
  );
  assert.equal(email.status, "skipped");
  assert.match(email.detail, /^quiet_hours: /);
  assert.equal(service.hits("/email").length, 0, "no email reached the provider");
  // Like other unsent emails, the skip is also a `$message_failed` event carrying the reason.
  const [failed] = await eventually(
    async () => {
      const rows = await spur.rows(
        "SELECT properties FROM events WHERE user_id = ? AND event = '$message_failed'",
        user,
      );
      return rows.length === 1 && rows;
    },
    { message: "the $message_failed event" },
  );
  const props = JSON.parse(failed.properties);
  assert.equal(props.ruleId, mail);
  assert.equal(props.status, "skipped");
  assert.match(props.reason, /^quiet_hours: /);

  // The same person right after quiet hours are lifted: nothing was counted meanwhile.
  await setPolicy({ zone: "UTC", perDay: 1 });
  assert.equal((await send(track(user, `${id} Go`))).length, 1);
  const after = await recorded(id, user, 3);
  assert.equal(after[2].status, "returned");
});
