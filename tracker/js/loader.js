// Spur loader (ES module, /tracker/spur.js): starts the wasm tracker, replays the calls the
// snippet queued, then replaces the stub with the real API. If WebAssembly cannot run (CSP
// without 'wasm-unsafe-eval', no WebAssembly at all, the .wasm failing to load), fallback.js
// delivers the calls instead. scripts/build-tracker bundles this file, the wasm-bindgen glue
// and host.js (aliased as "spur-host") into one file.
import init, * as t from "./spur_tracker.js";
import { bind, handlers, options } from "spur-host";

const METHODS = "track page identify alias group reset flush optIn optOut on".split(" ");
let loading;

/** Starts Spur with `config` (default: the snippet's) and resolves to the API; idempotent. */
export function load(config) {
  return (loading ||= boot(config));
}

const str = (v) => (v == null ? "" : String(v));
const isObj = (v) => v && typeof v == "object";
// Properties and traits cross into wasm as JSON; anything but a plain object becomes {}.
const json = (v) => {
  try {
    if (isObj(v) && !Array.isArray(v)) return JSON.stringify(v);
  } catch {}
  return "{}";
};

/** The wasm tracker's API, or null when WebAssembly cannot run here. */
async function wasm(config) {
  try {
    await init({ module_or_path: new URL("spur_tracker_bg.wasm", import.meta.url) });
    bind(t.on_event);
    t.start(config);
  } catch {
    return null;
  }
  options.banner = config.banner !== false;
  const calls = {
    track: (e, p) => t.track(str(e), json(p)),
    page: (n, p) => (isObj(n) ? t.page("", json(n)) : t.page(str(n), json(p))),
    identify: (u, tr) => (isObj(u) ? t.identify("", json(u)) : t.identify(str(u), json(tr))),
    alias: (to, from) => t.alias(str(to), str(from)),
    group: (g, tr) => t.group(str(g), json(tr)),
    reset: t.reset,
    flush: t.flush,
    optIn: t.opt_in,
    optOut: t.opt_out,
    on: (type, fn) => type == "message" && typeof fn == "function" && handlers.push(fn),
  };
  const api = { config };
  for (const m of METHODS)
    api[m] = (...a) => {
      // A tracker failure never reaches the page's code.
      try {
        calls[m](...a);
      } catch {}
      return api;
    };
  return { api, ready: t.ready };
}

async function boot(config) {
  const stub = Array.isArray(window.spur) ? window.spur : [];
  config = config || stub.config || {};
  const { api, ready } =
    (await wasm(config)) ||
    (await import(new URL("fallback.js", import.meta.url).href)).fallback(config);
  window.spur = api;
  for (const [m, ...args] of stub) api[m] && api[m](...args);
  try {
    ready();
  } catch {}
  return api;
}

const stub = window.spur;
if (Array.isArray(stub) && stub.config) load();
