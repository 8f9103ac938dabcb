// A real ClickHouse server for tests: the one scripts/test started (SPUR_CLICKHOUSE_PORT), or
// a throwaway one started here with scripts/clickhouse (and stopped by close()). Loopback only.
import { execFileSync } from "node:child_process";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("../..", import.meta.url));

/** Starts (or reuses) the server and applies clickhouse/migrations to a clean schema. */
export async function startClickHouse() {
  let port = process.env.SPUR_CLICKHOUSE_PORT;
  let ours = false;
  if (!port) {
    port = execFileSync("bash", ["scripts/clickhouse", "start"], { cwd: root, encoding: "utf8" }).trim();
    ours = true;
  }
  const url = `http://127.0.0.1:${port}`;
  const ch = {
    url,
    /** Runs a statement and returns the body (throws on a non-2xx answer). */
    async query(sql, body) {
      const send = () =>
        fetch(body === undefined ? `${url}/` : `${url}/?query=${encodeURIComponent(sql)}`, {
          method: "POST",
          body: body === undefined ? sql : body,
        });
      // The server closes idle keep-alive connections after 3 s; a request that raced that
      // close never reached it, so it is sent once more.
      const res = await send().catch((e) => {
        if (
          e?.cause?.code === "EPIPE" ||
          e?.cause?.code === "ECONNRESET" ||
          e?.cause?.code === "UND_ERR_SOCKET"
        )
          return send();
        throw e;
      });
      const text = await res.text();
      if (!res.ok) throw new Error(`clickhouse ${res.status}: ${text.slice(0, 500)}`);
      return text;
    },
    /** Drops the tables and applies the migrations (the documented command). */
    async reset() {
      for (const t of ["events", "aliases", "alias_roots", "users", "spur_migrations"])
        await ch.query(`DROP TABLE IF EXISTS ${t}`);
      execFileSync("bash", ["scripts/clickhouse-migrate"], {
        cwd: root,
        env: { ...process.env, CLICKHOUSE_URL: url },
      });
    },
    /**
     * Loads generated rows (tests/helpers/generate.mjs shape; `users` as D1 holds them, the
     * consumer's profile mirror) with the consumer's own row encoders
     * (core/examples/clickhouse_rows.rs).
     */
    async load({ events = [], aliases = [], users = [] }) {
      const rows = (input, kind) =>
        execFileSync("cargo", ["run", "-q", "-p", "spur-core", "--example", "clickhouse_rows", "--", kind], {
          cwd: root,
          input,
          encoding: "utf8",
          maxBuffer: 1 << 30,
        });
      const ndjson = (xs) => xs.map((x) => JSON.stringify(x)).join("\n");
      const a = aliases.length ? rows(ndjson(aliases), "aliases") : "";
      const e = events.length ? rows(ndjson(events), "events") : "";
      const u = users.length ? rows(ndjson(users), "users") : "";
      if (a) await ch.query("INSERT INTO aliases FORMAT JSONEachRow", a);
      if (u) await ch.query("INSERT INTO users FORMAT JSONEachRow", u);
      if (e) await ch.query("INSERT INTO events FORMAT JSONEachRow", e);
    },
    close() {
      if (ours) execFileSync("bash", ["scripts/clickhouse", "stop"], { cwd: root });
    },
  };
  await ch.reset();
  return ch;
}
