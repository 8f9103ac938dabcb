// Times the analysis queries through the real Worker (wrangler's test harness: workerd + local
// D1 in SQLite, and a second instance over a real ClickHouse server on loopback) at ~100k and ~1M
// generated events. Each size is generated and loaded once into both stores, so the D1 table and
// the D1 vs ClickHouse table come from the same load and the same D1 timings. Progress goes to
// stderr; the markdown sections go to stdout (scripts/bench appends them to bench/RESULTS.md).
// Run: `npm run bench` (scripts/bench) or
// `node bench/analysis.mjs [--sizes 100000,1000000] [--runs 3,1] [--stores d1,clickhouse]`.
// `--runs` is per size (the last value repeats): three runs at 100 k, one at 1 M by default, so the
// whole bench stays under 20 minutes (issue 15); a 1 M run's queries take 0.5–6 s each.
// `--stores clickhouse` leaves D1 out (for sizes past what one D1 database is for, e.g.
// `node bench/analysis.mjs --stores clickhouse --sizes 10000000 --runs 3`); `--stores d1`
// leaves ClickHouse out.
import os from "node:os";
import { execFileSync, spawn } from "node:child_process";
import { startSpur, ADMIN_TOKEN } from "../tests/helpers/spur.mjs";
import { startClickHouse } from "../tests/helpers/clickhouse.mjs";
import { generate, insertAll } from "../tests/helpers/generate.mjs";
import { CLICKHOUSE_QUERIES, QUERIES, T0 } from "./lib/analysis-queries.mjs";

const arg = (name, dflt) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : dflt;
};
const SIZES = arg("sizes", "100000,1000000").split(",").map(Number);
const RUN_LIST = arg("runs", "3,1").split(",").map(Number);
const runsAt = (i) => RUN_LIST[Math.min(i, RUN_LIST.length - 1)];
const STORES = arg("stores", "d1,clickhouse").split(",");
const WITH_D1 = STORES.includes("d1");
const WITH_CH = STORES.includes("clickhouse");
if (!WITH_D1 && !WITH_CH) throw new Error("--stores names d1, clickhouse or both");
const EVENTS_PER_USER = 8.2; // measured mean of generate()
const SCAN_D1 = "SELECT count(*), count(json_extract(properties, '$.category')) FROM events";
const SCAN_CH = "SELECT count(), countIf(has(f_key, 'properties$.\"category\"')) FROM events";

// The consumer's row encoder, release build (cargo builds it once; a no-op when fresh, so an
// encoder older than its row kinds is never used).
const root = new URL("..", import.meta.url).pathname;
const encoder = `${root}target/release/examples/clickhouse_rows`;
if (WITH_CH) {
  execFileSync("cargo", ["build", "-q", "--release", "-p", "spur-core", "--example", "clickhouse_rows"], {
    cwd: root,
    stdio: "inherit",
  });
}
/** One kind of rows through the encoder, as a child process: it runs alongside the D1 load. */
const encode = (kind, rows) =>
  new Promise((resolve, reject) => {
    const child = spawn(encoder, [kind], { stdio: ["pipe", "pipe", "inherit"] });
    const out = [];
    child.stdout.on("data", (chunk) => out.push(chunk));
    child.on("error", reject);
    child.on("close", (code) =>
      code === 0
        ? resolve(Buffer.concat(out).toString("utf8"))
        : reject(new Error(`${encoder} ${kind}: exit ${code}`)),
    );
    child.stdin.end(rows.map((r) => JSON.stringify(r)).join("\n"));
  });
/** A slice's ClickHouse rows, and the encoding's elapsed time (overlapping the D1 load). */
async function encodeSlice(data) {
  const t = performance.now();
  const [events, aliases, users] = await Promise.all([
    encode("events", data.events),
    encode("aliases", data.aliases),
    // The consumer's profile mirror (trait cohorts read it); every generated user is new.
    encode("users", data.users),
  ]);
  return { events, aliases, users, ms: performance.now() - t };
}

