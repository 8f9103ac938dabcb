// A real loopback HTTP receiver for webhook tests (node:http on 127.0.0.1, a free port), plus
// the receiver-side check of Spur's webhook signature.
import { createServer } from "node:http";
import { createHmac, timingSafeEqual } from "node:crypto";

/**
 * Starts a receiver. `respond(req, body, n)` picks the status for the n-th request to a path
 * (default 200). Returns {url, hits(path?), close}.
 */
export async function startReceiver({ respond = () => 200 } = {}) {
  const hits = [];
  const counts = new Map();
  const server = createServer((req, res) => {
    const chunks = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", () => {
      const body = Buffer.concat(chunks).toString("utf8");
      const n = (counts.get(req.url) ?? 0) + 1;
      counts.set(req.url, n);
      const status = respond(req, body, n);
      hits.push({ path: req.url, method: req.method, headers: req.headers, body, status, at: Date.now() });
      res.writeHead(status, { "Content-Type": "text/plain" });
      res.end(status < 300 ? "ok" : "nope");
    });
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address();
  return {
    url: `http://127.0.0.1:${port}`,
    /** Requests received, optionally only those to `path`. */
    hits: (path) => hits.filter((h) => path === undefined || h.path === path),
    close: () => new Promise((resolve) => server.close(resolve)),
  };
}

/**
 * Verifies `Spur-Signature: t=<unix>,v1=<hex>` over `<t>.<body>` (HMAC-SHA256) like a receiver
 * should: constant-time compare, and `t` within `toleranceSecs` of now (replay protection).
 */
export function verifySignature(secret, header, body, { toleranceSecs = 300, now = Date.now() / 1000 } = {}) {
  const parts = Object.fromEntries(
    String(header ?? "")
      .split(",")
      .map((p) => p.trim().split("=")),
  );
  const t = Number(parts.t);
  if (!Number.isInteger(t) || !parts.v1) return { ok: false, why: "malformed" };
  const expected = createHmac("sha256", secret).update(`${t}.${body}`).digest();
  const given = Buffer.from(parts.v1, "hex");
  if (given.length !== expected.length || !timingSafeEqual(given, expected))
    return { ok: false, why: "mismatch" };
  if (Math.abs(now - t) > toleranceSecs) return { ok: false, why: "stale" };
  return { ok: true, t };
}
