// Issue 12, identity in analysis: alias chains of any length. A person who browses anonymously
// (A), signs up (identify A -> B), is renamed (alias B -> C) and renamed again (alias C -> D) is
// ONE person in insight, funnels, segments and retention — on D1 and on a real ClickHouse
// (EVENTS_STORE = "clickhouse", alias rows mirrored from D1). Everything goes through the real
// Segment API and the real queue consumer. The links of a second person arrive in reverse order,
// one request each, and resolve the same; a cycle (E -> F, then F -> E) is answered 200, stores
// its events and does not split or hang anything.
import { describe, test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startSpur, eventually, DEMO_WRITE_KEY } from "../helpers/spur.mjs";
import { startClickHouse } from "../helpers/clickhouse.mjs";

const TOKEN = "test-admin-token";
const MIN = 60_000;
const DAY = 86_400_000;
const auth = { Authorization: `Basic ${Buffer.from(`${DEMO_WRITE_KEY}:`).toString("base64")}` };
const iso = (ms) => new Date(ms).toISOString();

for (const store of ["d1", "clickhouse"]) {
  describe(`alias chains on ${store}`, () => {
    let spur, ch;
    const T0 = Date.now() - 60 * MIN;
    const range = { from: iso(T0 - DAY), to: iso(T0 + DAY) };
    let seq = 0;
    const msg = (fields, minute) => ({
      messageId: `chain-${store}-${process.pid}-${seq++}`,
      timestamp: iso(T0 + minute * MIN),
      ...fields,
    });
    const step = (event, ids, minute) => msg({ type: "track", event, ...ids }, minute);

    async function api(path, body) {
      const res = await fetch(`${spur.url}${path}`, {
        method: "POST",
        headers: { Authorization: `Bearer ${TOKEN}`, "Content-Type": "application/json" },
        body: JSON.stringify(body),
      });
      const text = await res.text();
      return { status: res.status, body: text ? JSON.parse(text) : null };
    }

    async function ingest(batch) {
      const res = await spur.post("/v1/batch", { batch }, auth);
      assert.equal(res.status, 200);
      assert.equal((await res.json()).accepted, batch.length);
    }

    const stored = async () =>
      store === "d1"
        ? (await spur.rows("SELECT COUNT(*) AS n FROM events WHERE message_id LIKE 'chain-%'"))[0].n
        : Number(await ch.query("SELECT uniqExact(message_id) FROM events WHERE message_id LIKE 'chain-%'"));

    before(async () => {
      if (store === "clickhouse") {
        ch = await startClickHouse();
        spur = await startSpur({
          secrets: { ADMIN_TOKEN: TOKEN, CLICKHOUSE_URL: ch.url },
          vars: { EVENTS_STORE: "clickhouse" },
        });
      } else {
        spur = await startSpur({ secrets: { ADMIN_TOKEN: TOKEN } });
      }
      const p = process.pid;
      const [A, B, C, D] = ["a", "b", "c", "d"].map((x) => `${x}-${p}`);
      // Person 1: the chain A -> B -> C -> D in one batch, in order.
      const total = [];
      const one = [
        step("Chain Viewed", { anonymousId: A }, 0),
        msg({ type: "identify", anonymousId: A, userId: B, traits: { plan: "free" } }, 1),
        step("Chain Added", { userId: B }, 2),
        msg({ type: "alias", previousId: B, userId: C }, 3),
        step("Chain Paid", { userId: C }, 4),
        msg({ type: "alias", previousId: C, userId: D }, 5),
        step("Chain Done", { userId: D }, 6),
      ];
      // Person 2: the same chain, its links sent last-first, one request each.
      const [W, X, Y, Z] = ["w", "x", "y", "z"].map((x) => `${x}-${p}`);
      const two = [
        step("Chain Viewed", { anonymousId: W }, 10),
        step("Chain Added", { userId: X }, 12),
        step("Chain Paid", { userId: Y }, 14),
        step("Chain Done", { userId: Z }, 16),
      ];
      const links = [
        msg({ type: "alias", previousId: Y, userId: Z }, 15),
        msg({ type: "alias", previousId: X, userId: Y }, 13),
        msg({ type: "identify", anonymousId: W, userId: X }, 11),
      ];
      // Person 3: a cycle (E -> F, then F -> E); the first link wins.
      const [E, F] = ["e", "f"].map((x) => `${x}-${p}`);
      const three = [
        step("Chain Viewed", { anonymousId: E }, 20),
        msg({ type: "identify", anonymousId: E, userId: F }, 21),
        msg({ type: "alias", previousId: F, userId: E }, 22),
        step("Chain Added", { userId: E }, 23),
        step("Chain Paid", { userId: F }, 24),
      ];
      await ingest(one);
      await ingest(two);
      for (const l of links) {
        await ingest([l]);
        // Each link is stored before the next is sent, so they really arrive last-first.
        assert.ok(
          await eventually(async () => (await stored()) >= one.length + two.length + links.indexOf(l) + 1, {
            timeoutMs: 30_000,
            message: "link stored",
          }),
        );
      }
      await ingest(three);
      total.push(...one, ...two, ...links, ...three);
      const n = await eventually(async () => ((await stored()) >= total.length ? stored() : null), {
        timeoutMs: 30_000,
        message: "every event stored",
      });
      assert.equal(n, total.length);
    });
    after(async () => {
      await spur?.close();
      ch?.close();
    });

    test(`${store}: every id of a chain resolves to its last user id`, async () => {
      const r = await api("/v1/query/insight", { event: "$any", ...range, interval: "day" });
      assert.equal(r.status, 200, JSON.stringify(r.body));
      // Three people: the two chains and the cycle (E and F are one person, F's root).
      assert.equal(r.body.totalUsers, 3);
      for (const event of ["Chain Viewed", "Chain Added", "Chain Paid", "Chain Done"]) {
        const q = await api("/v1/query/insight", { event, ...range });
        assert.equal(q.status, 200, JSON.stringify(q.body));
        assert.equal(q.body.totalUsers, event === "Chain Done" ? 2 : 3, event);
      }
      if (store === "d1") {
        const p = process.pid;
        const rows = await spur.rows(
          "SELECT anonymous_id, user_id FROM aliases WHERE anonymous_id LIKE ? ORDER BY anonymous_id",
          `%-${p}`,
        );
        assert.deepEqual(
          rows.map((x) => [x.anonymous_id, x.user_id]),
          [
            [`a-${p}`, `d-${p}`],
            [`b-${p}`, `d-${p}`],
            [`c-${p}`, `d-${p}`],
            [`e-${p}`, `f-${p}`],
            [`w-${p}`, `z-${p}`],
            [`x-${p}`, `z-${p}`],
            [`y-${p}`, `z-${p}`],
          ],
        );
      } else {
        // The mirror holds the same roots.
        const p = process.pid;
        const text = await ch.query(
          `SELECT id, argMax(root, rev) FROM alias_roots WHERE id LIKE '%-${p}' GROUP BY id ORDER BY id FORMAT TabSeparated`,
        );
        assert.equal(
          text.trim(),
          [
            [`a-${p}`, `d-${p}`],
            [`b-${p}`, `d-${p}`],
            [`c-${p}`, `d-${p}`],
            [`e-${p}`, `f-${p}`],
            [`w-${p}`, `z-${p}`],
            [`x-${p}`, `z-${p}`],
            [`y-${p}`, `z-${p}`],
          ]
            .map((r) => r.join("\t"))
            .join("\n"),
        );
      }
    });

    test(`${store}: a funnel across a 4-id chain counts one person per chain`, async () => {
      const r = await api("/v1/query/funnel", {
        steps: [
          { event: "Chain Viewed" },
          { event: "Chain Added" },
          { event: "Chain Paid" },
          { event: "Chain Done" },
        ],
        ...range,
        window: "1d",
      });
      assert.equal(r.status, 200, JSON.stringify(r.body));
      // Both chains convert end to end; the cycle's person reaches step 3 and stops.
      assert.deepEqual(
        r.body.steps.map((s) => s.entered),
        [3, 3, 3, 2],
      );
    });

    test(`${store}: retention follows the person across the chain`, async () => {
      const r = await api("/v1/query/retention", {
        start: { event: "Chain Viewed" },
        return: { event: "Chain Paid" },
        ...range,
        interval: "day",
      });
      assert.equal(r.status, 200, JSON.stringify(r.body));
      // Each person starts once (first seen anonymously, as A / W / E): three, not more.
      const sum = (xs) => xs.reduce((n, x) => n + x, 0);
      assert.equal(sum(r.body.cohorts.map((c) => c.size)), 3, JSON.stringify(r.body));
    });

    if (store === "d1") {
      test("d1: a segment over the chain finds one person per chain", async () => {
        const r = await api("/v1/query/segment", {
          where: { and: [{ did: { event: "Chain Viewed" } }, { did: { event: "Chain Done" } }] },
        });
        assert.equal(r.status, 200, JSON.stringify(r.body));
        assert.equal(r.body.count, 2, JSON.stringify(r.body));
        const p = process.pid;
        assert.deepEqual(r.body.users.sort(), [`d-${p}`, `z-${p}`]);
      });
    }
  });
}

