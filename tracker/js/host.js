// Spur's browser I/O: the only JS the wasm tracker calls (see tracker/src/host.rs). It
// performs side effects and reads the browser (storage, network, timers, listeners, locks,
// the DOM of a click, the URL's UTM parameters); what becomes an event, and when anything is
// stored or sent, is decided in Rust. Results come back through the tracker's
// `on_event(code, arg)`, which the loader hands to `bind`. Every call that can throw (storage
// in sandboxed frames, beacons over quota) is caught here, so the tracker never breaks the page.
let sink = () => {};
let current; // the event being dispatched, for describe()
const undos = []; // registrations' undo functions, by the handle the tracker holds
const keep = (undo) => undos.push(undo) - 1;
const W = window,
  D = document,
  L = location;

/** In-app message handlers registered with `spur.on("message", fn)`. */
export const handlers = [];
/** Whether to show the default banner when no handler is registered. */
export const options = { banner: true, base: "" };

/** Routes listeners, timers and responses to the tracker's `on_event`. */
export const bind = (f) => (sink = f);

// Dispatches `code`, with 1 for pageshow/pagehide of a page that is (or was) in the bfcache.
export function listen(onDocument, type, code) {
  const target = onDocument ? D : W;
  const f = (e) => {
    current = e;
    sink(code, e.persisted ? 1 : 0);
    current = 0;
  };
  target.addEventListener(type, f, true);
  return keep(() => target.removeEventListener(type, f, true));
}

// Wraps pushState/replaceState. The wrapper stays (another script may have wrapped ours);
// undoing only silences it.
export function watch_history(code) {
  let on = 1;
  for (const m of ["pushState", "replaceState"]) {
    const orig = history[m];
    history[m] = function (...args) {
      const r = orig.apply(this, args);
      if (on) sink(code);
      return r;
    };
  }
  return keep(() => {
    on = 0;
  });
}

export function undo(handle) {
  const f = undos[handle];
  undos[handle] = 0;
  // An undone handle holds 0 (not undefined): `if (f)`, never `f?.()`, which would call 0.
  if (f) f();
}
export const later = (ms, code) => setTimeout(sink, ms, code);

// Chromium fails a keepalive request once keepalive bodies in flight (beacons included) pass
// 64 KiB (the Fetch spec's limit), so keepalive is asked for only by a page being left
// (how & 2), and only within that budget. Bodies are gzipped when the tracker asks (how & 1)
// and the browser has CompressionStream; otherwise they go as they are.
const KEEPALIVE_BUDGET = 65536;
let kept = 0; // keepalive bytes in flight
// Developer mode only (tracker/src/devmode.rs): the latest answer's body. The production build
// defines globalThis.__SPUR_DEBUG__ as false, so this and its uses are left out of spur.js.
let answer = "";
export const last_answer = () => answer;
// Bodies are bytes, not Blobs: a Blob's bytes are invisible to DevTools (and so to tests).
export function post(url, body, code, how) {
  const bytes = new TextEncoder().encode(body);
  how & 1 && W.CompressionStream
    ? new Response(new Blob([bytes]).stream().pipeThrough(new CompressionStream("gzip"))).arrayBuffer().then(
        (z) => send(url, z, code, how, 1),
        () => send(url, bytes, code, how),
      )
    : send(url, bytes, code, how);
}
function send(url, body, code, how, gz, n = body.byteLength, keep = how & 2 && kept + n <= KEEPALIVE_BUDGET) {
  if (keep) kept += n;
  const headers = { "Content-Type": "text/plain" };
  if (gz) headers["Content-Encoding"] = "gzip";
  fetch(url, { method: "POST", body, headers, keepalive: !!keep, credentials: "omit" })
    .then(
      (r) => {
        if (globalThis.__SPUR_DEBUG__) {
          const done = () => sink(code, r.status);
          r.clone()
            .text()
            .then((t) => {
              answer = t;
            })
            .then(done, done);
        } else sink(code, r.status);
        r.ok &&
          r.json().then(
            (j) => show(j?.messages),
            () => {},
          );
      },
      // A keepalive request the browser refused (its budget) is sent again without: the
      // browser's limit is not the edge failing.
      () => (keep ? send(url, body, code, 0, gz) : sink(code, 0)),
    )
    .finally(() => {
      if (keep) kept -= n;
    });
}

export function beacon(url, body) {
  try {
    return navigator.sendBeacon(url, body);
  } catch {
    return false;
  }
}

// The Web Lock's holder is the site's one sender. Asking first with ifAvailable tells the
// tracker at once whether another tab sends (0) before it waits in line for its turn (1).
// Without Web Locks (insecure origins, very old browsers) every tab sends alone; the edge
// still stores each messageId once.
export function lead(name, code) {
  const locks = navigator.locks,
    stop = new AbortController();
  let release;
  const hold = () => {
    sink(code, 1);
    return new Promise((r) => {
      release = r;
    });
  };
  if (!locks) setTimeout(sink, 0, code, 1);
  else
    locks
      .request(name, { ifAvailable: true }, (lock) => {
        if (lock) return hold();
        sink(code, 0);
        locks.request(name, { signal: stop.signal }, hold).catch(() => {});
      })
      .catch(() => {});
  return keep(() => {
    stop.abort();
    release?.();
  });
}

