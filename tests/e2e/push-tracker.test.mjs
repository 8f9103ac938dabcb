// Issue 12, the tracker's Web Push API in real headless Chromium: spur.push.state/subscribe/
// unsubscribe live in their own chunk (/tracker/push.js), fetched on first use, never by the
// default load. What headless Chromium offline can and cannot do (found 2026-11-30):
// PushManager.subscribe in a Playwright context (an off-the-record profile) rejects at once with
// "AbortError: Registration failed - permission denied" ("Chrome currently does not support the
// Push API in incognito mode"); in a persistent profile it waits on the unreachable FCM push
// service (still pending after 90 s). No browser subscription can be made here, and none is
// faked: subscribe() is tested up to the browser's refusal (permission, service worker, VAPID
// key, the clear error, nothing stored), and the chunk's own request (`save`, what subscribe()
// sends after PushManager.subscribe) is tested with a subscription made outside the browser
// (real P-256 keys, tests/helpers/push.mjs), stored and then deleted by unsubscribe's route.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startSpurWithChromium, closeAll, eventually, DEMO_WRITE_KEY } from "../helpers/spur.mjs";
import { pageHtml, serveTestPages, trackerReady, eventsWhere } from "../helpers/tracker.mjs";
import { browserKeys } from "../helpers/push.mjs";

// The dev-only key of .dev.vars.example.
const VAPID_PRIVATE_KEY = "TZOL60MdzG_t6KuozHHkoDh0zgqRcvvF8RQJmiCPptQ";

let spur, browser;
before(
  async () =>
    ({ spur, browser } = await startSpurWithChromium({
      secrets: { VAPID_PRIVATE_KEY, VAPID_SUBJECT: "mailto:push-tracker@spur.invalid" },
    })),
);
after(() => closeAll(browser, spur));

/** A context serving the snippet page at /__test/*, recording every path requested. */
async function open(path, config = {}) {
  const context = await browser.newContext();
  await serveTestPages(context, pageHtml({ config }));
  const requests = [];
  context.on("request", (r) => requests.push({ method: r.method(), path: new URL(r.url()).pathname }));
  const page = await context.newPage();
  await page.goto(`${spur.url}${path}`);
  await trackerReady(page);
  const paths = () => requests.map((r) => r.path);
  return { context, page, requests, paths };
}

test("the default load never fetches push.js; spur.push.state() does, once; spur.push([..]) still queues", async () => {
  const { context, page, paths } = await open("/__test/push-lazy");
  await page.evaluate(() => spur.track("Before Push").flush());
  assert.ok(await eventually(() => paths().includes("/v1/batch"), { message: "the first batch" }));
  assert.ok(paths().includes("/tracker/spur.js"));
  assert.ok(!paths().includes("/tracker/push.js"), `default load: ${paths()}`);

  assert.equal(await page.evaluate(() => spur.push.state()), "prompt");
  assert.equal(paths().filter((p) => p === "/tracker/push.js").length, 1);
  await context.grantPermissions(["notifications"], { origin: spur.url });
  assert.equal(await page.evaluate(() => spur.push.state()), "unsubscribed");
  assert.equal(paths().filter((p) => p === "/tracker/push.js").length, 1, "the module is cached");
  // state() has no side effects: no service worker registered, nothing asked of the edge.
  assert.equal(await page.evaluate(async () => (await navigator.serviceWorker.getRegistrations()).length), 0);
  assert.ok(!paths().some((p) => p.startsWith("/v1/push/") || p === "/spur-sw.js"), `${paths()}`);

  // The snippet's queue method is still callable after load, as the stub's was.
  await page.evaluate(() => {
    spur.push(["track", "Queued Via Push", { n: 1 }], ["flush"]);
  });
  const [row] = await eventsWhere(spur, "event = 'Queued Via Push'", 1);
  assert.deepEqual(JSON.parse(row.properties), { n: 1 });

  // Blocked notifications answer 'denied'.
  const cdp = await context.newCDPSession(page);
  const { targetInfo } = await cdp.send("Target.getTargetInfo");
  await cdp.send("Browser.setPermission", {
    permission: { name: "notifications" },
    setting: "denied",
    origin: spur.url,
    browserContextId: targetInfo.browserContextId,
  });
  assert.equal(await page.evaluate(() => spur.push.state()), "denied");
  assert.equal(
    await page.evaluate(() => spur.push.subscribe().catch((e) => e.message)),
    "spur.push: notifications are blocked for this site",
  );
  await context.close();
});

test("subscribe(): permission, service worker and VAPID key, then the browser's refusal is a clear rejection; nothing stored", async () => {
  const { context, page, requests, paths } = await open("/__test/push-subscribe");
  await context.grantPermissions(["notifications"], { origin: spur.url });
  const anon = await page.evaluate(() => localStorage.getItem("spur.aid"));
  assert.ok(anon);
  const error = await page.evaluate(() =>
    spur.push.subscribe().then(
      (s) => `resolved ${s}`,
      (e) => e.message,
    ),
  );
  // Headless Chromium offline: see the file's comment.
  assert.equal(
    error,
    "spur.push: the browser refused to subscribe (AbortError: Registration failed - permission denied)",
  );
  // Everything before PushManager.subscribe happened for real.
  const scripts = await page.evaluate(async () =>
    (await navigator.serviceWorker.getRegistrations()).map(
      (r) => (r.active || r.installing || r.waiting)?.scriptURL,
    ),
  );
  assert.deepEqual(scripts, [`${spur.url}/spur-sw.js?writeKey=${DEMO_WRITE_KEY}`]);
  assert.ok(paths().includes("/v1/push/vapid-public-key"));
  assert.ok(!requests.some((r) => r.path === "/v1/push/subscriptions"), "nothing posted");
  assert.equal((await spur.rows("SELECT * FROM push_subscriptions WHERE anonymous_id = ?", anon)).length, 0);
  assert.equal(await page.evaluate(() => spur.push.state()), "unsubscribed");
  // With no browser subscription, unsubscribe() asks nothing of the edge.
  assert.equal(await page.evaluate(() => spur.push.unsubscribe()), "unsubscribed");
  assert.ok(!requests.some((r) => r.method === "DELETE"), "no DELETE");
  await context.close();
});

