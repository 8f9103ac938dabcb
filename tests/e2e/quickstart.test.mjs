// Issue 9, defect 4: `npm start` on a fresh clone served a dashboard without charts (chart.js
// was copied only by `npm run build`). This test does exactly what the README's quick start
// says, in a fresh copy of the tree that has never been built: `npm start`, then the demo and
// the dashboard in real Chromium, whose two charts must draw.
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { spawn, execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, symlinkSync, existsSync, writeFileSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { launchChromium } from "../helpers/spur.mjs";
import { freePort } from "../helpers/wrangler-dev.mjs";

const root = fileURLToPath(new URL("../..", import.meta.url));
let child, browser, dir;

after(async () => {
  await browser?.close();
  if (child && child.exitCode === null) {
    try {
      process.kill(-child.pid, "SIGTERM");
    } catch {
      /* gone */
    }
    await new Promise((r) => {
      child.once("exit", r);
      setTimeout(r, 5_000);
    });
    try {
      process.kill(-child.pid, "SIGKILL");
    } catch {
      /* gone */
    }
  }
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** A fresh checkout: the tracked (and new, unignored) files only, mtimes kept — no build
 *  output, no .dev.vars. node_modules is linked (bootstrap would `npm ci` the same lockfile). */
function freshCopy() {
  const d = mkdtempSync(join(tmpdir(), "spur-quickstart-"));
  const files = execFileSync("git", ["ls-files", "-z", "-co", "--exclude-standard"], {
    cwd: root,
    encoding: "utf8",
  })
    .split("\0")
    .filter((f) => f && existsSync(join(root, f)));
  const list = join(d, ".files");
  writeFileSync(list, files.join("\0"));
  execFileSync("bash", ["-c", `tar --null -T "${list}" -cf - | tar -xpf - -C "${d}"`], { cwd: root });
  rmSync(list);
  symlinkSync(join(root, "node_modules"), join(d, "node_modules"));
  return d;
}

test(
  "npm start on a fresh copy serves the demo and a dashboard whose charts draw",
  async () => {
    dir = freshCopy();
    for (const built of ["www/tracker", "www/vendor", "build", "dist", ".dev.vars"]) {
      assert.equal(existsSync(join(dir, built)), false, `${built} is not in a fresh clone`);
    }
    const port = await freePort();
    let logs = "";
    child = spawn("npm", ["start"], {
      cwd: dir,
      detached: true,
      stdio: ["ignore", "pipe", "pipe"],
      // Reuse compiled dependencies (and the nightly builds' std: scripts/build-edge and
      // build-tracker put their target dirs under this one); the fresh copy's own crates still
      // build from scratch, with the release profile's LTO: about 5 minutes on a 2-core machine.
      env: { ...process.env, SPUR_PORT: String(port), CARGO_TARGET_DIR: join(root, "target") },
    });
    child.stdout.on("data", (d) => {
      logs += d;
    });
    child.stderr.on("data", (d) => {
      logs += d;
    });
    const url = `http://127.0.0.1:${port}`;
    const deadline = Date.now() + 720_000; // a release build of the Worker's own crates
    for (;;) {
      assert.equal(child.exitCode, null, `npm start exited early:\n${logs.slice(-3000)}`);
      try {
        if ((await fetch(`${url}/healthz`)).ok) break;
      } catch {
        /* not up yet */
      }
      assert.ok(Date.now() < deadline, `npm start did not serve within 12 minutes:\n${logs.slice(-3000)}`);
      await new Promise((r) => setTimeout(r, 1_000));
    }
    for (const asset of ["/tracker/spur.js", "/vendor/chart.umd.min.js", "/dashboard/", "/"]) {
      assert.equal((await fetch(url + asset)).status, 200, asset);
    }

    browser = await launchChromium();
    const page = await browser.newPage();
    const errors = [];
    page.on("pageerror", (e) => errors.push(e));
    // The demo shop's tracker loads and sends; then the dashboard shows it with both charts.
    await page.goto(`${url}/`);
    await page.waitForFunction(() => window.spur && !Array.isArray(window.spur), null, { timeout: 30_000 });
    await page.goto(`${url}/dashboard/`);
    // The token bootstrap wrote into .dev.vars (from .dev.vars.example), as a new user finds it.
    const token = /^ADMIN_TOKEN=(.*)$/m.exec(readFileSync(join(dir, ".dev.vars"), "utf8"))?.[1];
    assert.ok(token, ".dev.vars has ADMIN_TOKEN");
    await page.fill("#token", token);
    await page.click("#login-form button[type=submit]");
    await page.waitForSelector("#funnel[data-loaded=true]", { timeout: 30_000 });
    await page.waitForFunction(() => Object.keys(window.Chart?.instances ?? {}).length >= 2, null, {
      timeout: 30_000,
    });
    assert.equal(await page.evaluate(() => typeof window.Chart), "function", "chart.js loaded");
    assert.deepEqual(errors, []);
  },
  { timeout: 780_000 },
);
