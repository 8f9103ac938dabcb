// Times the analysis queries through the real Worker (wrangler's test harness: workerd + local
// D1 in SQLite) at ~100k and ~1M generated events. Progress goes to stderr; the markdown section
// goes to stdout (scripts/bench appends it to bench/RESULTS.md).
// Run: `npm run bench` (or `node bench/queries.mjs [--sizes 100000,1000000] [--runs 3]`).
import os from "node:os";
import { startSpur, ADMIN_TOKEN } from "../tests/helpers/spur.mjs";
import { generate, insertAll } from "../tests/helpers/generate.mjs";
import { QUERIES, T0 } from "./analysis-queries.mjs";

const arg = (name, dflt) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : dflt;
};
const SIZES = arg("sizes", "100000,1000000").split(",").map(Number);
const RUNS = Number(arg("runs", "3"));
const EVENTS_PER_USER = 8.2; // measured mean of generate()

async function time(spur, path, body) {
  const times = [];
  let answer;
  for (let i = 0; i < RUNS; i++) {
    const t = performance.now();
    const res = await fetch(`${spur.url}${path}`, {
      method: "POST",
      headers: { Authorization: `Bearer ${ADMIN_TOKEN}` },
      body: JSON.stringify(body),
    });
    answer = await res.json();
    if (!res.ok) throw new Error(`${path}: ${JSON.stringify(answer)}`);
    times.push(performance.now() - t);
  }
  times.sort((a, b) => a - b);
  return { median: times[Math.floor(times.length / 2)], min: times[0], answer };
}

// Baselines measured in the same run, so ratios survive a noisy machine: the fixed cost of a
// round trip to the Worker, and one plain pass over every event straight on D1.
async function timeFn(fn) {
  const times = [];
  for (let i = 0; i < RUNS; i++) {
    const t = performance.now();
    await fn();
    times.push(performance.now() - t);
  }
  times.sort((a, b) => a - b);
  return { median: times[Math.floor(times.length / 2)], min: times[0] };
}
const BASELINES = {
  "baseline: GET /healthz round trip": (spur) => fetch(`${spur.url}/healthz`).then((r) => r.text()),
  "baseline: one scan, SELECT count(*), json_extract over all events (D1 direct)": (spur) =>
    spur.db.prepare("SELECT count(*), count(json_extract(properties, '$.category')) FROM events").all(),
};

const summary = (a) =>
  a.steps
    ? `entered ${a.steps.map((s) => s.entered).join(" → ")}`
    : a.cohorts
      ? `${a.cohorts.reduce((n, c) => n + c.size, 0)} people in ${a.cohorts.length} cohorts`
      : a.count != null
        ? `${a.count} people`
        : `${a.totalEvents} events, ${a.totalUsers} people`;

const spur = await startSpur();
const results = [];
let users = 0,
  events = 0;
try {
  for (const size of SIZES) {
    const add = Math.round((size - events) / EVENTS_PER_USER);
    const t = performance.now();
    // Generate and insert in slices to bound memory.
    for (let done = 0; done < add; done += 20_000) {
      const n = Math.min(20_000, add - done);
      const data = generate({ users: n, seed: 1000 + users, start: T0, days: 14, firstId: users });
      await insertAll(spur.db, data);
      users += n;
      events += data.events.length;
    }
    const loadS = (performance.now() - t) / 1000;
    console.error(`${events} events, ${users} people (loaded in ${loadS.toFixed(0)} s)`);
    const row = { events, users, loadS, q: {}, b: {} };
    for (const [name, fn] of Object.entries(BASELINES)) {
      row.b[name] = await timeFn(() => fn(spur));
      console.error(`  ${name.padEnd(48)} median ${row.b[name].median.toFixed(1).padStart(6)} ms`);
    }
    for (const [name, [path, body]] of Object.entries(QUERIES)) {
      const r = await time(spur, path, body);
      row.q[name] = r;
      console.error(
        `  ${name.padEnd(48)} median ${r.median.toFixed(0).padStart(6)} ms  min ${r.min.toFixed(0).padStart(6)} ms  (${summary(r.answer)})`,
      );
    }
    results.push(row);
  }
} finally {
  await spur.close();
}

const cpu = os.cpus();
const lines = [
  "## Analysis queries (bench/queries.mjs)",
  "",
  `Run ${new Date().toISOString().slice(0, 10)} on ${cpu.length} × ${cpu[0]?.model ?? "?"}, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB, ` +
    `${os.type()} ${os.release()}, Node ${process.version}; the release Worker in wrangler's test harness (workerd + local D1/SQLite).`,
  `Each time is an HTTP round trip to the Worker (parse → core SQL → D1 → JSON), median of ${RUNS} runs (min in parentheses).`,
  "Data: `tests/helpers/generate.mjs` (shop funnel, 14 days, 40% identified / 20% aliased / 40% anonymous people).",
  "",
  `| query | ${results.map((r) => `${(r.events / 1000).toFixed(0)}k events (${(r.users / 1000).toFixed(0)}k people)`).join(" | ")} |`,
  `|---|${results.map(() => "---:").join("|")}|`,
  ...Object.keys(BASELINES).map(
    (name) =>
      `| ${name} | ${results.map((r) => `${r.b[name].median.toFixed(1)} ms (${r.b[name].min.toFixed(1)})`).join(" | ")} |`,
  ),
  ...Object.keys(QUERIES).map(
    (name) =>
      `| ${name} | ${results.map((r) => `${r.q[name].median.toFixed(0)} ms (${r.q[name].min.toFixed(0)}), ×${(r.q[name].median / r.b[Object.keys(BASELINES)[1]].median).toFixed(1)} scan`).join(" | ")} |`,
  ),
  `| *(load: generate + D1 batch insert)* | ${results.map((r) => `${r.loadS.toFixed(0)} s`).join(" | ")} |`,
  "",
  "×N scan = the query's median over the same run's plain scan baseline.",
  "",
  "Reading it: every query is one SQL statement; cost grows about linearly with the events in range",
  "(the funnel pays one sort of its matching events per step, the segment one pass over all events",
  "grouped by person). A breakdown adds a first-touch window and a top-N join. The machine is shared",
  "(2 cores), so expect ±20% between runs. Local D1 is SQLite inside workerd; hosted D1 adds a network hop.",
  "",
  "Re-run with `npm run bench` (`node bench/queries.mjs --sizes 100000 --runs 5` for a quick one).",
  "",
];
console.log(lines.join("\n"));
