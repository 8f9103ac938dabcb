// Issue 9: the Worker restarts in the middle of a load. `wrangler dev --persist-to` is stopped
// and started again while four clients keep sending batches; like the Segment SDKs, a client
// resends the same batch (same messageIds) when the connection fails. Afterwards:
// - no request was answered 5xx;
// - every event acknowledged after the restart is in D1, and nothing is stored twice or
//   invented (message_id is the primary key; every stored id is one we sent);
// - events acknowledged before the stop are in D1 unless they were still in the queue.
//
// The last point is a property of the local simulator, not of Spur: Miniflare's queue broker
// holds pending messages in memory (`#messages = []` in miniflare's queues broker worker), so a
// local restart drops what was queued but not yet consumed; Cloudflare Queues persist them.
// The test reports that count rather than pretend otherwise. Rule state and pending alarms
// across a restart are covered by rules-restart.test.mjs.
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { join } from "node:path";
import { promisify } from "node:util";
import { fileURLToPath } from "node:url";
import { eventually, ADMIN_TOKEN, TEST_CONFIG, DEMO_WRITE_KEY } from "../helpers/spur.mjs";
import { prebuiltConfig, migrate, startDev, cleanup } from "../helpers/wrangler-dev.mjs";

const root = fileURLToPath(new URL("../..", import.meta.url));
const { dir, config } = prebuiltConfig();
const persistTo = join(dir, "state");
const vars = { ADMIN_TOKEN, SPUR_CONFIG: JSON.stringify(TEST_CONFIG) };
const auth = { Authorization: `Basic ${Buffer.from(`${DEMO_WRITE_KEY}:`).toString("base64")}` };
const CLIENTS = 4;
const BATCH = 5;
const PER_PHASE = 150; // acknowledged events to see before the stop and again after the start

let dev;
after(async () => {
  await dev?.stop();
  cleanup(dir);
});

/** Message ids stored in the persisted D1 (read beside the running Worker). */
async function storedIds() {
  const { stdout } = await promisify(execFile)(
    join(root, "node_modules/.bin/wrangler"),
    [
      "d1",
      "execute",
      "DB",
      "--local",
      "-c",
      config,
      "--persist-to",
      persistTo,
      "--json",
      "--command",
      "SELECT message_id FROM events WHERE message_id LIKE 'rl-%'",
    ],
    { cwd: root, env: { ...process.env, CI: "true", WRANGLER_SEND_METRICS: "false" }, maxBuffer: 64 << 20 },
  );
  return JSON.parse(stdout)[0].results.map((r) => r.message_id);
}

test(
  "a restart mid-load answers no 5xx and keeps every event acknowledged after it",
  async () => {
    await migrate(config, persistTo);
    dev = await startDev({ config, persistTo, vars });

    const state = { phase: "before", running: true };
    const acked = { before: new Set(), after: new Set() };
    const sent = new Set();
    const statuses = {};
    let connectionErrors = 0;
    let seq = 0;

    async function client(c) {
      while (state.running) {
        const batch = Array.from({ length: BATCH }, () => {
          const id = `rl-${c}-${seq++}`;
          sent.add(id);
          return { type: "track", event: "Restart Load", anonymousId: `anon-${c}`, messageId: id };
        });
        const body = JSON.stringify({ batch });
        for (;;) {
          // resend the same batch until it is answered, as an SDK does
          // The connection can also close after the headers, while the body is read
          // ("terminated"): that answer never arrived either, so it is resent the same way.
          let res, text;
          try {
            res = await fetch(`${dev.url}/v1/batch`, { method: "POST", headers: auth, body });
            text = await res.text();
          } catch {
            connectionErrors++;
            await new Promise((r) => setTimeout(r, 100));
            continue;
          }
          statuses[res.status] = (statuses[res.status] ?? 0) + 1;
          if (res.status >= 500) {
            await new Promise((r) => setTimeout(r, 100));
            continue;
          }
          assert.equal(res.status, 200, text);
          assert.deepEqual(JSON.parse(text), { accepted: BATCH, rejected: [] });
          // Acknowledged while stopping counts as before the restart.
          const bucket = state.phase === "after" ? acked.after : acked.before;
          for (const e of batch) bucket.add(e.messageId);
          break;
        }
      }
    }

    // A client's failed assertion is kept and reported after the load, not left to surface as
    // an unhandled rejection while the other clients run.
    const failures = [];
    const clients = Array.from({ length: CLIENTS }, (_, c) =>
      client(c).catch((e) => {
        state.running = false;
        failures.push(e);
      }),
    );
    assert.ok(
      await eventually(() => failures.length > 0 || acked.before.size >= PER_PHASE, {
        timeoutMs: 60_000,
        message: "load before the stop",
      }),
    );
    assert.deepEqual(failures, []);
    state.phase = "stopping";
    await dev.stop();
    const down = connectionErrors;
    dev = await startDev({ config, persistTo, vars });
    state.phase = "after";
    assert.ok(
      await eventually(() => failures.length > 0 || acked.after.size >= PER_PHASE, {
        timeoutMs: 60_000,
        message: "load after the start",
      }),
    );
    state.running = false;
    await Promise.all(clients);
    assert.deepEqual(failures, [], "every client saw only answers it expected");

    assert.ok(down > 0 || connectionErrors > 0, "the clients saw the Worker go away");
    const fiveXx = Object.entries(statuses).filter(([s]) => Number(s) >= 500);
    assert.deepEqual(fiveXx, [], `statuses: ${JSON.stringify(statuses)}`);

    const stored = await eventually(
      async () => {
        const ids = await storedIds();
        const have = new Set(ids);
        return [...acked.after].every((id) => have.has(id)) ? ids : null;
      },
      {
        timeoutMs: 90_000,
        intervalMs: 1_000,
        message: "every event acknowledged after the restart is in D1",
      },
    );
    assert.ok(stored);
    const have = new Set(stored);
    assert.equal(have.size, stored.length, "no message stored twice");
    for (const id of have) assert.ok(sent.has(id), `stored ${id} was never sent`);
    const lostBefore = [...acked.before].filter((id) => !have.has(id)).length;
    // Read by bench/reliability/hostile-figures.mjs (npm run soak) for bench/RELIABILITY.md.
    console.log(
      `RESTART ${JSON.stringify({ before: acked.before.size, lostBefore, after: acked.after.size, connectionErrors, statuses })}`,
    );
  },
  { timeout: 300_000 },
);
