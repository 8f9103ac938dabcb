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
