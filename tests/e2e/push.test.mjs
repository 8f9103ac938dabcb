// Issue 12, Web Push: subscriptions, a rule's and a journey's `push` action delivered through
// the actions queue to a real loopback push service, checked by independent implementations
// (http_ece decrypts the RFC 8291 body; node crypto verifies the RFC 8292 VAPID JWT); the
// Worker's campaign events of each push ($message_sent/$message_delivered/$message_failed) and
// the campaign query's push counts.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startSpur, eventually, DEMO_WRITE_KEY, uid } from "../helpers/spur.mjs";
import { browserKeys, decrypt, verifyVapid, startPushService } from "../helpers/push.mjs";

// The dev-only key of .dev.vars.example.
const VAPID_PRIVATE_KEY = "TZOL60MdzG_t6KuozHHkoDh0zgqRcvvF8RQJmiCPptQ";
const VAPID_PUBLIC_KEY =
  "BA7vuApzpPYaiCh82IJuE3QlsgX-SZrkjgQ1iAOv2JHAc-US-HsPbZY1TEV8ZTOJj90D5tVuMMV0aUF7zUuIzk8";
const VAPID_SUBJECT = "mailto:push-test@spur.invalid";

let spur, service;
before(async () => {
  // /gone/* answers 410; /flaky/* 503 once then 201; everything else 201.
  service = await startPushService({
    respond: (req, n) =>
      req.url.startsWith("/gone/") ? 410 : req.url.startsWith("/flaky/") && n === 1 ? 503 : 201,
  });
  spur = await startSpur({
    secrets: { VAPID_PRIVATE_KEY, VAPID_SUBJECT },
    vars: { WEBHOOK_RETRY_BASE_SECONDS: "1" },
  });
});
after(async () => {
  await spur?.close();
  await service?.close();
});

let seq = 0;

async function subscribe(body, headers = {}) {
  const res = await fetch(`${spur.url}/v1/push/subscriptions`, {
    method: "POST",
    body: JSON.stringify(body),
    headers: { "Content-Type": "application/json", ...headers },
  });
  return { status: res.status, body: await res.json() };
}
const putRule = (rule) => spur.putRule(rule);
const send = (...events) => spur.batch(events);
const track = (userId, event) => ({ type: "track", event, userId, properties: {}, messageId: uid("m") });
const subscriptionsOf = (user) =>
  spur.rows("SELECT * FROM push_subscriptions WHERE user_id = ? OR anonymous_id = ?", user, user);
/** The person's campaign events, `[{event, props}]` in messageId order. */
async function campaignEvents(user) {
  const rows = await spur.rows(
    "SELECT event, properties FROM events WHERE user_id = ? AND event LIKE '$message_%' ORDER BY message_id",
    user,
  );
  return rows.map((r) => ({ event: r.event, props: JSON.parse(r.properties) }));
}
/** Waits until the person has exactly `n` campaign events, and returns them. */
const campaignEventsOf = (user, n, message) =>
  eventually(
    async () => {
      const rows = await campaignEvents(user);
      return rows.length === n && rows;
    },
    { message },
  );
/** The push channel of `POST /v1/query/campaign` for one rule (`{sent, delivered, …}`). */
async function pushResults(rule) {
  const hour = 3_600_000;
  const res = await spur.admin("/v1/query/campaign", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({
      rule,
      from: new Date(Date.now() - hour).toISOString(),
      to: new Date(Date.now() + hour).toISOString(),
    }),
  });
  const body = await res.json();
  assert.equal(res.status, 200, JSON.stringify(body));
  const push = body.channels.find((c) => c.channel === "push");
  assert.ok(push, JSON.stringify(body));
  const n = (k) => push[k].events;
  return { sent: n("sent"), delivered: n("delivered"), failed: n("failed"), reached: body.reached };
}
async function firingOf(rule) {
  const rows = await spur.rows("SELECT actions FROM rule_firings WHERE rule_id = ?", rule);
  return rows.length === 1 ? JSON.parse(rows[0].actions) : null;
}

test("the VAPID public key is served for the tracker", async () => {
  const res = await fetch(`${spur.url}/v1/push/vapid-public-key`, {
    headers: { Origin: "https://shop.example" },
  });
  assert.equal(res.status, 200);
  assert.deepEqual(await res.json(), { publicKey: VAPID_PUBLIC_KEY });
  assert.equal(res.headers.get("access-control-allow-origin"), "https://shop.example");
});

