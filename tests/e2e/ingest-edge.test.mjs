// Issue 3: geo from a custom request.cf (as Cloudflare would supply it) and rate limiting.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { utimesSync } from "node:fs";
import { startSpur, eventually, DEMO_WRITE_KEY } from "../helpers/spur.mjs";

const cfPath = fileURLToPath(new URL("../fixtures/cf-berlin.json", import.meta.url));
let spur;
before(async () => {
  // Miniflare reads request.cf from this file when it is younger than 30 days.
  const now = new Date();
  utimesSync(cfPath, now, now);
  process.env.CLOUDFLARE_CF_FETCH_PATH = cfPath;
  process.env.CLOUDFLARE_CF_FETCH_ENABLED = "true";
  spur = await startSpur();
});
after(async () => {
  await spur?.close();
  delete process.env.CLOUDFLARE_CF_FETCH_PATH;
  process.env.CLOUDFLARE_CF_FETCH_ENABLED = "false";
});

const auth = { Authorization: `Basic ${Buffer.from(`${DEMO_WRITE_KEY}:`).toString("base64")}` };

test("geo comes from request.cf", async () => {
  const messageId = `geo-${Date.now()}`;
  const res = await spur.post("/v1/track", { event: "Geo", userId: "g1", messageId }, { ...auth, "CF-Connecting-IP": "192.0.2.9" });
  assert.equal(res.status, 200);
  const row = await eventually(async () => (await spur.rows("SELECT context FROM events WHERE message_id = ?", messageId))[0]);
  assert.ok(row, "stored");
  const geo = JSON.parse(row.context).geo;
  assert.equal(geo.country, "DE");
  assert.equal(geo.city, "Berlin");
  assert.equal(geo.timezone, "Europe/Berlin");
  assert.equal(geo.colo, "FRA");
  assert.equal(geo.asn, 3320);
});

test("over the per-client limit the edge answers 429 with Retry-After", async () => {
  const headers = { ...auth, "CF-Connecting-IP": "198.51.100.200" };
  let limited = null;
  for (let i = 0; i < 1200 && !limited; i++) {
    const res = await spur.post("/v1/batch", { batch: [] }, headers);
    if (res.status === 429) limited = res;
    else assert.equal(res.status, 200);
  }
  assert.ok(limited, "a 429 arrives within 1,200 requests (limit is 1,000 per minute)");
  assert.equal((await limited.json()).reason, "rate_limited");
  assert.equal(limited.headers.get("retry-after"), "60");
  // Another client is unaffected.
  const other = await spur.post("/v1/batch", { batch: [] }, { ...auth, "CF-Connecting-IP": "198.51.100.201" });
  assert.equal(other.status, 200);
});
