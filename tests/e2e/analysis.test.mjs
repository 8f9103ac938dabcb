// The analysis suite (issues 6 and 13): insight, funnel, drivers, retention and segment queries over one
// seeded history, run against BOTH events stores — D1 (real workerd + local D1) and ClickHouse
// (a real server, Debian's 18.16, on a loopback port, with the Worker configured
// EVENTS_STORE = "clickhouse"). Every expected number is computed in plain JS
// (tests/helpers/generate.mjs) from the documented semantics, so both stores must give the same,
// exact answers. Segments read profile traits kept in D1 and are D1-only for now (ClickHouse
// refuses them with a stable reason).
import { describe, test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startSpur } from "../helpers/spur.mjs";
import { startClickHouse } from "../helpers/clickhouse.mjs";
import {
  generate,
  edgeCases,
  retentionCases,
  insertAll,
  referenceFunnel,
  referenceInsight,
  referenceRetention,
  referenceSegment,
  referenceDrivers,
  referenceOdds,
  referenceCohort,
  personOf,
  zoneOffset,
  DAY,
  HOUR,
} from "../helpers/generate.mjs";

const TOKEN = "test-admin-token";
const T0 = Date.UTC(2026, 10, 1);
/** Start of the retention edge cases (their events stay inside days 4..7). */
const R0 = T0 + 4 * DAY;
const iso = (ms) => new Date(ms).toISOString();
/** 2026-03-06T00:00Z: two days before New York's spring-forward change. */
const SPRING0 = Date.UTC(2026, 2, 6);
const NY = "America/New_York";
const track = (name) => (e) => e.type === "track" && e.event === name;

