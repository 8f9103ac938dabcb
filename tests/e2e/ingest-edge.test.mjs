// Issue 3: geo from a custom request.cf (as Cloudflare would supply it) and rate limiting.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { readFileSync, utimesSync } from "node:fs";
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
  const res = await spur.post(
    "/v1/track",
    { event: "Geo", userId: "g1", messageId },
    { ...auth, "CF-Connecting-IP": "192.0.2.9" },
  );
  assert.equal(res.status, 200);
  const row = await eventually(
    async () => (await spur.rows("SELECT context FROM events WHERE message_id = ?", messageId))[0],
  );
  assert.ok(row, "stored");
  const geo = JSON.parse(row.context).geo;
  assert.equal(geo.country, "DE");
  assert.equal(geo.city, "Berlin");
  assert.equal(geo.timezone, "Europe/Berlin");
  assert.equal(geo.colo, "FRA");
  assert.equal(geo.asn, 3320);
});

test("over the per-client limit the edge answers 429 with Retry-After", async () => {
  // The limiter counts in fixed windows (wrangler.toml [[ratelimits]]), so requests that
  // straddle a window boundary may need up to twice the limit before one is refused. Keep
  // sending until the 429: any run of 4×limit+1 requests (faster than the limit per period,
  // ~25 requests/s here) must meet one, whatever the clock, and no test waits on a window.
  const { limit, period } = ingestLimit();
  const headers = { ...auth, "CF-Connecting-IP": "198.51.100.200" };
  let limited = null;
  let sent = 0;
  while (!limited && sent < 4 * limit + 1) {
    // 16 at a time: the order within a wave does not matter, only that one is refused.
    const wave = Math.min(16, 4 * limit + 1 - sent);
    const answers = await Promise.all(
      Array.from({ length: wave }, () => spur.post("/v1/batch", { batch: [] }, headers)),
    );
    sent += wave;
    for (const res of answers) {
      if (res.status === 429 && !limited) limited = res;
      else {
        assert.ok(res.status === 200 || res.status === 429, `status ${res.status}`);
        await res.body?.cancel();
      }
    }
  }
  assert.ok(limited, `a 429 arrives within ${sent} requests (limit is ${limit} per ${period} s)`);
  assert.equal((await limited.json()).reason, "rate_limited");
  assert.equal(limited.headers.get("retry-after"), String(period));
  // Another client is unaffected.
  const other = await spur.post(
    "/v1/batch",
    { batch: [] },
    { ...auth, "CF-Connecting-IP": "198.51.100.201" },
  );
  assert.equal(other.status, 200);
});

/** The ingest limiter's `simple = { limit, period }` from wrangler.toml (one source of truth). */
function ingestLimit() {
  const toml = readFileSync(new URL("../../wrangler.toml", import.meta.url), "utf8");
  const m = /name = "INGEST_LIMITER"[\s\S]*?simple = \{ limit = (\d+), period = (\d+) \}/.exec(toml);
  assert.ok(m, "wrangler.toml has the INGEST_LIMITER binding");
  return { limit: Number(m[1]), period: Number(m[2]) };
}
