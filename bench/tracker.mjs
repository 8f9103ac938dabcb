// Tracker benchmark (issue 14): Spur's browser tracker against pinned peers in one run, in
// headless Chromium, every request going to a sink on loopback. Prints a Markdown section
// (scripts/bench appends it to bench/RESULTS.md). Not a test: nothing here passes or fails.
//
// For each tracker, one page; for each run, a fresh browser context (empty storage, cold
// caches) loads it, waits until the tracker is ready, then makes CALLS `track` calls with
// three properties in one synchronous burst. Measured per run:
//   - sync: the burst's own duration (performance.now() around the loop, in the page);
//   - CPU: main-thread CPU from the burst until every event reached the sink, from the
//     DevTools protocol (Performance.getMetrics ThreadTime; ScriptDuration and TaskDuration too);
//   - delivered: time from the end of the burst until the sink holds all CALLS events (each
//     call's index is in its properties, so duplicates are not counted twice);
//   - wire: bytes of the requests that carried events (request line, headers and body as sent);
//   - failed: requests the page saw fail (playwright `requestfailed`).
// Runs are interleaved (one of each tracker per round, rotating the order) and reported as
// medians with min–max, with ratios to Spur measured in the same run.
//
// Peers come from npm, pinned in bench/tracker/package.json and installed there by
// scripts/bench (never into the project's own dependencies): @snowplow/browser-tracker (UMD),
// @segment/analytics-next (the standalone build, served here with local settings), posthog-js
// (array.js with its extras off) and @plausible-analytics/tracker (the tiny reference).
// SPUR_BENCH_TRACKER_BASELINE=dir adds a row for another build of Spur's tracker (a directory
// holding spur.js and spur_tracker_bg.wasm), e.g. main's, to compare before and after.
import http from "node:http";
import { readFileSync, existsSync } from "node:fs";
import { gunzipSync, gzipSync } from "node:zlib";
import { extname, join, normalize } from "node:path";
import { fileURLToPath } from "node:url";
import { loadavg, cpus } from "node:os";
import { launchChromium } from "../tests/helpers/spur.mjs";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const PEERS = join(ROOT, "bench/tracker/node_modules");
// Three runs per tracker keep the whole bench under 20 minutes (issue 15: five took 327 s).
const RUNS = Number(process.env.SPUR_BENCH_TRACKER_RUNS || 3);
const CALLS = 1_000;
const DELIVERY_TIMEOUT_MS = 30_000;
const SEGMENT_KEY = "benchkey";
const BASELINE = process.env.SPUR_BENCH_TRACKER_BASELINE;

const SNIPPET = readFileSync(join(ROOT, "tracker/js/snippet.js"), "utf8");
const spurSnippet = (src) => {
  const at = SNIPPET.indexOf('"/tracker/spur.js", {');
  const config = { endpoint: "", writeKey: "bench", pageviews: false, clicks: false, tags: false };
  return `${SNIPPET.slice(0, at)}${JSON.stringify(src)}, ${JSON.stringify(config)});`;
};

