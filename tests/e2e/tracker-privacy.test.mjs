// Issue 4: consent modes, GPC, cookieless mode and the no-WebAssembly fallback, in real
// Chromium against the real Worker. "Nothing stored" is checked in every client-side store
// (localStorage, sessionStorage, cookies, IndexedDB) and "nothing sent" on the wire and in D1.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startSpurWithChromium, closeAll } from "../helpers/spur.mjs";
import {
  pageHtml,
  serveTestPages,
  trackerReady,
  eventsWhere,
  recordBatches,
  clientStorage,
  sleep,
} from "../helpers/tracker.mjs";

let spur, browser;
before(async () => ({ spur, browser } = await startSpurWithChromium()));
after(() => closeAll(browser, spur));

const BODY = `<button id="buy">Buy</button><button id="tag" data-spur-event="Tagged">Tag</button>`;
const EMPTY = { local: [], session: [], indexedDB: [], documentCookie: "", cookies: [] };
const byPath = (path) => `json_extract(context, '$.page.path') = '${path}'`;

/** A context whose pages report navigator.globalPrivacyControl = true. */
async function gpcContext() {
  const context = await browser.newContext();
  await context.addInitScript(() =>
    Object.defineProperty(Navigator.prototype, "globalPrivacyControl", { get: () => true }),
  );
  return context;
}

/** Loads `path`, clicks, tracks and flushes; returns the page. */
async function visit(context, path) {
  const page = await context.newPage();
  await page.goto(`${spur.url}${path}`);
  await trackerReady(page);
  await page.click("#buy");
  await page.click("#tag");
  await page.evaluate(() => spur.identify("u-1", { plan: "pro" }).track("Custom").flush());
  return page;
}

test("GPC on: nothing is sent or stored (the default honours it)", async () => {
  const context = await gpcContext();
  await serveTestPages(context, pageHtml({ body: BODY }));
  const batches = recordBatches(context);
  const page = await visit(context, "/__test/gpc");
  await sleep(1_500);
  assert.equal(batches.length, 0, "no request");
  assert.deepEqual(await clientStorage(page), EMPTY);
  assert.equal((await spur.rows(`SELECT 1 FROM events WHERE ${byPath("/__test/gpc")}`)).length, 0);
  await context.close();
});

test("GPC on with gpc: false configured: tracking goes on", async () => {
  const context = await gpcContext();
  await serveTestPages(context, pageHtml({ config: { gpc: false }, body: BODY }));
  await visit(context, "/__test/gpc-ignored");
  const rows = await eventsWhere(spur, byPath("/__test/gpc-ignored"), 5);
  assert.deepEqual(rows.map((r) => r.event ?? r.type).toSorted(), [
    "Custom",
    "Element Clicked",
    "Tagged",
    "identify",
    "page",
  ]);
  await context.close();
});

test("consent pending: no storage is written and nothing sent until optIn, then all is sent", async () => {
  const context = await browser.newContext();
  await serveTestPages(context, pageHtml({ config: { consent: "pending" }, body: BODY }));
  const batches = recordBatches(context);
  const page = await visit(context, "/__test/pending");
  await page.evaluate(() => dispatchEvent(new Event("pagehide"))); // even a hide sends nothing
  await sleep(1_500);
  assert.deepEqual(await clientStorage(page), EMPTY);
  assert.equal(batches.length, 0);

  await page.evaluate(() => spur.optIn().track("After Opt In"));
  const rows = await eventsWhere(spur, byPath("/__test/pending"), 6);
  assert.deepEqual(rows.map((r) => r.event ?? r.type).toSorted(), [
    "After Opt In",
    "Custom",
    "Element Clicked",
    "Tagged",
    "identify",
    "page",
  ]);
  assert.ok(rows.every((r) => r.anonymous_id === rows[0].anonymous_id));
  const stored = (await clientStorage(page)).local;
  assert.ok(stored.includes("spur.aid") && stored.includes("spur.consent"), stored.join());
  await context.close();
});

test("optOut: listeners go, stored data is deleted, nothing more is sent; the choice sticks", async () => {
  const context = await browser.newContext();
  await serveTestPages(context, pageHtml({ body: BODY }));
  const page = await visit(context, "/__test/optout");
  await eventsWhere(spur, byPath("/__test/optout"), 5);
  await page.evaluate(() => spur.optOut());
  const batches = recordBatches(context);
  await page.click("#buy");
  await page.evaluate(() => spur.track("After Opt Out").flush());
  await page.reload();
  await trackerReady(page);
  await page.evaluate(() => spur.track("After Reload").flush());
  await sleep(1_500);
  assert.equal(batches.length, 0);
  assert.deepEqual((await clientStorage(page)).local, ["spur.consent"]);
  assert.equal((await spur.rows(`SELECT 1 FROM events WHERE ${byPath("/__test/optout")}`)).length, 5);
  await context.close();
});

test("cookieless: events are sent and nothing is written to any store", async () => {
  const context = await browser.newContext();
  await serveTestPages(context, pageHtml({ config: { cookieless: true }, body: BODY }));
  const page = await visit(context, "/__test/cookieless");
  const rows = await eventsWhere(spur, byPath("/__test/cookieless"), 5);
  assert.equal(rows.length, 5);
  assert.deepEqual(await clientStorage(page), EMPTY);
  await context.close();
});

test("a CSP without 'wasm-unsafe-eval': the JS fallback still delivers queued and later calls", async () => {
  const context = await browser.newContext();
  await serveTestPages(context, pageHtml({ body: BODY }), {
    "Content-Security-Policy": "default-src 'self'; script-src 'self' 'unsafe-inline'",
  });
  await context.addInitScript(() => {
    window.violations = [];
    addEventListener("securitypolicyviolation", (e) => violations.push(e.blockedURI));
  });
  const page = await context.newPage();
  await page.goto(`${spur.url}/__test/csp`);
  await page.evaluate(() => spur.track("Queued Before Load"));
  await trackerReady(page);
  assert.equal(await page.evaluate(() => spur.fallback), true, "the fallback is in use");
  await page.evaluate(() => spur.identify("u-csp").track("After Load", { n: 1 }).flush());
  const rows = await eventsWhere(spur, byPath("/__test/csp"), 4);
  assert.deepEqual(rows.map((r) => r.event ?? r.type).toSorted(), [
    "After Load",
    "Queued Before Load",
    "identify",
    "page",
  ]);
  const after = rows.find((r) => r.event === "After Load");
  assert.equal(after.user_id, "u-csp");
  assert.deepEqual(JSON.parse(after.properties), { n: 1 });
  assert.equal(JSON.parse(after.context).library.name, "spur.js");
  assert.deepEqual(await page.evaluate(() => violations), ["wasm-eval"], "the browser refused the wasm");
  await context.close();
});