/** Median and min of `runs` runs of `fn`, and its last answer. */
async function median(runs, fn) {
  const times = [];
  let out;
  for (let i = 0; i < runs; i++) {
    const t = performance.now();
    out = await fn();
    times.push(performance.now() - t);
  }
  times.sort((a, b) => a - b);
  return { median: times[Math.floor(times.length / 2)], min: times[0], out };
}
async function query(spur, path, body) {
  const res = await fetch(`${spur.url}${path}`, {
    method: "POST",
    headers: { Authorization: `Bearer ${ADMIN_TOKEN}` },
    body: JSON.stringify(body),
  });
  const answer = await res.json();
  if (!res.ok) throw new Error(`${path}: ${JSON.stringify(answer)}`);
  return answer;
}

const summary = (a) =>
  a.steps
    ? `entered ${a.steps.map((s) => s.entered).join(" → ")}`
    : a.cohorts
      ? `${a.cohorts.reduce((n, c) => n + c.size, 0)} people in ${a.cohorts.length} cohorts`
      : a.count != null
        ? `${a.count} people`
        : `${a.totalEvents} events, ${a.totalUsers} people`;

const ch = WITH_CH ? await startClickHouse() : null;
const d1 = WITH_D1 ? await startSpur() : null;
const chSpur = ch
  ? await startSpur({ vars: { EVENTS_STORE: "clickhouse" }, secrets: { CLICKHOUSE_URL: ch.url } })
  : null;
const results = [];
let users = 0,
  events = 0;
try {
  let d1Load = 0,
    chEncode = 0,
    chInsert = 0;
  for (const [sizeIndex, size] of SIZES.entries()) {
    const runs = runsAt(sizeIndex);
    const add = Math.round((size - events) / EVENTS_PER_USER);
    // Generated and loaded in slices of 20,000 people to bound memory.
    for (let done = 0; done < add; done += 20_000) {
      const n = Math.min(20_000, add - done);
      const data = generate({ users: n, seed: 1000 + users, start: T0, days: 14, firstId: users });
      // The bench encodes ClickHouse rows while D1 loads (two processes, two cores); the
      // ClickHouse inserts run after, alone, so each store's load is timed by itself.
      const encoded = ch ? encodeSlice(data) : null;
      encoded?.catch(() => {}); // awaited below; a failure is thrown there, not unhandled
      let t = performance.now();
      if (d1) await insertAll(d1.db, data);
      d1Load += performance.now() - t;
      if (encoded) {
        const rows = await encoded;
        chEncode += rows.ms;
        t = performance.now();
        await ch.query("INSERT INTO aliases FORMAT JSONEachRow", rows.aliases);
        await ch.query("INSERT INTO users FORMAT JSONEachRow", rows.users);
        await ch.query("INSERT INTO events FORMAT JSONEachRow", rows.events);
        chInsert += performance.now() - t;
      }
      users += n;
      events += data.events.length;
    }
    console.error(
      `${events} events, ${users} people: ${d1 ? `D1 load ${(d1Load / 1000).toFixed(1)} s ` : ""}` +
        `${ch ? `ClickHouse encode ${(chEncode / 1000).toFixed(1)} s + insert ${(chInsert / 1000).toFixed(1)} s` : ""}`,
    );
    const row = { events, users, runs, d1Load, chEncode, chInsert, q: {}, b: {} };
    if (d1) {
      row.b.healthz = await median(runs, () => fetch(`${d1.url}/healthz`).then((r) => r.text()));
      row.b.d1 = await median(runs, () => d1.db.prepare(SCAN_D1).all());
    }
    if (ch) row.b.ch = await median(runs, () => ch.query(SCAN_CH));
    for (const [name, [path, body]] of Object.entries(QUERIES)) {
      const a = d1 && (await median(runs, () => query(d1, path, body)));
      const b = ch && name in CLICKHOUSE_QUERIES ? await median(runs, () => query(chSpur, path, body)) : null;
      const same = a && b ? JSON.stringify(a.out) === JSON.stringify(b.out) : null;
      row.q[name] = { d1: a, ch: b, same };
      if (!a && !b) continue; // a D1-only query (segments) in a ClickHouse-only run
      console.error(
        `  ${name.padEnd(44)} ${a ? `D1 ${a.median.toFixed(0).padStart(6)} ms  ` : ""}` +
          `${b ? `ClickHouse ${b.median.toFixed(0).padStart(5)} ms  ` : ""}` +
          `${same === null ? "" : `same answer: ${same}  `}(${summary((a ?? b).out)})`,
      );
    }
    results.push(row);
  }
} finally {
  await d1?.close();
  await chSpur?.close();
  ch?.close();
}

