// Issue 5: an absence deadline survives a Worker restart. The event arrives, wrangler dev (with
// --persist-to) is stopped before the deadline and started again after it: the user's Durable
// Object's alarm is overdue, fires on restart, and the signed webhook still goes out.
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { eventually, ADMIN_TOKEN, TEST_CONFIG, DEMO_WRITE_KEY } from "../helpers/spur.mjs";
import { startReceiver, verifySignature } from "../helpers/receiver.mjs";
import { prebuiltConfig, migrate, startDev, cleanup } from "../helpers/wrangler-dev.mjs";

const SECRET = "restart-webhook-secret";
const { dir, config } = prebuiltConfig();
const persistTo = join(dir, "state");
const vars = {
  ADMIN_TOKEN,
  WEBHOOK_SECRET: SECRET,
  SPUR_CONFIG: JSON.stringify(TEST_CONFIG),
  WEBHOOK_RETRY_BASE_SECONDS: "1",
};
let dev, hooks;
after(async () => {
  await dev?.stop();
  await hooks?.close();
  cleanup(dir);
});

test(
  "restart between the event and the deadline still fires",
  async () => {
    hooks = await startReceiver();
    await migrate(config, persistTo);
    dev = await startDev({ config, persistTo, vars });
    const admin = { Authorization: `Bearer ${ADMIN_TOKEN}` };
    const put = await fetch(`${dev.url}/v1/rules/restart-abandon`, {
      method: "PUT",
      headers: admin,
      body: JSON.stringify({
        id: "restart-abandon",
        trigger: { events: ["Added Gadget"] },
        absence: { events: ["Bought Gadget"], within: "10s" },
        actions: [{ type: "webhook", url: `${hooks.url}/restart` }],
      }),
    });
    assert.equal(put.status, 201, await put.text());
    const user = `restart-${process.pid}-${Date.now()}`;
    const sent = Date.now();
    const res = await fetch(`${dev.url}/v1/track`, {
      method: "POST",
      headers: { Authorization: `Basic ${Buffer.from(`${DEMO_WRITE_KEY}:`).toString("base64")}` },
      body: JSON.stringify({ type: "track", event: "Added Gadget", userId: user, messageId: `m-${user}` }),
    });
    assert.equal(res.status, 200);
    // The object has the pending deadline before we stop.
    const ex = await (
      await fetch(`${dev.url}/v1/rules/restart-abandon/explain?user=${user}`, { headers: admin })
    ).json();
    assert.ok(ex.live.state?.deadline, JSON.stringify(ex.live));
    await dev.stop();
    // 10 s leaves a loaded 2-core machine ample time to stop before the deadline (it takes ~1 s).
    assert.ok(Date.now() - sent < 10_000, "stopped before the deadline");
    assert.equal(hooks.hits().length, 0);
    await new Promise((r) => setTimeout(r, Math.max(0, sent + 11_000 - Date.now())));

    dev = await startDev({ config, persistTo, vars });
    const hit = await eventually(() => hooks.hits("/restart")[0], { timeoutMs: 30_000, intervalMs: 250 });
    assert.ok(hit, `webhook after restart; wrangler said:\n${dev.logs().slice(-2000)}`);
    assert.equal(JSON.parse(hit.body).user, user);
    assert.ok(verifySignature(SECRET, hit.headers["spur-signature"], hit.body).ok);
    assert.ok(hit.at - sent >= 10_000);
  },
  { timeout: 120_000 },
);