// Each tracker: the page's <head>, which defines __benchReady() and __benchTrack(i, props).
const TRACKERS = {
  spur: (src = "/spur/spur.js") => `<script>${spurSnippet(src)}
    window.__benchReady = () => window.spur && !Array.isArray(window.spur);
    window.__benchTrack = (p) => spur.track("Bench Event", p);</script>`,
  snowplow: () => `<script async src="/peers/@snowplow/browser-tracker/dist/index.umd.min.js"
      onload="__benchInit()"></script>
    <script>let sp;
    window.__benchInit = () => {
      sp = snowplowBrowserTracking;
      sp.newTracker("sp", location.origin, { appId: "bench", encodeBase64: false, eventMethod: "post" });
    };
    window.__benchReady = () => !!sp;
    window.__benchTrack = (p) =>
      sp.trackSelfDescribingEvent({ event: { schema: "iglu:dev.spur/bench_event/jsonschema/1-0-0", data: p } });</script>`,
  segment: () => `<script>(function () {
      var a = (window.analytics = []);
      "track page identify ready".split(" ").forEach(function (m) {
        a[m] = function () { a.push([m].concat([].slice.call(arguments))); return a; };
      });
      a._writeKey = ${JSON.stringify(SEGMENT_KEY)};
      a._cdn = location.origin + "/seg-cdn";
      a.SNIPPET_VERSION = "5.2.1";
      a.ready(function () { window.__segReady = true; });
      var s = document.createElement("script");
      s.async = true;
      s.src = "/seg-cdn/analytics.js/v1/${SEGMENT_KEY}/analytics.min.js";
      document.head.appendChild(s);
    })();
    window.__benchReady = () => !!window.__segReady;
    window.__benchTrack = (p) => analytics.track("Bench Event", p);</script>`,
  posthog: () => `<script async src="/peers/posthog-js/dist/array.js" onload="__benchInit()"></script>
    <script>
    window.__benchInit = () => posthog.init("phc_bench", {
      api_host: location.origin + "/ph", autocapture: false, capture_pageview: false,
      capture_pageleave: false, disable_session_recording: true, disable_surveys: true,
      advanced_disable_flags: true, advanced_disable_decide: true, disable_external_dependency_loading: true,
      capture_exceptions: false, capture_heatmaps: false, capture_dead_clicks: false,
      capture_performance: false, disable_web_experiments: true, opt_out_useragent_filter: true,
      persistence: "localStorage", rate_limiting: { events_per_second: 100000, events_burst_limit: 100000 },
      loaded: () => (window.__phReady = true),
    });
    window.__benchReady = () => !!window.__phReady;
    window.__benchTrack = (p) => posthog.capture("Bench Event", p);</script>`,
  plausible: () => `<script type="module">
    import { init, track } from "/peers/@plausible-analytics/tracker/plausible.js";
    init({ domain: "bench.example", endpoint: location.origin + "/api/event", autoCapturePageviews: false,
      captureOnLocalhost: true, logging: false });
    window.__benchTrack = (p) => track("Bench Event", { props: p });
    window.__benchReady = () => true;</script>`,
};

// ---- the sink: pages, tracker files, collectors ----------------------------------------------

const TYPES = {
  ".js": "text/javascript",
  ".mjs": "text/javascript",
  ".wasm": "application/wasm",
  ".html": "text/html",
};
let run = null; // { seen: Set, lastAt, wire, requests, files: Set }

function serveFile(res, file) {
  if (!existsSync(file)) return res.writeHead(404).end();
  const body = readFileSync(file);
  run?.files.add(file);
  res.writeHead(200, {
    "Content-Type": TYPES[extname(file)] ?? "application/octet-stream",
    "Cache-Control": "no-store",
  });
  res.end(body);
}

function collect(req, body) {
  if (!run) return;
  run.requests++;
  // "Name: value\r\n" per header: each name and each value plus two bytes; then a blank line.
  const headers = req.rawHeaders.reduce((n, h) => n + Buffer.byteLength(h) + 2, 0);
  run.wire += Buffer.byteLength(`${req.method} ${req.url} HTTP/1.1\r\n`) + headers + 2 + body.length;
  let text = body;
  try {
    // Spur says Content-Encoding: gzip; posthog-js sends gzip as text/plain: sniff the magic.
    if (body[0] === 0x1f && body[1] === 0x8b) text = gunzipSync(body);
  } catch {}
  text = text.toString("utf8");
  const before = run.seen.size;
  for (const m of text.matchAll(/bench:(\d+)/g)) run.seen.add(Number(m[1]));
  if (run.seen.size > before) run.lastAt = performance.now();
}

function segmentSettings(origin) {
  const host = new URL(origin).host;
  return {
    integrations: {
      "Segment.io": {
        apiKey: SEGMENT_KEY,
        apiHost: `${host}/seg`,
        protocol: "http",
        unbundledIntegrations: [],
      },
    },
    plan: { track: { __default: { enabled: true, integrations: {} } } },
    edgeFunction: {},
    analyticsNextEnabled: true,
    middlewareSettings: {},
    enabledMiddleware: {},
    metrics: { sampleRate: 0 },
    legacyVideoPluginsEnabled: false,
    remotePlugins: [],
  };
}

