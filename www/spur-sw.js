// Spur's Web Push service worker. Serve it from your site's origin (a service worker controls
// only its own origin) and register it with your write key:
//
//   navigator.serviceWorker.register("/spur-sw.js?writeKey=YOUR_WRITE_KEY&api=https://spur.example.com")
//
// `api` is where Spur runs (default: this origin). On `push` it shows the notification Spur sent
// ({id, rule, title, body, url, userId | anonymousId}, decrypted by the browser) and reports
// `$message_shown`; a click opens `url` and reports `$message_clicked`; closing it reports
// `$message_dismissed`. Reports are Segment `track` calls to `/v1/track` whose properties carry
// the message id, the rule (or `journey:<id>`) as `rule` and as `ruleId` / `journeyId` (the names
// email's campaign events use) and `channel: "push"`; their messageId is
// derived from the message id, so a report is never counted twice.

const params = new URL(self.location.href).searchParams;
const WRITE_KEY = params.get("writeKey") || "";
const API = (params.get("api") || self.location.origin).replace(/\/+$/, "");

/** `ruleId` or `journeyId`, named as in every other channel's campaign events (email's). */
function sender(rule) {
  if (typeof rule !== "string" || rule === "") return {};
  return rule.startsWith("journey:") ? { journeyId: rule.slice("journey:".length) } : { ruleId: rule };
}

/** Sends one report; `text/plain` needs no CORS preflight. Failures are dropped (best effort). */
function report(event, message) {
  if (!message?.id) return Promise.resolve();
  const body = {
    type: "track",
    event,
    writeKey: WRITE_KEY,
    messageId: `${message.id}:${event}`,
    properties: {
      messageId: message.id,
      rule: message.rule,
      ...sender(message.rule),
      channel: "push",
      url: message.url,
    },
  };
  if (message.userId) body.userId = message.userId;
  if (message.anonymousId) body.anonymousId = message.anonymousId;
  return fetch(`${API}/v1/track`, {
    method: "POST",
    headers: { "Content-Type": "text/plain" },
    body: JSON.stringify(body),
    keepalive: true,
  }).catch(() => undefined);
}

self.addEventListener("push", (event) => {
  let message = null;
  try {
    message = event.data ? event.data.json() : null;
  } catch {
    message = null;
  }
  if (!message || typeof message.title !== "string") return;
  event.waitUntil(
    self.registration
      .showNotification(message.title, { body: message.body || "", tag: message.id, data: message })
      .then(() => report("$message_shown", message)),
  );
});

self.addEventListener("notificationclick", (event) => {
  const message = event.notification.data;
  event.notification.close();
  const open = message?.url ? self.clients.openWindow(new URL(message.url, self.location.origin).href) : null;
  event.waitUntil(Promise.all([report("$message_clicked", message), open?.catch(() => undefined)]));
});

self.addEventListener("notificationclose", (event) => {
  event.waitUntil(report("$message_dismissed", event.notification.data));
});
