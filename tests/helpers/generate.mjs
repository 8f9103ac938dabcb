// A seeded generator of shop event histories, and plain-JS reference answers for the analysis
// queries (written from the documented semantics, not from the SQL), so tests and the bench
// can check the API exactly.
const HOUR = 3_600_000;
const DAY = 24 * HOUR;

/** mulberry32: a small deterministic PRNG. */
export function prng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export const CATEGORIES = ["shoes", "hats", "bags", "socks", "scarves"];
const BUY_RATE = { shoes: 0.6, hats: 0.45, bags: 0.35, socks: 0.25, scarves: 0.15 };

/**
 * Generates `users` people over `days` days from `start` (ms). Returns
 * `{events, aliases, users, start, end}`; ids start at `firstId` (for adding more people later): event rows shaped like the `events` table (JSON
 * columns as objects), alias rows and `users` rows.
 */
export function generate({
  users = 1000,
  seed = 42,
  start = Date.UTC(2026, 10, 1),
  days = 14,
  firstId = 0,
} = {}) {
  const rnd = prng(seed);
  const pick = (xs) => xs[Math.floor(rnd() * xs.length)];
  const events = [];
  const aliases = [];
  const userRows = [];
  let seq = 0;
  for (let i = firstId; i < firstId + users; i++) {
    const uid = `user-${String(i).padStart(6, "0")}`;
    const anon = `anon-${String(i).padStart(6, "0")}`;
    const r = rnd();
    // 40% identified on every event, 20% anonymous events aliased to a user, 40% anonymous.
    const mode = r < 0.4 ? "identified" : r < 0.6 ? "aliased" : "anonymous";
    const plan = rnd() < 0.3 ? "pro" : "free";
    const silent = rnd() < 0.05; // no events at all
    if (mode !== "anonymous" && (silent || rnd() < 0.5)) {
      userRows.push({ user_id: uid, traits: { plan, email: `${uid}@example.com` } });
    }
    if (mode === "aliased") aliases.push({ anonymous_id: anon, user_id: uid });
    if (silent) continue;
    const used = new Set();
    const push = (ts, type, event, properties = {}, traits = {}) => {
      while (used.has(ts)) ts += 1; // one person never has two events in the same ms
      used.add(ts);
      events.push({
        message_id: `m-${seed}-${seq++}`,
        type,
        event: type === "track" ? event : null,
        name: type === "page" ? event : null,
        user_id: mode === "identified" ? uid : null,
        anonymous_id: anon,
        ts_ms: ts,
        properties,
        traits,
        context: {
          page: { path: properties.path ?? "/" },
          campaign: { source: pick(["ads", "mail", "social"]) },
        },
      });
    };
    if (mode === "identified" && !userRows.some((u) => u.user_id === uid)) {
      push(start + Math.floor(rnd() * days * DAY), "identify", null, {}, { plan });
    }
    const sessions = 1 + Math.floor(rnd() * 4);
    for (let s = 0; s < sessions; s++) {
      let t = start + Math.floor(rnd() * days * DAY);
      push(t, "page", "Home", { path: "/" });
      if (rnd() < 0.05)
        push(t - Math.floor(rnd() * HOUR), "track", "Added To Cart", { category: pick(CATEGORIES) });
      if (rnd() > 0.8) continue;
      const category = pick(CATEGORIES);
      const views = 1 + Math.floor(rnd() * 3);
      for (let v = 0; v < views; v++) {
        t += 1000 + Math.floor(rnd() * 600_000);
        push(t, "track", "Product Viewed", { category, price: 10 + Math.floor(rnd() * 90) });
      }
      if (rnd() > BUY_RATE[category] + 0.2) continue;
      // Sometimes slow: up to ~30 h between steps, so a 1-day window cuts some off.
      t += rnd() < 0.15 ? Math.floor(rnd() * 30 * HOUR) : 1000 + Math.floor(rnd() * HOUR);
      push(t, "track", "Added To Cart", { category });
      if (rnd() > 0.6) continue;
      t += rnd() < 0.1 ? Math.floor(rnd() * 30 * HOUR) : 1000 + Math.floor(rnd() * HOUR);
      push(t, "track", "Order Completed", { category, total: 10 + Math.floor(rnd() * 200) });
    }
  }
  return { events, aliases, users: userRows, start, end: start + days * DAY };
}