test("subscriptions are authorised like ingest and checked", async () => {
  const ua = browserKeys();
  const sub = { endpoint: `${service.url}/ok/${uid("s")}`, expirationTime: null, keys: ua.keys };
  const cases = [
    [{ subscription: sub, userId: "u" }, {}, 401, "missing_write_key"],
    [{ writeKey: "nope", subscription: sub, userId: "u" }, {}, 401, "unknown_write_key"],
    [
      { writeKey: "wk_site", subscription: sub, userId: "u" },
      { Origin: "https://evil.example" },
      403,
      "origin_not_allowed",
    ],
    [{ writeKey: DEMO_WRITE_KEY, subscription: sub }, {}, 400, "invalid_push_subscription"],
    [
      {
        writeKey: DEMO_WRITE_KEY,
        userId: "u",
        subscription: { ...sub, endpoint: "http://push.example.com/x" },
      },
      {},
      400,
      "invalid_push_subscription",
    ],
    [
      {
        writeKey: DEMO_WRITE_KEY,
        userId: "u",
        subscription: { ...sub, keys: { ...sub.keys, auth: "AAAA" } },
      },
      {},
      400,
      "invalid_push_subscription",
    ],
    ["not json", {}, 400, "invalid_push_subscription"],
  ];
  for (const [body, headers, status, reason] of cases) {
    const res = await subscribe(body, headers);
    assert.equal(res.status, status, JSON.stringify([body, res.body]));
    assert.equal(res.body.reason, reason, JSON.stringify(res.body));
  }
  assert.equal(
    (await spur.rows("SELECT * FROM push_subscriptions WHERE endpoint = ?", sub.endpoint)).length,
    0,
  );

  // Allowed: the site's key from its origin; then DELETE forgets it.
  const ok = await subscribe(
    { writeKey: "wk_site", anonymousId: "anon-1", subscription: sub },
    { Origin: "https://shop.example" },
  );
  assert.equal(ok.status, 201, JSON.stringify(ok.body));
  assert.equal((await subscriptionsOf("anon-1")).length, 1);
  const del = await fetch(`${spur.url}/v1/push/subscriptions`, {
    method: "DELETE",
    body: JSON.stringify({ writeKey: DEMO_WRITE_KEY, endpoint: sub.endpoint }),
  });
  assert.deepEqual(await del.json(), { ok: true, deleted: true });
  assert.equal((await subscriptionsOf("anon-1")).length, 0);
});

test("a rule's push action reaches the push service encrypted and VAPID-signed", async () => {
  const user = uid("u");
  const ua = browserKeys();
  const path = `/ok/${user}`;
  const res = await subscribe({
    writeKey: DEMO_WRITE_KEY,
    userId: user,
    subscription: { endpoint: `${service.url}${path}`, keys: ua.keys },
  });
  assert.equal(res.status, 201, JSON.stringify(res.body));
  const rule = `push-${seq++}`;
  await putRule({
    id: rule,
    trigger: { events: [`${rule} Buy`] },
    actions: [
      {
        type: "push",
        title: "Thanks!",
        body: "Your order is on its way",
        url: "/orders",
        ttl: "2h",
        urgency: "high",
        topic: "orders",
      },
    ],
  });
  await send(track(user, `${rule} Buy`));

  const [hit] = await eventually(() => service.hits(path).length > 0 && service.hits(path), {
    message: "the push request",
  });
  assert.equal(hit.method, "POST");
  assert.equal(hit.headers["content-encoding"], "aes128gcm");
  assert.equal(hit.headers.ttl, "7200");
  assert.equal(hit.headers.urgency, "high");
  assert.equal(hit.headers.topic, "orders");
  const vapid = verifyVapid(hit.headers.authorization);
  assert.deepEqual(vapid.header, { typ: "JWT", alg: "ES256" });
  assert.equal(vapid.k, VAPID_PUBLIC_KEY);
  assert.equal(vapid.claims.aud, service.url);
  assert.equal(vapid.claims.sub, VAPID_SUBJECT);
  const now = Date.now() / 1000;
  assert.ok(vapid.claims.exp > now && vapid.claims.exp <= now + 24 * 3600, `exp ${vapid.claims.exp}`);

  const payload = JSON.parse(decrypt(ua, hit.body).toString("utf8"));
  assert.match(payload.id, /:0$/);
  assert.deepEqual(
    { ...payload, id: "" },
    { id: "", rule, title: "Thanks!", body: "Your order is on its way", url: "/orders", userId: user },
  );
  // A second decryption with another browser's keys fails: the body is really encrypted for ua.
  assert.throws(() => decrypt(browserKeys(), hit.body));

  const outcome = await eventually(
    async () => {
      const a = await firingOf(rule);
      return a?.[0]?.status === "delivered" && a;
    },
    { message: "the push outcome" },
  );
  assert.equal(outcome[0].type, "push");
  assert.equal(outcome[0].target, payload.id);
  assert.equal(outcome[0].delivered, 1);
  assert.equal(service.hits(path).length, 1, "delivered once");

  // The Worker recorded one $message_sent and one $message_delivered (the push service said
  // 201), with email's properties and the messageId the service worker reports back.
  const events = await campaignEventsOf(user, 2, "the $message_sent and $message_delivered events");
  assert.deepEqual(
    events.map((e) => e.event),
    ["$message_delivered", "$message_sent"],
  );
  for (const { props } of events) {
    assert.deepEqual(props, { channel: "push", messageId: payload.id, status: "delivered", ruleId: rule });
  }

  // The very record redelivered (as the queue would after a lost ack), then a marker firing of
  // another rule: the push is not sent again and no campaign event is stored twice.
  const [row] = await spur.rows("SELECT id FROM rule_firings WHERE rule_id = ?", rule);
  const record = (id, ruleId) => ({
    kind: "fired",
    id,
    rule: ruleId,
    user,
    at_ms: Date.now(),
    message_ids: [],
    source: "ingest",
    capped: false,
    actions: [{ type: "push", target: `${id}:0`, status: "queued" }],
    payload: { id, rule: ruleId, user, firedAt: new Date().toISOString(), messageIds: [] },
    pushes: [{ id: `${id}:0`, title: "t", body: "b", ttl: 60, urgency: "normal" }],
  });
  assert.equal(`${row.id}:0`, payload.id);
  const marker = `${rule}-marker`;
  await spur.env.ACTIONS_QUEUE.sendBatch([
    { body: JSON.stringify(record(row.id, rule)), contentType: "text" },
    { body: JSON.stringify(record(`${row.id}-marker`, marker)), contentType: "text" },
  ]);
  const after = await campaignEventsOf(user, 4, "the marker's campaign events after the redelivery");
  assert.deepEqual(after.map((e) => [e.event, e.props.ruleId]).sort(), [
    ["$message_delivered", rule],
    ["$message_delivered", marker],
    ["$message_sent", rule],
    ["$message_sent", marker],
  ]);
  assert.equal(service.hits(path).length, 2, "the redelivered push was not sent again (one marker push)");
  assert.deepEqual(await pushResults(rule), { sent: 1, delivered: 1, failed: 0, reached: 1 });
});

