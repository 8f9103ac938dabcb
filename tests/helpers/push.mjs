// Test-side Web Push: a browser's subscription keys (node crypto ECDH P-256 + a 16-byte auth
// secret), a loopback "push service" that keeps raw bodies, and the independent checks of what
// Spur sent — http_ece (the reference RFC 8188/8291 implementation) decrypts the body and node
// crypto verifies the VAPID ES256 JWT (RFC 8292).
import { createServer } from "node:http";
import { createECDH, createPublicKey, randomBytes, verify } from "node:crypto";
import ece from "http_ece";

/** A fresh user-agent key pair and auth secret, as a browser's PushManager makes them. */
export function browserKeys() {
  const ecdh = createECDH("prime256v1");
  ecdh.generateKeys();
  const auth = randomBytes(16);
  return {
    ecdh,
    auth,
    keys: { p256dh: ecdh.getPublicKey().toString("base64url"), auth: auth.toString("base64url") },
  };
}

/** Decrypts an `aes128gcm` body for the browser whose keys are `ua` (throws when it does not). */
export function decrypt(ua, body) {
  return ece.decrypt(body, { version: "aes128gcm", privateKey: ua.ecdh, authSecret: ua.auth });
}

/**
 * Checks `Authorization: vapid t=<jwt>, k=<key>`: the ES256 signature under `k`, and returns the
 * JWT's header, claims and key (throws on a malformed header or a bad signature).
 */
export function verifyVapid(authorization) {
  const m = /^vapid t=([A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+), k=([A-Za-z0-9_-]+)$/.exec(
    String(authorization ?? ""),
  );
  if (!m) throw new Error(`not a vapid Authorization header: ${authorization}`);
  const [, jwt, k] = m;
  const [h, c, s] = jwt.split(".");
  const point = Buffer.from(k, "base64url");
  if (point.length !== 65 || point[0] !== 4) throw new Error("k is not an uncompressed P-256 point");
  const key = createPublicKey({
    key: {
      kty: "EC",
      crv: "P-256",
      x: point.subarray(1, 33).toString("base64url"),
      y: point.subarray(33).toString("base64url"),
    },
    format: "jwk",
  });
  const ok = verify(
    "sha256",
    Buffer.from(`${h}.${c}`),
    { key, dsaEncoding: "ieee-p1363" },
    Buffer.from(s, "base64url"),
  );
  if (!ok) throw new Error("VAPID signature does not verify");
  return {
    header: JSON.parse(Buffer.from(h, "base64url").toString()),
    claims: JSON.parse(Buffer.from(c, "base64url").toString()),
    k,
  };
}

/**
 * A loopback push service: `respond(req, n)` picks the status of the n-th request to a path
 * (default 201). Returns {url, hits(path?), close}; each hit keeps the raw body and its arrival
 * time (`at`, ms).
 */
export async function startPushService({ respond = () => 201 } = {}) {
  const hits = [];
  const counts = new Map();
  const server = createServer((req, res) => {
    const chunks = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", () => {
      const n = (counts.get(req.url) ?? 0) + 1;
      counts.set(req.url, n);
      const status = respond(req, n);
      hits.push({
        path: req.url,
        method: req.method,
        headers: req.headers,
        body: Buffer.concat(chunks),
        status,
        at: Date.now(),
      });
      res.writeHead(status);
      res.end();
    });
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address();
  return {
    url: `http://127.0.0.1:${port}`,
    hits: (path) => hits.filter((h) => path === undefined || h.path === path),
    close: () => new Promise((resolve) => server.close(resolve)),
  };
}
