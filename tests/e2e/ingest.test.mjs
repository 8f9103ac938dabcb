// Issue 3: the Segment-compatible ingestion pipeline against real workerd (queue, D1, R2).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { gzipSync } from "node:zlib";
import { startSpur, eventually, DEMO_WRITE_KEY } from "../helpers/spur.mjs";

let spur;
before(async () => {
  spur = await startSpur();
});
after(async () => {
  await spur?.close();
});

const basic = (key) => ({ Authorization: `Basic ${Buffer.from(`${key}:`).toString("base64")}` });
let seq = 0;
const uid = (p = "m") => `${p}-${process.pid}-${Date.now()}-${seq++}`;
const track = (extra = {}) => ({
  type: "track",
  event: "Test Event",
  userId: "u-1",
  messageId: uid(),
  ...extra,
});

async function rowsFor(ids, n = ids.length) {
  return eventually(async () => {
    const placeholders = ids.map(() => "?").join(",");
    const rows = await spur.rows(`SELECT * FROM events WHERE message_id IN (${placeholders})`, ...ids);
    return rows.length >= n ? rows : null;
  });
}
async function badRowsFor(pred, timeoutMs = 10_000) {
  return eventually(
    async () => {
      const rows = await spur.rows("SELECT * FROM bad_rows ORDER BY id");
      const hit = rows.filter(pred);
      return hit.length ? hit : null;
    },
    { timeoutMs },
  );
}

test("each Segment endpoint stores its message type", async () => {
  const calls = [
    ["/v1/track", { event: "Order Completed", properties: { order_id: "o1", total: 10 } }],
    ["/v1/page", { name: "Home", properties: { path: "/" } }],
    ["/v1/screen", { name: "Settings" }],
    ["/v1/identify", { traits: { email: "a@example.com", plan: "pro" } }],
    ["/v1/group", { groupId: "acme", traits: { name: "Acme" } }],
    ["/v1/alias", { previousId: "anon-42" }],
  ];
  const ids = [];
  for (const [path, body] of calls) {
    const messageId = uid("ep");
    ids.push(messageId);
    const res = await spur.post(path, { userId: "ep-user", messageId, ...body }, basic(DEMO_WRITE_KEY));
    assert.equal(res.status, 200, path);
    assert.deepEqual(await res.json(), { accepted: 1, rejected: [] });
  }
  const rows = await rowsFor(ids);
  const types = Object.fromEntries(rows.map((r) => [r.message_id, r.type]));
  assert.deepEqual(
    ids.map((id) => types[id]),
    ["track", "page", "screen", "identify", "group", "alias"],
  );
  // Profiles follow identify / group / alias.
  const user = await eventually(
    async () => (await spur.rows("SELECT * FROM users WHERE user_id = 'ep-user'"))[0],
  );
  assert.deepEqual(JSON.parse(user.traits), { email: "a@example.com", plan: "pro" });
  const group = await eventually(
    async () => (await spur.rows("SELECT * FROM groups WHERE group_id = 'acme'"))[0],
  );
  assert.equal(JSON.parse(group.traits).name, "Acme");
  const alias = await eventually(
    async () => (await spur.rows("SELECT * FROM aliases WHERE anonymous_id = 'anon-42'"))[0],
  );
  assert.equal(alias.user_id, "ep-user");
});

test("write key in the body works with a text/plain beacon", async () => {
  const m = track();
  const res = await spur.post(
    "/v1/batch",
    { batch: [m], writeKey: DEMO_WRITE_KEY },
    { "Content-Type": "text/plain" },
  );
  assert.equal(res.status, 200);
  const [row] = await rowsFor([m.messageId]);
  assert.equal(row.write_key, DEMO_WRITE_KEY);
  assert.equal(JSON.parse(row.context).spur.source, "demo");
});

test("auth: missing key 401, unknown key 401, disallowed origin 403", async () => {
  let res = await spur.post("/v1/batch", { batch: [track()] });
  assert.equal(res.status, 401);
  assert.equal((await res.json()).reason, "missing_write_key");
  res = await spur.post("/v1/batch", { batch: [track()] }, basic("nope"));
  assert.equal(res.status, 401);
  assert.equal((await res.json()).reason, "unknown_write_key");
  res = await spur.post(
    "/v1/batch",
    { batch: [track()] },
    { ...basic("wk_site"), Origin: "https://evil.example" },
  );
  assert.equal(res.status, 403);
  assert.equal((await res.json()).reason, "origin_not_allowed");
  res = await spur.post(
    "/v1/batch",
    { batch: [track()] },
    { ...basic("wk_site"), Origin: "https://shop.example" },
  );
  assert.equal(res.status, 200);
  assert.equal(res.headers.get("access-control-allow-origin"), "https://shop.example");
  assert.equal(res.headers.get("access-control-allow-credentials"), null);
});

