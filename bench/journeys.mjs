// Journeys in workerd (issue 11): what 100 published journeys add to an ingest request, and how
// late a waiting run wakes when many people wait at once. The built Worker in wrangler's test
// harness, a loopback webhook receiver, same-run baselines:
// - ingest: serial 1-event requests whose event enters a journey (100 published, one Durable
//   Object hop per request) against the same requests with no journey published;
// - wake-ups: N people enter an API journey whose step is a `delay` then a webhook. The
//   webhook's `firedAt` is the due time (transitions run on logical time), so arrival − firedAt
//   is the whole lateness: alarm + actions queue + delivery. Its baseline is a stateless rule's
//   webhook in the same run (event → actions queue → delivery, no alarm), so the difference is
//   what the alarms add.
// Markdown to stdout (scripts/bench appends it to bench/RESULTS.md); progress to stderr.
// Run: `npm run bench`, or `node bench/journeys.mjs [--people 1000] [--serial 40] [--bulk]` after a
// build (`--bulk`: people enter by events, 100 per batch, for runs of 10,000).
import { startSpur, DEMO_WRITE_KEY } from "../tests/helpers/spur.mjs";
import { startReceiver } from "../tests/helpers/receiver.mjs";

const arg = (name, dflt) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : dflt;
};
const PEOPLE = Number(arg("people", process.env.BENCH_JOURNEY_PEOPLE ?? "1000"));
const SERIAL = Number(arg("serial", "40"));
const BULK = process.argv.includes("--bulk");
const CONCURRENCY = 8;
const log = (...a) => console.error("[journeys bench]", ...a);
console.log = console.info = (...a) => console.error(...a);

const AUTH = { Authorization: `Basic ${Buffer.from(`${DEMO_WRITE_KEY}:`).toString("base64")}` };
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
};
const pct = (xs, p) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
};
const ms = (x) => `${Math.round(x)} ms`;

const hooks = await startReceiver();
const spur = await startSpur({
  secrets: { WEBHOOK_SECRET: "bench" },
  vars: { WEBHOOK_RETRY_BASE_SECONDS: "1" },
});
const admin = async (path, method, body) => {
  const res = await spur.admin(path, { method, body: body && JSON.stringify(body) });
  if (res.status >= 300) throw new Error(`${method} ${path}: ${res.status} ${await res.text()}`);
  return res.json().catch(() => null);
};
const publish = async (j) => {
  await admin(`/v1/journeys/${j.id}`, "PUT", j);
  await admin(`/v1/journeys/${j.id}/publish`, "POST");
};

let seq = 0;
async function serialIngest(name) {
  const times = [];
  for (let i = 0; i < SERIAL; i++) {
    seq++;
    const body = {
      batch: [{ type: "track", event: name, userId: `ing-${seq}`, messageId: `jb-${process.pid}-${seq}` }],
    };
    const t = performance.now();
    const res = await spur.post("/v1/batch", body, AUTH);
    await res.arrayBuffer();
    if (res.status !== 200) throw new Error(`ingest ${res.status}`);
    times.push(performance.now() - t);
  }
  return times;
}

