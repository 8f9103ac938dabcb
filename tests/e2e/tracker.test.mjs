// Issue 4: the browser tracker's API and autocapture, in real Chromium against the real
// Worker; every assertion reads what landed in D1.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startSpurWithChromium, closeAll } from "../helpers/spur.mjs";
import { pageHtml, serveTestPages, trackerReady, eventsWhere, sleep } from "../helpers/tracker.mjs";

let spur, browser;
before(async () => ({ spur, browser } = await startSpurWithChromium()));
after(() => closeAll(browser, spur));

const byPath = (prefix) => `json_extract(context, '$.page.path') LIKE '${prefix}%'`;

test("SPA navigations give exactly the expected page views", async () => {
  const context = await browser.newContext();
  await serveTestPages(context, pageHtml({ config: { clicks: false } }));
  const page = await context.newPage();
  await page.goto(`${spur.url}/__test/spa`);
  await trackerReady(page);
  await page.evaluate(async () => {
    const tick = () => new Promise((r) => setTimeout(r, 20));
    const after = (type, go) =>
      new Promise((r) => {
        addEventListener(type, r, { once: true });
        go();
      });
    history.pushState({}, "", "/__test/spa/a"); // view
    await tick();
    history.replaceState({ s: 1 }, "", location.href); // same URL: no view
    history.replaceState({}, "", "/__test/spa/a?x=1"); // view
    history.pushState({}, "", "/__test/spa/b"); // view
    history.pushState({}, "", "/__test/spa/b"); // same URL: no view
    await tick();
    await after("popstate", () => history.back()); // back to the same /b: no view
    await after("popstate", () => history.back()); // back to /a?x=1: view
    await after("hashchange", () => (location.hash = "h")); // popstate + hashchange: one view
    dispatchEvent(new PageTransitionEvent("pageshow", { persisted: false })); // not a restore
    dispatchEvent(new PageTransitionEvent("pageshow", { persisted: true })); // bfcache restore: view
    await tick();
    spur.flush();
  });
  const base = `${spur.url}/__test/spa`;
  const expected = [
    base,
    `${base}/a`,
    `${base}/a?x=1`,
    `${base}/b`,
    `${base}/a?x=1`,
    `${base}/a?x=1#h`,
    `${base}/a?x=1#h`,
  ];
  let rows = await eventsWhere(spur, `type = 'page' AND ${byPath("/__test/spa")}`, expected.length);
  await sleep(1_500); // anything extra would have been sent by now
  rows = await spur.rows(`SELECT * FROM events WHERE type = 'page' AND ${byPath("/__test/spa")}`);
  const urls = rows.map((r) => JSON.parse(r.properties).url);
  assert.deepEqual(urls.toSorted(), expected.toSorted());
  // An SPA view's referrer is the previous view.
  const b = rows.find((r) => JSON.parse(r.properties).url === `${base}/b`);
  assert.equal(JSON.parse(b.properties).referrer, `${base}/a?x=1`);
  assert.equal(JSON.parse(b.context).page.referrer, `${base}/a?x=1`);
  await context.close();
});

test("clicks and data-spur-event tags are captured; typed input never is", async () => {
  const context = await browser.newContext();
  const body = `<button id="buy" class="btn primary"> Buy <b>now</b></button>
    <a id="docs" href="#docs">Docs</a>
    <button id="tagged" data-spur-event="Plan Chosen" data-spur-plan="pro" data-spur-seats="3">Pro</button>
    <input id="q" type="text" role="button" value="prefilled">
    <p id="plain">Not interactive</p>`;
  await serveTestPages(context, pageHtml({ config: { pageviews: false }, body }));
  const page = await context.newPage();
  await page.goto(`${spur.url}/__test/clicks`);
  await trackerReady(page);
  await page.fill("#q", "secret typed text");
  for (const sel of ["#buy b", "#docs", "#tagged", "#q", "#plain"]) await page.click(sel);
  await page.evaluate(() => spur.flush());
  const rows = await eventsWhere(spur, byPath("/__test/clicks"), 4);
  await sleep(1_200);
  const all = await spur.rows(`SELECT * FROM events WHERE ${byPath("/__test/clicks")}`);
  assert.equal(all.length, 4, "buy, docs, tagged and the role=button input; not the paragraph");
  const props = (sel) =>
    JSON.parse(all.find((r) => JSON.parse(r.properties).selector === sel)?.properties ?? "null");
  assert.deepEqual(props("button#buy"), {
    tag: "button",
    id: "buy",
    classes: "btn primary",
    text: "Buy now",
    selector: "button#buy",
  });
  assert.equal(props("a#docs").href, "#docs");
  const tagged = all.find((r) => r.event === "Plan Chosen");
  assert.deepEqual(JSON.parse(tagged.properties), { plan: "pro", seats: "3" });
  assert.ok(!JSON.stringify(all).includes("secret") && !JSON.stringify(all).includes("prefilled"));
  assert.ok(rows.length >= 4);
  await context.close();
});

