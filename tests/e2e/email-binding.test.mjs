// Issue 12, Email through Cloudflare's `send_email` binding: wrangler's local runtime simulates
// the binding (it accepts the message-builder form and answers a messageId), so the same
// Worker is started with a copy of wrangler.toml that adds `[[send_email]] name = "SEND_EMAIL"`.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, writeFileSync, rmSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { startSpur, eventually, DEMO_WRITE_KEY } from "../helpers/spur.mjs";

const root = fileURLToPath(new URL("../..", import.meta.url));
// Beside wrangler.toml, so its relative paths (build, migrations, www) still resolve.
const configPath = `${root}.wrangler-send-email-${process.pid}.toml`;

let spur;
before(async () => {
  writeFileSync(
    configPath,
    `${readFileSync(`${root}wrangler.toml`, "utf8")}\n[[send_email]]\nname = "SEND_EMAIL"\n`,
  );
  spur = await startSpur({
    configPath,
    secrets: { EMAIL_UNSUBSCRIBE_SECRET: "test-unsubscribe-secret" },
    vars: { EMAIL_FROM: "noreply@spur.test", PUBLIC_URL: "https://spur.test", EMAIL_TRANSPORT: "send_email" },
  });
});
after(async () => {
  await spur?.close();
  rmSync(configPath, { force: true });
});

test("an email goes through the send_email binding when configured", async () => {
  const id = `email-binding-${process.pid}`;
  const rule = {
    id,
    trigger: { events: ["Signed Up"] },
    actions: [{ type: "email", subject: "Welcome {{ traits.name }}", text: "Hi {{ traits.name }}" }],
  };
  const put = await spur.admin(`/v1/rules/${id}`, { method: "PUT", body: JSON.stringify(rule) });
  assert.ok(put.status < 300, await put.text());
  const user = `u-${process.pid}-${Date.now()}`;
  const res = await spur.post(
    "/v1/track",
    { event: "Signed Up", userId: user, context: { traits: { email: `${user}@example.com`, name: "Ada" } } },
    { Authorization: `Basic ${Buffer.from(`${DEMO_WRITE_KEY}:`).toString("base64")}` },
  );
  assert.equal(res.status, 200);
  const [outcome] = await eventually(
    async () => {
      const rows = await spur.rows("SELECT actions FROM rule_firings WHERE rule_id = ?", id);
      const a = rows.length === 1 && JSON.parse(rows[0].actions);
      return a && a[0].status !== "queued" && a;
    },
    { message: "the binding's outcome" },
  );
  assert.equal(outcome.status, "delivered", JSON.stringify(outcome));
  assert.match(outcome.detail, /^send_email messageId ./);
});
