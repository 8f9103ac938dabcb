// bench/RELIABILITY.md is shared: the fuzz run, the soak and the hostile suite each own a
// section between `<!-- NAME:start -->` and `<!-- NAME:end -->` and replace only their own.
import { readFileSync, writeFileSync, existsSync } from "node:fs";

const file = new URL("../RELIABILITY.md", import.meta.url);
const HEADER =
  "# Reliability figures\n\nWritten by `npm run fuzz` and `npm run soak`; each section is replaced only by its own run.\n";

/** Replaces (or appends) the section `name` of bench/RELIABILITY.md with `body`. */
export function writeSection(name, body) {
  const start = `<!-- ${name}:start -->`;
  const end = `<!-- ${name}:end -->`;
  const text = existsSync(file) ? readFileSync(file, "utf8") : HEADER;
  const block = `${start}\n${body.trim()}\n${end}`;
  const i = text.indexOf(start);
  const j = text.indexOf(end);
  const next =
    i >= 0 && j > i
      ? text.slice(0, i) + block + text.slice(j + end.length)
      : `${text.trimEnd()}\n\n${block}\n`;
  writeFileSync(file, next);
}