/**
 * Hand-made histories for the funnel's edge cases, on their own event names
 * ("Edge Start", "Edge Mid", "Edge End"): see tests/e2e/analysis.test.mjs for the expected
 * answers with a 1 h window over [t0, to).
 */
export function edgeCases(t0, to) {
  const M = 60_000;
  const rows = [];
  let n = 0;
  const ev = (person, event, ts) =>
    rows.push({
      message_id: `edge-${n++}`,
      type: "track",
      event,
      name: null,
      user_id: person,
      anonymous_id: `anon-${person}`,
      ts_ms: ts,
      properties: {},
      traits: {},
      context: {},
    });
  const S = "Edge Start",
    Mi = "Edge Mid",
    E = "Edge End";
  // e1: End exactly at the window boundary (inclusive) -> converts.
  ev("e1", S, t0);
  ev("e1", Mi, t0 + 10 * M);
  ev("e1", E, t0 + 60 * M);
  // e2: End 1 ms past the window -> stops at Mid.
  ev("e2", S, t0);
  ev("e2", Mi, t0 + 10 * M);
  ev("e2", E, t0 + 60 * M + 1);
  // e3: Mid before Start (out of order) -> Start only.
  ev("e3", Mi, t0);
  ev("e3", S, t0 + M);
  ev("e3", E, t0 + 2 * M);
  // e4: the first attempt times out, a later Start converts.
  ev("e4", S, t0);
  ev("e4", S, t0 + 30 * M);
  ev("e4", Mi, t0 + 70 * M);
  ev("e4", E, t0 + 80 * M);
  // e5: Mid in the same ms as Start is not after it -> Start only.
  ev("e5", S, t0 + 5 * M);
  ev("e5", Mi, t0 + 5 * M);
  ev("e5", E, t0 + 6 * M);
  // e6: repeated Mid counts once.
  ev("e6", S, t0);
  ev("e6", Mi, t0 + 10 * M);
  ev("e6", Mi, t0 + 20 * M);
  ev("e6", Mi, t0 + 30 * M);
  ev("e6", E, t0 + 60 * M);
  // e7: End and Mid only -> never enters.
  ev("e7", Mi, t0);
  ev("e7", E, t0 + M);
  // e8: Start 1 ms before `to`, Mid after `to` but inside the window -> reaches Mid.
  ev("e8", S, to - 1);
  ev("e8", Mi, to + 20 * M - 1);
  // e9: Start exactly at `to` (outside the half-open range) -> not entered.
  ev("e9", S, to);
  ev("e9", Mi, to + M);
  return rows;
}

/**
 * Hand-made histories for retention's edge cases, on their own event names ("Ret Start",
 * "Ret Back"): see tests/e2e/analysis.test.mjs for the expected tables with daily periods over
 * [t0, t0 + 3 days).
 */
export function retentionCases(t0) {
  const rows = [];
  let n = 0;
  const ev = (person, event, ts) =>
    rows.push({
      message_id: `ret-${n++}`,
      type: "track",
      event,
      name: null,
      user_id: person,
      anonymous_id: `anon-${person}`,
      ts_ms: ts,
      properties: {},
      traits: {},
      context: {},
    });
  const S = "Ret Start",
    B = "Ret Back";
  // r1: starts at t0 (period 0) and again in period 1; back exactly at the period-1 boundary.
  ev("r1", S, t0);
  ev("r1", S, t0 + DAY + 10);
  ev("r1", B, t0 + DAY);
  // r2: first start 1 ms before t0 (not new: no "first" cohort), again in period 0.
  ev("r2", S, t0 - 1);
  ev("r2", S, t0 + HOUR);
  ev("r2", B, t0 + DAY + HOUR);
  // r3: starts in the last ms of period 0; back in period 0 (not a return), then in the last ms.
  ev("r3", S, t0 + DAY - 1);
  ev("r3", B, t0 + DAY - 2);
  ev("r3", B, t0 + 3 * DAY - 1);
  // r4: starts in period 2, was back only in period 1 (before: not a return).
  ev("r4", B, t0 + DAY + 5);
  ev("r4", S, t0 + 2 * DAY);
  // r5: starts exactly at the range end (outside), back after it.
  ev("r5", S, t0 + 3 * DAY);
  ev("r5", B, t0 + 3 * DAY + 1);
  return rows;
}

