// Edge ablation (issue 15): Spur vs the pass-through like bench/edge.mjs, with parts of Spur's
// wrangler.toml switched off, to attribute the load gap. workerd runs every service of the
// harness on one thread, so a part's cost shows as lost requests/s. Run by hand after
// `npm run build` and the pass-through build (see bench/edge.mjs):
//   OFF=consumer,limiter,assets-first N=10 SECS=3 ROUNDS=2 SIZES=1,100 node bench/by-hand/edge-ablation.mjs
// OFF names what to switch off: `consumer` (Spur's events-queue consumer: events pile up in the
// queue), `limiter` (the ingest rate limiter), `assets-first` (drops `run_worker_first`, so the
// asset store is asked first). A copy of wrangler.toml is written beside it for the run and
// removed after. Progress and results go to stderr.
import { writeFileSync, readFileSync, rmSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { createTestHarness } from "wrangler";
import { ADMIN_TOKEN, TEST_CONFIG } from "../../tests/helpers/spur.mjs";
import { batch, closedLoop, post } from "../lib/ingest-load.mjs";
console.log = console.info = () => {};
const root = fileURLToPath(new URL("../..", import.meta.url));
const passRoot = fileURLToPath(new URL("../passthrough/", import.meta.url));
const OFF = (process.env.OFF ?? "").split(",").filter(Boolean);
const ABLATION_TOML = "wrangler.ablation.toml";

/** wrangler.toml with the parts named in OFF removed. */
function ablatedConfig() {
  let toml = readFileSync(`${root}/wrangler.toml`, "utf8");
  const cut = (re, what) => {
    if (!re.test(toml)) throw new Error(`wrangler.toml no longer has ${what}`);
    toml = toml.replace(re, "");
  };
  if (OFF.includes("consumer"))
    cut(/\[\[queues\.consumers\]\]\nqueue = "spur-events"\n[^[]*/, "the spur-events consumer");
  if (OFF.includes("limiter")) cut(/\[\[ratelimits\]\][^[]*/, "the ingest limiter");
  if (OFF.includes("assets-first")) cut(/run_worker_first = .*\n/, "run_worker_first");
  return toml;
}

async function startAblated() {
  writeFileSync(`${root}/${ABLATION_TOML}`, ablatedConfig());
  const server = createTestHarness({
    root,
    workers: [
      {
        configPath: `./${ABLATION_TOML}`,
        prebuiltWorkerDir: "./dist",
        secrets: { ADMIN_TOKEN, SPUR_CONFIG: JSON.stringify(TEST_CONFIG) },
      },
    ],
  });
  const { url } = await server.listen();
  await server.getWorker().applyD1Migrations("DB");
  return { url: new URL(url).origin, close: () => server.close() };
}
const med = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
async function serial(url, make, n) {
  const t = [];
  for (let i = 0; i < n; i++) {
    const { path, body } = make();
    const t0 = performance.now();
    const r = path ? await fetch(url + path) : await post(url, body);
    await r.arrayBuffer();
    if (r.status !== 200) throw new Error(`status ${r.status}`);
    t.push(performance.now() - t0);
  }
  return med(t);
}
async function load(url, size, ms, clients = 16) {
  const { lat, bad, secs } = await closedLoop(url, size, ms, clients);
  lat.sort((a, b) => a - b);
  return {
    rps: lat.length / secs,
    p50: lat[Math.floor(lat.length / 2)],
    p99: lat[Math.floor(lat.length * 0.99)],
    bad,
  };
}
const N = Number(process.env.N ?? 30),
  SECS = Number(process.env.SECS ?? 3),
  ROUNDS = Number(process.env.ROUNDS ?? 2);
console.error(`switched off: ${OFF.join(", ") || "nothing"}`);
const spur = await startAblated();
const ps = createTestHarness({
  root: passRoot,
  workers: [{ configPath: "./wrangler.toml", prebuiltWorkerDir: "./dist" }],
});
const pass = { url: new URL((await ps.listen()).url).origin };
for (const u of [spur.url, pass.url]) await load(u, 1, 500);
const out = {};
for (const [k, u, make] of [
  ["spur healthz", spur.url, () => ({ path: "/healthz" })],
  ["pass healthz", pass.url, () => ({ path: "/healthz" })],
  ["spur empty", spur.url, () => ({ body: '{"batch":[]}' })],
  ["spur 1", spur.url, () => ({ body: batch(1) })],
  ["pass 1", pass.url, () => ({ body: batch(1) })],
  ["spur 100", spur.url, () => ({ body: batch(100) })],
  ["pass 100", pass.url, () => ({ body: batch(100) })],
])
  out[k] = (await serial(u, make, N)).toFixed(1);
console.error(JSON.stringify(out));
if (!process.env.NOLOAD)
  for (const size of (process.env.SIZES ?? "1,100").split(",").map(Number)) {
    const acc = { spur: [], pass: [] };
    for (let r = 0; r < ROUNDS; r++)
      for (const n of r % 2 ? ["pass", "spur"] : ["spur", "pass"])
        acc[n].push(await load(n === "spur" ? spur.url : pass.url, size, SECS * 1000));
    const avg = (a, f) => a.reduce((s, x) => s + x[f], 0) / a.length;
    console.error(
      `size ${size}: spur ${avg(acc.spur, "rps").toFixed(0)} rps p50 ${avg(acc.spur, "p50").toFixed(0)} p99 ${avg(acc.spur, "p99").toFixed(0)} bad ${avg(acc.spur, "bad")} | pass ${avg(acc.pass, "rps").toFixed(0)} rps p50 ${avg(acc.pass, "p50").toFixed(0)} p99 ${avg(acc.pass, "p99").toFixed(0)} | ratio ${(avg(acc.spur, "rps") / avg(acc.pass, "rps")).toFixed(2)}`,
    );
  }
await spur.close();
await ps.close();
rmSync(`${root}/${ABLATION_TOML}`, { force: true });
process.exit(0);
