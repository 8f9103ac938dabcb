// Issue 4: the tracker as shipped: the size budget of what every page loads (loader + glue +
// wasm, gzip -9; scripts/sizes.mjs BUDGET: the measured figure + 5%), snippet ≤ 1 KB, and
// the npm-style package in tracker/js/ (exports that resolve to built files, types that
// declare the API the snippet and the loader implement).
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, existsSync } from "node:fs";
import { transformSync } from "esbuild";
import { measure, overBudget, loadedBudget } from "../../scripts/sizes.mjs";

const pkgDir = "tracker/js";
const read = (f) => readFileSync(`${pkgDir}/${f}`, "utf8");

test("the built tracker is within its size budget", () => {
  const rows = measure("www/tracker");
  console.log(rows.map((r) => `${r.file}: ${r.raw} raw, ${r.gzip} gzip, ${r.brotli} brotli`).join("\n"));
  assert.deepEqual(overBudget(rows), []);
  assert.ok(rows.at(-1).gzip <= loadedBudget());
});

test("package.json exports and types point at files that exist after the build", () => {
  const pkg = JSON.parse(read("package.json"));
  assert.equal(pkg.type, "module");
  const targets = [
    pkg.main,
    pkg.types,
    ...Object.values(pkg.exports).flatMap((e) => (typeof e === "string" ? [e] : Object.values(e))),
  ];
  for (const t of targets) assert.ok(existsSync(`${pkgDir}/${t}`), `${t} exists`);
  for (const f of [
    "spur.js",
    "spur_tracker_bg.wasm",
    "fallback.js",
    "banner.js",
    "push.js",
    "snippet.min.js",
  ])
    assert.ok(existsSync(`${pkgDir}/dist/${f}`), `dist/${f}`);
});

test("spur.d.ts parses and declares exactly the methods the snippet and loaders provide", () => {
  const dts = read("spur.d.ts");
  transformSync(dts, { loader: "ts" }); // throws on a syntax error
  const spur = dts.slice(dts.indexOf("export interface Spur {"), dts.indexOf("export function load"));
  const declared = new Set([...spur.matchAll(/^\s{2}(\w+)\(/gm)].map((m) => m[1]));
  const methods = (src) => new Set(src.match(/"((?:track|page)[\w ]+)"\.split/)[1].split(" "));
  assert.deepEqual(declared, methods(read("snippet.js")));
  assert.deepEqual(declared, methods(read("loader.js")));
  const fallback = read("fallback.js");
  for (const m of declared) assert.match(fallback, new RegExp(`\\b${m}: `), `fallback has ${m}`);
  assert.match(dts, /export function load\(config\?: SpurConfig\): Promise<Spur>/);
});

// Issue 10: the demo pages paste the snippet inline; each copy must be tracker/js/snippet.js
// (compared minified, so layout and comments may differ; only the config object may change).
test("every demo page embeds the canonical snippet", async () => {
  const { readdirSync } = await import("node:fs");
  const code = (js) =>
    transformSync(js, { minifyWhitespace: true, minifySyntax: true, loader: "js" })
      .code.trim()
      .replace(/,\{[^{}]*\}\);?$/, ")");
  const canonical = code(read("snippet.js"));
  assert.match(canonical, /^\(function\(.*"\/tracker\/spur\.js"\)$/);
  const pages = readdirSync("www").filter((f) => f.endsWith(".html"));
  assert.equal(pages.length, 5, `${pages}`);
  for (const page of pages) {
    const html = readFileSync(`www/${page}`, "utf8");
    const inline = [...html.matchAll(/<script>([\s\S]*?)<\/script>/g)].map((m) => m[1]);
    const snippets = inline.filter((s) => s.includes("w.spur"));
    assert.equal(snippets.length, 1, `${page} has one snippet`);
    assert.equal(code(snippets[0]), canonical, `${page}'s snippet is tracker/js/snippet.js`);
  }
});