/**
 * Inserts rows into D1 (`env.DB`): each statement reads a chunk of rows from one JSON
 * parameter with `json_each`, so a million events need a few hundred statements, not a
 * million.
 */
export async function insertAll(db, { events = [], aliases = [], users = [] }, { chunk = 2000 } = {}) {
  const ins = db.prepare(
    "INSERT INTO events (message_id, type, event, name, user_id, anonymous_id, timestamp, ts_ms, received_at, properties, traits, context) " +
      "SELECT j.value ->> '$[0]', j.value ->> '$[1]', j.value ->> '$[2]', j.value ->> '$[3]', j.value ->> '$[4]', " +
      "j.value ->> '$[5]', j.value ->> '$[6]', j.value ->> '$[7]', j.value ->> '$[6]', j.value ->> '$[8]', " +
      "j.value ->> '$[9]', j.value ->> '$[10]' FROM json_each(?1) AS j",
  );
  const stmts = [];
  for (let i = 0; i < events.length; i += chunk) {
    stmts.push(
      ins.bind(
        JSON.stringify(
          events
            .slice(i, i + chunk)
            .map((e) => [
              e.message_id,
              e.type,
              e.event,
              e.name,
              e.user_id,
              e.anonymous_id,
              new Date(e.ts_ms).toISOString(),
              e.ts_ms,
              JSON.stringify(e.properties),
              JSON.stringify(e.traits),
              JSON.stringify(e.context),
            ]),
        ),
      ),
    );
  }
  const al = db.prepare(
    "INSERT INTO aliases (anonymous_id, user_id, created_at) " +
      "SELECT j.value ->> '$[0]', j.value ->> '$[1]', '2026-01-01T00:00:00Z' FROM json_each(?1) AS j",
  );
  for (let i = 0; i < aliases.length; i += chunk) {
    stmts.push(al.bind(JSON.stringify(aliases.slice(i, i + chunk).map((a) => [a.anonymous_id, a.user_id]))));
  }
  const us = db.prepare(
    "INSERT INTO users (user_id, traits) SELECT j.value ->> '$[0]', j.value ->> '$[1]' FROM json_each(?1) AS j",
  );
  for (let i = 0; i < users.length; i += chunk) {
    stmts.push(
      us.bind(JSON.stringify(users.slice(i, i + chunk).map((u) => [u.user_id, JSON.stringify(u.traits)]))),
    );
  }
  for (let i = 0; i < stmts.length; i += 10) await db.batch(stmts.slice(i, i + 10));
}

// ---- reference answers -------------------------------------------------------------------

/** person = user id, else the alias's user id, else the anonymous id. */
export function personOf(aliases) {
  const map = new Map(aliases.map((a) => [a.anonymous_id, a.user_id]));
  return (e) => e.user_id ?? map.get(e.anonymous_id) ?? e.anonymous_id;
}

function byPerson(events, person) {
  const m = new Map();
  for (const e of events) {
    const p = person(e);
    if (!m.has(p)) m.set(p, []);
    m.get(p).push(e);
  }
  for (const list of m.values()) list.sort((a, b) => a.ts_ms - b.ts_ms);
  return m;
}

const median = (xs) => {
  if (!xs.length) return null;
  const s = [...xs].sort((a, b) => a - b);
  const h = Math.floor((s.length - 1) / 2);
  return s.length % 2 ? s[h] : (s[h] + s[h + 1]) / 2;
};

