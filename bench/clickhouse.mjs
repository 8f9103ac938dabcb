// D1 vs ClickHouse on the same generated events in the same run (issue 13): load time and query
// time through the real Worker — one instance with EVENTS_STORE = "d1", one with "clickhouse"
// against a real ClickHouse server (Debian's 18.16) on a loopback port — each store against its
// own plain-scan baseline. Progress to stderr, the markdown section to stdout.
// Run: `npm run bench` (scripts/bench) or `node bench/clickhouse.mjs [--sizes 100000,1000000] [--runs 3]`.
// `--stores clickhouse` leaves D1 out (for sizes past what one D1 database is for, e.g.
// `node bench/clickhouse.mjs --stores clickhouse --sizes 10000000 --runs 3`).
import os from "node:os";
import { execFileSync } from "node:child_process";
import { startSpur, ADMIN_TOKEN } from "../tests/helpers/spur.mjs";
import { startClickHouse } from "../tests/helpers/clickhouse.mjs";
import { generate, insertAll } from "../tests/helpers/generate.mjs";
import { CLICKHOUSE_QUERIES as QUERIES, T0 } from "./analysis-queries.mjs";

const arg = (name, dflt) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : dflt;
};
const SIZES = arg("sizes", "100000,1000000").split(",").map(Number);
const RUNS = Number(arg("runs", "3"));
const WITH_D1 = arg("stores", "d1,clickhouse").split(",").includes("d1");
const EVENTS_PER_USER = 8.2;

// The consumer's row encoder, release build (cargo builds it once).
const root = new URL("..", import.meta.url).pathname;
const encoder = `${root}target/release/examples/clickhouse_rows`;
// Built every run (a no-op when fresh), so an encoder older than its row kinds is never used.
execFileSync("cargo", ["build", "-q", "--release", "-p", "spur-core", "--example", "clickhouse_rows"], {
  cwd: root,
  stdio: "inherit",
});
const encode = (events) =>
  execFileSync(encoder, ["events"], {
    input: events.map((e) => JSON.stringify(e)).join("\n"),
    encoding: "utf8",
    maxBuffer: 2 ** 31,
  });
const encodeUsers = (users) =>
  execFileSync(encoder, ["users"], {
    input: users.map((u) => JSON.stringify(u)).join("\n"),
    encoding: "utf8",
    maxBuffer: 1 << 30,
  });
const encodeAliases = (aliases) =>
  execFileSync(encoder, ["aliases"], {
    input: aliases.map((e) => JSON.stringify(e)).join("\n"),
    encoding: "utf8",
    maxBuffer: 1 << 30,
  });

