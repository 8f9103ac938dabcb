// Runs the hostile-input and fault suites (tests/e2e/hostile.test.mjs, faults.test.mjs,
// restart-load.test.mjs, tracker-faults.test.mjs) against the built Worker and writes their figures to bench/RELIABILITY.md between the hostile markers.
// Part of `npm run soak`; the suites themselves also run in `npm test`.
import { spawnSync } from "node:child_process";
import { writeSection } from "./section.mjs";

const files = [
  "tests/e2e/hostile.test.mjs",
  "tests/e2e/faults.test.mjs",
  "tests/e2e/restart-load.test.mjs",
  "tests/e2e/tracker-faults.test.mjs",
];
const t0 = performance.now();
const run = spawnSync(process.execPath, ["--test", "--test-concurrency=1", "--test-reporter=tap", ...files], {
  encoding: "utf8",
  maxBuffer: 64 << 20,
});
const seconds = ((performance.now() - t0) / 1000).toFixed(0);
const out = `${run.stdout}\n${run.stderr}`;
const grab = (tag) => {
  const m = new RegExp(`${tag} (\\{.*\\})`).exec(out);
  return m ? JSON.parse(m[1]) : null;
};
const hostile = grab("HOSTILE");
const faults = grab("FAULTS");
const restart = grab("RESTART");
const pass = /# pass (\d+)/.exec(out)?.[1];
const fail = /# fail (\d+)/.exec(out)?.[1];
if (run.status !== 0 || !hostile || !faults || !restart) {
  console.error(out);
  console.error("hostile/fault suites failed; bench/RELIABILITY.md not updated");
  process.exit(1);
}
const reasons = Object.entries(hostile.byReason)
  .map(([r, n]) => `\`${r}\` ${n}`)
  .join(", ");
writeSection(
  "hostile",
  `## Hostile input and faults (${new Date().toISOString().slice(0, 10)})

\`tests/e2e/hostile.test.mjs\`, \`faults.test.mjs\`, \`restart-load.test.mjs\` (wrangler dev
\`--persist-to\`) and \`tracker-faults.test.mjs\` (real Chromium) against real workerd (${pass} tests
passed, ${fail} failed, ${seconds} s including the Worker starts).

| figure | value |
|---|---|
| hostile cases (each with its documented status and reason) | ${hostile.cases} |
| requests sent, 5xx answers | ${hostile.requests}, 0 |
| events acknowledged = rows in D1 = lines in the R2 archive | ${hostile.accepted} |
| rejections = rows in \`bad_rows\` | ${hostile.badRows} (${reasons}) |
| injected D1 write failures | ${faults.faults} |
| messages that recovered after retries (stored once, archived once) | ${faults.survived} |
| events of a poison message kept as \`storage_failed\` bad rows via the dead-letter queue | ${faults.deadLettered} |
| restart mid-load: events acknowledged before the stop / after the start | ${restart.before} / ${restart.after} |
| acknowledged after the restart and in D1; 5xx answers | ${restart.after} of ${restart.after}; 0 (statuses ${JSON.stringify(restart.statuses)}) |
| acknowledged before the stop but still in the local queue when workerd stopped | ${restart.lostBefore} (Miniflare keeps queued messages in memory; Cloudflare Queues persist them) |
| connection failures during the restart, resent by the clients with the same messageIds | ${restart.connectionErrors} |
| browser faults (network flaps in a burst, tab closed mid-flush, localStorage throwing / full, the 1,000 cap): stored once, drops only at the cap | 5 tests |
`,
);
console.log(JSON.stringify({ hostile, faults, restart, seconds }, null, 2));