/**
 * Reference ordered funnel. `steps` are predicates on an event row. For each person and each
 * start (a step-0 event in [from, to)), a greedy earliest chain of strictly later events within
 * `window` of the start; the person's level is the best over starts. Also the per-person gap at
 * the first completion of each step, and the first-touch breakdown value.
 */
export function referenceFunnel({ events, aliases }, { steps, from, to, window, breakdown }) {
  const person = personOf(aliases);
  const n = steps.length;
  const people = byPerson(
    events.filter((e) => steps.some((s) => s(e))),
    person,
  );
  const results = [];
  for (const [p, evs] of people) {
    const starts = evs.filter((e) => steps[0](e) && e.ts_ms >= from && e.ts_ms < to);
    if (!starts.length) continue;
    // Latest start of a valid chain ending at each event for step k (brute force).
    const chainStart = (e, k) => {
      let best = null;
      for (const s of starts) {
        if (s.ts_ms > e.ts_ms || e.ts_ms - s.ts_ms > window) continue;
        if (k === 0) {
          if (s === e) best = Math.max(best ?? -Infinity, s.ts_ms);
          continue;
        }
        let t = s.ts_ms,
          ok = true;
        for (let j = 1; j < k; j++) {
          const nx = evs.find((x) => steps[j](x) && x.ts_ms > t && x.ts_ms - s.ts_ms <= window);
          if (!nx) {
            ok = false;
            break;
          }
          t = nx.ts_ms;
        }
        if (ok && t < e.ts_ms && steps[k](e)) best = Math.max(best ?? -Infinity, s.ts_ms);
      }
      return best;
    };
    let level = 0;
    let reachedAt = null;
    const gaps = [];
    for (let k = 1; k < n; k++) {
      const first = evs.find((e) => steps[k](e) && chainStart(e, k) !== null);
      if (!first) break;
      level = k;
      reachedAt = first.ts_ms;
      const prev = evs.filter(
        (e) => e.ts_ms < first.ts_ms && steps[k - 1](e) && chainStart(e, k - 1) !== null,
      );
      gaps.push(first.ts_ms - prev[prev.length - 1].ts_ms);
    }
    const firstStart = starts[0];
    results.push({
      person: p,
      level,
      gaps,
      key: breakdown ? (breakdown(firstStart) ?? null) : null,
      enteredAt: firstStart.ts_ms,
      reachedAt,
    });
  }
  const summarize = (rs) => {
    const entered = steps.map((_, k) => rs.filter((r) => r.level >= k).length);
    return steps.map((_, k) => ({
      entered: entered[k],
      converted: k + 1 < n ? entered[k + 1] : null,
      conversionRate: k + 1 < n ? (entered[k] > 0 ? entered[k + 1] / entered[k] : null) : null,
      dropOff: k + 1 < n ? entered[k] - entered[k + 1] : null,
      conversionFromStart: entered[0] > 0 ? entered[k] / entered[0] : null,
      medianMsToNext: k + 1 < n ? median(rs.filter((r) => r.level > k).map((r) => r.gaps[k])) : null,
    }));
  };
  return { people: results, steps: summarize(results), summarize };
}

/** Reference insight: per-bucket counts and unique people, optional top-N breakdown. */
/** `local - utc` in ms for an IANA zone at instant `t`, from node's Intl (not core's code). */
export function zoneOffset(zone, t) {
  const parts = Object.fromEntries(
    new Intl.DateTimeFormat("en-US", {
      timeZone: zone,
      hourCycle: "h23",
      year: "numeric",
      month: "numeric",
      day: "numeric",
      hour: "numeric",
      minute: "numeric",
      second: "numeric",
    })
      .formatToParts(new Date(t - (((t % 1000) + 1000) % 1000)))
      .map((p) => [p.type, Number(p.value)]),
  );
  const asUtc = Date.UTC(parts.year, parts.month - 1, parts.day, parts.hour, parts.minute, parts.second);
  return asUtc - (t - (((t % 1000) + 1000) % 1000));
}