test("CORS preflight is answered only for allowed origins", async () => {
  const pre = (origin) =>
    fetch(`${spur.url}/v1/batch`, {
      method: "OPTIONS",
      headers: {
        Origin: origin,
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type",
      },
    });
  let res = await pre("https://shop.example");
  assert.equal(res.status, 204);
  assert.equal(res.headers.get("access-control-allow-origin"), "https://shop.example");
  assert.match(res.headers.get("access-control-allow-methods"), /POST/);
  // The demo key allows "*", so any origin passes; a config without it refuses strangers.
  const strict = await startSpur({
    config: { sources: { wk_site: { name: "site", allowedOrigins: ["https://shop.example"] } } },
  });
  try {
    res = await fetch(`${strict.url}/v1/batch`, {
      method: "OPTIONS",
      headers: { Origin: "https://evil.example", "Access-Control-Request-Method": "POST" },
    });
    assert.equal(res.status, 403);
    assert.equal(res.headers.get("access-control-allow-origin"), null);
  } finally {
    await strict.close();
  }
});

test("malformed JSON is 400 and recorded as a bad row", async () => {
  const res = await spur.post("/v1/batch", '{"batch": [ {oops', basic(DEMO_WRITE_KEY));
  assert.equal(res.status, 400);
  const body = await res.json();
  assert.equal(body.reason, "malformed_json");
  const rows = await badRowsFor((r) => r.reason === "malformed_json" && r.payload.includes("oops"));
  assert.equal(rows[0].write_key, DEMO_WRITE_KEY);
});

test("oversize body is 413 and nothing is stored from it", async () => {
  const big = JSON.stringify({ batch: [track({ properties: { blob: "x".repeat(600 * 1024) } })] });
  const res = await spur.post("/v1/batch", big, basic(DEMO_WRITE_KEY));
  assert.equal(res.status, 413);
  assert.equal((await res.json()).reason, "body_too_large");
});

test("one bad message does not sink its batch; rejects carry index, messageId and reason", async () => {
  const good = track();
  const noEvent = { type: "track", userId: "u", messageId: uid("bad") };
  const badType = { type: "purchase", userId: "u", messageId: uid("bad") };
  const tooBig = track({ properties: { blob: "y".repeat(33 * 1024) } });
  const res = await spur.post(
    "/v1/batch",
    { batch: [good, noEvent, badType, tooBig] },
    basic(DEMO_WRITE_KEY),
  );
  assert.equal(res.status, 200);
  const out = await res.json();
  assert.equal(out.accepted, 1);
  assert.deepEqual(
    out.rejected.map((r) => [r.index, r.messageId, r.reason]),
    [
      [1, noEvent.messageId, "missing_field"],
      [2, badType.messageId, "invalid_type"],
      [3, tooBig.messageId, "event_too_large"],
    ],
  );
  for (const r of out.rejected) assert.ok(r.detail.length > 0);
  await rowsFor([good.messageId]);
  const bad = await badRowsFor((r) =>
    [noEvent.messageId, badType.messageId, tooBig.messageId].includes(r.message_id),
  );
  assert.equal(bad.length, 3);
  assert.deepEqual(JSON.parse(bad.find((r) => r.message_id === noEvent.messageId).payload), noEvent);
});

test("gzip bodies are accepted; a gzip bomb is refused", async () => {
  const m = track();
  const res = await spur.post("/v1/batch", gzipSync(JSON.stringify({ batch: [m] })), {
    ...basic(DEMO_WRITE_KEY),
    "Content-Encoding": "gzip",
  });
  assert.equal(res.status, 200);
  assert.equal((await res.json()).accepted, 1);
  await rowsFor([m.messageId]);
  const bomb = gzipSync(Buffer.alloc(20 * 1024 * 1024, 0x20));
  const r2 = await spur.post("/v1/batch", bomb, { ...basic(DEMO_WRITE_KEY), "Content-Encoding": "gzip" });
  assert.equal(r2.status, 413);
  assert.match((await r2.json()).reason, /decompressed_too_large|compression_ratio_exceeded/);
});