test("a 410 deletes the subscription; a 503 is retried", async () => {
  const user = uid("u");
  const gone = browserKeys();
  const flaky = browserKeys();
  for (const [prefix, ua] of [
    ["gone", gone],
    ["flaky", flaky],
  ]) {
    const res = await subscribe({
      writeKey: DEMO_WRITE_KEY,
      userId: user,
      subscription: { endpoint: `${service.url}/${prefix}/${user}`, keys: ua.keys },
    });
    assert.equal(res.status, 201);
  }
  assert.equal((await subscriptionsOf(user)).length, 2);
  const rule = `push-${seq++}`;
  await putRule({
    id: rule,
    trigger: { events: [`${rule} Go`] },
    actions: [{ type: "push", title: "t", body: "b" }],
  });
  await send(track(user, `${rule} Go`));

  const outcome = await eventually(
    async () => {
      const a = await firingOf(rule);
      return a?.[0]?.status === "delivered" && a;
    },
    { timeoutMs: 20_000, message: "delivered after the retry" },
  );
  assert.equal(outcome[0].delivered, 1);
  assert.equal(service.hits(`/gone/${user}`).length, 1, "a gone subscription is not retried");
  const flakyHits = service.hits(`/flaky/${user}`);
  assert.deepEqual(
    flakyHits.map((h) => h.status),
    [503, 201],
  );
  // Each attempt is encrypted afresh (new ephemeral key and salt) and both decrypt.
  assert.notDeepEqual(flakyHits[0].body, flakyHits[1].body);
  for (const h of flakyHits) assert.equal(JSON.parse(decrypt(flaky, h.body)).title, "t");
  const left = await subscriptionsOf(user);
  assert.deepEqual(
    left.map((s) => s.endpoint),
    [`${service.url}/flaky/${user}`],
  );
  // One action reached one subscription after a retry: one $message_sent, one
  // $message_delivered, no $message_failed (the gone subscription is in the outcome's detail).
  const events = await campaignEventsOf(user, 2, "the campaign events of the retried push");
  assert.deepEqual(
    events.map((e) => e.event),
    ["$message_delivered", "$message_sent"],
  );
  assert.deepEqual(await pushResults(rule), { sent: 1, delivered: 1, failed: 0, reached: 1 });
});