/**
 * Bucket starts (UTC instants) covering [from, to) for `interval` (HOUR or DAY): in UTC fixed
 * steps; in `zone`, local midnights (days) or local hour starts (hours), and `of(t)` → bucket.
 */
export function zoneBuckets(from, to, interval, zone) {
  if (!zone) {
    const first = Math.floor(from / interval) * interval;
    const starts = [];
    for (let b = first; b < to; b += interval) starts.push(b);
    return starts;
  }
  const local = (t) => t + zoneOffset(zone, t);
  const utcOf = (l) => l - zoneOffset(zone, l - zoneOffset(zone, l));
  const starts = [];
  if (interval === DAY) {
    for (let d = Math.floor(local(from) / DAY) * DAY; d <= Math.floor(local(to - 1) / DAY) * DAY; d += DAY)
      starts.push(utcOf(d));
  } else {
    const of = (t) => Math.floor(local(t) / HOUR) * HOUR - zoneOffset(zone, t);
    for (let b = of(from); b < to; b = of(b + HOUR)) starts.push(b);
  }
  return starts;
}

export function referenceInsight(
  { events, aliases },
  { match, from, to, interval, breakdown, limit = 5, zone },
) {
  const person = personOf(aliases);
  const rows = events.filter((e) => match(e) && e.ts_ms >= from && e.ts_ms < to);
  const buckets = zoneBuckets(from, to, interval, zone);
  const ends = [...buckets.slice(1), Number.POSITIVE_INFINITY];
  const inB = (e, i) => e.ts_ms >= buckets[i] && e.ts_ms < ends[i];
  const series = (rs) => ({
    events: buckets.map((_, i) => rs.filter((e) => inB(e, i)).length),
    users: buckets.map((_, i) => new Set(rs.filter((e) => inB(e, i)).map(person)).size),
    totalEvents: rs.length,
    totalUsers: new Set(rs.map(person)).size,
  });
  const all = series(rows);
  if (!breakdown)
    return {
      buckets,
      series: [{ key: null, other: false, ...all }],
      totalEvents: all.totalEvents,
      totalUsers: all.totalUsers,
    };
  const counts = new Map();
  for (const e of rows) {
    const k = breakdown(e) ?? null;
    counts.set(k, (counts.get(k) ?? 0) + 1);
  }
  const ranked = [...counts.entries()].sort((a, b) => b[1] - a[1]);
  const top = ranked.slice(0, limit).map(([k]) => k);
  const out = top.map((k) => ({
    key: k,
    other: false,
    ...series(rows.filter((e) => (breakdown(e) ?? null) === k)),
  }));
  const rest = rows.filter((e) => !top.includes(breakdown(e) ?? null));
  if (rest.length) out.push({ key: null, other: true, ...series(rest) });
  return { buckets, series: out, totalEvents: all.totalEvents, totalUsers: all.totalUsers, ranked };
}

/**
 * Reference retention, from the documented semantics: periods of `period` ms from `from`,
 * enough to cover [from, to); cohort "first" = the period of a person's first start event ever
 * (none if before `from`), "every" = each period with a start event in [from, to); a return is
 * a return event in [from, to) in a later period than the cohort's. Period 0 is the size.
 */
