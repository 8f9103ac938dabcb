// Spur loader (ES module, /tracker/spur.js): starts the wasm tracker, replays the calls the
// snippet queued, then replaces the stub with the real API. If WebAssembly cannot run (CSP
// without 'wasm-unsafe-eval', no WebAssembly at all, the .wasm failing to load), fallback.js
// delivers the calls instead. scripts/build-tracker bundles this file, the wasm-bindgen glue
// and host.js (aliased as "spur-host") into one file.
import { initSync, start, call, on_event } from "./spur_tracker.js";
import { bind, handlers, options, get } from "spur-host";

// The API; a method's index is its operation number in the wasm tracker (tracker/src/lib.rs
// `op`), except `on` and `debug`, which stay in JS.
const METHODS = "track page identify alias group reset flush optIn optOut on debug".split(" ");
// Developer mode (tracker/src/devmode.rs): a separate build in debug/, chosen by
// `?spur_debug=1`, a queued `spur.debug(true)` or an earlier `spur.debug(true)` (remembered in
// localStorage). scripts/build-tracker defines globalThis.__SPUR_DEBUG__: false for spur.js,
// true for debug/spur.js.
const DEBUG_KEY = "spur.debug";
const setDebug = (on) => {
  try {
    if (on) localStorage.setItem(DEBUG_KEY, "1");
    else localStorage.removeItem(DEBUG_KEY);
  } catch {}
};
const debugWanted = (stub) => {
  let stored;
  try {
    stored = localStorage.getItem(DEBUG_KEY);
  } catch {}
  return (
    /[?&]spur_debug=1/.test(location.search) || stub.some((c) => c[0] === "debug" && c[1]) || stored === "1"
  );
};
let loading;

/** Starts Spur with `config` (default: the snippet's) and resolves to the API; idempotent. */
export function load(config) {
  loading ||= boot(config);
  return loading;
}

const str = (v) => (v == null ? "" : String(v));
const isObj = (v) => v && typeof v === "object";
// Properties and traits cross into wasm as JSON; anything but a plain object becomes {}.
const json = (v) => {
  try {
    if (isObj(v) && !Array.isArray(v)) return JSON.stringify(v);
  } catch {}
  return "{}";
};

/** The wasm tracker's API, or null when WebAssembly cannot run here. */
async function wasm(config) {
  const c = config,
    on = (v, dflt) => (v == null ? dflt : !!v);
  try {
    // Compiled here and instantiated with the glue's initSync, which leaves the glue's own
    // fetch-and-instantiate code out of the bundle. A wrong MIME type (a TypeError) costs a
    // second, cached fetch; a CSP without 'wasm-unsafe-eval' (a CompileError) goes straight
    // to the fallback, so the site gets one violation report, not two.
    const url = new URL("spur_tracker_bg.wasm", import.meta.url);
    const module = await WebAssembly.compileStreaming(fetch(url)).catch((e) => {
      if (!(e instanceof TypeError)) throw e;
      return fetch(url)
        .then((r) => r.arrayBuffer())
        .then((b) => WebAssembly.compile(b));
    });
    initSync({ module });
    bind(on_event);
    // Option bits (tracker/src/lib.rs `flag`; defaults as in spur.d.ts), then the browser's
    // privacy signals, honoured or not by the tracker as the options say.
    const n = navigator;
    start(
      str(c.endpoint),
      str(c.writeKey),
      str(c.consent),
      on(c.cookieless, 0) |
        (on(c.pageviews, 1) << 1) |
        (on(c.clicks, 1) << 2) |
        (on(c.tags, 1) << 3) |
        (on(c.gpc, 1) << 4) |
        (on(c.dnt, 0) << 5) |
        (!!n.globalPrivacyControl << 6) |
        ((n.doNotTrack === "1") << 7),
    );
  } catch {
    return null;
  }
  options.banner = c.banner !== false;
  options.base = new URL(".", import.meta.url).href;
  const api = { config };
  METHODS.forEach((m, op) => {
    api[m] = (a, b) => {
      // page(properties) and identify(traits) may omit the first argument.
      if ((m === "page" || m === "identify") && isObj(a)) {
        b = a;
        a = "";
      }
      // A tracker failure never reaches the page's code.
      try {
        if (m === "on") a === "message" && typeof b === "function" && handlers.push(b);
        else if (m === "debug") setDebug(a);
        else call(op, str(a), m === "alias" ? str(b) : json(b));
      } catch {}
      return api;
    };
  });
  return { api, ready: () => call(9, "", "") }; // op::READY
}

async function boot(config) {
  const stub = Array.isArray(window.spur) ? window.spur : [];
  config = config || stub.config || {};
  if (!globalThis.__SPUR_DEBUG__ && debugWanted(stub)) {
    // The debug build takes over this page: it replays the same queued calls.
    const debug = await import(new URL("debug/spur.js", import.meta.url).href).catch(() => 0);
    if (debug) return debug.load(config);
  }
  const { api, ready } =
    (await wasm(config)) || (await import(new URL("fallback.js", import.meta.url).href)).fallback(config);
  // `spur.push` is both the snippet's queue method, still callable as `spur.push([method,
  // ...args])` (the stub's calls are replayed through it), and the Web Push API, whose code
  // (push.js) is fetched on its first call.
  const push = (...calls) =>
    calls.forEach((c) => {
      try {
        api[c[0]](...c.slice(1));
      } catch {}
    });
  api.push = push;
  for (const m of ["subscribe", "unsubscribe", "state"])
    push[m] = () => import(new URL("push.js", import.meta.url)).then((p) => p[m](api.config, get));
  window.spur = api;
  push(...stub);
  try {
    ready();
  } catch {}
  return api;
}

const stub = window.spur;
if (Array.isArray(stub) && stub.config) load();
