// Issue 11: journeys from the dashboard in real Chromium against the real Worker: a refused
// draft shows its reason code, a valid one is saved and published from the editor, people who
// enter through the Segment API show up in the list and in the per-node counts, dry-run replays
// the stored events, and explain shows one person's path node by node.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import { startSpurWithChromium, closeAll, eventually, ADMIN_TOKEN, basicAuth } from "../helpers/spur.mjs";

let spur, browser;
before(async () => ({ spur, browser } = await startSpurWithChromium()));
after(() => closeAll(browser, spur));

const basic = basicAuth();
let seq = 0;
const track = (userId, event) => ({ type: "track", event, userId, messageId: `jd-${process.pid}-${seq++}` });

test("a journey is written, published, followed and explained from the dashboard", async () => {
  const page = await browser.newPage({ viewport: { width: 1280, height: 1600 } });
  const errors = [];
  page.on("pageerror", (e) => errors.push(e));
  await page.addInitScript((t) => sessionStorage.setItem("spur.adminToken", t), ADMIN_TOKEN);
  await page.goto(`${spur.url}/dashboard/`);
  await page.waitForSelector("#journeys[data-loaded=true]");
  // The bundled demo journey is listed as a draft nobody runs yet.
  const demo = page.locator('#journeys-list tr[data-journey="cart-abandonment"]');
  assert.equal(await demo.locator(".status").textContent(), "draft only");

  // A draft pointing at a node that does not exist is refused with the API's reason code.
  await page.click("#journey-new");
  const journey = {
    id: "dash-journey",
    name: "Dashboard journey",
    enabled: true,
    trigger: { type: "event", events: ["Dash Started"] },
    start: "wait",
    nodes: [
      { id: "wait", type: "wait_until", events: ["Dash Done"], timeout: "1h", next: "tag", onTimeout: "end" },
      { id: "tag", type: "action", action: { type: "message", title: "Thanks", body: "Done." }, next: "end" },
      { id: "end", type: "exit" },
    ],
  };
  await page.fill("#journey-json", JSON.stringify({ ...journey, start: "nowhere" }));
  await page.click("#journey-validate");
  await page.waitForSelector("#journey-message.error:not([hidden])");
  assert.match(await page.textContent("#journey-message"), /^unknown_node: .*\/start/);
  assert.equal((await spur.admin("/v1/journeys/dash-journey")).status, 404, "a refused draft is not saved");

  // The valid one is saved and published from the editor.
  await page.fill("#journey-json", JSON.stringify(journey));
  await page.click("#journey-validate");
  await page.waitForSelector("#journey-message.ok:not([hidden])");
  await page.click("#journey-publish");
  await page.waitForFunction(() =>
    document.querySelector("#journey-message").textContent.startsWith("Published"),
  );
  assert.equal(await page.textContent("#journey-message"), "Published revision 1.");
  assert.equal(
    await page.locator('#journeys-list tr[data-journey="dash-journey"] .status').textContent(),
    "live, revision 1",
  );
  const live = await (await spur.admin("/v1/journeys/dash-journey")).json();
  assert.deepEqual(live.published.nodes, journey.nodes, "the API holds what the editor sent");

  // Two people enter; one finishes the wait, the other is still waiting.
  const res = await spur.post(
    "/v1/batch",
    { batch: [track("dash-a", "Dash Started"), track("dash-b", "Dash Started")] },
    basic,
  );
  assert.equal(res.status, 200);
  const done = await spur.post("/v1/batch", { batch: [track("dash-a", "Dash Done")] }, basic);
  assert.equal(done.status, 200);

  // The list and the flow catch up (the dashboard re-reads on Apply).
  const counts = await eventually(
    async () => {
      await page.click("#range button[type=submit]");
      await page.waitForSelector('#journey-flow tr[data-node="tag"]');
      const c = await page.evaluate(() => ({
        entered: document.querySelector('#journeys-list tr[data-journey="dash-journey"] .entered')
          .textContent,
        wait: document.querySelector('#journey-flow tr[data-node="wait"] .visited').textContent,
        tag: document.querySelector('#journey-flow tr[data-node="tag"] .visited').textContent,
        end: document.querySelector('#journey-flow tr[data-node="end"] .visited').textContent,
      }));
      return c.entered === "2" && c.tag === "1" && c.end === "1" ? c : null;
    },
    { timeoutMs: 20_000, message: "journey counts on the dashboard" },
  );
  assert.deepEqual(counts, { entered: "2", wait: "2", tag: "1", end: "1" });
  assert.deepEqual(
    await page.$$eval("#journey-flow tbody tr", (trs) => trs.map((tr) => tr.dataset.node)),
    ["wait", "tag", "end"],
    "nodes in path order",
  );
  // The drawn graph shows the same journey: a column per step along the longest path, the
  // labelled edges, and in each box the counts the table shows.
  const graph = await page.evaluate(() => {
    const cell = (id, c) => document.querySelector(`#journey-flow tr[data-node="${id}"] .${c}`).textContent;
    const nodes = {};
    for (const g of document.querySelectorAll("#journey-graph svg g.jg-node")) {
      const id = g.dataset.node;
      nodes[id] = {
        x: Number(/translate\(([\d.]+),/.exec(g.getAttribute("transform"))[1]),
        drawn: g.querySelector(".jg-counts").textContent,
        table: `visited ${cell(id, "visited")} · exited ${cell(id, "exited")}`,
      };
    }
    const edges = [...document.querySelectorAll("#journey-graph svg g.jg-edge")].map(
      (e) => `${e.dataset.from}>${e.dataset.to}:${e.querySelector(".jg-label")?.textContent ?? ""}`,
    );
    return { nodes, edges };
  });
  assert.deepEqual(graph.edges.sort(), ["tag>end:", "wait>end:timeout", "wait>tag:event"]);
  const { wait, tag, end } = graph.nodes;
  assert.ok(wait.x < tag.x && tag.x < end.x, JSON.stringify(graph.nodes));
  for (const n of [wait, tag, end]) assert.equal(n.drawn, n.table);
  assert.deepEqual(
    [wait, tag, end].map((n) => n.drawn.split(" · ")[0]),
    ["visited 2", "visited 1", "visited 1"],
  );

  // Dry-run replays the stored events through the draft: both would enter, one reaches the action.
  // The replay reads D1, which the events queue fills after the Durable Objects acted: wait for it.
  const stored = await eventually(
    async () => {
      const [{ n }] = await spur.rows("SELECT COUNT(*) AS n FROM events WHERE message_id LIKE 'jd-%'");
      return n === 3 ? n : null;
    },
    { timeoutMs: 20_000, message: "the three events stored" },
  );
  assert.equal(stored, 3);
  await page.click("#journey-dry-run");
  await page.waitForFunction(
    () =>
      document.querySelector("#journey-dry").textContent.startsWith("Dry-run") ||
      document.querySelector("#journey-message.error:not([hidden])"),
  );
  assert.equal(
    await page.isVisible("#journey-message.error"),
    false,
    await page.textContent("#journey-message"),
  );
  assert.match(
    await page.textContent("#journey-dry"),
    / 2 people, 2 would enter \(0 holdout\), 0 convert, 1 actions sent, 1 still waiting\./,
  );
  assert.equal(await page.locator('#journey-flow tr[data-node="tag"] .dry').textContent(), "1");

  // Explain: dash-a went wait → tag → end; dash-b waits at "wait".
  await page.fill("#journey-user", "dash-a");
  await page.click("#journey-explain-form button");
  await page.waitForFunction(
    () =>
      document.querySelector("#journey-explain").childElementCount > 0 ||
      document.querySelector("#journey-message.error:not([hidden])"),
  );
  assert.ok(await page.isVisible("#journey-explain .run"), await page.textContent("#journey-detail"));
  assert.match(await page.textContent("#journey-explain .run h4"), /^Run 0 \(revision 1\): ended /);
  const path = await page.$$eval("#journey-explain .run td.node", (tds) => tds.map((td) => td.textContent));
  assert.deepEqual([...new Set(path)], ["wait", "tag", "end"]);
  await page.fill("#journey-user", "dash-b");
  await page.click("#journey-explain-form button");
  await page.waitForFunction(() =>
    document.querySelector("#journey-explain .run h4")?.textContent.includes("waiting at wait"),
  );

  mkdirSync("test-results", { recursive: true });
  await page.locator("#journeys").screenshot({ path: "test-results/dashboard-journeys.png" });
  assert.deepEqual(errors, []);
  await page.close();
});

test("campaign results show under a journey and a rule, from campaign events sent through the Segment API", async () => {
  const journey = {
    id: "dash-camp",
    name: "Campaign journey",
    enabled: true,
    trigger: { type: "event", events: ["Dash Camp Never"] },
    start: "end",
    nodes: [{ id: "end", type: "exit" }],
    goal: { events: ["Dash Bought"], within: "1d" },
  };
  const put = await spur.admin("/v1/journeys/dash-camp", { method: "PUT", body: JSON.stringify(journey) });
  assert.ok(put.status === 200 || put.status === 201, await put.text());
  assert.equal((await spur.admin("/v1/journeys/dash-camp/publish", { method: "POST" })).status, 200);
  const rule = {
    id: "dash-rule",
    trigger: { events: ["Dash Rule Never"] },
    actions: [{ type: "message", title: "Hi", body: "Hello." }],
  };
  const putRule = await spur.admin("/v1/rules/dash-rule", { method: "PUT", body: JSON.stringify(rule) });
  assert.ok(putRule.status === 200 || putRule.status === 201, await putRule.text());

  // Reports as spur-sw.js sends them, and a purchase a minute after the first message.
  const at = (msAgo) => new Date(Date.now() - msAgo).toISOString();
  const report = (userId, event, props, msAgo) => ({
    ...track(userId, event),
    properties: { channel: "push", messageId: `m-${userId}`, ...props },
    timestamp: at(msAgo),
  });
  const batch = [
    report("camp-a", "$message_shown", { journeyId: "dash-camp" }, 180_000),
    report("camp-a", "$message_clicked", { journeyId: "dash-camp" }, 170_000),
    { ...track("camp-a", "Dash Bought"), timestamp: at(120_000) },
    report("camp-b", "$message_shown", { journeyId: "dash-camp" }, 180_000),
    report("camp-c", "$message_shown", { ruleId: "dash-rule" }, 180_000),
    report("camp-c", "$message_dismissed", { ruleId: "dash-rule" }, 170_000),
  ];
  assert.equal((await spur.post("/v1/batch", { batch }, basic)).status, 200);
  assert.ok(
    await eventually(
      async () =>
        (await spur.rows("SELECT 1 FROM events WHERE user_id LIKE 'camp-%'")).length === batch.length,
      { message: "the campaign events stored" },
    ),
  );

  const page = await browser.newPage({ viewport: { width: 1280, height: 1600 } });
  const errors = [];
  page.on("pageerror", (e) => errors.push(e));
  await page.addInitScript((t) => sessionStorage.setItem("spur.adminToken", t), ADMIN_TOKEN);
  await page.goto(`${spur.url}/dashboard/`);
  await page.waitForSelector("#journeys[data-loaded=true]");
  await page.click('#journeys-list tr[data-journey="dash-camp"] button');
  await page.waitForSelector('#journey-detail[data-journey="dash-camp"] #journey-campaign[data-loaded=true]');
  const cells = (sel) =>
    page.$$eval(sel, (trs) => trs.map((tr) => [...tr.querySelectorAll("td")].map((td) => td.textContent)));
  // Channel, sent, delivered, shown, clicked, dismissed, failed (people), click rate.
  assert.deepEqual(await cells("#journey-campaign tbody tr"), [
    ["push", "0", "0", "2", "1", "0", "0", "50.0%"],
  ]);
  assert.equal(
    await page.textContent("#journey-campaign .campaign-summary"),
    "2 people reached · 1 converted (50.0%) with Dash Bought within 24 h of the first message",
  );

  await page.click('#rules-body li[data-rule="dash-rule"] button');
  await page.waitForSelector('#rules-body li[data-rule="dash-rule"] .rule-results[data-loaded=true]');
  assert.deepEqual(await cells('#rules-body li[data-rule="dash-rule"] tbody tr'), [
    ["push", "0", "0", "1", "0", "1", "0", "0.0%"],
  ]);
  assert.equal(
    await page.textContent('#rules-body li[data-rule="dash-rule"] .campaign-summary'),
    "1 person reached",
  );
  assert.deepEqual(errors, []);
  await page.close();
});
