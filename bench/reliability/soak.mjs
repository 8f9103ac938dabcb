// `npm run soak`: a bounded load against the built Worker in real workerd (wrangler's test
// harness over loopback), then reconciliation: acknowledged events = rows in D1 = lines in the
// R2 archive, zero 5xx. Writes its figures to bench/RELIABILITY.md between the soak markers.
//
// SOAK_SECONDS (default 60) and SOAK_RATE (requests per second, default 5: ~120 events/s, what
// a shared 2-core machine drains as it goes; 40/s overloads local D1) bound the run.
// Requests leave on a fixed schedule (not "as fast as possible"), mixing batch sizes, gzip
// bodies and browser-beacon text/plain bodies with the write key inside. Client IPs rotate
// over a /24 so the per-IP rate limit (1,000/min) is not what is measured.
import { execFileSync } from "node:child_process";
import { gzipSync, gunzipSync } from "node:zlib";
import { startSpur, DEMO_WRITE_KEY } from "../../tests/helpers/spur.mjs";
import { writeSection } from "./section.mjs";

const seconds = Number(process.env.SOAK_SECONDS ?? 60);
const rate = Number(process.env.SOAK_RATE ?? 5);
const drainSeconds = Number(process.env.SOAK_DRAIN_SECONDS ?? 300);
const auth = { Authorization: `Basic ${Buffer.from(`${DEMO_WRITE_KEY}:`).toString("base64")}` };

// Mixed shapes, by weight: mostly small browser batches, some beacons, some big server batches.
const SHAPES = [
  { name: "batch 1", weight: 30, events: 1 },
  { name: "batch 10", weight: 30, events: 10 },
  { name: "beacon text/plain 3", weight: 20, events: 3, beacon: true },
  { name: "gzip batch 50", weight: 15, events: 50, gzip: true },
  { name: "batch 250 (~430 KB)", weight: 5, events: 250, padTo: 430 * 1024 },
];

let seq = 0;
function event(i, pad = 0) {
  const kinds = ["track", "page", "identify"];
  const type = kinds[seq % 3];
  const e = {
    type,
    messageId: `soak-${process.pid}-${seq++}`,
    anonymousId: `anon-${seq % 97}`,
    timestamp: new Date().toISOString(),
  };
  if (type === "track") Object.assign(e, { event: `Soak ${i % 7}`, properties: { i, pad: "x".repeat(pad) } });
  if (type === "page")
    Object.assign(e, { name: "Home", properties: { url: `https://shop.example/p/${i}`, path: `/p/${i}` } });
  // A device (anonymous id) always identifies as the same person, as a real browser does; two
  // devices share each person. (Before, anon-k identified as whichever user the sequence gave,
  // so most identifies were refused as alias_conflict.)
  if (type === "identify") Object.assign(e, { userId: `user-${(seq % 97) % 50}`, traits: { plan: "pro" } });
  return e;
}

function request(shape, n) {
  const per = shape.padTo ? Math.floor(shape.padTo / shape.events) - 220 : 0;
  const batch = Array.from({ length: shape.events }, (_, i) => event(n * 1000 + i, per));
  const ids = batch.map((e) => e.messageId);
  const ip = `198.18.${n % 4}.${(n % 250) + 1}`;
  if (shape.beacon) {
    return {
      ids,
      init: {
        method: "POST",
        body: JSON.stringify({ writeKey: DEMO_WRITE_KEY, batch }),
        headers: {
          "Content-Type": "text/plain;charset=UTF-8",
          "CF-Connecting-IP": ip,
          Origin: "https://shop.example",
        },
      },
    };
  }
  const json = JSON.stringify({ batch, sentAt: new Date().toISOString() });
  const headers = { ...auth, "Content-Type": "application/json", "CF-Connecting-IP": ip };
  if (shape.gzip)
    return {
      ids,
      init: { method: "POST", body: gzipSync(json), headers: { ...headers, "Content-Encoding": "gzip" } },
    };
  return { ids, init: { method: "POST", body: json, headers } };
}

function pickShape(n) {
  const total = SHAPES.reduce((a, s) => a + s.weight, 0);
  let r = (n * 7919) % total; // deterministic mix
  for (const s of SHAPES) {
    if (r < s.weight) return s;
    r -= s.weight;
  }
  return SHAPES[0];
}