function sink() {
  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", () => {
      const url = new URL(req.url, "http://sink");
      const p = url.pathname;
      const origin = `http://${req.headers.host}`;
      if (p.startsWith("/page/")) {
        const [name, arg] = p.slice(6).split("/");
        const head = name === "spur-baseline" ? TRACKERS.spur("/spur-baseline/spur.js") : TRACKERS[name]?.();
        if (!head) return res.writeHead(404).end();
        res.writeHead(200, { "Content-Type": "text/html; charset=utf-8" });
        return res.end(
          `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>bench ${name}</title>${head}</head><body><p>${arg ?? ""}</p></body></html>`,
        );
      }
      if (p.startsWith("/spur/")) return serveFile(res, join(ROOT, "www/tracker", normalize(p.slice(6))));
      if (p.startsWith("/spur-baseline/")) return serveFile(res, join(BASELINE, normalize(p.slice(15))));
      if (p.startsWith("/peers/")) return serveFile(res, join(PEERS, normalize(p.slice(7))));
      if (p.startsWith("/seg-cdn/analytics.js/"))
        return serveFile(res, join(PEERS, "@segment/analytics-next/dist/umd/standalone.js"));
      if (p.startsWith("/seg-cdn/analytics-next/bundles/"))
        return serveFile(res, join(PEERS, "@segment/analytics-next/dist/umd", normalize(p.split("/").pop())));
      if (p.startsWith(`/seg-cdn/v1/projects/`)) {
        res.writeHead(200, { "Content-Type": "application/json" });
        return res.end(JSON.stringify(segmentSettings(origin)));
      }
      if (req.method === "POST") collect(req, Buffer.concat(chunks));
      if (process.env.SPUR_BENCH_TRACKER_DEBUG)
        console.error(
          req.method,
          req.url,
          JSON.stringify(req.headers),
          Buffer.concat(chunks).subarray(0, 40),
          run?.seen.size,
        );
      res.writeHead(200, { "Content-Type": "application/json" });
      res.end("{}");
    });
  });
  return new Promise((resolve) => server.listen(0, "127.0.0.1", () => resolve(server)));
}

// ---- one run ---------------------------------------------------------------------------------

const metric = (m, name) => m.metrics.find((x) => x.name === name)?.value ?? 0;

async function once(browser, origin, name) {
  const context = await browser.newContext();
  const page = await context.newPage();
  let failed = 0;
  page.on("requestfailed", () => failed++);
  const cdp = await context.newCDPSession(page);
  await cdp.send("Performance.enable");
  run = { seen: new Set(), lastAt: 0, wire: 0, requests: 0, files: new Set() };
  await page.goto(`${origin}/page/${name}`);
  await page.waitForFunction(() => window.__benchReady?.(), null, { timeout: 15_000 });
  // What the page loaded, before the burst: the tracker's own files.
  const loaded = [...run.files].reduce((n, f) => n + gzipSync(readFileSync(f), { level: 9 }).length, 0);
  await page.waitForTimeout(200); // let start-up work settle
  const requestsBefore = run.requests,
    wireBefore = run.wire;
  const before = await cdp.send("Performance.getMetrics");
  const { sync } = await page.evaluate((calls) => {
    const t0 = performance.now();
    for (let i = 0; i < calls; i++) __benchTrack({ n: `bench:${i}`, price: 9.99, sku: `sku-${i % 10}` });
    return { sync: performance.now() - t0 };
  }, CALLS);
  const burstEnd = performance.now();
  const deadline = burstEnd + DELIVERY_TIMEOUT_MS;
  while (run.seen.size < CALLS && performance.now() < deadline) await new Promise((r) => setTimeout(r, 5));
  const delivered = run.seen.size;
  const deliveredMs = delivered >= CALLS ? Math.max(0, run.lastAt - burstEnd) : NaN;
  await page.waitForTimeout(300); // trailing work of the last answers
  const after = await cdp.send("Performance.getMetrics");
  const d = (k) => (metric(after, k) - metric(before, k)) * 1000;
  const result = {
    loaded,
    sync,
    cpu: d("ThreadTime"),
    script: d("ScriptDuration"),
    task: d("TaskDuration"),
    deliveredMs,
    delivered,
    wire: run.wire - wireBefore,
    requests: run.requests - requestsBefore,
    failed,
  };
  run = null;
  await context.close();
  return result;
}

// ---- report ----------------------------------------------------------------------------------