for (const store of ["d1", "clickhouse"]) {
  describe(`analysis on ${store}`, () => {
    let spur, ch, data;

    async function api(path, body, { method = body === undefined ? "GET" : "POST", token = TOKEN } = {}) {
      const res = await fetch(`${spur.url}${path}`, {
        method,
        headers: { Authorization: `Bearer ${token}`, "Content-Type": "application/json" },
        body: body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body),
      });
      const text = await res.text();
      return { status: res.status, body: text ? JSON.parse(text) : null };
    }

    /** Events the store holds (each stored row; the injection check needs them untouched). */
    const storedEvents = async () =>
      store === "d1"
        ? (await spur.rows("SELECT COUNT(*) AS n FROM events"))[0].n
        : Number(await ch.query("SELECT count() FROM events"));

    before(async () => {
      data = generate({ users: 1000, seed: 7, start: T0, days: 14 });
      data.events.push(...edgeCases(T0 + 2 * DAY, T0 + 12 * DAY), ...retentionCases(R0));
      // A few people around New York's spring-forward day (2026-03-08, 23 h) for the zone tests;
      // the seeded November history already spans its fall-back day (2026-11-01, 25 h).
      const spring = generate({ users: 150, seed: 3, start: SPRING0, days: 4, firstId: 100_000 });
      data.events.push(...spring.events);
      data.aliases.push(...spring.aliases);
      data.users.push(...spring.users);
      if (store === "d1") {
        spur = await startSpur({ secrets: { ADMIN_TOKEN: TOKEN } });
        await insertAll(spur.db, data);
      } else {
        ch = await startClickHouse();
        await ch.load(data);
        // Some events loaded twice: a redelivered batch must never count twice.
        await ch.load({ events: data.events.slice(0, 5000) });
        spur = await startSpur({
          secrets: { ADMIN_TOKEN: TOKEN, CLICKHOUSE_URL: ch.url },
          vars: { EVENTS_STORE: "clickhouse" },
        });
        // Profiles live in D1 whichever store holds the events; ch.load(data) also wrote them to
        // ClickHouse's `users` (the consumer's mirror), which trait cohorts there read.
        await insertAll(spur.db, { users: data.users });
      }
    });
    after(async () => {
      await spur?.close();
      ch?.close();
    });

    test(`${store}: query routes need the admin token, explain bad definitions, never splice values`, async () => {
      const q = { steps: [{ event: "A" }, { event: "B" }], from: iso(T0), to: iso(T0 + DAY) };
      assert.equal((await api("/v1/query/funnel", q, { token: "wrong" })).status, 401);
      const one = await api("/v1/query/funnel", { ...q, steps: [{ event: "A" }] });
      assert.equal(one.status, 400);
      assert.equal(one.body.reason, "invalid_value");
      assert.match(one.body.detail, /2\.\.=10 steps/);
      const unknown = await api("/v1/query/funnel", { ...q, windoww: "1d" });
      assert.match(unknown.body.detail, /unknown field `windoww`/);
      const field = await api("/v1/query/insight", { from: iso(T0), to: iso(T0 + DAY), breakdown: "plan" });
      assert.match(field.body.detail, /invalid field `plan`/);
      const inj = await api("/v1/query/insight", {
        event: "x'); DROP TABLE events; --",
        from: iso(T0),
        to: iso(T0 + DAY),
      });
      assert.equal(inj.status, 200, JSON.stringify(inj.body));
      assert.equal(inj.body.totalEvents, 0);
      assert.ok((await storedEvents()) > 0);
      const retention = { start: { event: "A" }, from: iso(T0), to: iso(T0 + DAY) };
      const hourly = await api("/v1/query/retention", { ...retention, interval: "hour" });
      assert.equal(hourly.status, 400);
      assert.equal(hourly.body.reason, "invalid_query");
      const long = await api("/v1/query/retention", { ...retention, to: iso(T0 + 91 * DAY) });
      assert.equal(long.status, 400);
      assert.equal(long.body.reason, "invalid_value");
      assert.match(long.body.detail, /more than 90 periods/);
      const badField = await api("/v1/query/retention", {
        ...retention,
        return: { event: "B", filters: [{ field: "plan", value: 1 }] },
      });
      assert.equal(badField.body.reason, "invalid_field");
    });

    test(`${store}: funnel edge cases: window boundary, order, repeats, same ms, range ends`, async () => {
      const r = await api("/v1/query/funnel", {
        steps: [{ event: "Edge Start" }, { event: "Edge Mid" }, { event: "Edge End" }],
        from: iso(T0 + 2 * DAY),
        to: iso(T0 + 12 * DAY),
        window: "1h",
      });
      assert.equal(r.status, 200, JSON.stringify(r.body));
      // Entered: e1 e2 e3 e4 e5 e6 e8; Mid: e1 e2 e4 e6 e8; End: e1 e4 e6 (see edgeCases()).
      assert.deepEqual(
        r.body.steps.map((s) => s.entered),
        [7, 5, 3],
      );
      assert.deepEqual(
        r.body.steps.map((s) => s.dropOff),
        [2, 2, null],
      );
      // Start->Mid gaps 10,10,40,10,20 min; Mid->End gaps 50,10,30 min.
      assert.equal(r.body.steps[0].medianMsToNext, 10 * 60_000);
      assert.equal(r.body.steps[1].medianMsToNext, 30 * 60_000);
      assert.equal(r.body.windowMs, HOUR);
    });

    test(`${store}: funnel over 1,000 generated users with breakdown matches the reference exactly`, async () => {
      const from = T0,
        to = T0 + 12 * DAY;
      const names = ["Product Viewed", "Added To Cart", "Order Completed"];
      const r = await api("/v1/query/funnel", {
        steps: names.map((event) => ({ event })),
        from: iso(from),
        to: iso(to),
        window: "1d",
        breakdown: "properties.category",
        breakdownLimit: 3,
      });
      assert.equal(r.status, 200, JSON.stringify(r.body));
      const ref = referenceFunnel(data, {
        steps: names.map(track),
        from,
        to,
        window: DAY,
        breakdown: (e) => e.properties.category,
      });
      const strip = (steps) => steps.map(({ index, event, ...rest }) => rest);
      assert.deepEqual(strip(r.body.steps), ref.steps);
      assert.ok(ref.steps[0].entered > 500 && ref.steps[2].entered > 50, "a meaningful funnel");
      // Breakdown: top 3 first-touch categories by entered, then other.
      const counts = new Map();
      for (const p of ref.people) counts.set(p.key, (counts.get(p.key) ?? 0) + 1);
      const top = [...counts.entries()]
        .sort((a, b) => b[1] - a[1])
        .slice(0, 3)
        .map(([k]) => k);
      assert.deepEqual(
        r.body.breakdown.map((b) => b.key),
        [...top, null],
      );
      for (const [i, key] of top.entries()) {
        assert.deepEqual(
          strip(r.body.breakdown[i].steps),
          ref.summarize(ref.people.filter((p) => p.key === key)),
        );
      }
      assert.deepEqual(
        strip(r.body.breakdown[3].steps),
        ref.summarize(ref.people.filter((p) => !top.includes(p.key))),
      );
    });

    test(`${store}: funnel with a page-view step and property filters matches the reference`, async () => {
      const from = T0 + DAY,
        to = T0 + 10 * DAY;
      const r = await api("/v1/query/funnel", {
        steps: [
          { event: "$pageview", filters: [{ field: "properties.path", value: "/" }] },
          { event: "Product Viewed", filters: [{ field: "properties.price", op: "gte", value: 50 }] },
          {
            event: "Order Completed",
            filters: [{ field: "properties.category", op: "in", value: ["shoes", "bags"] }],
          },
        ],
        from: iso(from),
        to: iso(to),
        window: "6h",
      });
      assert.equal(r.status, 200, JSON.stringify(r.body));
      const ref = referenceFunnel(data, {
        steps: [
          (e) => e.type === "page" && e.properties.path === "/",
          (e) => track("Product Viewed")(e) && e.properties.price >= 50,
          (e) => track("Order Completed")(e) && ["shoes", "bags"].includes(e.properties.category),
        ],
        from,
        to,
        window: 6 * HOUR,
      });
      assert.deepEqual(
        r.body.steps.map(({ index, event, ...rest }) => rest),
        ref.steps,
      );
    });

    test(`${store}: insight: daily counts, unique users, top-N breakdown with other`, async () => {
      const from = T0 + 12 * HOUR,
        to = T0 + 10 * DAY;
      const r = await api("/v1/query/insight", {
        event: "Product Viewed",
        from: iso(from),
        to: iso(to),
        interval: "day",
        breakdown: "properties.category",
        breakdownLimit: 2,
      });
      assert.equal(r.status, 200, JSON.stringify(r.body));
      const ref = referenceInsight(data, {
        match: track("Product Viewed"),
        from,
        to,
        interval: DAY,
        breakdown: (e) => e.properties.category,
        limit: 2,
      });
      assert.notEqual(ref.ranked[1][1], ref.ranked[2][1], "no tie at the cut");
      assert.deepEqual(
        r.body.buckets.map((b) => iso(Date.parse(b))),
        ref.buckets.map(iso),
      );
      assert.deepEqual(r.body.series, ref.series);
      assert.equal(r.body.totalEvents, ref.totalEvents);
      assert.equal(r.body.totalUsers, ref.totalUsers);

      const hourly = await api("/v1/query/insight", { from: iso(T0), to: iso(T0 + DAY), interval: "hour" });
      assert.equal(hourly.status, 200, JSON.stringify(hourly.body));
      const refAll = referenceInsight(data, { match: () => true, from: T0, to: T0 + DAY, interval: HOUR });
      assert.deepEqual(hourly.body.series, refAll.series);
      assert.equal(hourly.body.buckets.length, 24);
    });

    test(`${store}: engagement by cohort: insight and funnel by first-seen week and by a trait match the reference`, async () => {
      const person = personOf(data.aliases);
      const from = T0,
        to = T0 + 12 * DAY;
      const cases = [
        // First-seen week in New York (the range spans its 25 h day; weeks start Monday 00:00 local).
        {
          cohort: { by: "first_seen", period: "week" },
          of: referenceCohort(data, { by: "first_seen", zone: NY }),
          limit: 2,
        },
        // A trait from D1 profiles, else identify events; people without it form the null group.
        {
          cohort: { by: "trait", trait: "plan" },
          of: referenceCohort(data, { by: "trait", trait: "plan" }),
          limit: 5,
        },
      ];
      for (const { cohort, of, limit } of cases) {
        const weeks = cohort.by === "first_seen";
        const key = (k) => (weeks && k !== null ? Date.parse(k) : k);
        const bd = (e) => of(person(e));
        const noTies = (counts) =>
          assert.equal(
            new Set(counts.slice(0, limit + 1)).size,
            Math.min(counts.length, limit + 1),
            `no ties ${counts}`,
          );

        const r = await api("/v1/query/insight", {
          event: "Product Viewed",
          from: iso(from),
          to: iso(to),
          timezone: NY,
          cohort,
          breakdownLimit: limit,
        });
        assert.equal(r.status, 200, JSON.stringify(r.body));
        const ref = referenceInsight(data, {
          match: track("Product Viewed"),
          from,
          to,
          interval: DAY,
          zone: NY,
          breakdown: bd,
          limit,
        });
        noTies(ref.ranked.map(([, n]) => n));
        assert.deepEqual(
          r.body.series.map((s) => ({ ...s, key: key(s.key) })),
          ref.series,
        );
        assert.equal(r.body.totalUsers, ref.totalUsers);
        if (weeks) {
          assert.ok(ref.series.length === limit + 1 && ref.series[limit].other, "top weeks then other");
          for (const s of r.body.series.filter((s) => !s.other))
            assert.equal(
              (Date.parse(s.key) + zoneOffset(NY, Date.parse(s.key))) % (7 * DAY),
              4 * DAY,
              "a local Monday",
            );
        } else {
          assert.deepEqual(r.body.series.map((s) => s.key).sort(), ["free", "pro", null].sort());
        }

        const names = ["Product Viewed", "Added To Cart", "Order Completed"];
        const f = await api("/v1/query/funnel", {
          steps: names.map((event) => ({ event })),
          from: iso(from),
          to: iso(to),
          window: "1d",
          timezone: NY,
          cohort,
          breakdownLimit: limit,
        });
        assert.equal(f.status, 200, JSON.stringify(f.body));
        const fr = referenceFunnel(data, { steps: names.map(track), from, to, window: DAY, breakdown: bd });
        const strip = (steps) => steps.map(({ index, event, ...rest }) => rest);
        assert.deepEqual(strip(f.body.steps), fr.steps);
        const counts = new Map();
        for (const p of fr.people) counts.set(p.key, (counts.get(p.key) ?? 0) + 1);
        const ranked = [...counts.entries()].sort((a, b) => b[1] - a[1]);
        noTies(ranked.map(([, n]) => n));
        const top = ranked.slice(0, limit).map(([k]) => k);
        const rest = fr.people.filter((p) => !top.includes(p.key));
        assert.deepEqual(
          f.body.breakdown.map((b) => key(b.key)),
          rest.length ? [...top, null] : top,
        );
        for (const [i, k] of top.entries())
          assert.deepEqual(
            strip(f.body.breakdown[i].steps),
            fr.summarize(fr.people.filter((p) => p.key === k)),
          );
        if (rest.length) assert.deepEqual(strip(f.body.breakdown[top.length].steps), fr.summarize(rest));
      }

      // Refused with stable reasons: both groupings at once, a bad trait name, an unknown kind.
      const q = { from: iso(from), to: iso(to) };
      const both = await api("/v1/query/insight", {
        ...q,
        breakdown: "properties.category",
        cohort: { by: "trait", trait: "plan" },
      });
      assert.equal(both.status, 400);
      assert.equal(both.body.reason, "invalid_value");
      assert.match(both.body.detail, /either `breakdown`/);
      const badTrait = await api("/v1/query/funnel", {
        ...q,
        steps: [{ event: "A" }, { event: "B" }],
        cohort: { by: "trait", trait: "" },
      });
      assert.equal(badTrait.status, 400);
      assert.equal(badTrait.body.reason, "invalid_field");
      const kind = await api("/v1/query/insight", { ...q, cohort: { by: "last_seen" } });
      assert.equal(kind.status, 400);
      assert.equal(kind.body.reason, "invalid_query");
    });

    test(`${store}: retention edge cases: boundaries, first vs every occurrence, returns before the cohort`, async () => {
      const body = {
        start: { event: "Ret Start" },
        return: { event: "Ret Back" },
        from: iso(R0),
        to: iso(R0 + 3 * DAY),
      };
      const first = await api("/v1/query/retention", body);
      assert.equal(first.status, 200, JSON.stringify(first.body));
      // See retentionCases(): r1 and r3 start in period 0 (r2 started before the range), r4 in 2.
      assert.deepEqual(
        first.body.cohorts.map((c) => c.returned),
        [[2, 1, 1], [0, 0], [1]],
      );
      assert.deepEqual(first.body.cohorts[1].shares, [null, null]);
      assert.deepEqual(first.body.cohorts[0].shares, [1, 0.5, 0.5]);
      assert.deepEqual(
        first.body.periods.map((p) => Date.parse(p)),
        [R0, R0 + DAY, R0 + 2 * DAY],
      );
      assert.equal(first.body.cohort, "first");
      const every = await api("/v1/query/retention", { ...body, cohort: "every" });
      assert.equal(every.status, 200, JSON.stringify(every.body));
      assert.deepEqual(
        every.body.cohorts.map((c) => c.returned),
        [[3, 2, 1], [1, 0], [1]],
      );
      for (const [r, cohort] of [
        [first, "first"],
        [every, "every"],
      ]) {
        const ref = referenceRetention(data, {
          start: track("Ret Start"),
          ret: track("Ret Back"),
          from: R0,
          to: R0 + 3 * DAY,
          period: DAY,
          cohort,
        });
        assert.deepEqual(
          r.body.cohorts.map((c) => c.returned),
          ref.cohorts.map((c) => c.returned),
        );
      }
    });

    test(`${store}: retention over 1,000 generated users matches the reference exactly`, async () => {
      const cases = [
        // New visitors (first page view ever, from a mid-day start) coming back to buy, daily.
        {
          body: { start: { event: "$pageview" }, return: { event: "Order Completed" }, interval: "day" },
          ref: { start: (e) => e.type === "page", ret: track("Order Completed"), period: DAY },
          from: T0 + 2 * DAY + 6 * HOUR,
          to: T0 + 12 * DAY,
        },
        // Every week with a shoes/hats view, viewing again (the default return event).
        {
          body: {
            start: {
              event: "Product Viewed",
              filters: [{ field: "properties.category", op: "in", value: ["shoes", "hats"] }],
            },
            interval: "week",
            cohort: "every",
          },
          ref: {
            start: (e) => track("Product Viewed")(e) && ["shoes", "hats"].includes(e.properties.category),
            period: 7 * DAY,
            cohort: "every",
          },
          from: T0,
          to: T0 + 14 * DAY,
        },
        // Every day with a cart add, back with any event.
        {
          body: { start: { event: "Added To Cart" }, return: { event: "$any" }, cohort: "every" },
          ref: { start: track("Added To Cart"), ret: () => true, period: DAY, cohort: "every" },
          from: T0,
          to: T0 + 14 * DAY,
        },
      ];
      for (const c of cases) {
        const r = await api("/v1/query/retention", { ...c.body, from: iso(c.from), to: iso(c.to) });
        assert.equal(r.status, 200, JSON.stringify(r.body));
        const ref = referenceRetention(data, { ...c.ref, from: c.from, to: c.to });
        assert.ok(ref.cohorts[0].size > 20 && ref.cohorts[0].returned[1] > 0, "a meaningful table");
        assert.deepEqual(
          r.body.cohorts.map(({ start, ...rest }) => rest),
          ref.cohorts.map(({ start, ...rest }) => rest),
        );
        assert.deepEqual(
          r.body.periods.map((p) => Date.parse(p)),
          ref.periods,
        );
      }
    });

    /** Asserts a drivers answer equals the reference: counts exactly, statistics to 1e-9. */
    function assertDrivers(got, ref) {
      assert.equal(got.entered, ref.entered);
      assert.equal(got.converted, ref.converted);
      assert.equal(got.droppedOff, ref.droppedOff);
      assert.equal(got.candidates, ref.candidates);
      assert.equal(got.drivers.length, ref.drivers.length);
      const near = (x, y, what) =>
        assert.ok(x === y || Math.abs(x - y) <= 1e-9 * Math.abs(y), `${what}: ${x} vs ${y}`);
      got.drivers.forEach((d, i) => {
        const r = ref.drivers[i];
        const name = JSON.stringify([r.event, r.property, r.value]);
        assert.deepEqual(
          [d.kind, d.event, d.property, d.value],
          [r.kind, r.event, r.property, r.value],
          `#${i}`,
        );
        assert.deepEqual(
          [d.converted, d.droppedOff, d.corrected],
          [r.converted, r.droppedOff, r.corrected],
          name,
        );
        for (const k of [
          "convertedShare",
          "droppedOffShare",
          "oddsRatio",
          "logOddsRatio",
          "standardError",
          "z",
          "pValue",
        ])
          near(d[k], r[k], `${name} ${k}`);
        near(d.logOddsRatioCi95[0], r.logOddsRatioCi95[0], `${name} ci low`);
        near(d.logOddsRatioCi95[1], r.logOddsRatioCi95[1], `${name} ci high`);
      });
    }

    test(`${store}: conversion drivers over 1,000 generated users match the reference exactly`, async () => {
      const from = T0,
        to = T0 + 12 * DAY;
      const properties = [
        ["properties.category", (e) => e.properties.category],
        ["context.campaign.source", (e) => e.context?.campaign?.source],
        // 90 values: the list is cut to the 50 most common, ties by value.
        ["properties.price", (e) => e.properties.price],
      ];
      const r = await api("/v1/query/drivers", {
        steps: [{ event: "Product Viewed" }, { event: "Order Completed" }],
        from: iso(from),
        to: iso(to),
        window: "1d",
        properties: properties.map(([f]) => f),
        limit: 100,
      });
      assert.equal(r.status, 200, JSON.stringify(r.body));
      const ref = referenceDrivers(data, {
        steps: [track("Product Viewed"), track("Order Completed")],
        stepNames: ["Product Viewed", "Order Completed"],
        from,
        to,
        window: DAY,
        properties,
        limit: 100,
      });
      assert.ok(ref.converted > 100 && ref.droppedOff > 100, "a meaningful comparison");
      assert.equal(ref.candidates, 1 + 5 + 3 + 50, "every list present, prices capped");
      assertDrivers(r.body, ref);
      assert.equal(r.body.windowMs, DAY);
      const cart = r.body.drivers.find((d) => d.event === "Added To Cart");
      assert.ok(cart.oddsRatio > 10 && cart.corrected, "every converter added to cart: a zero cell");
      assert.ok(!r.body.drivers.some((d) => d.event === "Order Completed"), "step events are not drivers");

      // A three-step funnel from a page view, the default limit (a cut list).
      const three = await api("/v1/query/drivers", {
        steps: [
          { event: "$pageview", filters: [{ field: "properties.path", value: "/" }] },
          { event: "Added To Cart" },
          { event: "Order Completed" },
        ],
        from: iso(T0 + DAY),
        to: iso(T0 + 10 * DAY),
        window: "6h",
        properties: ["properties.category"],
      });
      assert.equal(three.status, 200, JSON.stringify(three.body));
      const ref3 = referenceDrivers(data, {
        steps: [
          (e) => e.type === "page" && e.properties.path === "/",
          track("Added To Cart"),
          track("Order Completed"),
        ],
        stepNames: ["Added To Cart", "Order Completed"],
        from: T0 + DAY,
        to: T0 + 10 * DAY,
        window: 6 * HOUR,
        properties: [properties[0]],
      });
      assert.ok(
        ref3.drivers.some((d) => d.event === "Product Viewed"),
        "a page step excludes no track name",
      );
      assertDrivers(three.body, ref3);
    });

    test(`${store}: conversion drivers: spans end at conversion or the window, zero cells, nobody converting`, async () => {
      const q = {
        steps: [{ event: "Edge Start" }, { event: "Edge Mid" }],
        from: iso(T0 + 2 * DAY),
        to: iso(T0 + 12 * DAY),
        window: "1h",
      };
      const r = await api("/v1/query/drivers", q);
      assert.equal(r.status, 200, JSON.stringify(r.body));
      // Entered e1 e2 e3 e4 e5 e6 e8; Mid reached by e1 e2 e4 e6 e8 (see edgeCases()). Edge End
      // falls in the spans of e3 and e5 only: the converters' spans end at their Mid.
      assert.deepEqual([r.body.entered, r.body.converted, r.body.droppedOff], [7, 5, 2]);
      assert.equal(r.body.candidates, 1);
      const [end] = r.body.drivers;
      assert.deepEqual([end.event, end.converted, end.droppedOff, end.corrected], ["Edge End", 0, 2, true]);
      const odds = referenceOdds(0, 5, 2, 0);
      assert.ok(Math.abs(end.oddsRatio - odds.oddsRatio) < 1e-12 && end.oddsRatio < 0.02);
      assertDrivers(
        r.body,
        referenceDrivers(data, {
          steps: [track("Edge Start"), track("Edge Mid")],
          stepNames: ["Edge Start", "Edge Mid"],
          from: T0 + 2 * DAY,
          to: T0 + 12 * DAY,
          window: HOUR,
        }),
      );
      // Nobody converts: counts, no comparison.
      const none = await api("/v1/query/drivers", {
        ...q,
        steps: [{ event: "Edge Start" }, { event: "Never" }],
      });
      assert.equal(none.status, 200, JSON.stringify(none.body));
      assert.deepEqual([none.body.entered, none.body.converted, none.body.droppedOff], [7, 0, 7]);
      assert.deepEqual(none.body.drivers, []);
      // Nobody enters.
      const empty = await api("/v1/query/drivers", { ...q, from: iso(T0 - 10 * DAY), to: iso(T0 - 9 * DAY) });
      assert.deepEqual([empty.body.entered, empty.body.candidates, empty.body.drivers], [0, 0, []]);
      // Refusals with stable reasons.
      const many = await api("/v1/query/drivers", {
        ...q,
        properties: [
          "properties.a",
          "properties.b",
          "properties.c",
          "properties.d",
          "properties.e",
          "properties.f",
        ],
      });
      assert.equal(many.status, 400);
      assert.equal(many.body.reason, "invalid_value");
      assert.match(many.body.detail, /at most 5 properties/);
      const field = await api("/v1/query/drivers", { ...q, properties: ["plan"] });
      assert.equal(field.body.reason, "invalid_field");
      const breakdown = await api("/v1/query/drivers", { ...q, breakdown: "properties.category" });
      assert.equal(breakdown.body.reason, "invalid_query");
      assert.equal((await api("/v1/query/drivers", q, { token: "wrong" })).status, 401);
    });

    test(`${store}: insight and retention in a time zone: 23 h and 25 h days, as Intl says`, async () => {
      // Fall back: New York's local days around 2026-11-01 (25 h) from the seeded history.
      for (const [from, to, interval] of [
        [T0, T0 + 5 * DAY, DAY],
        [SPRING0, SPRING0 + 4 * DAY, DAY],
        [T0 + 4 * HOUR, T0 + 9 * HOUR, HOUR],
      ]) {
        const r = await api("/v1/query/insight", {
          from: iso(from),
          to: iso(to),
          interval: interval === DAY ? "day" : "hour",
          timezone: NY,
          breakdown: "properties.category",
          breakdownLimit: 2,
        });
        assert.equal(r.status, 200, JSON.stringify(r.body));
        const ref = referenceInsight(data, {
          match: () => true,
          from,
          to,
          interval,
          zone: NY,
          breakdown: (e) => e.properties.category,
          limit: 2,
        });
        assert.deepEqual(
          r.body.buckets.map((b) => Date.parse(b)),
          ref.buckets,
        );
        assert.deepEqual(r.body.series, ref.series);
        assert.ok(ref.totalEvents > 100, "a meaningful range");
        const lengths = ref.buckets.slice(1).map((b, i) => (b - ref.buckets[i]) / HOUR);
        if (interval === DAY) {
          // Local midnights: 00:00 EDT is 04:00Z, 00:00 EST 05:00Z.
          for (const b of ref.buckets) assert.equal((b + zoneOffset(NY, b)) % DAY, 0);
          assert.ok(lengths.includes(from === T0 ? 25 : 23), `day lengths ${lengths}`);
        } else {
          assert.ok(lengths.every((h) => h === 1) && ref.buckets.length === 5);
        }
      }
      // Retention: daily periods from a local midnight across the spring-forward day.
      const from = Date.UTC(2026, 2, 6, 5),
        to = Date.UTC(2026, 2, 10, 4);
      const ret = await api("/v1/query/retention", {
        start: { event: "$pageview" },
        return: { event: "$any" },
        from: iso(from),
        to: iso(to),
        timezone: NY,
        cohort: "every",
      });
      assert.equal(ret.status, 200, JSON.stringify(ret.body));
      const ref = referenceRetention(data, {
        start: (e) => e.type === "page",
        ret: () => true,
        from,
        to,
        period: DAY,
        cohort: "every",
        zone: NY,
      });
      assert.deepEqual(
        ret.body.periods.map((p) => Date.parse(p)),
        ref.periods,
      );
      assert.deepEqual(
        ref.periods.map((p) => new Date(p).getUTCHours()),
        [5, 5, 5, 4],
        "the periods start at local midnight; Mar 8 is 23 h",
      );
      assert.deepEqual(
        ret.body.cohorts.map(({ start, ...rest }) => rest),
        ref.cohorts.map(({ start, ...rest }) => rest),
      );
      assert.ok(ref.cohorts[0].size > 10, "a meaningful table");
      // UTC by default and by name; an unknown zone is refused with a stable reason.
      const body = { from: iso(T0), to: iso(T0 + 2 * DAY) };
      const utc = await api("/v1/query/insight", { ...body, timezone: "UTC" });
      assert.deepEqual(utc.body, (await api("/v1/query/insight", body)).body);
      const badRet = await api("/v1/query/retention", {
        ...body,
        start: { event: "A" },
        timezone: "Mars/Olympus_Mons",
      });
      assert.equal(badRet.status, 400, JSON.stringify(badRet.body));
      assert.equal(badRet.body.reason, "unknown_timezone");
      const bad = await api("/v1/query/insight", { ...body, timezone: "Mars/Olympus_Mons" });
      assert.equal(bad.status, 400);
      assert.equal(bad.body.reason, "unknown_timezone");
      assert.match(bad.body.detail, /Mars\/Olympus_Mons/);
    });

    test(`${store}: segments: did X but not Y, counts, traits, last seen, paging`, async () => {
      const asOf = T0 + 14 * DAY;
      const where = {
        and: [
          { did: { event: "Product Viewed", min: 3, within: "7d" } },
          { not: { did: { event: "Order Completed" } } },
        ],
      };
      const r = await api("/v1/query/segment", { where, asOf: iso(asOf), limit: 50 });
      assert.equal(r.status, 200, JSON.stringify(r.body));
      const expected = referenceSegment(
        data,
        (_p, evs) =>
          evs.filter((e) => track("Product Viewed")(e) && e.ts_ms >= asOf - 7 * DAY && e.ts_ms <= asOf)
            .length >= 3 && !evs.some((e) => track("Order Completed")(e) && e.ts_ms <= asOf),
      );
      assert.ok(expected.length > 50, `${expected.length} people`);
      assert.equal(r.body.count, expected.length);
      assert.deepEqual(r.body.users, expected.slice(0, 50));
      const page2 = await api("/v1/query/segment", {
        where,
        asOf: iso(asOf),
        limit: 50,
        cursor: r.body.nextCursor,
      });
      assert.deepEqual(page2.body.users, expected.slice(50, 100));

      // Traits (users table, else identify events) OR last seen more than 10 days ago; people
      // without events (only a users row) are in the universe.
      const where2 = { or: [{ trait: { name: "plan", value: "pro" } }, { lastSeen: { before: "10d" } }] };
      const r2 = await api("/v1/query/segment", { where: where2, asOf: iso(asOf), limit: 1000 });
      const expected2 = referenceSegment(
        data,
        (_p, evs, trait) =>
          trait("plan") === "pro" ||
          (evs.length > 0 && Math.max(...evs.map((e) => e.ts_ms)) < asOf - 10 * DAY),
      );
      assert.equal(r2.body.count, expected2.length);
      assert.deepEqual(r2.body.users, expected2);
      const silentPro = data.users.find(
        (u) =>
          u.traits.plan === "pro" &&
          !data.events.some(
            (e) =>
              e.user_id === u.user_id ||
              data.aliases.some((a) => a.user_id === u.user_id && a.anonymous_id === e.anonymous_id),
          ),
      );
      if (silentPro)
        assert.ok(r2.body.users.includes(silentPro.user_id), "a user with no events matches on traits");

      // NOT is the exact complement within the universe.
      const none = await api("/v1/query/segment", { where: { not: where2 }, asOf: iso(asOf), limit: 1 });
      const everyone = referenceSegment(data, () => true);
      assert.equal(none.body.count + r2.body.count, everyone.length);
    });

    test(`${store}: saved segments: put, get, list, run, delete`, async () => {
      const def = {
        name: "Browsers, no buyers",
        where: {
          and: [{ did: { event: "Product Viewed" } }, { did: { event: "Order Completed", max: 0 } }],
        },
      };
      const put = await api("/v1/segments/browsers", def, { method: "PUT" });
      assert.equal(put.status, 200, JSON.stringify(put.body));
      assert.equal(put.body.name, def.name);
      assert.deepEqual((await api("/v1/segments/browsers")).body.where, def.where);
      assert.deepEqual(
        (await api("/v1/segments")).body.segments.map((s) => s.id),
        ["browsers"],
      );
      const run = await api("/v1/segments/browsers/query", { asOf: iso(T0 + 14 * DAY), limit: 5 });
      const seen = (evs, name) => evs.some((e) => track(name)(e) && e.ts_ms <= T0 + 14 * DAY);
      const expected = referenceSegment(
        data,
        (_p, evs) => seen(evs, "Product Viewed") && !seen(evs, "Order Completed"),
      );
      assert.equal(run.body.count, expected.length);
      assert.deepEqual(run.body.users, expected.slice(0, 5));
      const bad = await api("/v1/segments/browsers", { name: "x", where: { and: [] } }, { method: "PUT" });
      assert.equal(bad.status, 400);
      assert.equal((await api("/v1/segments/no%2Fslash")).status, 400);
      assert.equal((await api("/v1/segments/browsers", undefined, { method: "DELETE" })).status, 204);
      assert.equal((await api("/v1/segments/browsers")).status, 404);
    });

    test(`${store}: recent events and event names for the dashboard`, async () => {
      const recent = await api("/v1/events/recent?limit=5");
      assert.equal(recent.status, 200, JSON.stringify(recent.body));
      assert.equal(recent.body.events.length, 5);
      const newest = [...data.events]
        .sort((a, b) => b.ts_ms - a.ts_ms)
        .slice(0, 5)
        .map((e) => e.message_id);
      assert.deepEqual(
        recent.body.events.map((e) => e.messageId),
        newest,
      );
      assert.equal(recent.body.events[0].timestamp, iso(Math.max(...data.events.map((e) => e.ts_ms))));
      assert.equal((await api("/v1/events/recent?limit=999")).status, 400);
      const names = await api("/v1/events/names");
      const orders = data.events.filter(track("Order Completed")).length;
      assert.equal(names.body.events.find((e) => e.event === "Order Completed").count, orders);
    });

    test(`${store}: the query API is camelCase; old snake_case input names are still accepted (issue 10)`, async () => {
      const funnel = {
        steps: [{ event: "Product Viewed" }, { event: "Added To Cart" }],
        from: iso(T0),
        to: iso(T0 + 7 * DAY),
        breakdown: "properties.category",
      };
      const camel = await api("/v1/query/funnel", { ...funnel, breakdownLimit: 2 });
      const snake = await api("/v1/query/funnel", { ...funnel, breakdown_limit: 2 });
      assert.equal(camel.status, 200, JSON.stringify(camel.body));
      assert.deepEqual(snake.body, camel.body);
      assert.equal(camel.body.breakdown.length, 3, "2 groups + other");
      assert.deepEqual(Object.keys(camel.body.steps[0]).sort(), [
        "conversionFromStart",
        "conversionRate",
        "converted",
        "dropOff",
        "entered",
        "event",
        "index",
        "medianMsToNext",
      ]);
      const insight = { from: iso(T0), to: iso(T0 + DAY), breakdown: "properties.category" };
      const ic = await api("/v1/query/insight", { ...insight, breakdownLimit: 1 });
      assert.deepEqual((await api("/v1/query/insight", { ...insight, breakdown_limit: 1 })).body, ic.body);
      assert.ok(ic.body.totalEvents > 0 && "totalUsers" in ic.body.series[0] && !("total_events" in ic.body));
      // Both spellings at once is refused, not silently resolved.
      const both = await api("/v1/query/insight", { ...insight, breakdownLimit: 1, breakdown_limit: 1 });
      assert.equal(both.status, 400);
      assert.equal(both.body.reason, "invalid_query");

      const where = { or: [{ lastSeen: { before: "10d" } }, { trait: { name: "plan", value: "pro" } }] };
      const oldWhere = {
        or: [{ last_seen: { before: "10d" } }, { trait: { name: "plan", value: "pro" } }],
      };
      const sc = await api("/v1/query/segment", { where, asOf: iso(T0 + 14 * DAY), limit: 3 });
      assert.equal(sc.status, 200, JSON.stringify(sc.body));
      assert.deepEqual(
        (await api("/v1/query/segment", { where: oldWhere, as_of: iso(T0 + 14 * DAY), limit: 3 })).body,
        sc.body,
      );
      assert.ok(sc.body.nextCursor && !("next_cursor" in sc.body));
      // A saved segment written with old keys is stored and answered in camelCase.
      const put = await api(
        "/v1/segments/old-keys",
        { name: "Old keys", where: oldWhere },
        { method: "PUT" },
      );
      assert.equal(put.status, 200, JSON.stringify(put.body));
      assert.deepEqual(put.body.where, where);
      assert.ok(put.body.createdAt && put.body.updatedAt && !("created_at" in put.body));
      const run = await api("/v1/segments/old-keys/query", { as_of: iso(T0 + 14 * DAY), limit: 3 });
      assert.deepEqual(run.body, sc.body);
      assert.equal((await api("/v1/segments/old-keys", undefined, { method: "DELETE" })).status, 204);

      const recent = await api("/v1/events/recent?limit=1");
      assert.deepEqual(Object.keys(recent.body.events[0]).sort(), [
        "anonymousId",
        "event",
        "messageId",
        "path",
        "person",
        "properties",
        "timestamp",
        "tsMs",
        "type",
        "userId",
      ]);
    });

    // Last in the suite: it adds its own events (days 20-23, after every range above).
    test(`${store}: campaign results count a rule's messages per channel and conversions through aliases`, async () => {
      const C0 = T0 + 20 * DAY;
      let n = 0;
      const ev = (person, event, ts, properties = {}, anonymous = false) => ({
        message_id: `camp-${n++}`,
        type: "track",
        event,
        name: null,
        user_id: anonymous ? null : person,
        anonymous_id: anonymous ? person : null,
        ts_ms: ts,
        properties,
        traits: {},
        context: {},
      });
      const msg = (channel, sender = { ruleId: "cr1" }) => ({ channel, messageId: `m-${n}`, ...sender });
      const events = [
        // Reached by email, converts within the day.
        ev("camp-u1", "$message_sent", C0 + HOUR, msg("email")),
        ev("camp-u1", "Order Completed", C0 + 2 * HOUR),
        // Shown and clicked while anonymous, buys after login: one person through the alias.
        ev("camp-a2", "$message_shown", C0 + HOUR, msg("push"), true),
        ev("camp-a2", "$message_clicked", C0 + HOUR + 5000, msg("push"), true),
        ev("camp-u2", "Order Completed", C0 + 3 * HOUR),
        // Buys three days later: outside the 1-day window.
        ev("camp-u3", "$message_shown", C0 + HOUR, msg("push")),
        ev("camp-u3", "Order Completed", C0 + 3 * DAY),
        // A failed send reaches nobody.
        ev("camp-u4", "$message_failed", C0 + HOUR, msg("email")),
        ev("camp-u4", "Order Completed", C0 + 2 * HOUR),
        // Another rule's message, and this rule's before the range: not counted.
        ev("camp-u5", "$message_shown", C0 + HOUR, msg("push", { ruleId: "other" })),
        ev("camp-u6", "$message_shown", C0 - HOUR, msg("push")),
        // Bought before the message: not a conversion.
        ev("camp-u7", "Order Completed", C0 + HOUR),
        ev("camp-u7", "$message_sent", C0 + 2 * HOUR, msg("email")),
        // A journey's message.
        ev("camp-u8", "$message_sent", C0 + HOUR, msg("email", { journeyId: "cj1", journeyNode: "n1" })),
      ];
      const aliases = [{ anonymous_id: "camp-a2", user_id: "camp-u2" }];
      if (store === "d1") await insertAll(spur.db, { events, aliases });
      else await ch.load({ events, aliases });

      const range = { from: iso(C0), to: iso(C0 + 2 * DAY) };
      const r = await api("/v1/query/campaign", {
        rule: "cr1",
        ...range,
        goal: { events: ["Order Completed"], within: "1d" },
      });
      assert.equal(r.status, 200, JSON.stringify(r.body));
      const zero = { events: 0, people: 0 };
      const channel = (name, counts, clickRate) => ({
        channel: name,
        sent: zero,
        delivered: zero,
        shown: zero,
        clicked: zero,
        dismissed: zero,
        failed: zero,
        ...counts,
        clickRate,
      });
      assert.deepEqual(r.body, {
        sender: { rule: "cr1" },
        from: range.from.replace(".000Z", "Z"),
        to: range.to.replace(".000Z", "Z"),
        channels: [
          channel("email", { sent: { events: 2, people: 2 }, failed: { events: 1, people: 1 } }, null),
          channel("push", { shown: { events: 2, people: 2 }, clicked: { events: 1, people: 1 } }, 0.5),
        ],
        reached: 4,
        goal: { events: ["Order Completed"], withinMs: DAY, converted: 2, conversionRate: 0.5 },
      });

      // A journey's results; with no goal of its own (no such journey here), no conversions.
      const j = await api("/v1/query/campaign", { journey: "cj1", ...range });
      assert.equal(j.status, 200, JSON.stringify(j.body));
      assert.deepEqual(j.body.channels, [channel("email", { sent: { events: 1, people: 1 } }, null)]);
      assert.equal(j.body.reached, 1);
      assert.equal(j.body.goal, null);

      for (const [bad, reason] of [
        [{ ...range }, "invalid_value"],
        [{ rule: "cr1", journey: "cj1", ...range }, "invalid_value"],
        [{ rule: "cr1", ...range, goal: { events: [], within: "1d" } }, "invalid_value"],
        [{ rule: "cr1", ...range, goal: { events: ["x"], within: "soon" } }, "invalid_value"],
        [{ rule: "cr1", ...range, extra: 1 }, "invalid_query"],
      ]) {
        const res = await api("/v1/query/campaign", bad);
        assert.equal(res.status, 400, JSON.stringify([bad, res.body]));
        assert.equal(res.body.reason, reason, JSON.stringify([bad, res.body]));
      }
      assert.equal(
        (await api("/v1/query/campaign", { rule: "cr1", ...range }, { token: "wrong" })).status,
        401,
      );
    });
  });
}
