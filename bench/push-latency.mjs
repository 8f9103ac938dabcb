// Event to push request (issue 12): how long after an event reaches the Worker its rule's Web
// Push request reaches the push service. The built Worker in wrangler's test harness, a loopback
// push service and a loopback webhook receiver. Baseline in the same run: the same rule with a
// webhook action instead (event → actions queue → delivery, no encryption, no subscription
// lookup), events interleaved so both see the same machine. The difference is what push adds:
// the subscription read, VAPID signing (ES256) and aes128gcm encryption per subscription.
// Both include the actions queue's batching (a batch waits up to `max_batch_timeout`, 1 s in
// wrangler.toml), most of every action's latency. Latency = arrival at the receiver − just
// before the ingest POST.
// Markdown to stdout (scripts/bench appends it to bench/RESULTS.md); progress to stderr.
// Run: `npm run bench`, or `node bench/push-latency.mjs [--events 40]` after a build.
import { startSpur, DEMO_WRITE_KEY } from "../tests/helpers/spur.mjs";
import { startReceiver } from "../tests/helpers/receiver.mjs";
import { browserKeys, startPushService } from "../tests/helpers/push.mjs";

const arg = (name, dflt) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : dflt;
};
const EVENTS = Number(arg("events", "40"));
const log = (...a) => console.error("[push bench]", ...a);
console.log = console.info = (...a) => console.error(...a);

// The dev-only keys of .dev.vars.example.
const VAPID_PRIVATE_KEY = "TZOL60MdzG_t6KuozHHkoDh0zgqRcvvF8RQJmiCPptQ";
const AUTH = { Authorization: `Basic ${Buffer.from(`${DEMO_WRITE_KEY}:`).toString("base64")}` };
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const pct = (xs, p) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
};

const hooks = await startReceiver();
const pushService = await startPushService();
const spur = await startSpur({
  secrets: { VAPID_PRIVATE_KEY, VAPID_SUBJECT: "mailto:bench@spur.invalid", WEBHOOK_SECRET: "bench" },
});
const admin = async (path, method, body) => {
  const res = await spur.admin(path, { method, body: body && JSON.stringify(body) });
  if (res.status >= 300) throw new Error(`${method} ${path}: ${res.status} ${await res.text()}`);
  return res.json().catch(() => null);
};

try {
  const run = `${process.pid}-${Date.now()}`;
  await admin("/v1/rules/bench-hook", "PUT", {
    id: "bench-hook",
    trigger: { events: ["Bench Hook"] },
    actions: [{ type: "webhook", url: `${hooks.url}/hook` }],
  });
  await admin("/v1/rules/bench-push", "PUT", {
    id: "bench-push",
    trigger: { events: ["Bench Push"] },
    actions: [{ type: "push", title: "Bench", body: "latency", url: "/" }],
  });
  // One subscription per person (as a site has), each with its own browser keys.
  log(`subscribing ${EVENTS} people`);
  for (let i = 0; i < EVENTS; i++) {
    const res = await fetch(`${spur.url}/v1/push/subscriptions`, {
      method: "POST",
      body: JSON.stringify({
        writeKey: DEMO_WRITE_KEY,
        userId: `push-${run}-${i}`,
        subscription: { endpoint: `${pushService.url}/s/${i}`, keys: browserKeys().keys },
      }),
    });
    if (res.status !== 201) throw new Error(`subscribe: ${res.status} ${await res.text()}`);
  }

  const sent = { hook: new Map(), push: new Map() };
  const one = async (kind, i) => {
    const event = kind === "hook" ? "Bench Hook" : "Bench Push";
    const messageId = `${kind}-${run}-${i}`;
    sent[kind].set(i, Date.now());
    const res = await spur.post(
      "/v1/batch",
      { batch: [{ type: "track", event, userId: `push-${run}-${i}`, properties: { i }, messageId }] },
      AUTH,
    );
    if (res.status !== 200) throw new Error(`ingest: ${res.status}`);
  };
  // A warm-up pair (the isolate loads its rules once), not counted.
  await one("hook", 0);
  await one("push", 0);
  await sleep(3000);
  const pushSeen = pushService.hits().length;
  log(`measuring ${EVENTS} events of each kind, interleaved`);
  for (let i = 1; i < EVENTS; i++) {
    await one("hook", i);
    await one("push", i);
    await sleep(100);
  }
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    const hooksIn = hooks.hits("/hook").length;
    const pushesIn = pushService.hits().length - pushSeen;
    if (hooksIn >= EVENTS && pushesIn >= EVENTS - 1) break;
    await sleep(200);
  }
  const hookLat = hooks
    .hits("/hook")
    .map((h) => [JSON.parse(h.body), h.at])
    .map(([b, at]) => {
      const i = Number(String(b.user).split("-").pop());
      return i >= 1 && sent.hook.has(i) ? at - sent.hook.get(i) : null;
    })
    .filter((x) => x !== null);
  const pushLat = pushService
    .hits()
    .slice(pushSeen)
    .map((h) => {
      const i = Number(h.path.split("/").pop());
      return i >= 1 && sent.push.has(i) ? h.at - sent.push.get(i) : null;
    })
    .filter((x) => x !== null);
  log(`webhooks ${hookLat.length}/${EVENTS - 1}, pushes ${pushLat.length}/${EVENTS - 1}`);
  const row = (name, xs) =>
    `| ${name} | ${xs.length} | ${pct(xs, 50)} ms | ${pct(xs, 95)} ms | ${Math.max(...xs)} ms |`;
  const ratio = (pct(pushLat, 50) / pct(hookLat, 50)).toFixed(2);
  process.stdout.write(
    [
      "## Event to push request (workerd, loopback push service)",
      "",
      `${EVENTS - 1} events of each kind, interleaved, one per person; latency from just before the ingest`,
      "POST to the request's arrival at the loopback receiver. Both paths go through the actions queue,",
      "whose batching (a batch waits up to `max_batch_timeout`, 1 s) is most of either latency.",
      "",
      "| rule action | n | median | p95 | max |",
      "|---|---:|---:|---:|---:|",
      row("webhook (baseline)", hookLat),
      row("push (subscription read + VAPID + aes128gcm)", pushLat),
      "",
      `Push median / webhook median: **${ratio}×**.`,
      "",
    ].join("\n"),
  );
} finally {
  await spur.close();
  await hooks.close();
  await pushService.close();
}
