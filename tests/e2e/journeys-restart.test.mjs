// Issue 11: a journey wait survives a Worker restart. A run enters a 10 s delay, wrangler dev
// (with --persist-to) is stopped before it ends and started again after: the person's Durable
// Object's alarm is overdue, fires on start, and the run's next step (a signed webhook) goes
// out — stamped with the step's due time, not the late moment the alarm rang.
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { eventually, ADMIN_TOKEN, TEST_CONFIG } from "../helpers/spur.mjs";
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
  "a delay that ends while the Worker is stopped fires on start",
  async () => {
    hooks = await startReceiver();
    await migrate(config, persistTo);
    dev = await startDev({ config, persistTo, vars });
    const admin = { Authorization: `Bearer ${ADMIN_TOKEN}` };
    const journey = {
      id: "restart-j",
      trigger: { type: "api" },
      start: "pause",
      nodes: [
        { id: "pause", type: "delay", for: "10s", next: "ping" },
        {
          id: "ping",
          type: "action",
          action: { type: "webhook", url: `${hooks.url}/restart-j` },
          next: "end",
        },
        { id: "end", type: "exit" },
      ],
    };
    const put = await fetch(`${dev.url}/v1/journeys/restart-j`, {
      method: "PUT",
      headers: admin,
      body: JSON.stringify(journey),
    });
    assert.equal(put.status, 201, await put.text());
    assert.equal(
      (await fetch(`${dev.url}/v1/journeys/restart-j/publish`, { method: "POST", headers: admin })).status,
      200,
    );
    const user = `restart-${process.pid}-${Date.now()}`;
    const sent = Date.now();
    const res = await fetch(`${dev.url}/v1/journeys/restart-j/enter`, {
      method: "POST",
      headers: admin,
      body: JSON.stringify({ userId: user }),
    });
    assert.equal(res.status, 200, await res.text());
    const ex = await (
      await fetch(`${dev.url}/v1/journeys/restart-j/explain?user=${user}`, { headers: admin })
    ).json();
    assert.equal(ex.active?.node, "pause", JSON.stringify(ex));
    const due = ex.active.wakeAt;
    // The alarm is set relative to the object's clock, a few ms after the run entered.
    assert.ok(ex.alarm >= due && ex.alarm < due + 5_000, `alarm ${ex.alarm} for a wake-up due at ${due}`);
    await dev.stop();
    // 10 s leaves a loaded 2-core machine ample time to stop before the wake-up (it takes ~1 s).
    assert.ok(Date.now() - sent < 10_000, "stopped before the wake-up");
    assert.equal(hooks.hits().length, 0);
    await new Promise((r) => setTimeout(r, Math.max(0, sent + 11_000 - Date.now())));

    dev = await startDev({ config, persistTo, vars });
    const hit = await eventually(() => hooks.hits("/restart-j")[0], { timeoutMs: 30_000, intervalMs: 250 });
    assert.ok(hit, `webhook after restart; wrangler said:\n${dev.logs().slice(-2000)}`);
    const body = JSON.parse(hit.body);
    assert.equal(body.user, user);
    assert.equal(body.id, `restart-j:0:ping:${user}`);
    assert.equal(Date.parse(body.firedAt), due, "the step runs at its due time, however late the alarm");
    assert.ok(verifySignature(SECRET, hit.headers["spur-signature"], hit.body).ok);
  },
  { timeout: 120_000 },
);