const cpu = os.cpus();
const date = new Date().toISOString().slice(0, 10);
const ms = (x) => `${x.median.toFixed(0)} ms (${x.min.toFixed(0)})`;
const kEvents = (r) => `${(r.events / 1000).toFixed(0)}k events`;
const runsText = results
  .map((r) => `${kEvents(r)}: ${r.runs === 1 ? "one run" : `median of ${r.runs} runs (min in parentheses)`}`)
  .join("; ");
const chNames = Object.keys(QUERIES).filter((n) => n in CLICKHOUSE_QUERIES);

const d1Section = () => [
  "## Analysis queries on D1 (bench/analysis.mjs)",
  "",
  `Run ${date} on ${cpu.length} × ${cpu[0]?.model ?? "?"}, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB, ` +
    `${os.type()} ${os.release()}, Node ${process.version}; the release Worker in wrangler's test harness (workerd + local D1/SQLite).`,
  `Each time is an HTTP round trip to the Worker (parse → core SQL → D1 → JSON); ${runsText}.`,
  "Data: `tests/helpers/generate.mjs` (shop funnel, 14 days, 40% identified / 20% aliased / 40% anonymous people).",
  "",
  `| query | ${results.map((r) => `${kEvents(r)} (${(r.users / 1000).toFixed(0)}k people)`).join(" | ")} |`,
  `|---|${results.map(() => "---:").join("|")}|`,
  `| baseline: GET /healthz round trip | ${results.map((r) => `${r.b.healthz.median.toFixed(1)} ms (${r.b.healthz.min.toFixed(1)})`).join(" | ")} |`,
  `| baseline: one scan, SELECT count(*), json_extract over all events (D1 direct) | ${results.map((r) => `${r.b.d1.median.toFixed(1)} ms (${r.b.d1.min.toFixed(1)})`).join(" | ")} |`,
  ...Object.keys(QUERIES).map(
    (name) =>
      `| ${name} | ${results.map((r) => `${ms(r.q[name].d1)}, ×${(r.q[name].d1.median / r.b.d1.median).toFixed(1)} scan`).join(" | ")} |`,
  ),
  `| *(load: generate + D1 batch insert, cumulative)* | ${results.map((r) => `${(r.d1Load / 1000).toFixed(0)} s`).join(" | ")} |`,
  "",
  "×N scan = the query's median over the same run's plain scan baseline.",
  "",
  "Reading it: every query is one SQL statement; cost grows about linearly with the events in range",
  "(the funnel pays one sort of its matching events per step, the segment one pass over all events",
  "grouped by person). A breakdown adds a first-touch window and a top-N join. The machine is shared",
  "(2 cores), so expect ±20% between runs. Local D1 is SQLite inside workerd; hosted D1 adds a network hop.",
  "",
  "Re-run with `npm run bench` (`node bench/analysis.mjs --stores d1 --sizes 100000 --runs 5` for a quick one).",
  "",
];

