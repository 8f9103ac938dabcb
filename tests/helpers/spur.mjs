// Test helpers: a real workerd running the built Worker (wrangler's test harness, reading
// wrangler.toml) and a real headless Chromium driven by playwright-core.
import { createTestHarness } from "wrangler";
import { chromium } from "playwright-core";
import { fileURLToPath } from "node:url";
import { gunzipSync } from "node:zlib";
import assert from "node:assert/strict";

const root = fileURLToPath(new URL("../..", import.meta.url));

/** The demo write key (as in .dev.vars.example). */
export const DEMO_WRITE_KEY = "spur_demo_write_key";
/** The admin token tests run with. */
export const ADMIN_TOKEN = "test-admin-token";
/** The Segment-style Basic authorization header for a write key (the demo key by default). */
export const basicAuth = (key = DEMO_WRITE_KEY) => ({
  Authorization: `Basic ${Buffer.from(`${key}:`).toString("base64")}`,
});

let idSeq = 0;
/** An id unique to this test process and run (message ids, user ids, rule ids). */
export const uid = (prefix = "m") => `${prefix}-${process.pid}-${Date.now()}-${idSeq++}`;

/** The ingest configuration tests run with unless they pass their own. */
export const TEST_CONFIG = {
  sources: {
    [DEMO_WRITE_KEY]: { name: "demo", allowedOrigins: ["*"] },
    wk_site: { name: "site", allowedOrigins: ["https://shop.example"] },
    wk_server: { name: "backend", allowedOrigins: [] },
  },
  gpc: "anonymize",
};

/** Starts the Worker from dist/ (built by `npm run build`) with migrations applied. */
export async function startSpur({
  vars,
  secrets,
  config = TEST_CONFIG,
  configPath = "./wrangler.toml",
} = {}) {
  const server = createTestHarness({
    root,
    workers: [
      {
        configPath,
        prebuiltWorkerDir: "./dist",
        vars,
        secrets: { ADMIN_TOKEN, SPUR_CONFIG: JSON.stringify(config), ...secrets },
      },
    ],
  });
  const { url } = await server.listen();
  const worker = server.getWorker();
  await worker.applyD1Migrations("DB");
  const env = await worker.getEnv();
  const harness = {
    server,
    url: new URL(url).origin,
    env,
    db: env.DB,
    /** All rows of a query. */
    async rows(sql, ...params) {
      const { results } = await env.DB.prepare(sql)
        .bind(...params)
        .all();
      return results;
    },
    close: () => server.close(),
    /** fetch against the Worker with the admin bearer token. */
    admin(path, init = {}) {
      const headers = { Authorization: `Bearer ${ADMIN_TOKEN}`, ...(init.headers ?? {}) };
      return fetch(new URL(path, url), { ...init, headers });
    },
    /**
     * A JSON call to the admin API: GET without a body, POST with one unless `method` says
     * otherwise. Returns `{status, body}` (body parsed, or null when empty); asserts nothing.
     */
    async api(path, body, { method = body === undefined ? "GET" : "POST" } = {}) {
      const res = await harness.admin(path, {
        method,
        headers: { "Content-Type": "application/json" },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      const text = await res.text();
      return { status: res.status, body: text ? JSON.parse(text) : null };
    },
    /** Sends events through `POST /v1/batch` (demo key), asserts 200 and returns the answer. */
    async batch(events, headers = basicAuth()) {
      const res = await harness.post("/v1/batch", { batch: events }, headers);
      const body = await res.json();
      assert.equal(res.status, 200, JSON.stringify(body));
      return body;
    },
    /** Creates or replaces a rule, asserts 200/201 and returns the answer. */
    async putRule(rule) {
      const res = await harness.admin(`/v1/rules/${rule.id}`, { method: "PUT", body: JSON.stringify(rule) });
      const body = await res.json();
      assert.ok(res.status === 200 || res.status === 201, JSON.stringify(body));
      return body;
    },
    /** POST a JSON (or raw) body to an ingest endpoint. */
    post(path, body, headers = {}) {
      const data = typeof body === "string" || body instanceof Uint8Array ? body : JSON.stringify(body);
      return fetch(new URL(path, url), {
        method: "POST",
        body: data,
        headers: { "Content-Type": "application/json", ...headers },
      });
    },
  };
  return harness;
}

/** Launches Debian's Chromium headless (never a downloaded browser). */
export function launchChromium() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM_PATH || "/usr/bin/chromium",
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      "--no-first-run",
      "--disable-quic",
    ],
  });
}

/** Spur and a headless Chromium, for a test file's `before` (close both with `closeAll`). */
export async function startSpurWithChromium(options) {
  const spur = await startSpur(options);
  try {
    return { spur, browser: await launchChromium() };
  } catch (e) {
    await spur.close();
    throw e;
  }
}

/** Closes what was started, in order, skipping what never started. */
export async function closeAll(...things) {
  for (const t of things) await t?.close();
}

/**
 * Polls `fn` until it returns a truthy value and returns that value. Throws when `timeoutMs`
 * passes first (with `message` and the last value), so a check that never comes true fails
 * its test even when the caller ignores the result.
 */
export async function eventually(fn, { timeoutMs = 10_000, intervalMs = 100, message = "condition" } = {}) {
  const deadline = Date.now() + timeoutMs;
  let last;
  for (;;) {
    last = await fn();
    if (last) return last;
    if (Date.now() >= deadline) break;
    await new Promise((r) => setTimeout(r, intervalMs));
  }
  let shown;
  try {
    shown = JSON.stringify(last);
  } catch {
    shown = String(last);
  }
  throw new Error(`eventually: ${message} not met within ${timeoutMs} ms (last value: ${shown})`);
}

/** Every event line in the R2 archive (gzip JSON lines under `events/`), in listing order. */
export async function archiveLines(spur) {
  const out = [];
  let cursor;
  do {
    const list = await spur.env.ARCHIVE.list({ prefix: "events/", cursor });
    for (const o of list.objects) {
      const obj = await spur.env.ARCHIVE.get(o.key);
      for (const line of gunzipSync(Buffer.from(await obj.arrayBuffer()))
        .toString()
        .split("\n")) {
        if (line) out.push(JSON.parse(line));
      }
    }
    cursor = list.truncated ? list.cursor : undefined;
  } while (cursor);
  return out;
}