try {
  // ---- ingest: no journeys vs 100 -----------------------------------------------------------
  log("ingest baseline (no journeys)");
  await serialIngest("Bench Warmup");
  const none = await serialIngest("Bench Enter 7");
  log("publishing 100 journeys");
  for (let k = 0; k < 100; k++) {
    await publish({
      id: `bench-${k}`,
      trigger: { type: "event", events: [`Bench Enter ${k}`] },
      start: "wait",
      nodes: [
        {
          id: "wait",
          type: "wait_until",
          events: [`Bench Done ${k}`],
          timeout: "1h",
          next: "end",
          onTimeout: "end",
        },
        { id: "end", type: "exit" },
      ],
    });
  }
  await serialIngest("Bench Enter 7"); // the isolate reloads its journey index once
  const hundred = await serialIngest("Bench Enter 7");
  const untouched = await serialIngest("Bench Unrelated");

  // ---- wake-ups -----------------------------------------------------------------------------
  await admin("/v1/rules/bench-now", "PUT", {
    id: "bench-now",
    trigger: { events: ["Bench Ping"] },
    actions: [{ type: "webhook", url: `${hooks.url}/now` }],
  });
  log(`baseline: ${SERIAL} stateless rule webhooks`);
  for (let i = 0; i < SERIAL; i++) {
    await spur.post(
      "/v1/batch",
      {
        batch: [
          { type: "track", event: "Bench Ping", userId: `ping-${i}`, messageId: `ping-${process.pid}-${i}` },
        ],
      },
      AUTH,
    );
    await sleep(50);
  }
  // The wait is long enough that everyone has entered before the first wakes: a pilot measures
  // the entry rate, so the wake-ups measure alarms under a burst, not alarms competing with
  // the entering requests (what the run of 2026-11-30 measured by accident).
  // Entry by API call (one Durable Object hop per request), or with --bulk by events: batches
  // of 100 people through /v1/batch, as a campaign's traffic arrives (8 objects called inline
  // per request, the rest handed over by the actions queue), counted in through the stats.
  const wakeJourney = (id, secs) => ({
    id,
    trigger: BULK ? { type: "event", events: [`${id} Sleep`] } : { type: "api" },
    start: "nap",
    nodes: [
      { id: "nap", type: "delay", for: `${secs}s`, next: "hook" },
      { id: "hook", type: "action", action: { type: "webhook", url: `${hooks.url}/${id}` }, next: "end" },
      { id: "end", type: "exit" },
    ],
  });
  const entered = async (journey) => (await admin(`/v1/journeys/${journey}/stats`, "GET")).totals.entered;
  const enterAll = async (journey, prefix, n) => {
    let next = 0;
    const refused = [];
    const step = BULK ? 100 : 1;
    await Promise.all(
      Array.from({ length: BULK ? 4 : CONCURRENCY }, async () => {
        while (next < n) {
          const from = next;
          next += step;
          const res = BULK
            ? await spur.post(
                "/v1/batch",
                {
                  batch: Array.from({ length: Math.min(step, n - from) }, (_, k) => ({
                    type: "track",
                    event: `${journey} Sleep`,
                    userId: `${prefix}-${from + k}`,
                    messageId: `${prefix}-${process.pid}-${from + k}`,
                  })),
                },
                AUTH,
              )
            : await spur.admin(`/v1/journeys/${journey}/enter`, {
                method: "POST",
                body: JSON.stringify({ userId: `${prefix}-${from}` }),
              });
          if (res.status !== 200) refused.push(`${res.status} ${await res.text()}`);
          else await res.arrayBuffer();
        }
      }),
    );
    // Events are handed to the objects after the request answers: wait until all are in.
    const until = Date.now() + 30 * 60_000;
    while (BULK && (await entered(journey)) < n && Date.now() < until) await sleep(500);
    return refused;
  };
  const pilotN = BULK ? 200 : 40;
  await publish(wakeJourney("bench-pilot", 3600));
  const p0 = Date.now();
  await enterAll("bench-pilot", "pilot", pilotN);
  const perSec = pilotN / ((Date.now() - p0) / 1000);
  const napSecs = Math.ceil((PEOPLE / perSec) * 1.5) + 10;
  await publish(wakeJourney("bench-wake", napSecs));
  log(`${PEOPLE} people enter a journey that waits ${napSecs} s (pilot: ${perSec.toFixed(1)} entries/s)`);
  const t0 = Date.now();
  const refused = await enterAll("bench-wake", "sleeper", PEOPLE);
  const enterSecs = (Date.now() - t0) / 1000;
  const deadline = Date.now() + napSecs * 1000 + 120_000 + PEOPLE * 20;
  while (hooks.hits("/bench-wake").length < PEOPLE - refused.length && Date.now() < deadline)
    await sleep(250);
  const lateness = (path) => hooks.hits(path).map((h) => h.at - Date.parse(JSON.parse(h.body).firedAt));
  const wake = lateness("/bench-wake");
  const now = lateness("/now");
  const overlap = enterSecs > napSecs ? " Some woke while others were still entering." : "";
  // How late the alarms themselves rang (a sample of people, from explain's `lastAlarm`).
  const alarms = [];
  for (let i = 0; i < PEOPLE; i += Math.max(1, Math.floor(PEOPLE / 100))) {
    const x = await admin(`/v1/journeys/bench-wake/explain?user=sleeper-${i}`, "GET");
    if (x.lastAlarm) alarms.push(x.lastAlarm.ranMs - x.lastAlarm.dueMs);
  }
  const sample = await admin(`/v1/journeys/bench-wake/explain?user=sleeper-0`, "GET");
  const stateBytes = Buffer.byteLength(JSON.stringify(sample.ended?.[0] ?? sample.active ?? {}));

  const row = (label, xs) =>
    `| ${label} | ${xs.length} | ${ms(median(xs))} | ${ms(pct(xs, 95))} | ${ms(Math.max(...xs))} |`;
  console.error(`entered ${PEOPLE - refused.length}/${PEOPLE} in ${enterSecs.toFixed(1)} s`);
  process.stdout.write(
    [
      "## Journeys in workerd (bench/journeys.mjs)",
      "",
      `Run ${new Date().toISOString().slice(0, 10)}: the release Worker in wrangler's test harness, a loopback webhook receiver.`,
      "",
      `### Ingest: one 1-event request at a time (median of ${SERIAL})`,
      "",
      "| published journeys | median | × no journeys |",
      "|---|---:|---:|",
      `| none (baseline) | ${median(none).toFixed(1)} ms | 1.00 |`,
      `| 100, the event names none (index lookup only) | ${median(untouched).toFixed(1)} ms | ${(median(untouched) / median(none)).toFixed(2)} |`,
      `| 100, the event enters one (a Durable Object hop) | ${median(hundred).toFixed(1)} ms | ${(median(hundred) / median(none)).toFixed(2)} |`,
      "",
      `### Wake-ups: ${PEOPLE} people waiting at once (entered ${BULK ? "by events, 100 per batch," : "by API calls"} in ${enterSecs.toFixed(1)} s, ${refused.length} refused; each waits ${napSecs} s, so all have entered before the first wakes)${overlap}`,
      "",
      "Lateness = webhook arrival − its due time (`firedAt`); the alarm row is when the person's alarm ran − its due time (explain's `lastAlarm`, every " +
        `${Math.max(1, Math.floor(PEOPLE / 100))}th person).`,
      "",
      "| | count | p50 | p95 | max |",
      "|---|---:|---:|---:|---:|",
      row("stateless rule webhook (baseline: actions queue + delivery)", now),
      row("journey alarm rang (alarm only)", alarms),
      row("journey `delay` → webhook (alarm + the same path)", wake),
      "",
      `What the alarms add at the median: ${ms(median(wake) - median(now))}. One person's journey state for this journey after the run ends: ${stateBytes} B of JSON (the ended run with its path).`,
      "",
      "",
    ].join("\n"),
  );
  if (wake.length < PEOPLE - refused.length) log(`only ${wake.length} wake-up webhooks arrived`);
} finally {
  await spur.close();
  await hooks.close();
}
