// Issue 12 (audiences): rule conditions read the person's stored profile traits (from identify),
// beneath the event's own, against real workerd (D1 profiles, Queues, Durable Objects).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startSpur, eventually, uid } from "../helpers/spur.mjs";

let spur;
before(async () => {
  spur = await startSpur();
});
after(async () => {
  await spur?.close();
});

const send = (...events) => spur.batch(events);
const putRule = (rule) => spur.putRule(rule);
const profileStored = (userId, plan) =>
  eventually(async () => {
    const rows = await spur.rows("SELECT traits FROM users WHERE user_id = ?", userId);
    return rows.length && JSON.parse(rows[0].traits).plan === plan;
  });

test("a track event without traits fires a rule on the profile's traits.plan; a free user's does not", async () => {
  await putRule({
    id: "pro-upsell",
    trigger: { events: ["Viewed Pricing"], condition: { "==": [{ var: "traits.plan" }, "pro"] } },
    actions: [{ type: "message", title: "Pro perks", body: "Thanks for being pro" }],
  });
  // A stateful (capped) rule on the same trait runs in the person's object, which reads too.
  await putRule({
    id: "pro-once",
    trigger: { events: ["Viewed Pricing"], condition: { "==": [{ var: "traits.plan" }, "pro"] } },
    cap: { max: 1, per: "1d" },
    actions: [{ type: "message", title: "Once", body: "Once a day" }],
  });
  const pro = uid("pro");
  const free = uid("free");
  await send(
    { type: "identify", userId: pro, traits: { plan: "pro", email: "p@example.com" }, messageId: uid("m") },
    { type: "identify", userId: free, traits: { plan: "free" }, messageId: uid("m") },
  );
  assert.ok(await profileStored(pro, "pro"));
  assert.ok(await profileStored(free, "free"));
  const view = (userId) => ({ type: "track", event: "Viewed Pricing", userId, messageId: uid("m") });
  const hit = await send(view(pro));
  const rules = (hit.messages ?? []).map((m) => m.rule).sort();
  assert.deepEqual(rules, ["pro-once", "pro-upsell"], JSON.stringify(hit));
  const miss = await send(view(free));
  assert.equal(miss.messages, undefined, JSON.stringify(miss));
  // The event's own traits win over the stored profile's.
  const own = await send({ ...view(pro), traits: { plan: "free" } });
  assert.equal(own.messages, undefined, JSON.stringify(own));
  const rows = await eventually(async () => {
    const r = await spur.rows(
      "SELECT rule_id, user_id FROM rule_firings WHERE rule_id IN ('pro-upsell', 'pro-once') ORDER BY rule_id",
    );
    return r.length >= 2 && r;
  });
  assert.deepEqual(
    rows.map((r) => [r.rule_id, r.user_id]),
    [
      ["pro-once", pro],
      ["pro-upsell", pro],
    ],
  );
});