test("a push whose only subscription is gone (410) is a $message_failed with the reason", async () => {
  const user = uid("u");
  const res = await subscribe({
    writeKey: DEMO_WRITE_KEY,
    userId: user,
    subscription: { endpoint: `${service.url}/gone/${user}`, keys: browserKeys().keys },
  });
  assert.equal(res.status, 201);
  const rule = `push-${seq++}`;
  await putRule({
    id: rule,
    trigger: { events: [`${rule} Go`] },
    actions: [{ type: "push", title: "t", body: "b" }],
  });
  await send(track(user, `${rule} Go`));
  const outcome = await eventually(
    async () => {
      const a = await firingOf(rule);
      return a?.[0]?.status === "failed" && a;
    },
    { message: "the failed outcome" },
  );
  assert.equal(service.hits(`/gone/${user}`).length, 1);
  assert.equal((await subscriptionsOf(user)).length, 0, "the gone subscription is deleted");
  const [failed] = await campaignEventsOf(user, 1, "the $message_failed event");
  assert.equal(failed.event, "$message_failed");
  assert.deepEqual(failed.props, {
    channel: "push",
    messageId: outcome[0].target,
    status: "failed",
    reason: outcome[0].detail,
    ruleId: rule,
  });
  assert.match(failed.props.reason, /gone 1.*HTTP 410/);
  assert.deepEqual(await pushResults(rule), { sent: 0, delivered: 0, failed: 1, reached: 0 });
});

test("a push to a person with no subscription fails with a reason", async () => {
  const rule = `push-${seq++}`;
  await putRule({
    id: rule,
    trigger: { events: [`${rule} Go`] },
    actions: [{ type: "push", title: "t", body: "b" }],
  });
  const user = uid("nobody");
  await send(track(user, `${rule} Go`));
  const outcome = await eventually(
    async () => {
      const a = await firingOf(rule);
      return a?.[0]?.status === "failed" && a;
    },
    { message: "the failed outcome" },
  );
  assert.equal(outcome[0].detail, "no push subscription for this person");
  const [failed] = await campaignEventsOf(user, 1, "the $message_failed event");
  assert.equal(failed.event, "$message_failed");
  assert.equal(failed.props.reason, "no push subscription for this person");
  assert.equal(failed.props.channel, "push");
  assert.equal(failed.props.ruleId, rule);
});

test("a journey's push action node sends a push", async () => {
  const user = uid("u");
  const ua = browserKeys();
  const path = `/ok/${user}`;
  assert.equal(
    (
      await subscribe({
        writeKey: DEMO_WRITE_KEY,
        userId: user,
        subscription: { endpoint: `${service.url}${path}`, keys: ua.keys },
      })
    ).status,
    201,
  );
  const journey = {
    id: `push-j-${seq++}`,
    trigger: { type: "api" },
    start: "send",
    nodes: [
      {
        id: "send",
        type: "action",
        action: { type: "push", title: "Come back", body: "Your cart misses you", url: "/cart" },
        next: "end",
      },
      { id: "end", type: "exit" },
    ],
  };
  const put = await spur.admin(`/v1/journeys/${journey.id}`, {
    method: "PUT",
    body: JSON.stringify(journey),
  });
  assert.ok(put.status === 200 || put.status === 201, await put.text());
  const pub = await spur.admin(`/v1/journeys/${journey.id}/publish`, { method: "POST" });
  assert.equal(pub.status, 200, await pub.text());
  const enter = await spur.admin(`/v1/journeys/${journey.id}/enter`, {
    method: "POST",
    body: JSON.stringify({ userId: user }),
  });
  assert.ok(enter.status < 300, await enter.text());

  const [hit] = await eventually(() => service.hits(path).length > 0 && service.hits(path), {
    message: "the journey push",
  });
  const payload = JSON.parse(decrypt(ua, hit.body));
  assert.equal(payload.title, "Come back");
  assert.equal(payload.rule, `journey:${journey.id}`);
  assert.equal(payload.userId, user);
  assert.equal(verifyVapid(hit.headers.authorization).claims.aud, service.url);
  const events = await campaignEventsOf(user, 2, "the journey push's campaign events");
  assert.deepEqual(
    events.map((e) => e.event),
    ["$message_delivered", "$message_sent"],
  );
  for (const { props } of events) {
    assert.deepEqual(props, {
      channel: "push",
      messageId: payload.id,
      status: "delivered",
      journeyId: journey.id,
      journeyNode: "send",
    });
  }
});

test("a person keeps at most 10 subscriptions", async () => {
  const user = uid("many");
  for (let i = 0; i < 11; i++) {
    const res = await subscribe({
      writeKey: DEMO_WRITE_KEY,
      userId: user,
      subscription: { endpoint: `${service.url}/ok/${user}/${i}`, keys: browserKeys().keys },
    });
    assert.equal(res.status, 201, JSON.stringify(res.body));
  }
  assert.equal((await subscriptionsOf(user)).length, 10);
});