const bothSection = () => [
  "## D1 vs ClickHouse (bench/analysis.mjs)",
  "",
  `Run ${date}, the same load as the D1 table above: the same generated events in both stores, and the D1`,
  "times are that table's. Each query is an HTTP round trip to the Worker (one instance per store),",
  `${runsText}. ClickHouse: Debian's clickhouse-server 18.16 on loopback, schema from clickhouse/migrations.`,
  '"same" says whether both stores gave byte-identical answers. Segments join D1 profiles with events, D1 only.',
  "",
  `| query | ${results.map((r) => `${kEvents(r)}: D1 | ClickHouse | ratio | same`).join(" | ")} |`,
  `|---|${results.map(() => "---:|---:|---:|:---:").join("|")}|`,
  `| baseline: plain scan of every event (store direct) | ${results.map((r) => `${ms(r.b.d1)} | ${ms(r.b.ch)} | ×${(r.b.d1.median / r.b.ch.median).toFixed(1)} | –`).join(" | ")} |`,
  ...chNames.map(
    (name) =>
      `| ${name} | ${results.map((r) => `${ms(r.q[name].d1)} | ${ms(r.q[name].ch)} | ×${(r.q[name].d1.median / r.q[name].ch.median).toFixed(1)} | ${r.q[name].same ? "yes" : "NO"}`).join(" | ")} |`,
  ),
  `| load (cumulative): D1 batch insert / ClickHouse encode + insert | ${results.map((r) => `${(r.d1Load / 1000).toFixed(1)} s | ${(r.chEncode / 1000).toFixed(1)} + ${(r.chInsert / 1000).toFixed(1)} s | ×${(r.d1Load / (r.chEncode + r.chInsert)).toFixed(1)} | –`).join(" | ")} |`,
  "",
  "ratio = D1 median / ClickHouse median in the same run. The load's encode is the bench's own work (the consumer",
  "encodes each batch in production); it runs alongside the D1 load, and the ClickHouse inserts run after it, alone.",
  "Query time over each store's own scan baseline:",
  ...results.map(
    (r) =>
      `- ${kEvents(r)}: ` +
      chNames
        .map(
          (n) =>
            `${n.split(":")[0]} D1 ×${(r.q[n].d1.median / r.b.d1.median).toFixed(1)} / CH ×${(r.q[n].ch.median / r.b.ch.median).toFixed(1)}`,
        )
        .join("; "),
  ),
  "",
];

const chSection = () => [
  `## ClickHouse alone at ${results.map((r) => `${(r.events / 1e6).toFixed(1)} M`).join(", ")} events (bench/analysis.mjs --stores clickhouse)`,
  "",
  `Run ${date} on ${cpu.length} × ${cpu[0]?.model ?? "?"}, Node ${process.version}. Generated events (\`tests/helpers/generate.mjs\`),`,
  `loaded in chunks of 20,000 people; each query an HTTP round trip to the Worker; ${runsText}.`,
  "ClickHouse: Debian's clickhouse-server 18.16 on loopback, schema from clickhouse/migrations.",
  "",
  `| query | ${results.map((r) => `${(r.events / 1e6).toFixed(1)} M events | × scan`).join(" | ")} |`,
  `|---|${results.map(() => "---:|---:").join("|")}|`,
  `| baseline: plain scan of every event (store direct) | ${results.map((r) => `${ms(r.b.ch)} | 1.0`).join(" | ")} |`,
  ...chNames.map(
    (name) =>
      `| ${name} | ${results.map((r) => `${ms(r.q[name].ch)} | ${(r.q[name].ch.median / r.b.ch.median).toFixed(1)}`).join(" | ")} |`,
  ),
  `| load (cumulative): encode + insert | ${results.map((r) => `${(r.chEncode / 1000).toFixed(1)} + ${(r.chInsert / 1000).toFixed(1)} s | –`).join(" | ")} |`,
  "",
];

const out = [];
if (WITH_D1) out.push(...d1Section());
out.push(...(WITH_D1 && WITH_CH ? bothSection() : WITH_CH ? chSection() : []));
console.log(out.join("\n"));
