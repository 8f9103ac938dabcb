// Types for Spur's browser tracker (@spur-analytics/tracker). The snippet defines
// `window.spur` as a queue with the same methods; the module replaces it with `Spur`.

/** A JSON object of event properties or traits. */
export type Properties = { [key: string]: unknown };

/** Options, set in the snippet's config object or passed to `load`. */
export interface SpurConfig {
  /** The edge's origin, e.g. `"https://spur.example.com"`; `""` (default) for this page's origin. */
  endpoint?: string;
  /** The source's write key, sent as `writeKey` in every batch body. */
  writeKey?: string;
  /**
   * Consent mode until the visitor chooses (`optIn`/`optOut` are remembered and win):
   * `"granted"` (default) captures, stores and sends; `"pending"` holds events in memory, writes
   * no storage and sends nothing until `optIn()`; `"denied"` captures nothing.
   */
  consent?: "granted" | "pending" | "denied";
  /** Keep the anonymous id, user id, session and queue in memory only; never write storage. Default false. */
  cookieless?: boolean;
  /** Page views on load, pushState/replaceState, popstate, hashchange, bfcache restore. Default true. */
  pageviews?: boolean;
  /** `Element Clicked` for clicks on links, buttons and `[role=button]`. Default true. */
  clicks?: boolean;
  /** `data-spur-event="Name"` elements send `Name` with their `data-spur-*` attributes. Default true. */
  tags?: boolean;
  /** Honour `navigator.globalPrivacyControl` (treated as denied unless the visitor opts in). Default true. */
  gpc?: boolean;
  /** Honour `navigator.doNotTrack == "1"` the same way. Default false. */
  dnt?: boolean;
  /** Show the default banner for in-app messages when no `on("message")` handler is set. Default true. */
  banner?: boolean;
  /**
   * The service worker `spur.push.subscribe()` registers, as given (scope: its folder). Default
   * `/spur-sw.js?writeKey=<writeKey>&api=<endpoint>` (`api` only when `endpoint` is set): Spur's
   * www/spur-sw.js served from the site's origin. A site with its own service worker that
   * `importScripts` spur-sw.js names that worker here, with the same query.
   */
  serviceWorker?: string;
}

/**
 * Where Web Push stands for this visitor, as `spur.push.state()` answers:
 * - `"unsupported"`: no Web Push here (not a secure context, no service workers or PushManager);
 * - `"denied"`: the visitor blocked notifications for the site;
 * - `"prompt"`: not asked yet (`subscribe()` shows the browser's prompt);
 * - `"subscribed"`: permission granted and this browser has a push subscription under the site's
 *   service worker (`serviceWorker`);
 * - `"unsubscribed"`: permission granted, no subscription.
 */
export type PushState = "unsupported" | "denied" | "prompt" | "subscribed" | "unsubscribed";

/**
 * `spur.push`: the snippet's queue method, still callable as `spur.push(["track", "Name"])`, and
 * the Web Push API. The API's code (push.js, ~1.5 KB gzip) is fetched on its first call, never by
 * the default load. Promises reject with an `Error` whose message starts with `"spur.push:"`
 * (or the browser's own import error when push.js itself cannot be fetched); nothing throws. Before the tracker has loaded, `spur.push` is the snippet's array push: call
 * these from `(await load())` or after `window.spur` stopped being an array.
 */
export interface SpurPush {
  /** Replays queued calls, `[method, ...args]` each (as the snippet's queue holds them). */
  (...calls: [string, ...unknown[]][]): void;
  /**
   * Asks for notification permission (call it from a click: browsers prompt only on a user
   * gesture), registers the service worker, subscribes with the edge's VAPID key and stores the
   * subscription for the current person (userId and anonymousId as the tracker stored them).
   * Rejects when unsupported, when permission is not granted, when there is no stored visitor
   * (consent not granted, cookieless mode) and when the browser or the edge refuses. Calling it
   * again re-saves the subscription for whoever is the person now (e.g. after `identify`).
   */
  subscribe(): Promise<"subscribed">;
  /**
   * Ends this browser's subscription and deletes it at the edge; resolves to the state after.
   * Rejects (the browser is unsubscribed all the same) when the edge cannot confirm.
   */
  unsubscribe(): Promise<PushState>;
  /** The current state; asks nothing of the visitor or the edge. */
  state(): Promise<PushState>;
}

/** An in-app message returned by the edge when one of its rules fires. */
export interface InAppMessage {
  /** Unique per rule firing and action. */
  id: string;
  /** The rule that fired. */
  rule?: string;
  /** Whom it is for (userId, else anonymousId). */
  user?: string;
  title: string;
  body: string;
  url?: string;
  [key: string]: unknown;
}

/** The tracker. Every method returns the tracker, so calls chain; none ever throws. */
export interface Spur {
  /** Records a custom event (Segment `track`). */
  track(event: string, properties?: Properties): Spur;
  /** Records a page view (Segment `page`); properties extend path, referrer, search, title, url. */
  page(name?: string, properties?: Properties): Spur;
  page(properties: Properties): Spur;
  /** Sets the user id (when given, persisted) and records an `identify` with traits. */
  identify(userId?: string, traits?: Properties): Spur;
  identify(traits: Properties): Spur;
  /** Links `userId` to `previousId` (default: the current user id, else the anonymous id). */
  alias(userId: string, previousId?: string): Spur;
  /** Associates the user with a group (Segment `group`). */
  group(groupId: string, traits?: Properties): Spur;
  /** Forgets the user (e.g. on logout): no user id, a new anonymous id, a new session. */
  reset(): Spur;
  /** Sends queued events now. */
  flush(): Spur;
  /** The visitor consents: held events are stored and sent. Remembered unless cookieless. */
  optIn(): Spur;
  /** The visitor refuses: listeners removed, queue and stored ids deleted. Remembered unless cookieless. */
  optOut(): Spur;
  /** Handles in-app messages from the edge; a handler replaces the default banner. */
  on(type: "message", handler: (message: InAppMessage) => void): Spur;
  /**
   * Developer mode: `true` loads the debug build from the next page load on (at once when
   * called through the snippet before the tracker loaded, or with `?spur_debug=1` in the URL).
   * It logs every event as it is queued, sent and answered, with the edge's verdict for each
   * (accepted, tracking-plan violations, rejection reason). `false` turns it off.
   */
  debug(on: boolean): Spur;
  /** Web Push (`spur.push.subscribe()`, `unsubscribe()`, `state()`), loaded on first use. */
  readonly push: SpurPush;
  /** The config the tracker started with. */
  readonly config: SpurConfig;
  /** True when WebAssembly could not run and the minimal JS path is in use. */
  readonly fallback?: boolean;
}

/**
 * Starts the tracker with `config` (default: the snippet's) and resolves to it; later calls
 * resolve to the same tracker. With the snippet on the page, the module starts by itself.
 */
export function load(config?: SpurConfig): Promise<Spur>;

declare global {
  interface Window {
    /** The snippet's call queue until the module loads, then the tracker. */
    spur: Spur;
  }
}