// Links the consumer refuses are recorded, not dropped: the event is stored once and its link
// becomes a bad row (endpoint `alias_link`) with a stable reason. MAX_ALIAS_FAN_IN (1,000) at
// its boundary: a root with exactly 1,000 ids is re-pointed in one link; one with 1,001 is not.
describe("refused alias links on d1", () => {
  let spur;
  const p = process.pid;
  const FAN_IN = 1000; // MAX_ALIAS_FAN_IN
  const T = Date.now() - 60 * MIN;
  let seq = 0;
  const msg = (fields) => ({ messageId: `refuse-${p}-${seq++}`, timestamp: iso(T + seq), ...fields });
  async function ingest(batch) {
    const res = await spur.post("/v1/batch", { batch }, auth);
    assert.equal(res.status, 200);
    assert.equal((await res.json()).accepted, batch.length);
  }
  const count = async (sql, ...args) => (await spur.rows(sql, ...args))[0].n;
  const pointingAt = (root) => count("SELECT COUNT(*) AS n FROM aliases WHERE user_id = ?", root);
  const refusals = () =>
    spur.rows(
      "SELECT reason, message_id, payload, write_key, detail FROM bad_rows WHERE endpoint = 'alias_link' ORDER BY id",
    );

  before(async () => {
    spur = await startSpur({ secrets: { ADMIN_TOKEN: TOKEN } });
  });
  after(async () => {
    await spur?.close();
  });

  test("exactly MAX_ALIAS_FAN_IN ids re-point with one link; one more is refused as alias_fan_in", async () => {
    const [X, Y, Z, W] = ["fx", "fy", "fz", "fw"].map((x) => `${x}-${p}`);
    // X gets exactly 1,000 ids, Z 1,001 (one batch of at most 1,000 messages per request).
    const ids = (root, n) =>
      Array.from({ length: n }, (_, i) =>
        msg({ type: "identify", anonymousId: `${root}-a${i}`, userId: root }),
      );
    await ingest(ids(X, FAN_IN));
    await ingest(ids(Z, FAN_IN));
    await ingest(ids(Z, 1).map((m) => ({ ...m, anonymousId: `${Z}-a${FAN_IN}` })));
    assert.ok(
      await eventually(async () => (await pointingAt(X)) === FAN_IN && (await pointingAt(Z)) === FAN_IN + 1, {
        timeoutMs: 60_000,
        message: "2,001 links stored",
      }),
    );
    const atLimit = msg({ type: "alias", previousId: X, userId: Y });
    const over = msg({ type: "alias", previousId: Z, userId: W });
    await ingest([atLimit, over]);
    const rows = await eventually(
      async () => {
        const r = await refusals();
        return r.some((x) => x.message_id === over.messageId) ? r : null;
      },
      { timeoutMs: 30_000, message: "the refused link recorded" },
    );
    // At the limit: X and its 1,000 ids all point at Y now.
    assert.equal(await pointingAt(Y), FAN_IN + 1);
    assert.equal(await pointingAt(X), 0);
    // One over: nothing moved, the link is recorded with its reason, the event stored once.
    assert.equal(await pointingAt(Z), FAN_IN + 1);
    assert.equal(await pointingAt(W), 0);
    const mine = rows.filter((x) => x.message_id === over.messageId);
    assert.equal(mine.length, 1);
    assert.equal(mine[0].reason, "alias_fan_in");
    assert.deepEqual(JSON.parse(mine[0].payload), { id: Z, to: W });
    assert.match(mine[0].detail, /more than 1000 ids/);
    assert.equal(
      rows.filter((x) => x.message_id === atLimit.messageId).length,
      0,
      "the link at the limit is no bad row",
    );
    const stored = await count(
      "SELECT COUNT(*) AS n FROM events WHERE message_id IN (?, ?)",
      atLimit.messageId,
      over.messageId,
    );
    assert.equal(stored, 2, "both alias events stored");
  });

  test("a cycle and a conflicting link are recorded as alias_cycle / alias_conflict, once each", async () => {
    const [E, F, G, U1, U2] = ["ce", "cf", "cg", "cu1", "cu2"].map((x) => `${x}-${p}`);
    await ingest([
      msg({ type: "identify", anonymousId: E, userId: F }),
      msg({ type: "identify", anonymousId: G, userId: U1 }),
    ]);
    assert.ok(
      await eventually(
        async () =>
          (await count("SELECT COUNT(*) AS n FROM aliases WHERE anonymous_id IN (?, ?)", E, G)) === 2,
        {
          timeoutMs: 30_000,
          message: "first links stored",
        },
      ),
    );
    const cycle = msg({ type: "alias", previousId: F, userId: E });
    const conflict = msg({ type: "identify", anonymousId: G, userId: U2 });
    const same = msg({ type: "identify", anonymousId: G, userId: U1 }); // the link it has: no bad row
    // The conflict twice in one batch (as a redelivery would write it again): one row.
    await ingest([cycle, conflict, conflict, same]);
    const rows = await eventually(
      async () => {
        const r = (await refusals()).filter((x) =>
          [cycle.messageId, conflict.messageId, same.messageId].includes(x.message_id),
        );
        const stored = await count(
          "SELECT COUNT(*) AS n FROM events WHERE message_id IN (?, ?, ?)",
          cycle.messageId,
          conflict.messageId,
          same.messageId,
        );
        return r.length >= 2 && stored === 3 ? r : null;
      },
      { timeoutMs: 30_000, message: "refusals recorded" },
    );
    assert.deepEqual(
      rows.map((x) => [x.message_id, x.reason, JSON.parse(x.payload)]),
      [
        [cycle.messageId, "alias_cycle", { id: F, to: E }],
        [conflict.messageId, "alias_conflict", { id: G, to: U2 }],
      ],
    );
    assert.match(rows[1].detail, new RegExp(`already linked to ${U1}`));
    // The first links stand.
    const links = await spur.rows(
      "SELECT anonymous_id, user_id FROM aliases WHERE anonymous_id IN (?, ?, ?) ORDER BY anonymous_id",
      E,
      F,
      G,
    );
    assert.deepEqual(
      links.map((x) => [x.anonymous_id, x.user_id]),
      [
        [E, F],
        [G, U1],
      ],
    );
    // Listed by reason; never replayed (the event was stored), and a bare replay skips them.
    const listed = await fetch(`${spur.url}/v1/bad-rows?reason=alias_conflict`, {
      headers: { Authorization: `Bearer ${TOKEN}` },
    });
    assert.equal(listed.status, 200);
    assert.ok(
      (await listed.json()).rows.some(
        (r) => r.messageId === conflict.messageId && r.endpoint === "alias_link",
      ),
    );
    const replay = async (body) => {
      const res = await fetch(`${spur.url}/v1/bad-rows/replay`, {
        method: "POST",
        headers: { Authorization: `Bearer ${TOKEN}`, "Content-Type": "application/json" },
        body: JSON.stringify(body),
      });
      assert.equal(res.status, 200);
      return res.json();
    };
    const bare = await replay({});
    assert.equal(bare.considered, 0, JSON.stringify(bare));
    const ids = (await spur.rows("SELECT id FROM bad_rows WHERE message_id = ?", cycle.messageId)).map(
      (r) => r.id,
    );
    const byId = await replay({ ids });
    assert.equal(byId.replayed, 0);
    assert.deepEqual(
      byId.stillRejected.map((s) => s.reason),
      ["event_stored"],
    );
  });

  // A device's batch (issue 15): one anonymous/user pair on every event is judged in one
  // statement, and still recorded as one bad row per event, as the per-event statements did.
  test("a refused pair on a whole device batch is one alias_conflict row per event; a redelivery adds none", async () => {
    const [D, U1, U2] = ["dd", "du1", "du2"].map((x) => `${x}-${p}`);
    await ingest([msg({ type: "identify", anonymousId: D, userId: U1 })]);
    assert.ok(
      await eventually(
        async () => (await count("SELECT COUNT(*) AS n FROM aliases WHERE anonymous_id = ?", D)) === 1,
        {
          timeoutMs: 30_000,
          message: "the first link stored",
        },
      ),
    );
    // The device signs in as another person: every event carries the refused link D -> U2.
    const device = Array.from({ length: 100 }, (_, i) =>
      msg({ type: "track", event: "Device Viewed", anonymousId: D, userId: U2, properties: { i } }),
    );
    const ids = device.map((m) => m.messageId);
    const mine = async () => {
      const r = await refusals();
      return r.filter((x) => ids.includes(x.message_id));
    };
    await ingest(device);
    const rows = await eventually(
      async () => {
        const r = await mine();
        return r.length >= ids.length ? r : null;
      },
      { timeoutMs: 30_000, message: "the device batch's refusals recorded" },
    );
    assert.deepEqual(
      rows.map((x) => x.message_id),
      ids,
      "one row per event, in event order",
    );
    for (const x of rows) {
      assert.equal(x.reason, "alias_conflict");
      assert.deepEqual(JSON.parse(x.payload), { id: D, to: U2 });
      assert.equal(x.detail, `${D} is already linked to ${U1}`);
      assert.equal(x.write_key, null);
    }
    // Each row carries its event's receipt time, as the per-event statement bound it.
    const sameTime = await count(
      `SELECT COUNT(*) AS n FROM bad_rows b JOIN events e ON e.message_id = b.message_id
       WHERE b.endpoint = 'alias_link' AND b.received_at = e.received_at AND e.anonymous_id = ?`,
      D,
    );
    assert.equal(sameTime, ids.length);
    // A redelivery (the same events again; a fresh event in the same message shows when it
    // has been processed): no new row, and the first link stands.
    const marker = msg({ type: "track", event: "Device Marker", anonymousId: `${D}-m` });
    await ingest([...device, marker]);
    assert.ok(
      await eventually(
        async () =>
          (await count("SELECT COUNT(*) AS n FROM events WHERE message_id = ?", marker.messageId)) === 1,
        { timeoutMs: 30_000, message: "the redelivery processed" },
      ),
    );
    assert.equal((await mine()).length, ids.length);
    const link = await spur.rows("SELECT user_id FROM aliases WHERE anonymous_id = ?", D);
    assert.deepEqual(
      link.map((x) => x.user_id),
      [U1],
    );
  });

  test("a pair seen again after another link in the batch is judged after that link", async () => {
    // b -> a stored; then one batch: a -> b (a cycle), a -> c (stored; re-points b to c), and
    // a -> b again, which now stands (a and b both resolve to c): one refusal, the first.
    const [A, B, C] = ["ja", "jb", "jc"].map((x) => `${x}-${p}`);
    await ingest([msg({ type: "identify", anonymousId: B, userId: A })]);
    assert.ok(
      await eventually(
        async () => (await count("SELECT COUNT(*) AS n FROM aliases WHERE anonymous_id = ?", B)) === 1,
        {
          timeoutMs: 30_000,
          message: "b -> a stored",
        },
      ),
    );
    const first = msg({ type: "track", event: "J", anonymousId: A, userId: B });
    const relink = msg({ type: "track", event: "J", anonymousId: A, userId: C });
    const again = msg({ type: "track", event: "J", anonymousId: A, userId: B });
    await ingest([first, relink, again]);
    assert.ok(
      await eventually(
        async () =>
          (await count(
            "SELECT COUNT(*) AS n FROM events WHERE message_id IN (?, ?, ?)",
            first.messageId,
            relink.messageId,
            again.messageId,
          )) === 3,
        { timeoutMs: 30_000, message: "the batch stored" },
      ),
    );
    const rows = (await refusals()).filter((x) =>
      [first.messageId, relink.messageId, again.messageId].includes(x.message_id),
    );
    assert.deepEqual(
      rows.map((x) => [x.message_id, x.reason, JSON.parse(x.payload)]),
      [[first.messageId, "alias_cycle", { id: A, to: B }]],
    );
    const links = await spur.rows(
      "SELECT anonymous_id, user_id FROM aliases WHERE anonymous_id IN (?, ?) ORDER BY anonymous_id",
      A,
      B,
    );
    assert.deepEqual(
      links.map((x) => [x.anonymous_id, x.user_id]),
      [
        [A, C],
        [B, C],
      ],
    );
  });
});
