// Type-checked by `tsc -p tracker/js` (scripts/test): the published spur.d.ts, reached the way
// a user's bundler reaches it (the package's own name and its "exports" → "types"), must accept
// every documented call and refuse the mistakes marked @ts-expect-error.
import {
  type InAppMessage,
  load,
  type Properties,
  type PushState,
  type Spur,
  type SpurConfig,
} from "@spur-analytics/tracker";

const config: SpurConfig = {
  endpoint: "https://spur.example.com",
  writeKey: "wk",
  consent: "pending",
  cookieless: false,
  pageviews: true,
  clicks: true,
  tags: true,
  gpc: true,
  dnt: false,
  banner: false,
  serviceWorker: "/sw.js?writeKey=wk",
};

export async function documentedUsage(): Promise<Spur> {
  const spur = await load(config);
  const props: Properties = { total: 42.5, currency: "EUR", items: [{ sku: "A-1" }] };
  spur
    .track("Order Completed", props)
    .track("Signed Up")
    .page()
    .page("Pricing")
    .page("Pricing", { plan: "pro" })
    .page({ plan: "pro" })
    .identify("user-7", { email: "a@example.com" })
    .identify({ plan: "pro" })
    .identify()
    .alias("user-8")
    .alias("user-8", "anon-1")
    .group("org-3", { seats: 12 })
    .reset()
    .flush()
    .optIn()
    .optOut()
    .on("message", (m: InAppMessage) => console.log(m.id, m.title, m.body, m.url, m.rule, m.user));
  const started: SpurConfig = spur.config;
  const fallback: boolean | undefined = spur.fallback;
  console.log(started, fallback);
  const state: PushState = await spur.push.state();
  if (state === "prompt" || state === "unsubscribed") {
    const subscribed: "subscribed" = await spur.push.subscribe();
    console.log(subscribed);
  }
  const after: PushState = await spur.push.unsubscribe();
  spur.push(["track", "Queued"], ["flush"]);
  console.log(after);
  // The snippet's global, typed through the package's `declare global`.
  window.spur.track("From The Global");
  return load();
}

export async function mistakes(): Promise<void> {
  const spur = await load();
  // @ts-expect-error an event name is a string
  spur.track(42);
  // @ts-expect-error properties are an object
  spur.track("Order Completed", "total=42");
  // @ts-expect-error alias needs the new user id
  spur.alias();
  // @ts-expect-error only "message" handlers exist
  spur.on("click", () => {});
  // @ts-expect-error consent is one of three modes
  await load({ consent: "maybe" });
  // @ts-expect-error unknown options are refused
  await load({ writekey: "wk" });
  // @ts-expect-error the config is read-only
  spur.config = {};
  // @ts-expect-error state() answers one of five states
  const s: "granted" = await spur.push.state();
  console.log(s);
  // @ts-expect-error a queued call is an array starting with the method name
  spur.push("track");
  // @ts-expect-error the push API is read-only
  spur.push = window.spur.push;
}