export function referenceRetention(
  { events, aliases },
  { start, ret = start, from, to, period, cohort = "first", zone },
) {
  const person = personOf(aliases);
  // In a zone, periods count on the local clock from `from`'s local time.
  const local = (t) => (zone ? t + zoneOffset(zone, t) : t);
  const n = Math.ceil((local(to) - local(from)) / period);
  const idx = (ts) => Math.floor((local(ts) - local(from)) / period);
  const members = Array.from({ length: n }, () => new Set());
  if (cohort === "first") {
    const first = new Map();
    for (const e of events) {
      if (!start(e) || e.ts_ms >= to) continue;
      const p = person(e);
      if (!first.has(p) || e.ts_ms < first.get(p)) first.set(p, e.ts_ms);
    }
    for (const [p, t] of first) if (t >= from) members[idx(t)].add(p);
  } else {
    for (const e of events)
      if (start(e) && e.ts_ms >= from && e.ts_ms < to) members[idx(e.ts_ms)].add(person(e));
  }
  const back = Array.from({ length: n }, () => new Set());
  for (const e of events) if (ret(e) && e.ts_ms >= from && e.ts_ms < to) back[idx(e.ts_ms)].add(person(e));
  const cohorts = members.map((m, i) => {
    const returned = [m.size];
    for (let j = i + 1; j < n; j++) returned.push([...m].filter((p) => back[j].has(p)).length);
    const l = local(from) + i * period;
    return {
      start: zone ? l - zoneOffset(zone, l - zoneOffset(zone, l)) : from + i * period,
      size: m.size,
      returned,
      shares: returned.map((r) => (m.size ? r / m.size : null)),
    };
  });
  return { periods: cohorts.map((c) => c.start), cohorts };
}

/** erfc by Simpson's rule over [x, x + 12] (independent of core's series/continued fraction). */
function erfcRef(x) {
  if (x < 0) return 2 - erfcRef(-x);
  const steps = 40_000,
    h = 12 / steps,
    f = (t) => Math.exp(-t * t);
  let s = f(x) + f(x + 12);
  for (let i = 1; i < steps; i++) s += (i % 2 ? 4 : 2) * f(x + i * h);
  return ((2 / Math.sqrt(Math.PI)) * s * h) / 3;
}

/** Odds ratio statistics of [[a, b], [c, d]] with the Haldane correction for a zero cell. */
export function referenceOdds(a, b, c, d) {
  const corrected = [a, b, c, d].includes(0);
  if (corrected) [a, b, c, d] = [a, b, c, d].map((x) => x + 0.5);
  const log = Math.log((a * d) / (b * c));
  const se = Math.sqrt(1 / a + 1 / b + 1 / c + 1 / d);
  const z = log / se;
  return {
    oddsRatio: Math.exp(log),
    logOddsRatio: log,
    standardError: se,
    logOddsRatioCi95: [log - 1.959963984540054 * se, log + 1.959963984540054 * se],
    z,
    pValue: Math.min(1, erfcRef(Math.abs(z) / Math.SQRT2)),
    corrected,
  };
}

/** SQLite's order of json_extract values: numbers before text, text by code unit (ASCII here). */
const valueOrder = (x, y) =>
  typeof x !== typeof y ? (typeof x === "number" ? -1 : 1) : x < y ? -1 : x > y ? 1 : 0;

/**
 * Reference conversion drivers, from the documented semantics (core/src/query/drivers.rs):
 * entrants and converters of the ordered funnel; each entrant's span runs from their first
 * step-1 event in the range to their first completion of the last step, or to that start +
 * window; items are track event names other than `stepNames` and the (non-null) values of each
 * `properties[i] = [field, get]` on any event in the span; the top `cap` items per list by people (ties by
 * value); statistics per item; sorted by p, |log OR| desc, list, people desc, value.
 */
