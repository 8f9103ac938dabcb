// Issue 12, Email: a rule's and a journey's `email` action rendered (HTML-escaped) and
// delivered through the actions queue to a real loopback provider API, with RFC 8058
// one-click unsubscribe, the suppression list (unsubscribes and hard bounces), retries that
// send exactly one email, and the `$message_sent` / `$message_failed` campaign events.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import { startSpur, eventually, uid } from "../helpers/spur.mjs";

const PUBLIC_URL = "https://spur.test";
const PROVIDER_KEY = "test-provider-key";

/**
 * A loopback email provider API. By the recipient's local part: `flaky-*` answers 503 to its
 * first request, `bounce-*` 422 `invalid_address`; everything else 202. Keeps every request.
 */
async function startProvider() {
  const requests = [];
  const seen = new Map();
  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", () => {
      const body = JSON.parse(Buffer.concat(chunks).toString("utf8"));
      const n = (seen.get(body.to) ?? 0) + 1;
      seen.set(body.to, n);
      let status = 202;
      let answer = { id: `msg-${requests.length}` };
      if (body.to.startsWith("flaky-") && n === 1) {
        status = 503;
        answer = { error: "try later" };
      } else if (body.to.startsWith("bounce-")) {
        status = 422;
        answer = { error: "invalid_address", message: "550 5.1.1 user unknown" };
      }
      requests.push({ path: req.url, headers: req.headers, body, status });
      res.writeHead(status, { "Content-Type": "application/json" });
      res.end(JSON.stringify(answer));
    });
  });
  await new Promise((r) => server.listen(0, "127.0.0.1", r));
  const url = `http://127.0.0.1:${server.address().port}`;
  return {
    url,
    requests,
    to: (address) => requests.filter((r) => r.body.to === address),
    accepted: (address) => requests.filter((r) => r.body.to === address && r.status < 300),
    close: () => new Promise((r) => server.close(r)),
  };
}

let spur, provider;
before(async () => {
  provider = await startProvider();
  spur = await startSpur({
    secrets: { EMAIL_UNSUBSCRIBE_SECRET: "test-unsubscribe-secret", EMAIL_PROVIDER_KEY: PROVIDER_KEY },
    vars: {
      WEBHOOK_RETRY_BASE_SECONDS: "1",
      EMAIL_PROVIDER_URL: `${provider.url}/send`,
      EMAIL_FROM: "Spur Test <noreply@spur.test>",
      PUBLIC_URL,
    },
  });
});
after(async () => {
  await spur?.close();
  await provider?.close();
});

let seq = 0;

const putRule = (rule) => spur.putRule(rule);
const send = (...events) => spur.batch(events);
/** A track event whose context carries the person's traits (what the rule's templates see). */
const track = (userId, event, traits, properties = {}) => ({
  type: "track",
  event,
  userId,
  properties,
  context: { traits },
  messageId: uid("m"),
});
/** The array, or false while it is empty (an empty array is truthy to `eventually`). */
const nonEmpty = (a) => a.length > 0 && a;
async function outcomes(rule) {
  const rows = await spur.rows(
    "SELECT actions FROM rule_firings WHERE rule_id = ? ORDER BY fired_ms, id",
    rule,
  );
  return rows.map((r) => JSON.parse(r.actions)[0]);
}
const campaignEvents = (user) =>
  spur.rows(
    "SELECT event, properties FROM events WHERE user_id = ? AND event LIKE '$message_%' ORDER BY message_id",
    user,
  );
/** The token in a `List-Unsubscribe: <https://…/v1/email/unsubscribe?t=TOKEN>` header. */
function tokenOf(request) {
  const m = /^<https:\/\/spur\.test\/v1\/email\/unsubscribe\?t=([A-Za-z0-9_.-]+)>$/.exec(
    request.body.headers["List-Unsubscribe"],
  );
  assert.ok(m, request.body.headers["List-Unsubscribe"]);
  return m[1];
}
const unsubscribe = (token, init = {}) =>
  fetch(`${spur.url}/v1/email/unsubscribe?t=${encodeURIComponent(token)}`, init);