/** Resident memory (KB) of the workerd processes under this one, if ps can tell. */
function workerdRssKb() {
  try {
    const out = execFileSync("ps", ["-e", "-o", "pid=,ppid=,rss=,comm="], { encoding: "utf8" });
    const procs = out
      .trim()
      .split("\n")
      .map((l) => l.trim().split(/\s+/))
      .map(([pid, ppid, rss, comm]) => ({ pid: +pid, ppid: +ppid, rss: +rss, comm }));
    const mine = new Set([process.pid]);
    let grew = true;
    while (grew) {
      grew = false;
      for (const p of procs)
        if (mine.has(p.ppid) && !mine.has(p.pid)) {
          mine.add(p.pid);
          grew = true;
        }
    }
    const w = procs.filter((p) => mine.has(p.pid) && p.comm.includes("workerd"));
    return w.length ? w.reduce((a, p) => a + p.rss, 0) : null;
  } catch {
    return null;
  }
}

const pct = (xs, p) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.min(s.length - 1, Math.floor(p * s.length))] : 0;
};

const spur = await startSpur();
const acked = new Set();
const statuses = new Map();
const latencies = [];
const byShape = new Map();
const memory = [];
let sentEvents = 0;
let inflight = 0;
let maxInflight = 0;
const started = performance.now();
const total = Math.round(seconds * rate);
const pending = [];
const memTimer = setInterval(() => {
  const kb = workerdRssKb();
  if (kb) memory.push({ t: (performance.now() - started) / 1000, kb });
}, 5000);
memory.push({ t: 0, kb: workerdRssKb() });
try {
  for (let n = 0; n < total; n++) {
    const due = started + (n * 1000) / rate;
    const wait = due - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    const shape = pickShape(n);
    const { ids, init } = request(shape, n);
    sentEvents += ids.length;
    inflight++;
    maxInflight = Math.max(maxInflight, inflight);
    const t0 = performance.now();
    pending.push(
      fetch(`${spur.url}/v1/batch`, { ...init, signal: AbortSignal.timeout(60_000) })
        .then(
          async (res) => {
            const text = await res.text();
            latencies.push(performance.now() - t0);
            statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
            const s = byShape.get(shape.name) ?? { requests: 0, events: 0 };
            s.requests++;
            byShape.set(shape.name, s);
            if (res.status === 200) {
              const out = JSON.parse(text);
              if (out.accepted !== ids.length)
                throw new Error(
                  `${shape.name}: accepted ${out.accepted} of ${ids.length}: ${text.slice(0, 300)}`,
                );
              for (const id of ids) acked.add(id);
              s.events += ids.length;
            }
          },
          (e) => {
            const k = e.name === "TimeoutError" ? "timeout (60 s)" : "network error";
            statuses.set(k, (statuses.get(k) ?? 0) + 1);
            console.error(String(e));
          },
        )
        .finally(() => {
          inflight--;
        }),
    );
  }
  await Promise.all(pending);
  const loadSeconds = (performance.now() - started) / 1000;

  // Drain: wait until D1 holds every acknowledged event (bounded), then compare exactly.
  const drainStart = performance.now();
  let stored = 0;
  while ((performance.now() - drainStart) / 1000 < drainSeconds) {
    [{ stored }] = await spur.rows("SELECT count(*) AS stored FROM events");
    if (stored >= acked.size) break;
    await new Promise((r) => setTimeout(r, 500));
  }
  const drainedAfter = (performance.now() - drainStart) / 1000;
  memory.push({ t: (performance.now() - started) / 1000, kb: workerdRssKb() });
  // Idle for 10 s: memory that keeps rising with no load would be a leak.
  await new Promise((r) => setTimeout(r, 10_000));
  const idleKb = workerdRssKb();
  const ids = new Set((await spur.rows("SELECT message_id FROM events")).map((r) => r.message_id));
  const missing = [...acked].filter((id) => !ids.has(id)).length;
  const extra = [...ids].filter((id) => !acked.has(id)).length;
  const archive = [];
  let cursor;
  let archiveObjects = 0;
  do {
    const list = await spur.env.ARCHIVE.list({ prefix: "events/", cursor });
    for (const o of list.objects) {
      archiveObjects++;
      const obj = await spur.env.ARCHIVE.get(o.key);
      for (const line of gunzipSync(Buffer.from(await obj.arrayBuffer()))
        .toString()
        .split("\n"))
        if (line) archive.push(JSON.parse(line).messageId);
    }
    cursor = list.truncated ? list.cursor : undefined;
  } while (cursor);
  const archiveSet = new Set(archive);
  const [{ bad }] = await spur.rows("SELECT count(*) AS bad FROM bad_rows");
  // By endpoint and reason: the generated identifies give one anonymous id several user ids over
  // the run, so identity refusals (the event is stored, the conflicting link is not) are expected.
  const badBy = await spur.rows(
    "SELECT endpoint, reason, count(*) AS n FROM bad_rows GROUP BY endpoint, reason ORDER BY n DESC",
  );
  const fivexx = [...statuses.entries()]
    .filter(([s]) => typeof s === "number" && s >= 500)
    .reduce((a, [, n]) => a + n, 0);
  const result = {
    date: new Date().toISOString().slice(0, 10),
    seconds: +loadSeconds.toFixed(1),
    rate,
    requests: total,
    sentEvents,
    acked: acked.size,
    statuses: Object.fromEntries(statuses),
    fivexx,
    stored: ids.size,
    missing,
    extra,
    archiveLines: archive.length,
    archiveDistinct: archiveSet.size,
    archiveObjects,
    archiveMissing: [...acked].filter((id) => !archiveSet.has(id)).length,
    badRows: bad,
    badBy: badBy.map((r) => `${r.endpoint} ${r.reason} ${r.n}`).join(", "),
    drainedAfter: +drainedAfter.toFixed(1),
    maxInflight,
    p50: +pct(latencies, 0.5).toFixed(1),
    p99: +pct(latencies, 0.99).toFixed(1),
    max: +Math.max(...latencies).toFixed(1),
    byShape: Object.fromEntries(byShape),
    memory,
    idleKb,
  };
  console.log(JSON.stringify(result, null, 2));
  writeSection("soak", render(result));
  const ok =
    fivexx === 0 &&
    missing === 0 &&
    extra === 0 &&
    archive.length === acked.size &&
    archiveSet.size === acked.size &&
    acked.size === sentEvents;
  if (!ok) {
    console.error("soak: reconciliation FAILED");
    process.exitCode = 1;
  } else {
    console.log("soak: reconciled");
  }
} finally {
  clearInterval(memTimer);
  await spur.close();
}

