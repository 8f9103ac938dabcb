// Issue 3: existing Segment and RudderStack SDKs, pointed at Spur, work unchanged.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { Analytics } from "@segment/analytics-node";
import RudderAnalytics from "@rudderstack/rudder-sdk-node";
import { startSpur, eventually, DEMO_WRITE_KEY } from "../helpers/spur.mjs";

let spur;
before(async () => {
  spur = await startSpur();
});
after(async () => {
  await spur?.close();
});

const rowsOf = (userId, n) =>
  eventually(
    async () => {
      const rows = await spur.rows("SELECT * FROM events WHERE user_id = ? ORDER BY ts_ms, type", userId);
      return rows.length >= n ? rows : null;
    },
    { timeoutMs: 15_000 },
  );

test("@segment/analytics-node (Basic auth, gzip-free batch) is stored field by field", async () => {
  const analytics = new Analytics({
    writeKey: DEMO_WRITE_KEY,
    host: spur.url,
    path: "/v1/batch",
    flushAt: 3,
    maxRetries: 1,
  });
  const errors = [];
  analytics.on("error", (e) => errors.push(e));
  const userId = `seg-${Date.now()}`;
  analytics.identify({ userId, traits: { email: "ada@example.com", plan: "pro" } });
  analytics.track({
    userId,
    event: "Order Completed",
    properties: { order_id: "o-1", total: 99.5, currency: "EUR" },
  });
  analytics.page({ userId, name: "Checkout", properties: { path: "/checkout" } });
  await analytics.closeAndFlush({ timeout: 10_000 });
  assert.deepEqual(errors, []);

  const rows = await rowsOf(userId, 3);
  assert.ok(rows, "all three calls stored");
  const byType = Object.fromEntries(rows.map((r) => [r.type, r]));
  assert.deepEqual(JSON.parse(byType.identify.traits), { email: "ada@example.com", plan: "pro" });
  assert.equal(byType.track.event, "Order Completed");
  assert.deepEqual(JSON.parse(byType.track.properties), { order_id: "o-1", total: 99.5, currency: "EUR" });
  assert.equal(byType.page.name, "Checkout");
  const ctx = JSON.parse(byType.track.context);
  assert.equal(ctx.library.name, "@segment/analytics-node");
  assert.equal(ctx.spur.writeKeySource, "basic");
  assert.ok(byType.track.sent_at, "sentAt kept");
  for (const r of rows) assert.match(r.message_id, /\S{8,}/);
});

test("@rudderstack/rudder-sdk-node is stored", async () => {
  const client = new RudderAnalytics(DEMO_WRITE_KEY, {
    dataPlaneUrl: spur.url,
    flushAt: 2,
    flushInterval: 200,
    maxRetries: 1,
  });
  const userId = `rs-${Date.now()}`;
  await new Promise((resolve, reject) => {
    client.track({ userId, event: "Product Viewed", properties: { product_id: "p-9", price: 12 } });
    client.identify({ userId, traits: { name: "Grace" } });
    client.flush((err) => (err ? reject(err) : resolve()));
  });
  const rows = await rowsOf(userId, 2);
  assert.ok(rows, "both calls stored");
  const track = rows.find((r) => r.type === "track");
  assert.equal(track.event, "Product Viewed");
  assert.deepEqual(JSON.parse(track.properties), { product_id: "p-9", price: 12 });
  assert.match(JSON.parse(track.context).library.name, /analytics-node|rudder/i);
  const identify = rows.find((r) => r.type === "identify");
  assert.deepEqual(JSON.parse(identify.traits), { name: "Grace" });
});