test("the chunk's request stores a subscription for the current visitor and the person after identify; DELETE forgets it", async () => {
  const { context, page } = await open("/__test/push-save");
  const anon = await page.evaluate(() => localStorage.getItem("spur.aid"));
  const ua = browserKeys();
  // A loopback endpoint (http is allowed only on loopback) and real P-256 keys.
  const subscription = {
    endpoint: `http://127.0.0.1:9/push-tracker-${process.pid}-${Date.now()}`,
    expirationTime: null,
    keys: ua.keys,
  };
  const save = (sub) =>
    page.evaluate(async (sub) => {
      const chunk = await import("/tracker/push.js");
      // The loader hands the chunk host.js's storage read; localStorage is what it reads here.
      return chunk
        .save(spur.config, (_, k) => localStorage.getItem(k), sub)
        .then(
          () => "ok",
          (e) => e.message,
        );
    }, sub);
  assert.equal(await save(subscription), "ok");
  const stored = () =>
    spur.rows("SELECT * FROM push_subscriptions WHERE endpoint = ?", subscription.endpoint);
  let [row] = await stored();
  assert.equal(row.anonymous_id, anon);
  assert.equal(row.user_id, null);
  assert.equal(row.p256dh, ua.keys.p256dh);
  assert.equal(row.auth, ua.keys.auth);
  assert.equal(row.write_key, DEMO_WRITE_KEY);

  // After identify the same endpoint moves to the person (subscribe() again re-saves it).
  await page.evaluate(() => spur.identify("push-tracker-user"));
  assert.equal(await save(subscription), "ok");
  [row] = await stored();
  assert.equal(row.user_id, "push-tracker-user");
  assert.equal(row.anonymous_id, anon);

  // An invalid subscription: the edge's reason reaches the message.
  assert.match(
    await save({ ...subscription, keys: { ...ua.keys, auth: "AAAA" } }),
    /^spur\.push: the edge refused the subscription: HTTP 400 invalid_push_subscription/,
  );

  // unsubscribe()'s request to the edge, as the chunk sends it.
  const res = await page.evaluate(async (endpoint) => {
    const r = await fetch("/v1/push/subscriptions", {
      method: "DELETE",
      headers: { "Content-Type": "text/plain" },
      body: JSON.stringify({ writeKey: spur.config.writeKey, endpoint }),
    });
    return r.json();
  }, subscription.endpoint);
  assert.deepEqual(res, { ok: true, deleted: true });
  assert.equal((await stored()).length, 0);
  await context.close();
});

test("no stored visitor (cookieless): subscribe() refuses before any prompt", async () => {
  const { context, page, paths } = await open("/__test/push-cookieless", { cookieless: true });
  assert.equal(
    await page.evaluate(() => spur.push.subscribe().catch((e) => e.message)),
    "spur.push: no stored visitor to subscribe (consent not granted, cookieless mode, or storage refused)",
  );
  assert.equal(await page.evaluate(() => Notification.permission), "default", "never prompted");
  assert.ok(!paths().includes("/spur-sw.js"));
  await context.close();
});

test("an insecure origin: 'unsupported', subscribe() rejects, unsubscribe() resolves", async () => {
  // http://shop.test is not a secure context (no service workers); its requests are answered
  // by the real Worker, so the page, the tracker and push.js are same-origin.
  const context = await browser.newContext();
  await context.route("http://shop.test/**", async (route) => {
    const url = new URL(route.request().url());
    if (url.pathname.startsWith("/__test/"))
      return route.fulfill({ status: 200, contentType: "text/html", body: pageHtml() });
    return route.fulfill({ response: await route.fetch({ url: `${spur.url}${url.pathname}${url.search}` }) });
  });
  const page = await context.newPage();
  await page.goto("http://shop.test/__test/insecure");
  await trackerReady(page);
  assert.equal(await page.evaluate(() => isSecureContext), false);
  assert.equal(await page.evaluate(() => spur.push.state()), "unsupported");
  assert.equal(
    await page.evaluate(() => spur.push.subscribe().catch((e) => e.message)),
    "spur.push: Web Push is not supported here (it needs a secure context, service workers and PushManager)",
  );
  assert.equal(await page.evaluate(() => spur.push.unsubscribe()), "unsupported");
  await context.close();
});

test("the JS fallback (CSP without 'wasm-unsafe-eval') has spur.push too", async () => {
  const context = await browser.newContext();
  await serveTestPages(context, pageHtml(), {
    "Content-Security-Policy": "default-src 'self'; script-src 'self' 'unsafe-inline'",
  });
  const page = await context.newPage();
  await page.goto(`${spur.url}/__test/push-fallback`);
  await trackerReady(page);
  assert.equal(await page.evaluate(() => spur.fallback), true);
  assert.equal(await page.evaluate(() => spur.push.state()), "prompt");
  await context.close();
});
