// Live events panel: the newest events, pushed by the Worker over a WebSocket (`/v1/live`, a
// Durable Object holding the dashboards' sockets; the events consumer pushes what it has just
// stored). The socket is authenticated by its first message (browsers cannot set headers on a
// WebSocket). While it is down the panel reads `/v1/events/recent` and reconnects with backoff,
// so the list never goes stale.

const SHOWN = 25;
const RETRY_MS = [1000, 2000, 5000, 10000];

export function mountLive({ api, el, $, token, onUnauthorized, Unauthorized }) {
  let socket = null;
  let timer = null;
  let failures = 0;
  let rows = [];
  let stopped = true;

  const status = (text, mode) => {
    $("#live-status").textContent = text;
    $("#live").dataset.mode = mode;
  };

  function render() {
    $("#live-table tbody").replaceChildren(
      ...rows.map((e) =>
        el(
          "tr",
          {},
          el("td", { textContent: new Date(e.tsMs).toLocaleTimeString() }),
          el("td", {
            textContent: e.type === "track" ? e.event : `${e.type}${e.event ? `: ${e.event}` : ""}`,
          }),
          el("td", { textContent: e.person ?? "", title: e.person ?? "" }),
          el("td", {
            textContent: e.type === "track" ? JSON.stringify(e.properties) : (e.path ?? ""),
            title: JSON.stringify(e.properties),
          }),
        ),
      ),
    );
  }

  /** Newest first, each messageId once (a pushed event may also come back from a read). */
  function merge(events) {
    const seen = new Set();
    rows = [...events, ...rows]
      .sort((a, b) => b.tsMs - a.tsMs)
      .filter((e) => !seen.has(e.messageId) && seen.add(e.messageId))
      .slice(0, SHOWN);
    render();
  }

  async function read() {
    try {
      const { events } = await api(`/v1/events/recent?limit=${SHOWN}`);
      rows = [];
      merge(events);
      return true;
    } catch (e) {
      if (e instanceof Unauthorized) onUnauthorized();
      else status(`(${e.message})`, "error");
      return false;
    }
  }

  function retry() {
    if (stopped) return;
    const wait = RETRY_MS[Math.min(failures, RETRY_MS.length - 1)];
    failures += 1;
    status(`(reconnecting in ${wait / 1000} s; read ${new Date().toLocaleTimeString()})`, "polling");
    clearTimeout(timer);
    timer = setTimeout(async () => {
      if (await read()) connect();
    }, wait);
  }

  function connect() {
    if (stopped) return;
    const url = new URL("/v1/live", location.href);
    url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
    const ws = new WebSocket(url);
    socket = ws;
    ws.addEventListener("open", () => ws.send(JSON.stringify({ token: token() })));
    ws.addEventListener("message", async (m) => {
      let msg;
      try {
        msg = JSON.parse(m.data);
      } catch {
        return;
      }
      if (msg.ready) {
        failures = 0;
        // Whatever was stored before the socket was ready.
        await read();
        status("live (pushed)", "pushed");
      }
      if (Array.isArray(msg.events)) merge(msg.events);
    });
    ws.addEventListener("close", (e) => {
      if (socket !== ws) return;
      socket = null;
      if (e.code === 4401) return onUnauthorized();
      retry();
    });
  }

  return {
    start() {
      stopped = false;
      clearTimeout(timer);
      socket?.close(1000);
      socket = null;
      connect();
    },
    stop() {
      stopped = true;
      clearTimeout(timer);
      const ws = socket;
      socket = null;
      ws?.close(1000);
    },
  };
}