const oneClick = (token) =>
  unsubscribe(token, {
    method: "POST",
    headers: { "Content-Type": "application/x-www-form-urlencoded" },
    body: "List-Unsubscribe=One-Click",
  });

const ruleId = () => `email-${seq++}`;
const emailRule = (id, extra = {}) => ({
  id,
  // Each test's rule has its own trigger, so earlier tests' rules stay quiet.
  trigger: { events: [`Cart Abandoned ${id}`] },
  actions: [
    {
      type: "email",
      subject: "{{ traits.name }}, your {{ event.properties.item }} is waiting",
      html: "<p>Hi {{ traits.name }}, {{ event.properties.item }} costs {{ event.properties.price }}.</p>",
      text: "Hi {{ traits.name }}, {{ event.properties.item }}",
      ...extra,
    },
  ],
});

test("a rule's email reaches the provider rendered, escaped and with one-click unsubscribe", async () => {
  const id = ruleId();
  await putRule(emailRule(id));
  const user = uid("u");
  const address = `${user}@example.com`;
  await send(
    track(
      user,
      `Cart Abandoned ${id}`,
      { email: address, name: "Ada <b>" },
      { item: "<script>x</script>", price: 12.5 },
    ),
  );
  const [req] = await eventually(() => provider.to(address).length > 0 && provider.to(address), {
    message: "the rule's email at the provider",
  });
  assert.equal(req.path, "/send");
  assert.equal(req.headers.authorization, `Bearer ${PROVIDER_KEY}`);
  assert.equal(req.headers["content-type"], "application/json");
  assert.match(req.headers["idempotency-key"], /:0$/);
  assert.equal(req.body.from, "Spur Test <noreply@spur.test>");
  assert.equal(req.body.subject, "Ada <b>, your <script>x</script> is waiting");
  assert.equal(req.body.html, "<p>Hi Ada &lt;b&gt;, &lt;script&gt;x&lt;&#x2f;script&gt; costs 12.5.</p>");
  assert.equal(req.body.text, "Hi Ada <b>, <script>x</script>");
  assert.equal(req.body.headers["List-Unsubscribe-Post"], "List-Unsubscribe=One-Click");
  tokenOf(req);

  const [o] = await eventually(
    async () => nonEmpty((await outcomes(id)).filter((x) => x.status === "delivered")),
    {
      message: "the delivered outcome",
    },
  );
  assert.equal(o.type, "email");
  assert.equal(o.target, req.headers["idempotency-key"]);
  // One $message_sent and one $message_delivered (the provider accepted it), same properties.
  const events = await eventually(
    async () => {
      const rows = await campaignEvents(user);
      return rows.length === 2 && rows;
    },
    { message: "the $message_sent and $message_delivered events" },
  );
  assert.deepEqual(
    events.map((e) => e.event),
    ["$message_delivered", "$message_sent"],
  );
  for (const e of events) {
    const props = JSON.parse(e.properties);
    assert.equal(props.channel, "email");
    assert.equal(props.ruleId, id);
    assert.equal(props.messageId, o.target);
    assert.equal(props.status, "delivered");
  }
});

test("email templates are checked on save", async () => {
  const cases = [
    [{ subject: "Hi {{ traits.name", text: "t" }, "invalid_template", "/actions/0/subject"],
    [{ subject: "s", html: "{% if x %}open" }, "invalid_template", "/actions/0/html"],
    [{ subject: "s" }, "invalid_template", "/actions/0/html"],
    [{ subject: "s", text: "t", from: "not an address" }, "invalid_template", "/actions/0/from"],
  ];
  for (const [action, reason, at] of cases) {
    const id = ruleId();
    const res = await spur.admin(`/v1/rules/${id}`, {
      method: "PUT",
      body: JSON.stringify({ id, trigger: { events: ["A"] }, actions: [{ type: "email", ...action }] }),
    });
    const body = await res.json();
    assert.equal(res.status, 400, JSON.stringify(body));
    assert.equal(body.reason, reason, JSON.stringify(body));
    assert.ok(body.detail.startsWith(at), JSON.stringify(body));
  }
});

