// Turns criterion's text output into a Markdown table with each row's ratio to the group's
// baseline (the bench whose name starts with "baseline").
import { readFileSync } from "node:fs";

const [title, file] = process.argv.slice(2);
const text = readFileSync(file, "utf8");
const unit = { ps: 1e-6, ns: 1e-3, µs: 1, us: 1, ms: 1e3, s: 1e6 };
const rows = [];
let name = null;
for (const line of text.split("\n")) {
  const m = line.match(/^(\S.*?)\s+time:\s+\[([\d.]+) (\S+) ([\d.]+) (\S+) ([\d.]+) (\S+)\]/);
  const head = line.match(/^(\S.*?)\s*$/);
  if (m) {
    rows.push({ name: m[1].trim() || name, us: Number(m[4]) * unit[m[5]] });
    name = null;
  } else if (line.trim().startsWith("time:") && name) {
    const t = line.match(/\[([\d.]+) (\S+) ([\d.]+) (\S+)/);
    if (t) rows.push({ name, us: Number(t[3]) * unit[t[4]] });
    name = null;
  } else if (
    head &&
    !line.startsWith(" ") &&
    !/^(Benchmarking|Found|Gnuplot|change|thrpt|sanity)/.test(line)
  ) {
    name = head[1];
  }
}
const group = (n) => (n.includes("/") ? n.slice(0, n.lastIndexOf("/")) : "");
console.log(`## ${title}\n`);
console.log("| bench | median | × baseline |");
console.log("|---|---|---|");
for (const r of rows) {
  const base = rows.find((b) => group(b.name) === group(r.name) && /\/baseline/.test(b.name));
  const fmt = r.us >= 1000 ? `${(r.us / 1000).toFixed(3)} ms` : `${r.us.toFixed(2)} µs`;
  console.log(`| ${r.name} | ${fmt} | ${base ? (r.us / base.us).toFixed(2) : "—"} |`);
}
console.log();