test("the same batch sent 10 times gives one row per messageId", async () => {
  const batch = [track(), track(), track()];
  for (let i = 0; i < 10; i++) {
    const res = await spur.post("/v1/batch", { batch }, basic(DEMO_WRITE_KEY));
    assert.equal(res.status, 200);
  }
  const ids = batch.map((m) => m.messageId);
  await rowsFor(ids);
  await new Promise((r) => setTimeout(r, 1500)); // let every queued copy land
  const rows = await spur.rows(
    `SELECT message_id, COUNT(*) AS n FROM events WHERE message_id IN (?,?,?) GROUP BY message_id`,
    ...ids,
  );
  assert.deepEqual(
    rows.map((r) => r.n),
    [1, 1, 1],
  );
});

test("clock skew is corrected: timestamp = receivedAt - (sentAt - timestamp)", async () => {
  // The client's clock runs 1 hour fast; the event happened 10 s before it was sent.
  const sentAt = new Date(Date.now() + 3600_000);
  const m = track({ timestamp: new Date(sentAt.getTime() - 10_000).toISOString() });
  const res = await spur.post(
    "/v1/batch",
    { batch: [m], sentAt: sentAt.toISOString() },
    basic(DEMO_WRITE_KEY),
  );
  assert.equal(res.status, 200);
  const [row] = await rowsFor([m.messageId]);
  const skewFixed = Date.parse(row.timestamp);
  const received = Date.parse(row.received_at);
  assert.equal(received - skewFixed, 10_000);
  assert.equal(Date.parse(row.original_timestamp), Date.parse(m.timestamp));
  assert.equal(Date.parse(row.sent_at), sentAt.getTime());
});

test("IP is truncated before storage, UA parsed, referrer and UTM extracted", async () => {
  const ua =
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36";
  const m = track({
    context: {
      ip: "198.51.100.77",
      userAgent: ua,
      page: {
        url: "https://shop.example/p?utm_source=news&utm_medium=email&utm_campaign=fall",
        referrer: "https://www.google.com/search?q=x",
      },
    },
  });
  const res = await spur.post(
    "/v1/batch",
    { batch: [m] },
    { ...basic(DEMO_WRITE_KEY), "CF-Connecting-IP": "203.0.113.45" },
  );
  assert.equal(res.status, 200);
  const [row] = await rowsFor([m.messageId]);
  assert.ok(
    !row.context.includes("203.0.113.45") && !row.context.includes("198.51.100.77"),
    "no raw IP stored",
  );
  const ctx = JSON.parse(row.context);
  // A client-supplied context.ip wins over the connection's address (Segment semantics).
  assert.equal(ctx.ip, "198.51.100.0");
  assert.deepEqual(ctx.campaign, { source: "news", medium: "email", name: "fall" });
  assert.equal(ctx.spur.referrerDomain, "google.com");
  assert.equal(ctx.spur.source, "demo");
  assert.equal(ctx.spur.bot, false);
  assert.match(JSON.stringify(ctx.spur.ua), /Chrome/);
  assert.match(JSON.stringify(ctx.spur.ua), /Windows/);

  const m4 = track();
  await spur.post(
    "/v1/batch",
    { batch: [m4] },
    { ...basic(DEMO_WRITE_KEY), "CF-Connecting-IP": "203.0.113.45" },
  );
  const [row4] = await rowsFor([m4.messageId]);
  assert.equal(JSON.parse(row4.context).ip, "203.0.113.0");
  assert.ok(!row4.context.includes("203.0.113.45"));

  const m6 = track();
  await spur.post(
    "/v1/batch",
    { batch: [m6] },
    { ...basic(DEMO_WRITE_KEY), "CF-Connecting-IP": "2001:db8:85a3:1234:5678:8a2e:370:7334" },
  );
  const [row6] = await rowsFor([m6.messageId]);
  assert.equal(JSON.parse(row6.context).ip, "2001:db8:85a3::");

  // Not even a rejected message keeps a raw client IP in its bad row.
  const bad = { type: "track", userId: "u", messageId: uid("badip"), context: { ip: "198.51.100.99" } };
  await spur.post("/v1/batch", { batch: [bad] }, basic(DEMO_WRITE_KEY));
  const [badRow] = await badRowsFor((r) => r.message_id === bad.messageId);
  assert.equal(JSON.parse(badRow.payload).context.ip, "198.51.100.0");
  assert.ok(!badRow.payload.includes("198.51.100.99"));
});

