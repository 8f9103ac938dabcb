// Issue 10: developer mode for people tagging events. `?spur_debug=1` or `spur.debug(true)`
// loads the debug build (tracker/js/dist/debug/: gloo-console, console_error_panic_hook), which
// logs each queued event, each send and the edge's per-message verdict; the edge answers
// `POST /v1/batch?debug=1` with one verdict per message. Real Chromium against the real Worker.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startSpur, launchChromium, eventually, TEST_CONFIG, DEMO_WRITE_KEY } from "../helpers/spur.mjs";
import { pageHtml, serveTestPages, trackerReady } from "../helpers/tracker.mjs";

const PLAN = {
  mode: "flag",
  events: {
    "Order Completed": { properties: { type: "object", properties: { total: { type: "number" } } } },
  },
};
let spur, browser;
before(async () => {
  spur = await startSpur({ config: { ...TEST_CONFIG, trackingPlan: PLAN } });
  browser = await launchChromium();
});
after(async () => {
  await browser?.close();
  await spur?.close();
});

/** A fresh context serving the snippet page, recording console lines and tracker files fetched. */
async function open(path) {
  const context = await browser.newContext();
  await serveTestPages(context, pageHtml());
  const page = await context.newPage();
  const logs = [];
  const files = [];
  page.on("console", (m) => logs.push({ type: m.type(), text: m.text() }));
  page.on("request", (r) => {
    const u = new URL(r.url());
    if (u.pathname.startsWith("/tracker/")) files.push(u.pathname);
    if (u.pathname === "/v1/batch") files.push(`${u.pathname}${u.search}`);
  });
  await page.goto(`${spur.url}${path}`);
  await trackerReady(page);
  return { context, page, logs, files };
}

const spurLines = (logs) => logs.filter((l) => l.text.startsWith("spur: "));

test("the edge answers ?debug=1 with one verdict per message, and nothing extra without it", async () => {
  const batch = [
    {
      type: "track",
      event: "Order Completed",
      anonymousId: "a",
      messageId: "dbg-0",
      properties: { total: "12" },
    },
    { type: "track", anonymousId: "a", messageId: "dbg-1" },
    { type: "page", name: "Home", anonymousId: "a", messageId: "dbg-2" },
  ];
  const r = await spur.post("/v1/batch?debug=1", { writeKey: DEMO_WRITE_KEY, batch });
  assert.equal(r.status, 200);
  const body = await r.json();
  assert.equal(body.accepted, 2);
  assert.deepEqual(
    body.verdicts.map((v) => [v.index, v.messageId, v.status]),
    [
      [0, "dbg-0", "flagged"],
      [1, "dbg-1", "rejected"],
      [2, "dbg-2", "accepted"],
    ],
  );
  assert.match(body.verdicts[0].violations[0], /^Order Completed: \/properties\/total: /);
  assert.equal(typeof body.verdicts[1].reason, "string");
  const plain = await spur.post("/v1/batch", {
    writeKey: DEMO_WRITE_KEY,
    batch: [{ ...batch[2], messageId: "dbg-3" }],
  });
  assert.equal(plain.status, 200);
  assert.equal("verdicts" in (await plain.json()), false);
});

test("?spur_debug=1 loads the debug build, which logs events, sends and a mistyped property's violation", async () => {
  const { context, page, logs, files } = await open("/__test/debug?spur_debug=1");
  await page.evaluate(() => spur.track("Order Completed", { total: "12", order_id: "o-1" }).flush());
  assert.ok(
    await eventually(
      () => logs.some((l) => l.type === "warning" && l.text.includes("Order Completed: /properties/total")),
      {
        message: "the violation is logged as a warning",
      },
    ),
  );
  const lines = spurLines(logs).map((l) => l.text);
  assert.ok(
    lines.some((t) => t.startsWith("spur: developer mode")),
    lines.join("\n"),
  );
  assert.ok(
    lines.some((t) => t.startsWith("spur: queued track Order Completed")),
    lines.join("\n"),
  );
  assert.ok(
    lines.some((t) => t.startsWith("spur: queued page")),
    lines.join("\n"),
  );
  assert.ok(
    lines.some((t) => /^spur: sending \d+ event\(s\) to \/v1\/batch\?debug=1$/.test(t)),
    lines.join("\n"),
  );
  assert.ok(
    lines.some((t) => t.startsWith("spur: ✓ accepted")),
    lines.join("\n"),
  );
  assert.ok(
    files.includes("/tracker/debug/spur.js") && files.includes("/tracker/debug/spur_tracker_bg.wasm"),
    `${files}`,
  );
  assert.ok(!files.includes("/tracker/spur_tracker_bg.wasm"), "the production wasm is not loaded");
  assert.ok(files.includes("/v1/batch?debug=1"), `${files}`);
  // Stored once, with the violation recorded as in production.
  const rows = await eventually(async () => {
    const r = await spur.rows(
      "SELECT context FROM events WHERE event = 'Order Completed' AND json_extract(properties, '$.order_id') = 'o-1'",
    );
    return r.length ? r : null;
  });
  assert.equal(rows.length, 1);
  assert.equal(JSON.parse(rows[0].context).spur.violationCount, 1);
  await context.close();
});

test("without debug nothing is logged and the debug build is never fetched; spur.debug(true) sticks until debug(false)", async () => {
  const { context, page, logs, files } = await open("/__test/plain");
  await page.evaluate(() => spur.track("Plain Event").flush());
  assert.ok(await eventually(() => files.includes("/v1/batch"), { message: "a batch was sent" }));
  assert.deepEqual(spurLines(logs), []);
  assert.ok(!files.some((f) => f.startsWith("/tracker/debug/")), `${files}`);

  await page.evaluate(() => spur.debug(true));
  await page.reload();
  await trackerReady(page);
  assert.ok(
    await eventually(() => files.includes("/tracker/debug/spur_tracker_bg.wasm"), {
      message: "debug build after reload",
    }),
  );
  assert.ok(
    await eventually(() => spurLines(logs).some((l) => l.text.startsWith("spur: developer mode")), {
      message: "developer mode announced",
    }),
  );

  await page.evaluate(() => spur.debug(false));
  files.length = 0;
  await page.reload();
  await trackerReady(page);
  await page.evaluate(() => spur.flush());
  assert.ok(files.includes("/tracker/spur_tracker_bg.wasm"), `${files}`);
  assert.ok(!files.some((f) => f.startsWith("/tracker/debug/")), `${files}`);
  await context.close();
});
