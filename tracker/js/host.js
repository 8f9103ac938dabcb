// Spur's browser I/O: the only JS the wasm tracker calls (see tracker/src/host.rs).
// Nothing here decides anything; it performs one side effect each and reports back through
// the tracker's `on_event(code, arg)`, which the loader hands to `bind`. Every call that can
// throw (storage in sandboxed frames, beacons over quota) is caught here, so the tracker
// can never break the page.
let sink = () => {};
const W = window, D = document, L = location;

/** In-app message handlers registered with `spur.on("message", fn)`. */
export const handlers = [];
/** Whether to show the default banner when no handler is registered. */
export const options = { banner: true };

/** Routes listeners, timers and responses to the tracker's `on_event`. */
export const bind = (f) => (sink = f);

export function listen(onDocument, type, code) {
  const target = onDocument ? D : W, f = (e) => sink(code, e);
  target.addEventListener(type, f, true);
  return () => target.removeEventListener(type, f, true);
}

// Wraps pushState/replaceState. The wrapper stays (another script may have wrapped ours);
// undoing only silences it.
export function watch_history(code) {
  let on = 1;
  for (const m of ["pushState", "replaceState"]) {
    const orig = history[m];
    history[m] = function () {
      const r = orig.apply(this, arguments);
      on && sink(code);
      return r;
    };
  }
  return () => (on = 0);
}

export const undo = (f) => f();
export const later = (ms, code) => setTimeout(sink, ms, code);

export function post(url, body, code) {
  fetch(url, { method: "POST", body, keepalive: true, credentials: "omit" }).then(
    (r) => {
      sink(code, r.status);
      r.ok && r.json().then((j) => show(j && j.messages), () => {});
    },
    () => sink(code, 0),
  );
}

export function beacon(url, body) {
  try {
    return navigator.sendBeacon(url, body);
  } catch {
    return false;
  }
}

// The Web Lock's holder is the site's one sender. Without Web Locks (insecure origins, very
// old browsers) every tab sends alone; the edge still stores each messageId once.
export function lead(name, code) {
  const locks = navigator.locks;
  if (!locks) return setTimeout(sink, 0, code), () => {};
  const stop = new AbortController();
  let release;
  locks
    .request(name, { signal: stop.signal }, () => (sink(code), new Promise((r) => (release = r))))
    .catch(() => {});
  return () => (stop.abort(), release && release());
}

export function get(k) {
  try {
    return localStorage.getItem(k);
  } catch {}
}
export function put(k, v) {
  try {
    return localStorage.setItem(k, v), true;
  } catch {
    return false;
  }
}
export function del(k) {
  try {
    localStorage.removeItem(k);
  } catch {}
}
export function keys(prefix) {
  try {
    return Object.keys(localStorage).filter((k) => k.startsWith(prefix)).sort().join("\n");
  } catch {
    return "";
  }
}

export const rand = () => crypto.getRandomValues(new Uint32Array(1))[0];
export const now = () => Date.now();
export const iso = (ms) => new Date(ms).toISOString();
export const doc = (i) =>
  [L.href, L.pathname, L.search, D.title, D.referrer, D.visibilityState][i];
export const signals = () =>
  (navigator.globalPrivacyControl ? 1 : 0) | (navigator.doNotTrack == "1" ? 2 : 0);
export function facts() {
  const s = screen;
  return JSON.stringify({
    userAgent: navigator.userAgent,
    locale: navigator.language,
    timezone: Intl.DateTimeFormat().resolvedOptions().timeZone,
    screen: { width: s.width, height: s.height, density: devicePixelRatio },
  });
}

/** Hands in-app messages to the registered handlers, or shows the default banner. */
export function show(messages) {
  for (const m of Array.isArray(messages) ? messages : []) {
    if (handlers.length) handlers.forEach((h) => { try { h(m); } catch {} });
    else if (options.banner) banner(m);
  }
}

// The default in-app message: a dismissable bar at the bottom. Text only (textContent),
// so a message can never inject markup; its link opens only http(s) URLs.
function banner(m) {
  const el = (tag, text, css) => {
    const e = D.createElement(tag);
    e.textContent = text || "";
    e.style.cssText = css || "";
    return e;
  };
  const bar = el("div", "", "position:fixed;left:16px;right:16px;bottom:16px;z-index:2147483647;max-width:480px;margin:auto;padding:12px 40px 12px 16px;border-radius:8px;background:#1f2937;color:#fff;font:14px/1.4 system-ui,sans-serif;box-shadow:0 4px 16px rgba(0,0,0,.3)");
  bar.setAttribute("role", "status");
  bar.dataset.spurMessage = m.id || "";
  bar.append(el("strong", m.title, "display:block"), el("span", m.body));
  if (/^https?:/i.test(m.url || "")) {
    const a = el("a", "Open", "color:#93c5fd;margin-left:8px");
    a.href = m.url;
    bar.append(a);
  }
  const x = el("button", "×", "position:absolute;top:6px;right:8px;border:0;background:none;color:inherit;font-size:20px;cursor:pointer");
  x.setAttribute("aria-label", "Dismiss");
  x.onclick = () => bar.remove();
  bar.append(x);
  D.body.append(bar);
}
