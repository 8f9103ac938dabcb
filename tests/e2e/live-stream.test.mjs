// Issue 13: the live event stream is pushed, not polled. A dashboard's WebSocket (`/v1/live`)
// is held by a Durable Object through the hibernation API and authenticated by its first
// message; the events consumer pushes what it has just stored. Checked with Node's own
// WebSocket client and in real Chromium, where no read of /v1/events/recent happens while the
// socket is up.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import { setTimeout as sleep } from "node:timers/promises";
import { startSpurWithChromium, closeAll, eventually, ADMIN_TOKEN, basicAuth } from "../helpers/spur.mjs";

let spur, browser;
before(async () => ({ spur, browser } = await startSpurWithChromium()));
after(() => closeAll(browser, spur));

const basic = basicAuth();
let seq = 0;
const track = (userId, event, properties = {}) => ({
  type: "track",
  event,
  userId,
  properties,
  messageId: `live-${process.pid}-${seq++}`,
});
const wsUrl = () => `${spur.url.replace(/^http/, "ws")}/v1/live`;

/** A socket whose messages and close are collected as they come. */
function open() {
  const ws = new WebSocket(wsUrl());
  const got = [];
  const closed = new Promise((resolve) => ws.addEventListener("close", (e) => resolve(e.code)));
  ws.addEventListener("message", (m) => got.push(JSON.parse(m.data)));
  const opened = new Promise((resolve, reject) => {
    ws.addEventListener("open", resolve);
    ws.addEventListener("error", reject);
  });
  return { ws, got, closed, opened };
}

// Mirrors MAX_LIVE_SOCKETS and LIVE_AUTH_WINDOW_MS (core/src/query/limits.rs).
const MAX_LIVE_SOCKETS = 64;
const LIVE_AUTH_WINDOW_MS = 10_000;

/** One raw upgrade request: 101 (the socket is then dropped) or the refusal's status and body. */
function upgrade() {
  return new Promise((resolve, reject) => {
    const req = http.request(new URL("/v1/live", spur.url), {
      headers: {
        Connection: "Upgrade",
        Upgrade: "websocket",
        "Sec-WebSocket-Version": "13",
        "Sec-WebSocket-Key": Buffer.from(`spur-live-${seq++}`.padEnd(16, "-")).toString("base64"),
      },
    });
    req.on("upgrade", (res, socket) => {
      socket.destroy();
      resolve({ status: res.statusCode });
    });
    req.on("response", async (res) => {
      let text = "";
      for await (const chunk of res) text += chunk;
      resolve({ status: res.statusCode, body: JSON.parse(text) });
    });
    req.on("error", reject);
    req.end();
  });
}

// First in the file, so no other test's socket is held.
test("at most MAX_LIVE_SOCKETS are held; silent sockets give their place to a new one", async () => {
  const authed = Array.from({ length: MAX_LIVE_SOCKETS }, open);
  await Promise.all(authed.map((s) => s.opened));
  for (const s of authed) s.ws.send(JSON.stringify({ token: ADMIN_TOKEN }));
  assert.ok(
    await eventually(() => authed.every((s) => s.got.some((m) => m.ready)), { timeoutMs: 20_000 }),
    "all held sockets are ready",
  );
  const refused = await upgrade();
  assert.deepEqual([refused.status, refused.body?.reason], [429, "too_many_connections"]);
  for (const s of authed) s.ws.close(1000);
  assert.deepEqual(
    await Promise.all(authed.map((s) => s.closed)),
    authed.map(() => 1000),
  );

  // The same number of sockets that never send their token: inside their window they count,
  // past it the next connection closes them (4408) and is accepted.
  const silent = Array.from({ length: MAX_LIVE_SOCKETS }, open);
  await Promise.all(silent.map((s) => s.opened));
  await sleep(LIVE_AUTH_WINDOW_MS + 500);
  assert.equal((await upgrade()).status, 101, "a new socket is accepted past the silent ones");
  assert.deepEqual(
    await Promise.all(silent.map((s) => s.closed)),
    silent.map(() => 4408),
  );
  assert.ok(
    silent.every((s) => s.got.length === 0),
    "nothing is sent to an unauthenticated socket",
  );
});

test("a plain GET is told to upgrade; a wrong token is closed with 4401", async () => {
  const res = await fetch(new URL("/v1/live", spur.url));
  const body = await res.json();
  assert.deepEqual([res.status, body.reason], [426, "upgrade_required"]);

  const s = open();
  await s.opened;
  s.ws.send(JSON.stringify({ token: "not-the-token" }));
  assert.equal(await s.closed, 4401);
  assert.deepEqual(s.got, [], "nothing is sent before the token");
});

test("stored events are pushed to an authenticated socket, with the stream's fields", async () => {
  const s = open();
  await s.opened;
  s.ws.send(JSON.stringify({ token: ADMIN_TOKEN }));
  assert.ok(await eventually(() => s.got.some((m) => m.ready), { message: "ready" }));
  const a = track("live-a", "Live Viewed", { sku: "x-1" });
  const b = track("live-b", "Live Bought", { total: 12.5 });
  const res = await spur.post("/v1/batch", { batch: [a, b] }, basic);
  assert.equal(res.status, 200);
  const pushed = await eventually(
    () => {
      const all = s.got.flatMap((m) => m.events ?? []);
      return (
        all.some((e) => e.messageId === a.messageId) && all.some((e) => e.messageId === b.messageId) && all
      );
    },
    { timeoutMs: 20_000, message: "both events pushed" },
  );
  const bought = pushed.find((e) => e.messageId === b.messageId);
  assert.equal(bought.type, "track");
  assert.equal(bought.event, "Live Bought");
  assert.equal(bought.userId, "live-b");
  assert.equal(bought.person, "live-b");
  assert.deepEqual(bought.properties, { total: 12.5 });
  assert.ok(Number.isInteger(bought.tsMs) && bought.timestamp.endsWith("Z"), JSON.stringify(bought));
  s.ws.close(1000);
  assert.equal(await s.closed, 1000);
});

test("the dashboard's live panel is pushed: a new event shows with no read of /v1/events/recent", async () => {
  const page = await browser.newPage();
  const errors = [];
  page.on("pageerror", (e) => errors.push(String(e)));
  const reads = [];
  page.on("request", (r) => {
    if (new URL(r.url()).pathname === "/v1/events/recent") reads.push(r.url());
  });
  await page.addInitScript((t) => sessionStorage.setItem("spur.adminToken", t), ADMIN_TOKEN);
  await page.goto(`${spur.url}/dashboard/`);
  await page.waitForSelector("#live[data-mode=pushed]", { timeout: 20_000 });
  const readsBefore = reads.length;
  assert.ok(readsBefore >= 1, "one read fills the panel when the socket is ready");

  const e = track("live-dash", "Live Dashboard Ping", { n: 7 });
  assert.equal((await spur.post("/v1/batch", { batch: [e] }, basic)).status, 200);
  await page.waitForSelector("#live-table tbody tr:has-text('Live Dashboard Ping')", { timeout: 20_000 });
  assert.equal(reads.length, readsBefore, "the row came over the socket, not from a read");
  assert.equal(await page.getAttribute("#live", "data-mode"), "pushed");
  assert.equal(await page.textContent("#live-status"), "live (pushed)");
  assert.deepEqual(errors, []);
  await page.close();
});
