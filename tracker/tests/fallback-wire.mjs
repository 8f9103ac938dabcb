// Runs tracker/js/fallback.js under Node in a stand-in browser (location, document, storage,
// fetch, sendBeacon recorded) through every API call, and prints what it sent as JSON:
// `{ maxBody, version, bodies: [string] }`. tracker/tests/contract.rs feeds the bodies to the
// edge's core (`spur_core::ingest`), so the fallback's wire format is checked like the wasm
// tracker's. Timers are not run: the script flushes explicitly, then fires `pagehide`.
const VERSION = "0.0.0-contract";
const bodies = [];
const listeners = {};
const store = new Map();
const define = (name, value) =>
  Object.defineProperty(globalThis, name, { value, configurable: true, writable: true });

define("__SPUR_VERSION__", VERSION);
define("location", {
  href: "https://shop.example/checkout?utm_source=news",
  pathname: "/checkout",
  search: "?utm_source=news",
});
define("document", { referrer: "https://search.example/", title: "Checkout", visibilityState: "visible" });
define("navigator", {
  userAgent:
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0 Safari/537.36",
  language: "en-GB",
  sendBeacon: (_url, body) => {
    bodies.push(body);
    return true;
  },
});
define("localStorage", {
  getItem: (k) => (store.has(k) ? store.get(k) : null),
  setItem: (k, v) => store.set(k, String(v)),
  removeItem: (k) => store.delete(k),
});
define("fetch", (_url, init) => {
  bodies.push(init.body);
  return Promise.resolve({ ok: true, status: 200 });
});
define("setTimeout", () => 0);
define("clearTimeout", () => {});
define("addEventListener", (type, f) => {
  listeners[type] ||= [];
  listeners[type].push(f);
});

const { fallback, MAX_BODY } = await import(new URL("../js/fallback.js", import.meta.url).href);
const { api, ready } = fallback({ writeKey: "spur_demo_write_key", endpoint: "https://edge.example/" });
ready(); // the initial page view
api
  .track("Order Completed", { total: 42.5, currency: "EUR", items: [{ sku: "A-1", qty: 2 }], gift: false })
  .page("Pricing", { plan: "pro" })
  .identify("user-7", { email: "a@example.com", plan: "pro" })
  .alias("user-8")
  .group("org-3", { name: "Acme", seats: 12 })
  .flush();
api.track("Left Page", { scrolled: 0.8 });
for (const f of listeners.pagehide || []) f();
process.stdout.write(JSON.stringify({ maxBody: MAX_BODY, version: VERSION, bodies }));
