// `wrangler dev --persist-to DIR` on a free loopback port, for tests that restart the Worker and
// need its storage (D1, Durable Objects, alarms, queues) to survive. The test harness cannot:
// it never persists. Runs the already-built Worker (build/worker/shim.mjs): the temporary config
// is wrangler.toml without its [build] step and with absolute paths.
import { spawn, execFile } from "node:child_process";
import { createServer } from "node:net";
import { mkdtempSync, readFileSync, writeFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("../..", import.meta.url));
const wrangler = join(root, "node_modules/.bin/wrangler");

/** A port nobody listens on now, on loopback. */
export async function freePort() {
  const srv = createServer();
  await new Promise((r) => srv.listen(0, "127.0.0.1", r));
  const { port } = srv.address();
  await new Promise((r) => srv.close(r));
  return port;
}

/** Writes a config for the prebuilt Worker into a fresh temp dir; returns {dir, config}. */
export function prebuiltConfig() {
  const dir = mkdtempSync(join(tmpdir(), "spur-dev-"));
  const text = readFileSync(join(root, "wrangler.toml"), "utf8")
    .replace(/^\[build\][\s\S]*?(?=^\[)/m, "")
    .replace(/^main = ".*"$/m, `main = "${join(root, "build/worker/shim.mjs")}"`)
    .replace(/^directory = "www"$/m, `directory = "${join(root, "www")}"`)
    .replace(/^migrations_dir = "migrations"$/m, `migrations_dir = "${join(root, "migrations")}"`);
  const config = join(dir, "wrangler.toml");
  writeFileSync(config, text);
  return { dir, config };
}

/** Applies the D1 migrations to the persisted local database. */
export async function migrate(config, persistTo) {
  await promisify(execFile)(
    wrangler,
    ["d1", "migrations", "apply", "DB", "--local", "-c", config, "--persist-to", persistTo],
    {
      cwd: root,
      env: { ...process.env, CI: "true", WRANGLER_SEND_METRICS: "false" },
    },
  );
}

/** Starts `wrangler dev`; resolves once /healthz answers. Returns {url, stop, logs}. */
export async function startDev({ config, persistTo, vars = {} }) {
  const port = await freePort();
  const args = [
    "dev",
    "-c",
    config,
    "--persist-to",
    persistTo,
    "--port",
    String(port),
    "--ip",
    "127.0.0.1",
    "--local",
    "--show-interactive-dev-session=false",
    "--live-reload=false",
  ];
  for (const [k, v] of Object.entries(vars)) args.push("--var", `${k}:${v}`);
  const child = spawn(wrangler, args, {
    cwd: root,
    detached: true,
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, WRANGLER_SEND_METRICS: "false", CLOUDFLARE_CF_FETCH_ENABLED: "false" },
  });
  let logs = "";
  child.stdout.on("data", (d) => {
    logs += d;
  });
  child.stderr.on("data", (d) => {
    logs += d;
  });
  const exited = new Promise((r) => child.once("exit", r));
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`wrangler dev exited early:\n${logs}`);
    try {
      if ((await fetch(`${url}/healthz`)).ok) break;
    } catch {
      /* not up yet */
    }
    if (Date.now() > deadline) throw new Error(`wrangler dev did not start:\n${logs}`);
    await new Promise((r) => setTimeout(r, 250));
  }
  return {
    url,
    logs: () => logs,
    /** Stops wrangler and workerd (the whole process group we started). */
    async stop() {
      if (child.exitCode !== null) return;
      try {
        process.kill(-child.pid, "SIGTERM");
      } catch {
        /* gone */
      }
      const timer = setTimeout(() => {
        try {
          process.kill(-child.pid, "SIGKILL");
        } catch {
          /* gone */
        }
      }, 5_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** Removes a temp dir made by prebuiltConfig (and a persist dir inside it). */
export function cleanup(dir) {
  rmSync(dir, { recursive: true, force: true });
}