export function referenceDrivers(
  data,
  { steps, stepNames, from, to, window, properties = [], limit = 20, cap = 50 },
) {
  const person = personOf(data.aliases);
  const ref = referenceFunnel(data, { steps, from, to, window });
  const last = steps.length - 1;
  const evs = byPerson(data.events, person);
  const items = new Map(); // "list\u0000json value" -> {key, value, people, converters}
  let converted = 0;
  for (const r of ref.people) {
    const conv = r.level === last;
    if (conv) converted++;
    const end = conv ? r.reachedAt : r.enteredAt + window;
    const have = new Set();
    for (const e of evs.get(r.person)) {
      if (e.ts_ms < r.enteredAt || e.ts_ms > end) continue;
      if (e.type === "track" && !stepNames.includes(e.event)) have.add(JSON.stringify([0, e.event]));
      properties.forEach(([, get], i) => {
        let v = get(e);
        if (typeof v === "boolean") v = v ? 1 : 0;
        if (v !== undefined && v !== null) have.add(JSON.stringify([i + 1, v]));
      });
    }
    for (const h of have) {
      const [key, value] = JSON.parse(h);
      if (!items.has(h)) items.set(h, { key, value, people: 0, converters: 0 });
      const it = items.get(h);
      it.people++;
      if (conv) it.converters++;
    }
  }
  const entered = ref.people.length;
  const droppedOff = entered - converted;
  const lists = new Map();
  for (const it of items.values()) {
    if (!lists.has(it.key)) lists.set(it.key, []);
    lists.get(it.key).push(it);
  }
  const kept = [...lists.values()].flatMap((l) =>
    l.sort((x, y) => y.people - x.people || valueOrder(x.value, y.value)).slice(0, cap),
  );
  const drivers =
    converted > 0 && droppedOff > 0
      ? kept.map((it) => {
          const a = it.converters,
            c = it.people - it.converters;
          return {
            _it: it,
            kind: it.key === 0 ? "event" : "property",
            ...(it.key === 0
              ? { event: it.value }
              : { property: properties[it.key - 1][0], value: it.value }),
            converted: a,
            droppedOff: c,
            convertedShare: a / converted,
            droppedOffShare: c / droppedOff,
            ...referenceOdds(a, converted - a, c, droppedOff - c),
          };
        })
      : [];
  drivers.sort(
    (x, y) =>
      x.pValue - y.pValue ||
      Math.abs(y.logOddsRatio) - Math.abs(x.logOddsRatio) ||
      x._it.key - y._it.key ||
      y._it.people - x._it.people ||
      valueOrder(x._it.value, y._it.value),
  );
  return {
    entered,
    converted,
    droppedOff,
    candidates: kept.length,
    drivers: drivers.slice(0, limit).map(({ _it, ...d }) => d),
  };
}

/** Reference segment: `pred(person, theirEvents, traitsOf)` over everyone with events or a users row. */
export function referenceSegment({ events, aliases, users }, pred) {
  const person = personOf(aliases);
  const people = byPerson(events, person);
  for (const u of users) if (!people.has(u.user_id)) people.set(u.user_id, []);
  const table = new Map(users.map((u) => [u.user_id, u.traits]));
  const traitOf = (p, name) => {
    const t = table.get(p);
    if (t && t[name] !== undefined) return t[name];
    const ids = (people.get(p) ?? []).filter((e) => e.type === "identify" && e.traits[name] !== undefined);
    return ids.length ? ids[ids.length - 1].traits[name] : undefined;
  };
  return [...people.keys()].filter((p) => pred(p, people.get(p), (name) => traitOf(p, name))).sort();
}

export { HOUR, DAY };

/**
 * Reference cohorts (issue 13, engagement by cohort): a function person id → cohort key.
 * `firstSeen`: the local Monday 00:00 (or midnight for `period: "day"`) of the person's
 * earliest event of any kind, as an instant in ms, in `zone` (UTC when absent);
 * `trait`: the users row's trait, else the latest identify event carrying it, else null.
 */
export function referenceCohort({ events, aliases, users }, { by, period = "week", trait, zone }) {
  const person = personOf(aliases);
  if (by === "first_seen") {
    const first = new Map();
    for (const e of events) {
      const p = person(e);
      if (!first.has(p) || e.ts_ms < first.get(p)) first.set(p, e.ts_ms);
    }
    const off = (t) => (zone ? zoneOffset(zone, t) : 0);
    return (p) => {
      const t = first.get(p);
      const day = Math.floor((t + off(t)) / DAY);
      const l = (period === "week" ? day - ((day + 3) % 7) : day) * DAY;
      return l - off(l - off(l));
    };
  }
  const people = byPerson(events, person);
  const table = new Map(users.map((u) => [u.user_id, u.traits]));
  return (p) => {
    const t = table.get(p);
    if (t && t[trait] !== undefined) return t[trait];
    const ids = (people.get(p) ?? []).filter((e) => e.type === "identify" && e.traits[trait] !== undefined);
    return ids.length ? ids[ids.length - 1].traits[trait] : null;
  };
}