test("one-click unsubscribe suppresses later sends; tampered tokens are refused", async () => {
  const id = ruleId();
  await putRule(emailRule(id));
  const user = uid("unsub");
  const address = `${user}@example.com`;
  await send(track(user, `Cart Abandoned ${id}`, { email: address, name: "Bo" }, { item: "tea" }));
  const [req] = await eventually(() => provider.to(address).length > 0 && provider.to(address), {
    message: "the first email",
  });
  const token = tokenOf(req);

  // Tampered, malformed and foreign tokens: 400 with a reason, nothing suppressed.
  const flipped = token.slice(0, -2) + (token.endsWith("AA") ? "BA" : "AA");
  const parts = token.split(".");
  parts[2] = Buffer.from("eve@example.com").toString("base64url");
  for (const [bad, reason] of [
    [flipped, "invalid_unsubscribe_token"],
    [parts.join("."), "invalid_unsubscribe_token"],
    ["v1.nope", "malformed_unsubscribe_token"],
    ["", "malformed_unsubscribe_token"],
  ]) {
    for (const res of [await oneClick(bad), await unsubscribe(bad)]) {
      assert.equal(res.status, 400);
      assert.equal((await res.json()).reason, reason, bad);
    }
  }
  assert.deepEqual(await spur.rows("SELECT * FROM email_suppressions WHERE address = ?", address), []);

  // The GET page changes nothing and offers the one-click form.
  const page = await unsubscribe(token);
  assert.equal(page.status, 200);
  const html = await page.text();
  assert.match(html, /<form method="post"/);
  assert.match(html, /name="List-Unsubscribe" value="One-Click"/);
  assert.deepEqual(await spur.rows("SELECT * FROM email_suppressions WHERE address = ?", address), []);
  // A POST without the RFC 8058 body is refused.
  const empty = await unsubscribe(token, { method: "POST", body: "" });
  assert.equal(empty.status, 400);

  const res = await oneClick(token);
  assert.equal(res.status, 200, await res.text());
  const [row] = await spur.rows("SELECT * FROM email_suppressions WHERE address = ?", address);
  assert.equal(row.reason, "unsubscribed");
  assert.equal(row.person, user);
  // Again: still 200, still one row.
  assert.equal((await oneClick(token)).status, 200);

  await send(track(user, `Cart Abandoned ${id}`, { email: address, name: "Bo" }, { item: "tea" }));
  const skipped = await eventually(
    async () => {
      const all = await outcomes(id);
      return all.length === 2 && all[1].status === "skipped" && all;
    },
    { message: "the suppressed send" },
  );
  assert.equal(skipped[1].detail, "suppressed: unsubscribed");
  assert.equal(provider.to(address).length, 1, "nothing more was sent");
  const events = await eventually(
    async () => {
      const rows = await campaignEvents(user);
      return rows.length === 3 && rows;
    },
    { message: "the campaign events of both sends" },
  );
  assert.deepEqual(events.map((e) => e.event).sort(), [
    "$message_delivered",
    "$message_failed",
    "$message_sent",
  ]);
  const failed = events.find((e) => e.event === "$message_failed");
  assert.equal(JSON.parse(failed.properties).status, "skipped");
});

test("a provider 503 is retried and exactly one email is accepted", async () => {
  const id = ruleId();
  await putRule(emailRule(id));
  const user = uid("flaky");
  const address = `flaky-${user}@example.com`;
  await send(track(user, `Cart Abandoned ${id}`, { email: address, name: "Cy" }, { item: "mug" }));
  const [o] = await eventually(
    async () => nonEmpty((await outcomes(id)).filter((x) => x.status === "delivered")),
    {
      timeoutMs: 20_000,
      message: "delivered after the retry",
    },
  );
  const all = provider.to(address);
  assert.deepEqual(
    all.map((r) => r.status),
    [503, 202],
  );
  assert.equal(provider.accepted(address).length, 1);
  assert.equal(all[0].headers["idempotency-key"], all[1].headers["idempotency-key"]);
  assert.deepEqual(all[0].body, all[1].body, "the retry sends the same email");
  assert.equal(o.target, all[0].headers["idempotency-key"]);
  // One delivery after a failed attempt: one $message_delivered (and one $message_sent).
  const events = await eventually(
    async () => {
      const rows = await campaignEvents(user);
      return rows.length === 2 && rows;
    },
    { message: "the campaign events of the retried send" },
  );
  assert.deepEqual(
    events.map((e) => e.event),
    ["$message_delivered", "$message_sent"],
  );
});

