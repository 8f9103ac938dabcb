// Spur's minimal JS path, loaded only when WebAssembly cannot run (a CSP without
// 'wasm-unsafe-eval', no WebAssembly). Same wire format, same consent rules and the same
// stored identity as the wasm tracker, so calls are still delivered; what it leaves out:
// a durable queue and retries, click and SPA autocapture, sessions, campaign context and
// cross-tab sending (each tab sends its own events).
const VERSION = __SPUR_VERSION__;
/** Largest request body; the wire-format contract test checks it against the edge's limit. */
export const MAX_BODY = 60 * 1024;

export function fallback(config) {
  const N = navigator,
    D = document,
    L = location;
  let ls; // reading localStorage itself throws in sandboxed frames
  try {
    ls = localStorage;
  } catch {}
  const get = (k) => {
    try {
      return ls.getItem(k);
    } catch {}
  };
  const put = (k, v) => {
    try {
      v == null ? ls.removeItem(k) : ls.setItem(k, v);
    } catch {}
  };
  const cookieless = !!config.cookieless;
  const signal = (config.gpc !== false && N.globalPrivacyControl) || (config.dnt && N.doNotTrack === "1");
  let consent = get("spur.consent") || (signal ? "denied" : config.consent || "granted");
  const persist = () => consent === "granted" && !cookieless;
  const uuid = () =>
    "10000000-1000-4000-8000-100000000000".replace(/[018]/g, (c) =>
      (c ^ (crypto.getRandomValues(new Uint8Array(1))[0] & (15 >> (c / 4)))).toString(16),
    );
  let anon = (!cookieless && get("spur.aid")) || uuid();
  let user = (!cookieless && get("spur.uid")) || "";
  const save = () => {
    if (!persist()) return;
    put("spur.aid", anon);
    put("spur.uid", user || null);
  };
  save();
  const url = `${(config.endpoint || "").replace(/\/$/, "")}/v1/batch`;
  let queue = [],
    timer,
    paged;

  function send(beacon) {
    while (consent === "granted" && queue.length) {
      let n = 0,
        size = 0;
      while (n < queue.length && (!n || size + queue[n].length < MAX_BODY - 200))
        size += queue[n++].length + 1;
      const body = `{"batch":[${queue.slice(0, n)}],"sentAt":"${new Date().toISOString()}","writeKey":${JSON.stringify(config.writeKey || "")}}`;
      if (beacon) {
        if (!N.sendBeacon(url, body)) return;
        // keepalive only for a hidden page: Chromium fails keepalive requests past 64 KB in
        // flight, which back-to-back batches reach.
      } else
        fetch(url, {
          method: "POST",
          body,
          keepalive: D.visibilityState === "hidden",
          credentials: "omit",
        }).catch(() => {});
      queue = queue.slice(n);
    }
  }
  function capture(msg, userId = user) {
    if (consent === "denied") return;
    const page = { path: L.pathname, referrer: D.referrer, search: L.search, title: D.title, url: L.href };
    Object.assign(msg, {
      messageId: uuid(),
      timestamp: new Date().toISOString(),
      anonymousId: anon,
      userId: userId || undefined,
      context: {
        library: { name: "spur.js", version: VERSION },
        page,
        userAgent: N.userAgent,
        locale: N.language,
        timezone: Intl.DateTimeFormat().resolvedOptions().timeZone,
      },
    });
    if (msg.type === "page") msg.properties = { ...page, ...msg.properties };
    try {
      queue.push(JSON.stringify(msg));
    } catch {}
    clearTimeout(timer);
    timer = setTimeout(send, 1000);
  }
  const obj = (v) => (v && typeof v === "object" && !Array.isArray(v) ? v : {});
  const isObj = (v) => v && typeof v === "object";
  const calls = {
    track: (event, p) => event && capture({ type: "track", event: String(event), properties: obj(p) }),
    page: (name, p) => {
      if (isObj(name)) {
        p = name;
        name = "";
      }
      paged = 1;
      capture({ type: "page", name: name ? String(name) : undefined, properties: obj(p) });
    },
    identify: (id, traits) => {
      if (isObj(id)) {
        traits = id;
        id = "";
      }
      if (id) {
        user = String(id);
        save();
      }
      capture({ type: "identify", traits: obj(traits) });
    },
    alias: (to, from) => to && capture({ type: "alias", previousId: from || user || anon }, String(to)),
    group: (g, traits) => g && capture({ type: "group", groupId: String(g), traits: obj(traits) }),
    reset: () => {
      user = "";
      anon = uuid();
      save();
    },
    flush: () => send(),
    optIn: () => {
      consent = "granted";
      if (!cookieless) put("spur.consent", consent);
      save();
      send();
    },
    optOut: () => {
      consent = "denied";
      queue = [];
      for (const k of ["spur.aid", "spur.uid", "spur.sid"]) put(k, null);
      cookieless || put("spur.consent", consent);
    },
    on: () => {},
    debug: () => {}, // developer mode needs WebAssembly
  };
  const api = { config, fallback: true };
  for (const m in calls)
    api[m] = (...a) => {
      try {
        calls[m](...a);
      } catch {}
      return api;
    };
  addEventListener("pagehide", () => send(true));
  addEventListener("visibilitychange", () => D.visibilityState === "hidden" && send());
  return { api, ready: () => config.pageviews !== false && !paged && calls.page() };
}
