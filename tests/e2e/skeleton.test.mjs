// Issue 2: the thin end-to-end path. Real Chromium loads the demo shop from the real Worker,
// the tracker sends a page view, a click and a custom event, and they are in D1.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startSpurWithChromium, closeAll, eventually } from "../helpers/spur.mjs";

let spur, browser;
before(async () => ({ spur, browser } = await startSpurWithChromium()));
after(() => closeAll(browser, spur));

test("GET /healthz answers 200", async () => {
  const res = await fetch(`${spur.url}/healthz`);
  assert.equal(res.status, 200);
});

test("malformed JSON is a 400 with a JSON reason, not a crash", async () => {
  const res = await fetch(`${spur.url}/v1/batch`, { method: "POST", body: "{not json" });
  assert.equal(res.status, 400);
  const body = await res.json();
  assert.equal(body.reason, "malformed_json");
  // The Worker still serves after the bad request.
  assert.equal((await fetch(`${spur.url}/healthz`)).status, 200);
});

test("page view, click and spur.track from the demo page land in D1", async () => {
  const page = await browser.newPage();
  const errors = [];
  page.on("pageerror", (e) => errors.push(e));
  await page.goto(`${spur.url}/`);
  await page.waitForFunction(() => typeof window.spur?.track === "function" && !Array.isArray(window.spur));
  await page.click("#buy");
  await page.evaluate(() => window.spur.track("Signed Up", { plan: "pro" }));
  await page.evaluate(() => window.spur.flush());

  // The shop's #buy also tracks "Added To Cart"; wait for the three this test is about.
  const rows = await eventually(async () => {
    const r = await spur.rows("SELECT * FROM events ORDER BY ts_ms");
    const has = (f) => r.some(f);
    return has((x) => x.type === "page") &&
      has((x) => x.event === "Element Clicked") &&
      has((x) => x.event === "Signed Up")
      ? r
      : null;
  });
  assert.ok(rows, "the page view, the click and the custom event arrive in D1");
  assert.deepEqual(errors, []);

  const pageView = rows.find((r) => r.type === "page");
  assert.ok(pageView, "a page view is stored");
  const pvProps = JSON.parse(pageView.properties);
  assert.equal(pvProps.path, "/");
  assert.equal(pvProps.title, "Spur shop");
  assert.equal(JSON.parse(pageView.context).page.url, `${spur.url}/`);

  const click = rows.find((r) => r.type === "track" && r.event === "Element Clicked");
  assert.ok(click, "the click is stored");
  const clickProps = JSON.parse(click.properties);
  assert.equal(clickProps.tag, "button");
  assert.equal(clickProps.id, "buy");
  assert.equal(clickProps.text, "Buy now");
  assert.equal(clickProps.selector, "button#buy");

  const custom = rows.find((r) => r.event === "Signed Up");
  assert.ok(custom, "the custom event is stored");
  assert.deepEqual(JSON.parse(custom.properties), { plan: "pro" });

  // One browser, one anonymous id, distinct message ids, Segment-spec context.
  const anon = new Set(rows.map((r) => r.anonymous_id));
  assert.equal(anon.size, 1);
  assert.match([...anon][0], /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  assert.equal(new Set(rows.map((r) => r.message_id)).size, rows.length);
  const ctx = JSON.parse(custom.context);
  assert.equal(ctx.library.name, "spur.js");
  assert.match(ctx.userAgent, /Chrome/);
  assert.ok(Date.parse(custom.timestamp) > Date.now() - 60_000);
  await page.close();
});