test("admin endpoints require the bearer token", async () => {
  let res = await fetch(`${spur.url}/v1/bad-rows`);
  assert.equal(res.status, 401);
  res = await fetch(`${spur.url}/v1/bad-rows`, { headers: { Authorization: "Bearer wrong" } });
  assert.equal(res.status, 401);
  assert.equal((await res.json()).reason, "unauthorized");
  res = await spur.admin("/v1/bad-rows");
  assert.equal(res.status, 200);
  assert.ok(Array.isArray((await res.json()).rows));
});

test("tracking plan block mode rejects to bad rows; fixing the plan and replaying stores them", async () => {
  const plan = {
    mode: "block",
    unknownEvents: "allow",
    events: {
      "Plan Checked": {
        properties: { type: "object", required: ["sku"], properties: { sku: { type: "string" } } },
      },
    },
  };
  let res = await spur.admin("/v1/tracking-plan", { method: "PUT", body: JSON.stringify(plan) });
  assert.equal(res.status, 200);
  const m = track({ event: "Plan Checked", properties: { sku: 42 } });
  res = await spur.post(
    "/v1/batch",
    { batch: [m] },
    { ...basic(DEMO_WRITE_KEY), "CF-Connecting-IP": "203.0.113.45" },
  );
  const out = await res.json();
  assert.equal(out.accepted, 0);
  assert.equal(out.rejected[0].reason, "plan_violation");
  assert.match(out.rejected[0].detail, /sku/);
  const [bad] = await badRowsFor((r) => r.message_id === m.messageId);

  // A bad plan is refused with a clear error and changes nothing.
  res = await spur.admin("/v1/tracking-plan", { method: "PUT", body: JSON.stringify({ mode: "sometimes" }) });
  assert.equal(res.status, 400);
  assert.equal((await res.json()).reason, "invalid_config");

  plan.events["Plan Checked"].properties.properties.sku = { type: ["string", "integer"] };
  res = await spur.admin("/v1/tracking-plan", { method: "PUT", body: JSON.stringify(plan) });
  assert.equal(res.status, 200);
  res = await spur.admin("/v1/bad-rows/replay", { method: "POST", body: JSON.stringify({ ids: [bad.id] }) });
  assert.equal(res.status, 200);
  assert.equal((await res.json()).replayed, 1);
  const [row] = await rowsFor([m.messageId]);
  assert.equal(JSON.parse(row.properties).sku, 42);
  // The replay enriches as the original request did (its kept facts), without a raw IP.
  const ctx = JSON.parse(row.context);
  assert.equal(ctx.ip, "203.0.113.0");
  assert.equal(ctx.spur.writeKeySource, "replay");
  assert.ok(!bad.request.includes("203.0.113.45"));
  assert.ok((await spur.rows("SELECT replayed_at FROM bad_rows WHERE id = ?", bad.id))[0].replayed_at);
});

test("R2 archive holds accepted events as gzip NDJSON partitioned by hour", async () => {
  const m = track();
  await spur.post("/v1/batch", { batch: [m] }, basic(DEMO_WRITE_KEY));
  await rowsFor([m.messageId]);
  const bucket = spur.env.ARCHIVE;
  const d = new Date();
  const prefix = `events/dt=${d.toISOString().slice(0, 10)}/hour=${String(d.getUTCHours()).padStart(2, "0")}/`;
  const found = await eventually(async () => {
    const list = await bucket.list({ prefix });
    for (const o of list.objects) {
      const obj = await bucket.get(o.key);
      const { gunzipSync } = await import("node:zlib");
      const text = gunzipSync(Buffer.from(await obj.arrayBuffer())).toString();
      const line = text
        .split("\n")
        .filter(Boolean)
        .map((l) => JSON.parse(l))
        .find((e) => e.messageId === m.messageId);
      if (line) return line;
    }
    return null;
  });
  assert.ok(found, "event archived");
  assert.equal(found.event, "Test Event");
});