test("identify, alias, group and reset produce Segment-spec rows; identity survives reloads", async () => {
  const context = await browser.newContext();
  await serveTestPages(context, pageHtml({ config: { clicks: false } }));
  const page = await context.newPage();
  await page.goto(`${spur.url}/__test/identity?utm_source=news&utm_medium=email&utm_campaign=spring%20sale`);
  await trackerReady(page);
  const anon = await page.evaluate(() => localStorage.getItem("spur.aid"));
  await page.evaluate(() => {
    spur.identify("user-1", { email: "a@example.com" });
    spur.track("Plan Viewed", { plan: "pro", price: 12.5, tags: ["a"] });
  });
  await page.reload();
  await trackerReady(page);
  await page.evaluate(() => {
    spur.track("After Reload");
    spur.alias("user-2");
    spur.group("team-1", { name: "Team" });
    spur.reset();
    spur.track("After Reset");
    spur.flush();
  });
  const rows = await eventsWhere(spur, byPath("/__test/identity"), 8);
  const one = (pred) => rows.find(pred);
  const identify = one((r) => r.type === "identify");
  assert.equal(identify.user_id, "user-1");
  assert.equal(identify.anonymous_id, anon);
  assert.deepEqual(JSON.parse(identify.traits), { email: "a@example.com" });
  const viewed = one((r) => r.event === "Plan Viewed");
  assert.equal(viewed.user_id, "user-1");
  assert.deepEqual(JSON.parse(viewed.properties), { plan: "pro", price: 12.5, tags: ["a"] });
  const reloaded = one((r) => r.event === "After Reload");
  assert.equal(reloaded.user_id, "user-1", "user id persisted across the reload");
  assert.equal(reloaded.anonymous_id, anon, "anonymous id persisted across the reload");
  const alias = one((r) => r.type === "alias");
  assert.equal(alias.user_id, "user-2");
  assert.equal(alias.previous_id, "user-1");
  const group = one((r) => r.type === "group");
  assert.equal(group.group_id, "team-1");
  assert.deepEqual(JSON.parse(group.traits), { name: "Team" });
  const afterReset = one((r) => r.event === "After Reset");
  assert.equal(afterReset.user_id, null);
  assert.notEqual(afterReset.anonymous_id, anon);

  const ctx = JSON.parse(viewed.context);
  assert.deepEqual(ctx.campaign, { source: "news", medium: "email", name: "spring sale" });
  assert.equal(ctx.library.name, "spur.js");
  assert.match(ctx.library.version, /^\d+\.\d+\.\d+/);
  assert.equal(ctx.page.path, "/__test/identity");
  assert.equal(ctx.page.title, "Spur test");
  assert.equal(typeof ctx.sessionId, "number");
  assert.equal(JSON.parse(reloaded.context).sessionId, ctx.sessionId, "one session across the reload");
  assert.match(ctx.locale, /^[a-z]{2}/i);
  assert.equal(typeof ctx.timezone, "string");
  assert.ok(ctx.screen.width > 0 && ctx.screen.height > 0 && ctx.screen.density > 0);
  assert.match(ctx.userAgent, /Chrome/);
  assert.equal(new Set(rows.map((r) => r.message_id)).size, rows.length);
  await context.close();
});

test("a .wasm served with a wrong MIME type still runs the wasm tracker", async () => {
  const context = await browser.newContext();
  await serveTestPages(context, pageHtml({ config: { clicks: false } }));
  await context.route(/spur_tracker_bg\.wasm$/, async (route) => {
    const res = await route.fetch();
    route.fulfill({
      response: res,
      headers: { ...res.headers(), "content-type": "application/octet-stream" },
    });
  });
  const page = await context.newPage();
  await page.goto(`${spur.url}/__test/mime`);
  await trackerReady(page);
  assert.equal(await page.evaluate(() => spur.fallback), undefined, "not the JS fallback");
  await page.evaluate(() => spur.track("Wrong Mime").flush());
  assert.equal((await eventsWhere(spur, "event = 'Wrong Mime'", 1)).length, 1);
  await context.close();
});