const median = (xs) => {
  const s = xs.filter((x) => !Number.isNaN(x)).toSorted((a, b) => a - b);
  if (!s.length) return NaN;
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
const fmt = (x, unit) =>
  Number.isNaN(x)
    ? "—"
    : unit === "KB"
      ? `${(x / 1024).toFixed(1)} KB`
      : unit === "s"
        ? `${(x / 1000).toFixed(2)} s`
        : `${Math.round(x)} ms`;
const cell = (xs, unit) => {
  const ok = xs.filter((x) => !Number.isNaN(x));
  if (!ok.length) return "— (never all)";
  const range = `${fmt(Math.min(...ok), unit)}–${fmt(Math.max(...ok), unit)}`;
  return `${fmt(median(xs), unit)} (${range})${ok.length < xs.length ? ` [${xs.length - ok.length} runs short]` : ""}`;
};

async function main() {
  const server = await sink();
  const origin = `http://127.0.0.1:${server.address().port}`;
  const loadBefore = loadavg()
    .map((x) => x.toFixed(1))
    .join(" ");
  const browser = await launchChromium();
  const version = browser.version();
  // SPUR_BENCH_TRACKER_ONLY=spur,posthog runs only those (while iterating).
  const only = process.env.SPUR_BENCH_TRACKER_ONLY?.split(",");
  const names = Object.keys(TRACKERS).filter((n) => !only || only.includes(n));
  if (BASELINE && names.includes("spur")) names.splice(1, 0, "spur-baseline");
  const results = Object.fromEntries(names.map((n) => [n, []]));
  try {
    for (let r = 0; r < RUNS; r++) {
      // Rotate the order so no tracker always runs first (or right after the same one).
      const order = names.map((_, i) => names[(i + r) % names.length]);
      for (const name of order) {
        try {
          results[name].push(await once(browser, origin, name));
        } catch (e) {
          console.error(`bench tracker: ${name} run ${r}: ${e.message.split("\n")[0]}`);
        }
      }
    }
  } finally {
    await browser.close();
    server.close();
  }
  const rows = [];
  rows.push(`## Tracker: ${CALLS.toLocaleString("en")} \`track\` calls with 3 properties, in one burst`, "");
  rows.push(
    `${new Date().toISOString()}; load average before/after ${loadBefore} / ${loadavg()
      .map((x) => x.toFixed(1))
      .join(" ")} (${cpus().length} cores: ratios within this run are what compares).`,
    "",
  );
  rows.push(
    `Headless Chromium ${version}, a fresh context per run, ${RUNS} interleaved runs per tracker, every request to a sink on loopback.`,
    "Median (min–max). *sync*: the burst's own duration; *CPU*: main-thread CPU (DevTools `ThreadTime`) from the burst until all events arrived;",
    "*delivered*: from the end of the burst until the sink held all of them; *wire*: request bytes (line, headers, body as sent) of the requests that carried events.",
    "",
  );
  rows.push(
    "| tracker | loaded (gzip -9) | sync | main-thread CPU | ScriptDuration | TaskDuration | delivered | wire | requests | failed requests |",
  );
  rows.push("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
  const med = {};
  for (const name of names) {
    const rs = results[name];
    if (!rs.length) {
      rows.push(`| ${name} | — | — | — | — | — | — | — | — | — |`);
      continue;
    }
    const col = (k) => rs.map((x) => x[k]);
    med[name] = Object.fromEntries(Object.keys(rs[0]).map((k) => [k, median(col(k))]));
    rows.push(
      `| ${label(name)} | ${fmt(med[name].loaded, "KB")} | ${cell(col("sync"))} | ${cell(col("cpu"))} | ${cell(col("script"))} | ${cell(col("task"))} | ${cell(col("deliveredMs"), "s")} | ${cell(col("wire"), "KB")} | ${median(col("requests"))} | ${median(col("failed"))} |`,
    );
  }
  rows.push("", "Ratios of Spur's medians to each tracker's (below 1: Spur uses less):", "");
  rows.push("| vs | loaded | sync | main-thread CPU | delivered | wire |", "|---|---:|---:|---:|---:|---:|");
  const ratio = (a, b) => (Number.isFinite(a / b) ? (a / b).toFixed(2) : "—");
  for (const name of names.filter((n) => n !== "spur" && med[n] && med.spur)) {
    const [s, p] = [med.spur, med[name]];
    rows.push(
      `| ${label(name)} | ${ratio(s.loaded, p.loaded)} | ${ratio(s.sync, p.sync)} | ${ratio(s.cpu, p.cpu)} | ${ratio(s.deliveredMs, p.deliveredMs)} | ${ratio(s.wire, p.wire)} |`,
    );
  }
  console.log(`${rows.join("\n")}\n`);
}

const VERSIONS = JSON.parse(readFileSync(join(ROOT, "bench/tracker/package.json"), "utf8")).dependencies;
function label(name) {
  const pkg = {
    snowplow: "@snowplow/browser-tracker",
    segment: "@segment/analytics-next",
    posthog: "posthog-js",
    plausible: "@plausible-analytics/tracker",
  }[name];
  if (pkg) return `${pkg} ${VERSIONS[pkg]}`;
  return name === "spur" ? "**Spur** (this build)" : "Spur (baseline build)";
}
await main();
