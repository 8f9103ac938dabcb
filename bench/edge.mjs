// Edge performance (issue 15): Spur's built Worker against a pass-through Rust Worker
// (bench/passthrough: read the body, one queue send, 200), both run by wrangler's test harness
// (workerd directly, not the `wrangler dev` proxy) with their queue consumers running.
// Sections: load (16 clients, interleaved rounds), a request-shape profile (one client, serial),
// cold start, and the size table. Progress goes to stderr; markdown to stdout (scripts/bench
// appends it to bench/RESULTS.md). Bounded: ~2–3 minutes on the 2-core dev machine.
// Run: `npm run bench`, or `node bench/edge.mjs [--seconds 3] [--rounds 3]` after `npm run build`
// and `(cd bench/passthrough && wrangler deploy --dry-run --outdir dist)` (scripts/bench does both).
import os from "node:os";
import { gzipSync } from "node:zlib";
import { readFileSync, existsSync, statSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { createTestHarness } from "wrangler";
import { startSpur, ADMIN_TOKEN } from "../tests/helpers/spur.mjs";
import { batch, closedLoop, post } from "./lib/ingest-load.mjs";
import { crateSizes, group, wasmIn } from "./lib/wasm-crates.mjs";

const arg = (name, dflt) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : dflt;
};
const SECONDS = Number(arg("seconds", "3"));
const ROUNDS = Number(arg("rounds", "3"));
const CLIENTS = 16;
const SERIAL = Number(arg("serial", "30"));
const COLD = Number(arg("cold", "3"));
const ONLY = arg("only", "");
const root = fileURLToPath(new URL("..", import.meta.url));
const passRoot = fileURLToPath(new URL("./passthrough/", import.meta.url));
const log = (...a) => console.error("[edge bench]", ...a);
// workerd/miniflare log through console (e.g. one line per queue batch): keep stdout for the
// markdown section alone.
console.log = console.info = (...a) => console.error(...a);

async function startPass() {
  const server = createTestHarness({
    root: passRoot,
    workers: [{ configPath: "./wrangler.toml", prebuiltWorkerDir: "./dist" }],
  });
  const { url } = await server.listen();
  return { url: new URL(url).origin, close: () => server.close() };
}

const pct = (sorted, p) => sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))];
const median = (xs) =>
  pct(
    [...xs].sort((a, b) => a - b),
    0.5,
  );

/** `CLIENTS` closed-loop clients for `ms`; every answer must be 200. */
async function load(url, size, ms) {
  const r = await closedLoop(url, size, ms, CLIENTS);
  return { n: r.lat.length, ...r };
}

async function serial(url, make, n = SERIAL) {
  const times = [];
  for (let i = 0; i < n; i++) {
    const { path, body } = make();
    const t = performance.now();
    const res = body === undefined ? await fetch(`${url}${path}`) : await post(url, body);
    await res.arrayBuffer();
    if (res.status !== 200) throw new Error(`${path ?? "POST /v1/batch"}: ${res.status}`);
    times.push(performance.now() - t);
  }
  return median(times);
}

const kb = (n) => `${(n / 1024).toFixed(0)} KB`;
// MiB (2^20 B), with the exact bytes: the 10^6 B and 1 MiB marks are 48 KB apart.
const mb = (n) => `${(n / 1048576).toFixed(2)} MiB (${n.toLocaleString("en-US")} B)`;

async function main() {
  const lines = [];
  const out = (s = "") => lines.push(s);
  out("## Edge: Spur vs a pass-through Worker (bench/edge.mjs)");
  out();
  out(
    `Run ${new Date().toISOString().slice(0, 10)} on ${os.cpus().length} × ${os.cpus()[0]?.model.trim()}, Node ${process.version}; ` +
      "both Workers are release builds (worker 0.8.7, opt-level z + LTO + wasm-opt) in wrangler's test harness (workerd, no `wrangler dev` proxy), " +
      "queue consumers running. The pass-through (bench/passthrough) reads the body, makes one queue send and answers 200.",
  );
  out();

  if (ONLY !== "sizes") await timings(out);
  sizes(out);
  process.stdout.write(`${lines.join("\n")}\n`);
}

