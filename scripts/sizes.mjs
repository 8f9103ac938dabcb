// Prints raw/gzip/brotli sizes of the built tracker and writes them to build/tracker-sizes.json.
import { readFileSync, writeFileSync, mkdirSync } from "node:fs";
import { gzipSync, brotliCompressSync, constants } from "node:zlib";
import { join } from "node:path";

const dir = process.argv[2] ?? "www/tracker";
const files = ["snippet.min.js", "spur.js", "spur_tracker.js", "spur_tracker_bg.wasm"];
const rows = files.map((f) => {
  const b = readFileSync(join(dir, f));
  return {
    file: f,
    raw: b.length,
    gzip: gzipSync(b, { level: 9 }).length,
    brotli: brotliCompressSync(b, { params: { [constants.BROTLI_PARAM_QUALITY]: 11 } }).length,
  };
});
const loaded = rows.filter((r) => r.file !== "snippet.min.js");
const total = { file: "loader+glue+wasm", raw: 0, gzip: 0, brotli: 0 };
for (const r of loaded) for (const k of ["raw", "gzip", "brotli"]) total[k] += r[k];
rows.push(total);
for (const r of rows) console.log(`${r.file.padEnd(22)} raw ${String(r.raw).padStart(7)}  gzip ${String(r.gzip).padStart(6)}  brotli ${String(r.brotli).padStart(6)}`);
mkdirSync("build", { recursive: true });
writeFileSync("build/tracker-sizes.json", JSON.stringify(rows, null, 2));