// Two stores: localStorage, and for pending consent and cookieless mode a Map that lives
// and dies with the page. Storage can throw (sandboxed frames, disabled storage, quota): a
// value localStorage refuses is kept in a second Map (`spill`) instead, so this page still
// delivers it (it just does not outlive the page) and nothing is dropped before the queue's
// own cap.
const mem = new Map();
const spill = new Map();
export function get(m, k) {
  if (m) return mem.get(k);
  try {
    return localStorage.getItem(k) ?? spill.get(k);
  } catch {
    return spill.get(k);
  }
}
export function put(m, k, v) {
  if (m) {
    mem.set(k, v);
    return true;
  }
  try {
    localStorage.setItem(k, v);
    spill.delete(k);
  } catch {
    spill.set(k, v);
  }
  return true;
}
export function del(m, k) {
  if (m) {
    mem.delete(k);
    return;
  }
  spill.delete(k);
  try {
    localStorage.removeItem(k);
  } catch {}
}
export function keys(m, prefix) {
  const all = [...(m ? mem : spill).keys()];
  try {
    if (!m) all.push(...Object.keys(localStorage));
  } catch {}
  return [...new Set(all)]
    .filter((k) => k.startsWith(prefix))
    .sort()
    .join("\n");
}

const random32 = () => crypto.getRandomValues(new Uint32Array(1))[0];
export const random = (max) => random32() % (max + 1);
export const uuid = () =>
  crypto.randomUUID
    ? crypto.randomUUID()
    : "10000000-1000-4000-8000-100000000000".replace(/[018]/g, (c) =>
        (c ^ (random32() & (15 >> (c / 4)))).toString(16),
      );
export const iso = (ms) => new Date(ms).toISOString();
// Read per captured event: only the fact asked for is read (location's getters are not free).
const FACTS = [
  () => L.href,
  () => L.pathname,
  () => L.search,
  () => D.title,
  () => D.referrer,
  () => D.visibilityState,
  campaign,
  facts,
];
export const doc = (i) => FACTS[i]();

// context.campaign from the URL's UTM parameters, under Segment's names; "" when none. Parsed
// again only when the query string changed.
let search, utm;
function campaign() {
  if (L.search === search) return utm;
  search = L.search;
  const q = new URLSearchParams(search),
    c = {};
  for (const k of ["campaign", "source", "medium", "term", "content"])
    if (q.has(`utm_${k}`)) c[k === "campaign" ? "name" : k] = q.get(`utm_${k}`);
  utm = Object.keys(c).length ? JSON.stringify(c) : "";
  return utm;
}
function facts() {
  const s = screen;
  return JSON.stringify({
    userAgent: navigator.userAgent,
    locale: navigator.language,
    timezone: Intl.DateTimeFormat().resolvedOptions().timeZone,
    screen: { width: s.width, height: s.height, density: devicePixelRatio },
  });
}

const INTERACTIVE =
  "a,button,input[type=submit],input[type=button],input[type=reset],[role=button],[data-spur-event]";

// The DOM half of click autocapture (policy and limits come from tracker/src/capture.rs):
// "{properties}\nname" for a click on an interactive element, else "". Reads only what the
// page authored: an input's text is its value attribute, and only for submit/button/reset.
export function describe(clicks, tags, maxText, maxClasses, e = current) {
  const t = e?.target,
    el = t instanceof Element && t.closest(INTERACTIVE);
  if (!el) return "";
  const attr = (a) => el.getAttribute(a) || "",
    name = el.getAttribute("data-spur-event");
  const props = {};
  if (name != null) {
    if (!tags) return "";
    for (const a of el.getAttributeNames())
      if (a.startsWith("data-spur-") && a !== "data-spur-event") props[a.slice(10)] = attr(a);
    return `${JSON.stringify(props)}\n${name}`;
  }
  if (!clicks) return "";
  const tag = el.tagName.toLowerCase(),
    id = attr("id"),
    classes = attr("class").trim();
  const text =
    tag === "input"
      ? /^(submit|button|reset)$/i.test(attr("type"))
        ? attr("value")
        : ""
      : [...el.textContent.trim().split(/\s+/).join(" ")].slice(0, maxText).join("");
  props.tag = tag;
  if (id) props.id = id;
  if (classes) props.classes = classes;
  if (text) props.text = text;
  if (attr("href")) props.href = attr("href");
  props.selector =
    tag + (id ? `#${id}` : classes ? `.${classes.split(/\s+/).slice(0, maxClasses).join(".")}` : "");
  return `${JSON.stringify(props)}\nElement Clicked`;
}

/** Hands in-app messages to the registered handlers, or shows the default banner. */
export function show(messages) {
  for (const m of Array.isArray(messages) ? messages : []) {
    if (handlers.length)
      handlers.forEach((h) => {
        try {
          h(m);
        } catch {}
      });
    else if (options.banner)
      import(`${options.base}banner.js`).then(
        (b) => b.banner(m),
        () => {},
      );
  }
}
