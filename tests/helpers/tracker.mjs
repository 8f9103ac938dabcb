// Helpers for the tracker's browser tests: pages that embed the real snippet, served on the
// Worker's origin through Playwright routing (so they never ship in www/), plus ways to look
// at what a page sent and stored.
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { gunzipSync } from "node:zlib";
import { eventually } from "./spur.mjs";

const root = fileURLToPath(new URL("../..", import.meta.url));
const SNIPPET = readFileSync(`${root}/tracker/js/snippet.js`, "utf8");

/** The real snippet (tracker/js/snippet.js) with `config` in place of its example config. */
export function snippet(config) {
  const i = SNIPPET.indexOf('"/tracker/spur.js", {');
  if (i < 0) throw new Error("snippet.js changed shape: no config object after the src");
  return `${SNIPPET.slice(0, i)}"/tracker/spur.js", ${JSON.stringify(config)});\n`;
}

/** A page embedding the snippet with `config` (defaults: same origin, the demo write key). */
export function pageHtml({ config = {}, title = "Spur test", body = "" } = {}) {
  const cfg = { endpoint: "", writeKey: "spur_demo_write_key", ...config };
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${title}</title>
<script>${snippet(cfg)}</script></head><body>${body}</body></html>`;
}

/**
 * Serves `html` for every URL under `/__test/` in `context` (any path, so SPA routes reload
 * fine), with `headers` (e.g. a Content-Security-Policy).
 */
export async function serveTestPages(context, html, headers = {}) {
  await context.route(/\/__test\//, (route) =>
    route.fulfill({ status: 200, contentType: "text/html; charset=utf-8", headers, body: html }),
  );
}

/**
 * Collects the bodies of every `/v1/batch` request the context's pages make (fetch and
 * beacons), gunzipped when sent with `Content-Encoding: gzip`; `gzip` says which were.
 */
export function recordBatches(context) {
  const bodies = [];
  context.on("request", (req) => {
    if (req.url().endsWith("/v1/batch") && req.method() === "POST") {
      const gzip = /gzip/i.test(req.headers()["content-encoding"] ?? "");
      try {
        const raw = req.postDataBuffer() ?? Buffer.alloc(0);
        const body = JSON.parse((gzip ? gunzipSync(raw) : raw).toString("utf8"));
        bodies.push({ page: req.frame()?.page(), body, gzip });
      } catch {
        bodies.push({ page: null, body: null, gzip });
      }
    }
  });
  return bodies;
}

/** Waits until the tracker replaced the snippet's stub with its API. */
export async function trackerReady(page) {
  await page.waitForFunction(() => window.spur && !Array.isArray(window.spur), null, { timeout: 10_000 });
}

/** Every client-side store a tracker could write: localStorage, sessionStorage, cookies, IndexedDB. */
export async function clientStorage(page) {
  const inPage = await page.evaluate(async () => ({
    local: Object.keys(localStorage),
    session: Object.keys(sessionStorage),
    indexedDB: (await indexedDB.databases()).map((d) => d.name),
    documentCookie: document.cookie,
  }));
  return { ...inPage, cookies: await page.context().cookies() };
}

/** Rows of `events` matching `where` (SQL), polled until `count` are there (or the timeout). */
export async function eventsWhere(spur, where, count, { timeoutMs = 10_000, params = [] } = {}) {
  const sql = `SELECT * FROM events WHERE ${where} ORDER BY ts_ms, received_at`;
  // On timeout, the rows there are: the caller's assertion on them says what is missing.
  return eventually(
    async () => {
      const rows = await spur.rows(sql, ...params);
      return rows.length >= count ? rows : null;
    },
    { timeoutMs },
  ).catch(() => spur.rows(sql, ...params));
}

/** Lets the page run for `ms` (timers, retries). */
export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
