// Spur's Web Push API, `spur.push.subscribe()` / `unsubscribe()` / `state()`: its own chunk
// (dist/push.js), imported by the loader on the first call, so no page pays for it until it
// asks. Every function is async: a failure rejects with an Error whose message starts with
// "spur.push:" and says what to fix; nothing throws into the page.
//
// The subscription belongs to the person the tracker stored (`spur.aid` / `spur.uid`, the keys
// both the wasm tracker and fallback.js use): with consent not granted, in cookieless mode or
// with storage refused there is none, and subscribe() refuses rather than tie a push endpoint
// to an identity the visitor has not agreed to keep. `get(0, key)` is host.js's storage read
// (localStorage, else what it kept in memory when localStorage refused a write).
const N = navigator;
const err = (m) => new Error(`spur.push: ${m}`);
// Exported functions reject only with "spur.push: …" errors: a browser API's own error
// (a SecurityError in a sandboxed frame, say) gets the prefix and keeps its name and message.
const wrap =
  (f) =>
  (...a) =>
    f(...a).catch((e) => {
      throw /^spur\.push:/.test(e?.message) ? e : err(`${e?.name}: ${e?.message}`);
    });
const supported = () =>
  self.isSecureContext && "serviceWorker" in N && "PushManager" in self && "Notification" in self;

/** The service worker to register: `config.serviceWorker` as given, else /spur-sw.js with the key. */
const worker = (c) =>
  c.serviceWorker ||
  `/spur-sw.js?${new URLSearchParams(c.endpoint ? { writeKey: c.writeKey || "", api: c.endpoint } : { writeKey: c.writeKey || "" })}`;
const route = (c, path) => `${(c.endpoint || "").replace(/\/+$/, "")}/v1/push/${path}`;

/** The browser's subscription under the site's service worker, or null. */
const current = async (c) => {
  const reg = await N.serviceWorker.getRegistration(new URL(worker(c), location.href).href);
  return reg ? reg.pushManager.getSubscription() : null;
};

/** fetch that resolves only to a 2xx response; anything else rejects with `what` and the reason. */
async function call(c, what, path, method, body) {
  let r;
  try {
    r = await fetch(route(c, path), {
      method,
      body: body && JSON.stringify(body),
      // text/plain: a POST needs no CORS preflight (DELETE always does; the edge answers it).
      headers: body ? { "Content-Type": "text/plain" } : {},
      credentials: "omit",
    });
  } catch (e) {
    throw err(`${what}: the edge is unreachable (${e.message})`);
  }
  if (r.ok) return r;
  const j = await r.json().catch(() => ({}));
  throw err(`${what}: HTTP ${r.status}${j.reason ? ` ${j.reason}` : ""}${j.detail ? ` (${j.detail})` : ""}`);
}

/**
 * Stores `subscription` (PushSubscription.toJSON()) at the edge for the person the tracker
 * stored. Exported for the tests, which send the chunk's own request with a subscription made
 * outside the browser (headless Chromium offline has no push service to make one).
 */
async function saveNow(c, get, subscription) {
  const anonymousId = get(0, "spur.aid"),
    userId = get(0, "spur.uid");
  if (!anonymousId && !userId)
    throw err("no stored visitor to subscribe (consent not granted, cookieless mode, or storage refused)");
  await call(c, "the edge refused the subscription", "subscriptions", "POST", {
    writeKey: c.writeKey || "",
    userId: userId || undefined,
    anonymousId: anonymousId || undefined,
    subscription,
  });
}

/** 'unsupported' | 'denied' | 'prompt' | 'subscribed' | 'unsubscribed' (see spur.d.ts). */
async function stateNow(c) {
  if (!supported()) return "unsupported";
  const p = Notification.permission;
  return p === "denied" ? p : p !== "granted" ? "prompt" : (await current(c)) ? "subscribed" : "unsubscribed";
}

const b64 = (b) =>
  b &&
  btoa(String.fromCharCode(...new Uint8Array(b)))
    .replace(/\+/g, "-")
    .replace(/\//g, "_")
    .replace(/=+$/, "");

/** Asks for permission, subscribes this browser and stores the subscription; resolves 'subscribed'. */
async function subscribeNow(c, get) {
  if (!supported())
    throw err("Web Push is not supported here (it needs a secure context, service workers and PushManager)");
  // Checked before the prompt: no point asking when the subscription could not be stored.
  if (!get(0, "spur.aid") && !get(0, "spur.uid"))
    throw err("no stored visitor to subscribe (consent not granted, cookieless mode, or storage refused)");
  // Asked before any network wait, while the click's user activation still holds.
  const p = await Notification.requestPermission();
  if (p !== "granted")
    throw err(
      p === "denied" ? "notifications are blocked for this site" : "the permission prompt was dismissed",
    );
  const url = worker(c);
  const reg = await N.serviceWorker.register(url).catch((e) => {
    throw err(`could not register the service worker ${url} (${e.message})`);
  });
  const { publicKey } = await (await call(c, "no VAPID public key", "vapid-public-key", "GET")).json();
  let sub = await reg.pushManager.getSubscription(),
    made;
  // A subscription made under another key (the VAPID key was rotated) cannot receive our pushes.
  if (sub && b64(sub.options.applicationServerKey) !== publicKey) {
    await sub.unsubscribe();
    sub = null;
  }
  if (!sub) {
    // PushManager.subscribe needs an active worker; a fresh registration is still installing.
    await new Promise((ok, no) => {
      const w = reg.installing || reg.waiting;
      if (reg.active || !w) return ok();
      w.addEventListener("statechange", () =>
        w.state === "activated"
          ? ok()
          : w.state === "redundant" && no(err(`the service worker ${url} failed to install`)),
      );
    });
    sub = await reg.pushManager
      .subscribe({ userVisibleOnly: true, applicationServerKey: publicKey })
      .catch((e) => {
        throw err(`the browser refused to subscribe (${e.name}: ${e.message})`);
      });
    made = 1;
  }
  try {
    await saveNow(c, get, sub.toJSON());
  } catch (e) {
    // Not stored: a browser subscription only this call made would leave state() saying
    // 'subscribed' for a person Spur cannot reach.
    if (made) await sub.unsubscribe().catch(() => {});
    throw e;
  }
  return "subscribed";
}

/**
 * Unsubscribes this browser and deletes the subscription at the edge; resolves to the state
 * after it. The browser's subscription ends even when the edge cannot be told (it then rejects):
 * the edge forgets the endpoint when the push service next answers 404/410.
 */
async function unsubscribeNow(c) {
  if (!supported()) return "unsupported";
  const sub = await current(c);
  if (sub) {
    const told = call(
      c,
      "unsubscribed in this browser, but the edge did not confirm",
      "subscriptions",
      "DELETE",
      {
        writeKey: c.writeKey || "",
        endpoint: sub.endpoint,
      },
    ).catch((e) => e);
    await sub.unsubscribe();
    const e = await told;
    if (e instanceof Error) throw e;
  }
  return stateNow(c);
}

export const save = wrap(saveNow),
  state = wrap(stateNow),
  subscribe = wrap(subscribeNow),
  unsubscribe = wrap(unsubscribeNow);