function render(r) {
  const mem = r.memory.filter((m) => m.kb);
  const memLine =
    mem.length >= 2
      ? `workerd resident memory: ${(mem[0].kb / 1024).toFixed(0)} MB at start, ${(Math.max(...mem.map((m) => m.kb)) / 1024).toFixed(0)} MB peak, ${(mem[mem.length - 1].kb / 1024).toFixed(0)} MB after the drain, ${r.idleKb ? (r.idleKb / 1024).toFixed(0) : "?"} MB after 10 s idle (sampled every 5 s: ${mem.map((m) => (m.kb / 1024).toFixed(0)).join(", ")} MB)`
      : "workerd resident memory: not measurable here (no ps)";
  const memNote =
    " Locally the same workerd processes also host the D1, R2 and Queues simulators, so their resident memory grows with the data stored and is an upper bound on the Worker's own; a rise that stops after the load is storage, one that keeps rising with no load would be a leak";
  const rows = Object.entries(r.byShape)
    .map(([name, s]) => `| ${name} | ${s.requests} | ${s.events} |`)
    .join("\n");
  return `## Soak (\`npm run soak\`, ${r.date})

Real workerd (wrangler's test harness, the built Worker from \`dist/\`) over loopback; ${r.requests} requests
on a fixed schedule of ${r.rate}/s for ${r.seconds} s, mixed shapes (below), then a drain and an exact
reconciliation. Requests in flight at most: ${r.maxInflight}.

| shape | requests | events acknowledged |
|---|---|---|
${rows}

| figure | value |
|---|---|
| events sent | ${r.sentEvents} |
| events acknowledged (200, \`accepted\`) | ${r.acked} |
| rows in D1 \`events\` | ${r.stored} (missing ${r.missing}, unacknowledged ${r.extra}) |
| lines in the R2 archive | ${r.archiveLines} (distinct ${r.archiveDistinct}, missing ${r.archiveMissing}, in ${r.archiveObjects} objects) |
| bad rows (endpoint, reason, count) | ${r.badRows}${r.badBy ? ` (${r.badBy})` : ""} |
| statuses | ${Object.entries(r.statuses)
    .map(([s, n]) => `${s}: ${n}`)
    .join(", ")} |
| 5xx | ${r.fivexx} |
| ingest latency p50 / p99 / max | ${r.p50} / ${r.p99} / ${r.max} ms |
| queue drained (D1 complete) after the load | ${r.drainedAfter} s |

${memLine}.${memNote}.
`;
}
