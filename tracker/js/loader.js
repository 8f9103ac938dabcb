// Spur loader (ES module, served as /tracker/spur.js). Starts the wasm tracker, replays the
// calls the snippet queued, then replaces the stub with the real API.
import init, * as t from "./spur_tracker.js";

const stub = window.spur || [];
const config = stub.config || {};

const api = {
  track: (event, properties) => (t.track(String(event), properties), api),
  page: (name, properties) => {
    if (name && typeof name === "object") [name, properties] = [undefined, name];
    t.page(name == null ? undefined : String(name), properties);
    return api;
  },
  identify: (userId, traits) => {
    if (userId && typeof userId === "object") [userId, traits] = [undefined, userId];
    t.identify(userId == null ? undefined : String(userId), traits);
    return api;
  },
  flush: () => (t.flush(), api),
  config,
};

await init({ module_or_path: new URL("./spur_tracker_bg.wasm", import.meta.url) });
t.start(config);
window.spur = api;
for (const [method, ...args] of stub) api[method]?.(...args);
