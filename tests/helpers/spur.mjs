// Test helpers: a real workerd running the built Worker (wrangler's test harness, reading
// wrangler.toml) and a real headless Chromium driven by playwright-core.
import { createTestHarness } from "wrangler";
import { chromium } from "playwright-core";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("../..", import.meta.url));

/** Starts the Worker from dist/ (built by `npm run build`) with migrations applied. */
export async function startSpur({ vars, secrets } = {}) {
  const server = createTestHarness({
    root,
    workers: [{ configPath: "./wrangler.toml", prebuiltWorkerDir: "./dist", vars, secrets }],
  });
  const { url } = await server.listen();
  const worker = server.getWorker();
  await worker.applyD1Migrations("DB");
  const env = await worker.getEnv();
  return {
    server,
    url: new URL(url).origin,
    env,
    db: env.DB,
    /** All rows of a query. */
    async rows(sql, ...params) {
      const { results } = await env.DB.prepare(sql).bind(...params).all();
      return results;
    },
    close: () => server.close(),
  };
}

/** Launches Debian's Chromium headless (never a downloaded browser). */
export function launchChromium() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM_PATH || "/usr/bin/chromium",
    args: [
      "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
      "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic",
    ],
  });
}

/** Polls `fn` until it returns a truthy value or `timeoutMs` passes; returns the last value. */
export async function eventually(fn, { timeoutMs = 10_000, intervalMs = 100 } = {}) {
  const deadline = Date.now() + timeoutMs;
  let last;
  while (Date.now() < deadline) {
    last = await fn();
    if (last) return last;
    await new Promise((r) => setTimeout(r, intervalMs));
  }
  return last;
}