test("a hard bounce suppresses the address", async () => {
  const id = ruleId();
  await putRule(emailRule(id));
  const user = uid("bounce");
  const address = `bounce-${user}@example.com`;
  await send(track(user, `Cart Abandoned ${id}`, { email: address, name: "Di" }, { item: "pot" }));
  const [o] = await eventually(
    async () => nonEmpty((await outcomes(id)).filter((x) => x.status === "failed")),
    {
      message: "the bounced outcome",
    },
  );
  assert.match(o.detail, /^hard_bounce/);
  const [row] = await spur.rows("SELECT * FROM email_suppressions WHERE address = ?", address);
  assert.equal(row.reason, "hard_bounce");
  assert.equal(provider.to(address).length, 1, "a bounce is not retried");

  await send(track(user, `Cart Abandoned ${id}`, { email: address, name: "Di" }, { item: "pot" }));
  assert.ok(
    await eventually(
      async () => {
        const all = await outcomes(id);
        return all.length === 2 && all[1].status === "skipped";
      },
      { message: "the next send skipped" },
    ),
  );
  assert.equal(provider.to(address).length, 1);
  const events = await eventually(
    async () => {
      const rows = await campaignEvents(user);
      return rows.length === 2 && rows;
    },
    { message: "two $message_failed events" },
  );
  assert.deepEqual(events.map((e) => [e.event, JSON.parse(e.properties).status]).sort(), [
    ["$message_failed", "failed"],
    ["$message_failed", "skipped"],
  ]);
});

test("a journey's email step renders journey variables and reaches the provider", async () => {
  const user = uid("j");
  const address = `${user}@example.com`;
  const journey = {
    id: `email-j-${seq++}`,
    trigger: { type: "api" },
    start: "send",
    nodes: [
      {
        id: "send",
        type: "action",
        action: {
          type: "email",
          to: "{{ vars.email }}",
          subject: "Code {{ vars.coupon }}",
          html: "<p>{{ vars.name }}: use {{ vars.coupon }} (step {{ journey.node }})</p>",
        },
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
    body: JSON.stringify({ userId: user, context: { email: address, name: "Eve & <i>", coupon: "SAVE10" } }),
  });
  assert.ok(enter.status < 300, await enter.text());

  const [req] = await eventually(() => provider.to(address).length > 0 && provider.to(address), {
    message: "the journey's email",
  });
  assert.equal(req.body.subject, "Code SAVE10");
  assert.equal(req.body.html, "<p>Eve &amp; &lt;i&gt;: use SAVE10 (step send)</p>");
  assert.equal(req.body.headers["List-Unsubscribe-Post"], "List-Unsubscribe=One-Click");
  tokenOf(req);
  const events = await eventually(
    async () => {
      const rows = await campaignEvents(user);
      return rows.length === 2 && rows;
    },
    { message: "the journey's $message_sent and $message_delivered" },
  );
  assert.deepEqual(
    events.map((e) => e.event),
    ["$message_delivered", "$message_sent"],
  );
  for (const e of events) {
    const props = JSON.parse(e.properties);
    assert.equal(props.journeyId, journey.id);
    assert.equal(props.journeyNode, "send");
    assert.equal(props.channel, "email");
  }

  // An invalid template in a journey is refused on save with the node's place.
  const bad = structuredClone(journey);
  bad.id = `email-j-${seq++}`;
  bad.nodes[0].action.subject = "{{ oops";
  const res = await spur.admin(`/v1/journeys/${bad.id}`, { method: "PUT", body: JSON.stringify(bad) });
  const body = await res.json();
  assert.equal(res.status, 400, JSON.stringify(body));
  assert.equal(body.reason, "invalid_template");
});
