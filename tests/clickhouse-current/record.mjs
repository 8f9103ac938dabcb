// Records what the built Worker asks ClickHouse for every analysis the bench times, against
// Debian's ClickHouse 18.16 (a throwaway server on loopback) over a generated history, with each
// answer; writes the history as JSONEachRow and the statements with their answers to OUT, for
// check.py to run on a current ClickHouse engine (chdb). Run by scripts/clickhouse-current.
// Every statement goes through a loopback proxy in front of the server, which keeps all but the
// inserts; a statement that 18.16 refuses, or a query the Worker answers with an error, fails.
import http from "node:http";
import fs from "node:fs";
import { execFileSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { startSpur, ADMIN_TOKEN } from "../helpers/spur.mjs";
import { startClickHouse } from "../helpers/clickhouse.mjs";
import { generate } from "../helpers/generate.mjs";
import { CLICKHOUSE_QUERIES, T0 } from "../../bench/lib/analysis-queries.mjs";

const OUT = process.argv[2];
const PEOPLE = Number(process.argv[3] ?? 2400);
if (!OUT) throw new Error("usage: record.mjs OUT_DIR [PEOPLE]");
fs.mkdirSync(OUT, { recursive: true });
const root = fileURLToPath(new URL("../..", import.meta.url));
const encode = (kind, rows) =>
  execFileSync(`${root}target/release/examples/clickhouse_rows`, [kind], {
    input: rows.map((r) => JSON.stringify(r)).join("\n"),
    encoding: "utf8",
    maxBuffer: 2 ** 30,
  });

const ch = await startClickHouse();
// Generated and inserted in slices of 20,000 people (a million events would not fit one string).
let events = 0;
for (const table of ["events", "aliases", "users"]) fs.writeFileSync(`${OUT}/${table}.jsonl`, "");
for (let done = 0; done < PEOPLE; done += 20_000) {
  const n = Math.min(20_000, PEOPLE - done);
  const data = generate({ users: n, seed: 1000 + done, start: T0, days: 14, firstId: done });
  for (const [table, rows] of [
    ["events", data.events],
    ["aliases", data.aliases],
    ["users", data.users],
  ]) {
    const text = encode(table, rows);
    fs.appendFileSync(`${OUT}/${table}.jsonl`, text.endsWith("\n") || !text ? text : `${text}\n`);
    await ch.query(`INSERT INTO ${table} FORMAT JSONEachRow`, text);
  }
  events += data.events.length;
}

const seen = [];
const proxy = http.createServer((req, res) => {
  const chunks = [];
  req.on("data", (c) => chunks.push(c));
  req.on("end", async () => {
    const body = Buffer.concat(chunks);
    const url = new URL(req.url, "http://proxy");
    const r = await fetch(`${ch.url}${req.url}`, {
      method: req.method,
      body: req.method === "GET" ? undefined : body,
    });
    const out = Buffer.from(await r.arrayBuffer());
    const sql = url.searchParams.get("query") ?? body.toString();
    if (!/^\s*INSERT/i.test(sql)) {
      const settings = [...url.searchParams].filter(([k]) => k !== "query");
      seen.push({ sql, settings, status: r.status, answer: out.toString() });
    }
    res.writeHead(r.status, { "content-type": r.headers.get("content-type") ?? "text/plain" });
    res.end(out);
  });
});
await new Promise((ok) => proxy.listen(0, "127.0.0.1", ok));
const spur = await startSpur({
  vars: { EVENTS_STORE: "clickhouse" },
  secrets: { CLICKHOUSE_URL: `http://127.0.0.1:${proxy.address().port}` },
});
const asks = [
  ...Object.entries(CLICKHOUSE_QUERIES).map(([name, [path, body]]) => [name, path, body]),
  ["recent events", "/v1/events/recent?limit=20"],
  ["event names", "/v1/events/names"],
];
const recorded = [];
let failed = 0;
try {
  for (const [name, path, body] of asks) {
    const mark = seen.length;
    const res = await fetch(`${spur.url}${path}`, {
      method: body ? "POST" : "GET",
      headers: { Authorization: `Bearer ${ADMIN_TOKEN}` },
      body: body && JSON.stringify(body),
    });
    const text = await res.text();
    const statements = seen.slice(mark);
    if (!res.ok || statements.length === 0 || statements.some((s) => s.status !== 200)) {
      failed += 1;
      console.error(`FAILED on 18.16: ${name}: ${res.status} ${text.slice(0, 300)}`);
    }
    recorded.push({ name, statements });
  }
} finally {
  await spur.close();
  proxy.close();
  ch.close();
}
fs.writeFileSync(`${OUT}/statements.json`, JSON.stringify(recorded));
console.error(
  `recorded ${recorded.reduce((n, r) => n + r.statements.length, 0)} statements over ${events} events`,
);
process.exit(failed ? 1 : 0);
