// Checks a `wrangler deploy --dry-run --outdir OUT` bundle and the assets directory against
// Cloudflare's published Workers limits, and that every asset the pages need was built.
// `node scripts/deploy-limits.mjs OUT ASSETS`. Exits non-zero on a breach.
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { gzipSync } from "node:zlib";

/** Cloudflare Workers limits (developers.cloudflare.com/workers/platform/limits/). */
export const LIMITS = {
  /** Worker size after compression, Workers Free. */
  freeGzip: 3 * 1024 * 1024,
  /** Worker size after compression, Workers Paid. */
  paidGzip: 10 * 1024 * 1024,
  /** Worker size before compression. */
  raw: 64 * 1024 * 1024,
  /** One static asset. */
  assetBytes: 25 * 1024 * 1024,
  /** Static assets per Worker version, Workers Free. */
  assetFiles: 20_000,
};
/** Assets a deploy must carry: the tracker (both builds) and the dashboard's chart library. */
export const REQUIRED = [
  "tracker/spur.js",
  "tracker/spur_tracker_bg.wasm",
  "tracker/fallback.js",
  "tracker/debug/spur.js",
  "tracker/debug/spur_tracker_bg.wasm",
  "vendor/chart.umd.min.js",
  "dashboard/index.html",
];

const walk = (dir) =>
  readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? walk(join(dir, e.name)) : [join(dir, e.name)],
  );

export function check(out, assets) {
  const errors = [];
  const files = walk(out).filter((f) => !f.endsWith(".map") && !f.endsWith("README.md"));
  const raw = files.reduce((n, f) => n + statSync(f).size, 0);
  const gzip = files.reduce((n, f) => n + gzipSync(readFileSync(f), { level: 9 }).length, 0);
  const mb = (n) => `${(n / 1024 / 1024).toFixed(2)} MB`;
  console.log(`worker: ${files.map((f) => relative(out, f)).join(", ")}`);
  console.log(
    `worker: ${mb(raw)} raw, ${mb(gzip)} gzip (free plan ≤ ${mb(LIMITS.freeGzip)}, paid ≤ ${mb(LIMITS.paidGzip)})`,
  );
  if (!files.some((f) => f.endsWith(".wasm"))) errors.push("no .wasm in the bundle");
  if (raw > LIMITS.raw) errors.push(`worker ${mb(raw)} raw > ${mb(LIMITS.raw)}`);
  if (gzip > LIMITS.paidGzip) errors.push(`worker ${mb(gzip)} gzip > the paid plan's ${mb(LIMITS.paidGzip)}`);
  else if (gzip > LIMITS.freeGzip)
    console.warn(`worker: over the free plan's ${mb(LIMITS.freeGzip)}: needs Workers Paid`);
  const served = walk(assets);
  const biggest = Math.max(...served.map((f) => statSync(f).size));
  console.log(`assets: ${served.length} files, largest ${mb(biggest)}`);
  if (served.length > LIMITS.assetFiles) errors.push(`${served.length} assets > ${LIMITS.assetFiles}`);
  if (biggest > LIMITS.assetBytes) errors.push(`an asset of ${mb(biggest)} > ${mb(LIMITS.assetBytes)}`);
  for (const f of REQUIRED) {
    try {
      if (statSync(join(assets, f)).size === 0) errors.push(`${f} is empty`);
    } catch {
      errors.push(`${f} was not built`);
    }
  }
  return errors;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const errors = check(process.argv[2], process.argv[3] ?? "www");
  for (const e of errors) console.error(`deploy-check: ${e}`);
  if (errors.length) process.exit(1);
  console.log("deploy-check: ok");
}