async function median(fn) {
  const times = [];
  let out;
  for (let i = 0; i < RUNS; i++) {
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

const ch = await startClickHouse();
const d1 = WITH_D1 ? await startSpur() : null;
const chSpur = await startSpur({ vars: { EVENTS_STORE: "clickhouse" }, secrets: { CLICKHOUSE_URL: ch.url } });
const results = [];
let users = 0,
  events = 0;
try {
  let d1Load = 0,
    chEncode = 0,
    chInsert = 0;
  for (const size of SIZES) {
    const add = Math.round((size - events) / EVENTS_PER_USER);
    for (let done = 0; done < add; done += 20_000) {
      const n = Math.min(20_000, add - done);
      const data = generate({ users: n, seed: 1000 + users, start: T0, days: 14, firstId: users });
      let t = performance.now();
      if (d1) await insertAll(d1.db, data);
      d1Load += performance.now() - t;
      t = performance.now();
      const rows = encode(data.events);
      const aliasRows = encodeAliases(data.aliases);
      // The consumer's profile mirror (trait cohorts read it); revisions only need to be
      // distinct per user here, and every generated user is new.
      const userRows = encodeUsers(data.users);
      chEncode += performance.now() - t;
      t = performance.now();
      await ch.query("INSERT INTO aliases FORMAT JSONEachRow", aliasRows);
      await ch.query("INSERT INTO users FORMAT JSONEachRow", userRows);
      await ch.query("INSERT INTO events FORMAT JSONEachRow", rows);
      chInsert += performance.now() - t;
      users += n;
      events += data.events.length;
    }
    console.error(
      `${events} events: ${d1 ? `D1 load ${(d1Load / 1000).toFixed(1)} s, ` : ""}ClickHouse encode ${(chEncode / 1000).toFixed(1)} s + insert ${(chInsert / 1000).toFixed(1)} s`,
    );
    const row = { events, users, d1Load, chEncode, chInsert, q: {}, b: {} };
    row.b.d1 =
      d1 &&
      (await median(() =>
        d1.db.prepare("SELECT count(*), count(json_extract(properties, '$.category')) FROM events").all(),
      ));
    row.b.ch = await median(() =>
      ch.query("SELECT count(), countIf(has(f_key, 'properties$.\"category\"')) FROM events"),
    );
    for (const [name, [path, body]] of Object.entries(QUERIES)) {
      const a = d1 && (await median(() => query(d1, path, body)));
      const b = await median(() => query(chSpur, path, body));
      const same = a && JSON.stringify(a.out) === JSON.stringify(b.out);
      row.q[name] = { d1: a, ch: b, same };
      console.error(
        `  ${name.padEnd(44)} ${a ? `D1 ${a.median.toFixed(0).padStart(6)} ms  ` : ""}ClickHouse ${b.median.toFixed(0).padStart(5)} ms${a ? `  same answer: ${same}` : ""}`,
      );
    }
    results.push(row);
  }
} finally {
  await d1?.close();
  await chSpur.close();
  ch.close();
}

const cpu = os.cpus();
const ms = (x) => `${x.median.toFixed(0)} ms (${x.min.toFixed(0)})`;
const chOnly = [
  `## ClickHouse alone at ${results.map((r) => `${(r.events / 1e6).toFixed(1)} M`).join(", ")} events (bench/clickhouse.mjs --stores clickhouse)`,
  "",
  `Run ${new Date().toISOString().slice(0, 10)} on ${cpu.length} × ${cpu[0]?.model ?? "?"}, Node ${process.version}. Generated events (\`tests/helpers/generate.mjs\`),`,
  `loaded in chunks of 20,000 people; each query an HTTP round trip to the Worker, ${RUNS === 1 ? "one run" : `median of ${RUNS} runs (min)`}.`,
  "ClickHouse: Debian's clickhouse-server 18.16 on loopback, schema from clickhouse/migrations.",
  "",
  `| query | ${results.map((r) => `${(r.events / 1e6).toFixed(1)} M events | × scan`).join(" | ")} |`,
  `|---|${results.map(() => "---:|---:").join("|")}|`,
  `| baseline: plain scan of every event (store direct) | ${results.map((r) => `${ms(r.b.ch)} | 1.0`).join(" | ")} |`,
  ...Object.keys(QUERIES).map(
    (name) =>
      `| ${name} | ${results.map((r) => `${ms(r.q[name].ch)} | ${(r.q[name].ch.median / r.b.ch.median).toFixed(1)}`).join(" | ")} |`,
  ),
  `| load (cumulative): encode + insert | ${results.map((r) => `${(r.chEncode / 1000).toFixed(1)} + ${(r.chInsert / 1000).toFixed(1)} s | –`).join(" | ")} |`,
  "",
];
const lines = () => [
  "## D1 vs ClickHouse (bench/clickhouse.mjs)",
  "",
  `Run ${new Date().toISOString().slice(0, 10)} on ${cpu.length} × ${cpu[0]?.model ?? "?"}, Node ${process.version}. The same generated events`,
  "(`tests/helpers/generate.mjs`) in both stores; each query is an HTTP round trip to the Worker (one instance per store),",
  `median of ${RUNS} runs (min). ClickHouse: Debian's clickhouse-server 18.16 on loopback, schema from clickhouse/migrations.`,
  '"same" says whether both stores gave byte-identical answers.',
  "",
  `| query | ${results.map((r) => `${(r.events / 1000).toFixed(0)}k events: D1 | ClickHouse | ratio | same`).join(" | ")} |`,
  `|---|${results.map(() => "---:|---:|---:|:---:").join("|")}|`,
  `| baseline: plain scan of every event (store direct) | ${results.map((r) => `${ms(r.b.d1)} | ${ms(r.b.ch)} | ×${(r.b.d1.median / r.b.ch.median).toFixed(1)} | –`).join(" | ")} |`,
  ...Object.keys(QUERIES).map(
    (name) =>
      `| ${name} | ${results.map((r) => `${ms(r.q[name].d1)} | ${ms(r.q[name].ch)} | ×${(r.q[name].d1.median / r.q[name].ch.median).toFixed(1)} | ${r.q[name].same ? "yes" : "NO"}`).join(" | ")} |`,
  ),
  `| load (cumulative): D1 batch insert / ClickHouse encode + insert | ${results.map((r) => `${(r.d1Load / 1000).toFixed(1)} s | ${(r.chEncode / 1000).toFixed(1)} + ${(r.chInsert / 1000).toFixed(1)} s | ×${(r.d1Load / (r.chEncode + r.chInsert)).toFixed(1)} | –`).join(" | ")} |`,
  "",
  "ratio = D1 median / ClickHouse median in the same run. Query time over each store's own scan baseline:",
  ...results.map(
    (r) =>
      `- ${(r.events / 1000).toFixed(0)}k: ` +
      Object.keys(QUERIES)
        .map(
          (n) =>
            `${n.split(":")[0]} D1 ×${(r.q[n].d1.median / r.b.d1.median).toFixed(1)} / CH ×${(r.q[n].ch.median / r.b.ch.median).toFixed(1)}`,
        )
        .join("; "),
  ),
  "",
];
console.log((WITH_D1 ? lines() : chOnly).join("\n"));
