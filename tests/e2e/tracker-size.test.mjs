// Issue 4: the tracker's size budget. What every page loads (loader + glue + wasm, built by
// scripts/build-tracker) must stay ≤ 16 KB gzip; the snippet ≤ 1 KB gzip.
import { test } from "node:test";
import assert from "node:assert/strict";
import { measure, overBudget, BUDGET } from "../../scripts/sizes.mjs";

test("the built tracker is within its size budget", () => {
  const rows = measure("www/tracker");
  const total = rows.at(-1);
  console.log(rows.map((r) => `${r.file}: ${r.raw} raw, ${r.gzip} gzip, ${r.brotli} brotli`).join("\n"));
  assert.deepEqual(overBudget(rows), []);
  assert.ok(total.gzip <= BUDGET.loaded);
});
