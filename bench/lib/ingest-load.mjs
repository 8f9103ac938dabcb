// The ingest load both edge benches send (bench/edge.mjs and bench/by-hand/edge-ablation.mjs): batches of
// realistic browser events with fresh messageIds, one client IP per request (the ingest limiter
// stays on the path but never trips), and closed-loop clients that count every non-200.
//
// Each request is ONE device's batch, as a real tracker sends it: the device's stable
// anonymousId on every event and, since the person is logged in, that person's userId. Devices
// are drawn in turn from a pool of DEVICES, so people recur across requests, and two devices
// (d, d + PEOPLE) belong to one person. Every event thus carries a link (anonymousId -> userId),
// the costliest shape for the consumer's alias statements, but one link per device that stands
// once stored, as in real traffic. (Until issue 15 every event took anon-(seq % 997) and
// user-(seq % 499): each event linked a different pair, most were refused as alias_conflict,
// and the soak's bad rows were those — a load no browser sends.)
import { DEMO_WRITE_KEY } from "../../tests/helpers/spur.mjs";

const AUTH = `Basic ${Buffer.from(`${DEMO_WRITE_KEY}:`).toString("base64")}`;
const DEVICES = 997;
const PEOPLE = 499;
let seq = 0;
let requests = 0;

/** A batch body of `n` realistic browser events of one device, each with a fresh messageId. */
export function batch(n) {
  const now = new Date().toISOString();
  const device = (requests++ * 389) % DEVICES; // 389 is coprime to 997: every device in turn
  const events = [];
  for (let i = 0; i < n; i++) {
    seq++;
    events.push({
      type: "track",
      event: "Product Viewed",
      messageId: `bench-${process.pid}-${seq}`,
      anonymousId: `anon-${device}`,
      userId: `user-${device % PEOPLE}`,
      timestamp: now,
      properties: { sku: `SKU-${seq % 50}`, price: 42.5, category: "shoes", currency: "USD" },
      context: {
        page: { path: "/p/1", url: "https://shop.example/p/1", title: "Shoe" },
        locale: "en-US",
        library: { name: "bench", version: "1" },
      },
    });
  }
  return JSON.stringify({ batch: events });
}

const ip = () => `10.${(seq >> 16) & 255}.${(seq >> 8) & 255}.${seq & 255}`;

/** POSTs a batch body to `url`'s /v1/batch as a browser would. */
export const post = (url, body) =>
  fetch(`${url}/v1/batch`, {
    method: "POST",
    body,
    headers: {
      "Content-Type": "application/json",
      Authorization: AUTH,
      "CF-Connecting-IP": ip(),
      "User-Agent":
        "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36",
    },
  });

/** `clients` closed-loop clients posting `size`-event batches for `ms`: latencies (ms), non-200s, seconds. */
export async function closedLoop(url, size, ms, clients) {
  const lat = [];
  let bad = 0;
  const end = performance.now() + ms;
  const client = async () => {
    while (performance.now() < end) {
      const body = batch(size);
      const t = performance.now();
      const res = await post(url, body);
      await res.arrayBuffer();
      if (res.status !== 200) bad++;
      lat.push(performance.now() - t);
    }
  };
  const t0 = performance.now();
  await Promise.all(Array.from({ length: clients }, client));
  return { lat, bad, secs: (performance.now() - t0) / 1000 };
}