async function timings(out) {
  // Cold start first, while the machine is quiet: process start → first answer, then the first
  // request on the fresh isolate.
  log("cold starts");
  // Three Workers: Spur, the pass-through, and the pass-through behind Spur's [assets] routing
  // (passthrough/wrangler.assets.toml): what the platform's asset layer costs either of them.
  const cold = { spur: [], pass: [], passAssets: [] };
  for (let i = 0; i < COLD; i++) {
    for (const [name, start] of [
      [
        "spur",
        () => {
          const s = createTestHarness({
            root,
            workers: [
              { configPath: "./wrangler.toml", prebuiltWorkerDir: "./dist", secrets: { ADMIN_TOKEN } },
            ],
          });
          return s;
        },
      ],
      [
        "pass",
        () =>
          createTestHarness({
            root: passRoot,
            workers: [{ configPath: "./wrangler.toml", prebuiltWorkerDir: "./dist" }],
          }),
      ],
      [
        "passAssets",
        () =>
          createTestHarness({
            root: passRoot,
            workers: [{ configPath: "./wrangler.assets.toml", prebuiltWorkerDir: "./dist" }],
          }),
      ],
    ]) {
      const t0 = performance.now();
      const server = start();
      const { url } = await server.listen();
      const t1 = performance.now();
      const r1 = await fetch(new URL("/healthz", url));
      await r1.arrayBuffer();
      const t2 = performance.now();
      const r2 = await fetch(new URL("/healthz", url));
      await r2.arrayBuffer();
      const t3 = performance.now();
      if (r1.status !== 200 || r2.status !== 200)
        throw new Error(`${name} healthz ${r1.status}/${r2.status}`);
      // Then the isolate's first ingest: its code runs for the first time, and Spur fills its
      // per-isolate caches (configuration, rules, journeys) from D1. Migrations are applied
      // through the harness, outside the Worker's isolate.
      if (name === "spur") await server.getWorker().applyD1Migrations("DB");
      const origin = new URL(url).origin;
      const t4 = performance.now();
      const r3 = await post(origin, batch(1));
      await r3.arrayBuffer();
      const t5 = performance.now();
      const r4 = await post(origin, batch(1));
      await r4.arrayBuffer();
      const t6 = performance.now();
      if (r3.status !== 200 || r4.status !== 200) throw new Error(`${name} POST ${r3.status}/${r4.status}`);
      cold[name].push({
        total: t2 - t0,
        listen: t1 - t0,
        first: t2 - t1,
        warm: t3 - t2,
        firstPost: t5 - t4,
        warmPost: t6 - t5,
      });
      await server.close();
    }
  }

  log("starting both Workers");
  const spur = await startSpur();
  const pass = await startPass();
  const targets = { spur: spur.url, pass: pass.url };
  for (const url of Object.values(targets)) await load(url, 1, 500); // warm both

  // Request-shape profile: one client, serial, median — differences attribute Spur's time.
  log("request-shape profile");
  const shapes = [
    ["GET /healthz (routing floor)", "spur", () => ({ path: "/healthz" })],
    [
      "POST /v1/batch, empty batch (auth, limiter, config, response)",
      "spur",
      () => ({ body: JSON.stringify({ batch: [] }) }),
    ],
    ["POST /v1/batch, 1 event", "spur", () => ({ body: batch(1) })],
    ["POST /v1/batch, 100 events", "spur", () => ({ body: batch(100) })],
    ["pass-through GET /healthz", "pass", () => ({ path: "/healthz" })],
    ["pass-through POST, 1 event", "pass", () => ({ body: batch(1) })],
    ["pass-through POST, 100 events", "pass", () => ({ body: batch(100) })],
  ];
  const prof = {};
  for (const [label, t, make] of shapes) prof[label] = await serial(targets[t], make);
  log(`load: ${ROUNDS} interleaved rounds × ${SECONDS}s, ${CLIENTS} clients`);
  const acc = {};
  for (let r = 0; r < ROUNDS; r++) {
    for (const size of [1, 100]) {
      for (const name of r % 2 ? ["pass", "spur"] : ["spur", "pass"]) {
        const res = await load(targets[name], size, SECONDS * 1000);
        const k = `${name}/${size}`;
        acc[k] ??= { n: 0, secs: 0, lat: [], bad: 0 };
        acc[k].n += res.n;
        acc[k].secs += res.secs;
        acc[k].lat.push(...res.lat);
        acc[k].bad += res.bad;
        log(k, `${(res.n / res.secs).toFixed(0)} req/s`);
      }
    }
  }
  const row = (k) => {
    const a = acc[k];
    const s = [...a.lat].sort((x, y) => x - y);
    return { rps: a.n / a.secs, p50: pct(s, 0.5), p99: pct(s, 0.99), bad: a.bad };
  };
  out(`### Load: ${CLIENTS} concurrent clients, ${ROUNDS} interleaved rounds × ${SECONDS} s per cell`);
  out();
  out("| route | Worker | requests/s | events/s | p50 | p99 | p99/p50 | × pass-through req/s | non-200 |");
  out("|---|---|---:|---:|---:|---:|---:|---:|---:|");
  for (const size of [1, 100]) {
    const p = row(`pass/${size}`);
    for (const name of ["pass", "spur"]) {
      const x = row(`${name}/${size}`);
      out(
        `| POST /v1/batch, ${size} event${size > 1 ? "s" : ""} | ${name === "spur" ? "Spur" : "pass-through (baseline)"} | ${x.rps.toFixed(0)} | ${(x.rps * size).toFixed(0)} | ${x.p50.toFixed(1)} ms | ${x.p99.toFixed(1)} ms | ${(x.p99 / x.p50).toFixed(1)} | ${(x.rps / p.rps).toFixed(2)} | ${x.bad} |`,
      );
    }
  }
  out();

  // 1,000 rules on the bench's event name, distinct property predicates, none firing — on a
  // fresh Spur, so the load phase's queue backlog (its consumer still draining) stays out.
  await spur.close();
  const ruled = await startSpur();
  // Warmed as long as it is measured: on a fresh isolate the first requests run code V8 has not
  // yet optimised (with 3 warm-up requests, this row came out 5–12 ms slower than the 1,000-rule
  // row measured after the rule writes had warmed the isolate).
  await serial(ruled.url, () => ({ body: batch(100) }));
  prof["POST /v1/batch, 100 events, fresh instance, 0 rules"] = await serial(ruled.url, () => ({
    body: batch(100),
  }));
  log("storing 1,000 rules");
  const putRule = async (i) => {
    const rule = {
      trigger: {
        events: ["Product Viewed"],
        condition: {
          and: [
            { "==": [{ var: "properties.sku" }, `RULE-SKU-${i}`] },
            { ">=": [{ var: "properties.price" }, i % 100] },
          ],
        },
      },
      actions: [{ type: "message", title: "t", body: "b" }],
    };
    const res = await ruled.admin(`/v1/rules/r-${i}`, { method: "PUT", body: JSON.stringify(rule) });
    if (res.status >= 300) throw new Error(`rule ${i}: ${res.status} ${await res.text()}`);
  };
  for (let i = 0; i < 1000; i += 8) await Promise.all(Array.from({ length: 8 }, (_, j) => putRule(i + j)));
  await serial(ruled.url, () => ({ body: batch(100) })); // the index is rebuilt once; warm again
  prof["POST /v1/batch, 100 events, fresh instance, 1,000 rules"] = await serial(ruled.url, () => ({
    body: batch(100),
  }));
  await ruled.close();
  const p100 = prof["pass-through POST, 100 events"];
  out(
    `### Where Spur's time goes: one client, serial, median of ${SERIAL} (wall time ≈ CPU on an idle isolate)`,
  );
  out();
  out("| request | median | over pass-through (same size) |");
  out("|---|---:|---:|");
  for (const [label, v] of Object.entries(prof)) {
    const base = label.includes("100 events")
      ? p100
      : label.includes("1 event")
        ? prof["pass-through POST, 1 event"]
        : null;
    out(
      `| ${label} | ${v.toFixed(2)} ms | ${base && !label.startsWith("pass") ? `+${(v - base).toFixed(2)} ms` : "—"} |`,
    );
  }
  out();
  out(
    `Spur's own cost per 100-event batch ≈ ${(prof["POST /v1/batch, 100 events"] - p100).toFixed(2)} ms without rules and ` +
      `${(prof["POST /v1/batch, 100 events, fresh instance, 1,000 rules"] - prof["POST /v1/batch, 100 events, fresh instance, 0 rules"]).toFixed(2)} ms more with 1,000 rules (same fresh instance, before and after storing them) (serial latency over the pass-through's; ` +
      "workerd here reports no per-request CPU time, so this wall-time difference is the CPU proxy).",
  );
  out();
  await pass.close();

  const cs = (name, f) => median(cold[name].map(f));
  out(`### Cold start (median of ${COLD} fresh workerd processes each)`);
  out();
  out("| | Spur | pass-through | × pass-through | pass-through behind Spur's asset routing | Spur × that |");
  out("|---|---:|---:|---:|---:|---:|");
  for (const [label, f] of [
    ["process start → first answer (harness start + first GET /healthz)", (c) => c.total],
    ["  of which: workerd start + script load (listen)", (c) => c.listen],
    ["first request on the fresh isolate", (c) => c.first],
    ["second request (warm)", (c) => c.warm],
    ["then the first POST /v1/batch, 1 event (the isolate's first ingest)", (c) => c.firstPost],
    ["second POST /v1/batch, 1 event (warm)", (c) => c.warmPost],
  ]) {
    out(
      `| ${label} | ${cs("spur", f).toFixed(0)} ms | ${cs("pass", f).toFixed(0)} ms | ${(cs("spur", f) / cs("pass", f)).toFixed(2)} | ` +
        `${cs("passAssets", f).toFixed(0)} ms | ${(cs("spur", f) / cs("passAssets", f)).toFixed(2)} |`,
    );
  }
  out();
  out(
    "Spur serves its dashboard and demo as static assets, so its requests pass the platform's asset routing " +
      "(`run_worker_first` for `/v1/*` and `/healthz`) before the Worker runs; the last two columns compare it with the " +
      "pass-through behind the same routing and files. `GET /healthz` touches no binding: the rest of the first " +
      "request is the Worker's own first run (the module is instantiated at script load, in listen; V8 compiles each wasm " +
      "function when it is first called). The first ingest adds, for Spur, the per-isolate caches' D1 reads.",
  );
  out();
}

function sizes(out) {
  // Sizes: the deployable modules, and what each crate adds to Spur's code (name section of the
  // pre-wasm-opt build in target/, shares applied to the shipped module).
  const spurWasm = wasmIn(`${root}/dist`);
  const passWasm = wasmIn(`${passRoot}/dist`);
  out("### Size (the deployable modules)");
  out();
  out("| module | raw | gzip -9 | share of the free plan's 3 MiB gzip | of the paid 10 MiB |");
  out("|---|---:|---:|---:|---:|");
  for (const [label, buf] of [
    ["Spur (dist/)", spurWasm],
    ["pass-through (bench/passthrough/dist/)", passWasm],
  ]) {
    if (!buf) {
      out(`| ${label} | — | — | — | — |`);
      continue;
    }
    const gz = gzipSync(buf, { level: 9 }).length;
    out(
      `| ${label} | ${mb(buf.length)} | ${mb(gz)} | ${((100 * gz) / (3 * 1048576)).toFixed(0)}% | ${((100 * gz) / (10 * 1048576)).toFixed(0)}% |`,
    );
  }
  out();
  // scripts/build-edge's nightly release build has its own target dir under the cargo target dir
  // (CARGO_TARGET_DIR when set, as the build scripts read it); the newer module wins.
  const target = process.env.CARGO_TARGET_DIR || `${root}/target`;
  const pre = [
    `${target}/edge-nightly/wasm32-unknown-unknown/release/spur_edge.wasm`,
    `${target}/wasm32-unknown-unknown/release/spur_edge.wasm`,
  ]
    .filter((f) => existsSync(f))
    .sort((a, b) => statSync(b).mtimeMs - statSync(a).mtimeMs)[0];
  if (pre) {
    const s = crateSizes(readFileSync(pre));
    const by = new Map();
    for (const [c, n] of s.by) by.set(group(c), (by.get(group(c)) ?? 0) + n);
    const total = s.code + s.data;
    const shipGz = gzipSync(spurWasm ?? readFileSync(pre), { level: 9 }).length;
    out(
      `What each dependency adds to Spur (code bytes by crate from the name section of ${pre.replace(root, "")}, ` +
        `built ${statSync(pre).mtime.toISOString().slice(0, 16)}; ${s.named} named functions; the data section holds string tables and constants). ` +
        "The gzip column applies each share to the shipped module's gzip size (an estimate: wasm-opt and gzip do not shrink every crate alike).",
    );
    out();
    out("| part | code+data bytes (pre-wasm-opt) | share | ≈ gzip in the shipped module |");
    out("|---|---:|---:|---:|");
    const rows = [...by.entries(), ["data section (all crates)", s.data]].sort((a, b) => b[1] - a[1]);
    for (const [g, n] of rows)
      out(`| ${g} | ${kb(n)} | ${((100 * n) / total).toFixed(1)}% | ${kb((shipGz * n) / total)} |`);
    out();
  }
}

main().then(
  () => process.exit(0),
  (e) => {
    console.error(e);
    process.exit(1);
  },
);
