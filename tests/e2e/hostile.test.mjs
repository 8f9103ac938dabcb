// Issue 9: hostile input against the running Worker (real workerd, queue, D1, R2).
//
// Every case gets its documented status and `reason` (README "Send events from a server"),
// nothing answers 5xx, valid events sent next to hostile ones land, and at the end the stored
// rows reconcile exactly with what the Worker acknowledged: every accepted messageId is one row
// in `events` and one line in the R2 archive, and `bad_rows` holds exactly one row per rejected
// message and per unreadable request (auth failures excepted: documented as not stored).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { gzipSync, gunzipSync } from "node:zlib";
import { startSpur, eventually, DEMO_WRITE_KEY } from "../helpers/spur.mjs";

const KB = 1024;
const MAX_BATCH_BYTES = 500 * KB; // core/src/limits.rs
const MAX_EVENT_BYTES = 32 * KB;
const MAX_BATCH_EVENTS = 1000;

let spur;
before(async () => {
  spur = await startSpur();
});
after(async () => {
  await spur?.close();
});

const auth = { Authorization: `Basic ${Buffer.from(`${DEMO_WRITE_KEY}:`).toString("base64")}` };
let seq = 0;
const uid = (p = "h") => `${p}-${process.pid}-${seq++}`;
const track = (extra = {}) => ({
  type: "track",
  event: "Hostile Probe",
  userId: "u-hostile",
  messageId: uid(),
  ...extra,
});

/** What the Worker acknowledged, to reconcile with storage at the end. */
const ledger = {
  cases: 0,
  accepted: new Map(), // messageId -> the event as sent (for value checks)
  bad: new Map(), // reason -> bad rows expected
  requests: 0,
};
const expectBad = (reason, n = 1) => ledger.bad.set(reason, (ledger.bad.get(reason) ?? 0) + n);

/** Sends raw bytes; asserts no 5xx whatever the input. */
async function send(path, body, { method = "POST", headers = {}, contentType = "application/json" } = {}) {
  const h = { ...auth, ...headers };
  if (contentType !== null && !("Content-Type" in h)) h["Content-Type"] = contentType;
  const init = { method, headers: h };
  if (body !== undefined)
    init.body = typeof body === "string" || body instanceof Uint8Array ? body : JSON.stringify(body);
  const res = await fetch(new URL(path, spur.url), init);
  ledger.requests++;
  assert.ok(
    res.status < 500,
    `${method} ${path.slice(0, 60)} answered ${res.status}: ${await res.clone().text()}`,
  );
  return res;
}

/** A request refused as a whole: its status and reason; a bad row unless `stored` is false. */
async function refused(res, status, reason, { stored = true } = {}) {
  ledger.cases++;
  const text = await res.text();
  assert.equal(res.status, status, `expected ${status} ${reason}, got ${res.status} ${text.slice(0, 200)}`);
  if (reason !== null) assert.equal(JSON.parse(text).reason, reason, text.slice(0, 200));
  if (stored) expectBad(reason);
  return text;
}

/**
 * A readable batch: `expect[i]` is `"ok"` or the rejection reason of `events[i]`. Asserts the
 * answer accounts for every message and records what must be stored.
 */
async function judged(res, events, expect) {
  ledger.cases++;
  const text = await res.text();
  assert.equal(res.status, 200, text.slice(0, 300));
  const out = JSON.parse(text);
  const wantRejected = expect.flatMap((e, index) => (e === "ok" ? [] : [[index, e]]));
  assert.equal(out.accepted, expect.length - wantRejected.length, JSON.stringify(out.rejected).slice(0, 500));
  assert.deepEqual(
    out.rejected.map((r) => [r.index, r.reason]),
    wantRejected,
  );
  for (const r of out.rejected) expectBad(r.reason);
  expect.forEach((e, i) => {
    if (e !== "ok") return;
    const m = events[i];
    assert.ok(m && typeof m.messageId === "string", "accepted events in this suite carry a messageId");
    assert.ok(!ledger.accepted.has(m.messageId));
    ledger.accepted.set(m.messageId, m);
  });
  return out;
}

/**
 * A body of exactly `bytes` bytes holding `n` valid events: each is padded with strings of at
 * most 8,000 characters (the string limit is 8,192), the last one to the exact byte.
 */
function exactBatch(n, bytes, pad = (k) => "p".repeat(k)) {
  const events = Array.from({ length: n }, () => track({ properties: { pad: [], tail: "" } }));
  const size = () => Buffer.byteLength(JSON.stringify({ batch: events }));
  const per = Math.floor((bytes - size()) / n);
  assert.ok(per >= 2 && per < MAX_EVENT_BYTES - 400, `per-event padding ${per}`);
  for (const e of events) {
    const chunks = Math.ceil(per / 8000);
    let left = per - (3 * chunks - 1); // quotes and commas of `chunks` strings
    for (let c = 0; c < chunks; c++) {
      const len = Math.min(8000, left);
      e.properties.pad.push(pad(len));
      left -= len;
    }
  }
  const rest = bytes - size();
  assert.ok(rest >= 0 && rest <= 8000, `rest ${rest}`);
  events[n - 1].properties.tail = pad(rest);
  const body = JSON.stringify({ batch: events });
  assert.equal(Buffer.byteLength(body), bytes);
  return { events, body };
}

/** One event of exactly `bytes` bytes as it appears in the request. */
function eventOfSize(bytes) {
  const e = track({
    properties: {
      a: "z".repeat(8000),
      b: "z".repeat(8000),
      c: "z".repeat(8000),
      d: "z".repeat(8000),
      pad: "",
    },
  });
  e.properties.pad = "z".repeat(bytes - Buffer.byteLength(JSON.stringify(e)));
  assert.equal(Buffer.byteLength(JSON.stringify(e)), bytes);
  return e;
}

function nested(depth) {
  return "[".repeat(depth) + "]".repeat(depth);
}

test("unreadable bodies: invalid UTF-8, raw surrogates, NUL bytes, depth 20,000, empty and non-object bodies", async () => {
  const good = JSON.stringify({ batch: [track()] });
  // Invalid UTF-8 (0xFF) and a raw lone surrogate (CESU-8 ED A0 80) are not UTF-8 at all.
  const invalid = Buffer.concat([
    Buffer.from('{"batch":[{"type":"track","event":"'),
    Buffer.from([0xff, 0xfe]),
    Buffer.from('","userId":"u"}]}'),
  ]);
  await refused(await send("/v1/batch", invalid), 400, "malformed_json");
  const surrogate = Buffer.concat([
    Buffer.from('{"batch":[{"type":"track","event":"'),
    Buffer.from([0xed, 0xa0, 0x80]),
    Buffer.from('","userId":"u"}]}'),
  ]);
  await refused(await send("/v1/batch", surrogate), 400, "malformed_json");
  // A raw NUL byte inside a string is a control character JSON forbids.
  await refused(
    await send("/v1/batch", good.replace("Hostile Probe", "Hostile\u0000Probe")),
    400,
    "malformed_json",
  );
  // Depth 20,000 inside a batch is 40 KB: over the event limit, rejected before it is parsed.
  // Depth 10,000 (20 KB) is parsed and refused by the parser's recursion limit.
  await judged(await send("/v1/batch", `{"batch":[${nested(20_000)}]}`), [null], ["event_too_large"]);
  await judged(
    await send(
      "/v1/batch",
      `{"batch":[${nested(10_000)},{"type":"track","event":"deep neighbour","userId":"u","messageId":"deep-ok-${process.pid}"}]}`,
    ),
    [null, { messageId: `deep-ok-${process.pid}` }],
    ["not_an_object", "ok"],
  );
  await judged(
    await send(
      "/v1/batch",
      `{"batch":[{"type":"track","event":"x","userId":"u","properties":{"d":${nested(10_000)}}}]}`,
    ),
    [null],
    ["not_an_object"],
  );
  await refused(await send("/v1/batch", nested(20_000)), 400, "malformed_json");
  for (const body of [
    "",
    "[]",
    "null",
    '"x"',
    "1",
    "true",
    "{",
    '{"batch":{}}',
    '{"batch":"x"}',
    '{"batch":[1,2',
    "\u00ef\u00bb\u00bf",
  ]) {
    await refused(await send("/v1/batch", body), 400, "malformed_json");
  }
  for (const body of ["{}", '{"batch":null}', '{"writeKey":"x"}']) {
    await refused(await send("/v1/batch", body), 400, "missing_batch");
  }
  // A single-message endpoint judges a non-object body as one rejected message.
  for (const body of ["[]", "null", '"x"', "1"]) {
    await judged(await send("/v1/track", body), [JSON.parse(body)], ["not_an_object"]);
  }
  await refused(await send("/v1/track", ""), 400, "malformed_json");
  // 100k-element array as the whole body.
  await refused(await send("/v1/batch", `[${new Array(100_000).fill(0).join(",")}]`), 400, "malformed_json");
});

test("hostile messages are rejected one by one while their valid neighbours land", async () => {
  const deep = (d) => {
    let v = 1;
    for (let i = 0; i < d; i++) v = [v];
    return v;
  };
  const keys = (n) => Object.fromEntries(Array.from({ length: n }, (_, i) => [`k${i}`, i]));
  const events = [
    track(), // 0
    track({ properties: { list: new Array(100_000).fill(0) } }), // 1: 200 KB > 32 KB
    track({ properties: keys(10_000) }), // 2: 10k keys, over 32 KB
    track({ properties: keys(257) }), // 3
    track({ properties: keys(256) }), // 4: exactly at the limit
    track({ properties: { d: deep(14) } }), // 5: event(1) > properties(2) > d(3) … = 16 levels
    track({ properties: { d: deep(15) } }), // 6: 17 levels
    track({ event: "e".repeat(257) }), // 7
    track({ event: "e".repeat(256) }), // 8
    track({ properties: { s: "s".repeat(8193) } }), // 9
    { type: "track", event: "no identity", messageId: uid() }, // 10
    { type: "drop_table", userId: "u", messageId: uid() }, // 11
    track({ properties: "a string" }), // 12
    track({ timestamp: "yesterday" }), // 13
    1, // 14
    null, // 15
    "x", // 16
    [], // 17
    track(), // 18
  ];
  const expect = [
    "ok",
    "event_too_large",
    "event_too_large",
    "too_many_properties",
    "ok",
    "ok",
    "too_deep",
    "string_too_long",
    "ok",
    "string_too_long",
    "missing_identity",
    "invalid_type",
    "wrong_field_type",
    "invalid_timestamp",
    "not_an_object",
    "not_an_object",
    "not_an_object",
    "not_an_object",
    "ok",
  ];
  const body = JSON.stringify({ batch: events });
  assert.ok(Buffer.byteLength(body) < MAX_BATCH_BYTES);
  await judged(await send("/v1/batch", body), events, expect);
});

test("numbers out of range, __proto__/constructor keys, SQL, HTML and NUL in names and values", async () => {
  const sql = "'); DROP TABLE events; --";
  const html = '<img src=x onerror="globalThis.__pwned=1"><script>alert(1)</script>';
  const events = [
    track({ event: sql, userId: `" OR 1=1 --`, properties: { q: "1; DELETE FROM bad_rows", html } }),
    track({ event: html, properties: { name: html } }),
    track({ event: "nul\u0000inside", properties: { v: "a\u0000b", "k\u0000": 1 } }),
    track({ properties: { huge: 1.2345678901234568e29, neg: -1.2345678901234568e29, tiny: 5e-324 } }),
    track({
      properties: JSON.parse('{"__proto__":{"polluted":true},"constructor":{"prototype":{"polluted":true}}}'),
    }),
    track({ userId: "lone \ud800 escaped", properties: { s: "\udfff" } }),
  ];
  // JSON.stringify writes lone surrogates as \ud800 escapes (well-formed JSON.stringify).
  const text = JSON.stringify({ batch: events });
  assert.ok(text.includes("\\ud800"));
  // 1e400 is valid JSON but not a finite double: the event is unreadable, not the batch.
  const outOfRange = [track(), track(), track()];
  const withProps = (e, props) => `${JSON.stringify(e).slice(0, -1)},"properties":${props}}`;
  const rangeText = `{"batch":[${withProps(outOfRange[0], '{"n":1e400}')},${withProps(outOfRange[1], '{"n":-1e400}')},${JSON.stringify(outOfRange[2])}]}`;
  const out = await judged(await send("/v1/batch", text), events, [
    "ok",
    "ok",
    "ok",
    "ok",
    "ok",
    "not_an_object",
  ]);
  assert.equal(out.rejected[0].messageId, events[5].messageId);
  await judged(await send("/v1/batch", rangeText), outOfRange, ["not_an_object", "not_an_object", "ok"]);
  // Stored verbatim, and nothing was executed against D1.
  const rows = await eventually(
    async () => {
      const r = await spur.rows(
        `SELECT message_id, event, user_id, properties FROM events WHERE message_id IN (?, ?, ?, ?, ?)`,
        ...events.slice(0, 5).map((e) => e.messageId),
      );
      return r.length === 5 ? r : null;
    },
    { message: "the odd but valid events are stored" },
  );
  const by = Object.fromEntries(rows.map((r) => [r.message_id, r]));
  assert.equal(by[events[0].messageId].event, sql);
  assert.equal(by[events[0].messageId].user_id, `" OR 1=1 --`);
  assert.equal(by[events[1].messageId].event, html);
  assert.equal(JSON.parse(by[events[1].messageId].properties).name, html);
  assert.equal(by[events[2].messageId].event, "nul\u0000inside");
  assert.deepEqual(JSON.parse(by[events[2].messageId].properties), { v: "a\u0000b", "k\u0000": 1 });
  const nums = JSON.parse(by[events[3].messageId].properties);
  assert.equal(nums.huge, 1.2345678901234568e29);
  assert.equal(nums.neg, -1.2345678901234568e29);
  assert.equal(nums.tiny, 5e-324);
  const proto = by[events[4].messageId].properties;
  assert.ok(proto.includes('"__proto__":{"polluted":true}'), proto);
  assert.ok(proto.includes('"constructor":{"prototype":{"polluted":true}}'), proto);
  assert.equal({}.polluted, undefined);
});

test("gzip bombs, truncated gzip, wrong encodings, content types and methods", async () => {
  const gz = { "Content-Encoding": "gzip" };
  // 20 MB of spaces gzip to ~20 KB: inflating stops at the 500 KB cap.
  const bomb = gzipSync(Buffer.alloc(20 * 1024 * 1024, 0x20), { level: 9 });
  await refused(await send("/v1/batch", bomb, { headers: gz }), 413, "decompressed_too_large");
  // 1 MB gzips to ~1 KB: refused at 100× its size, long before 500 KB.
  const small = gzipSync(Buffer.alloc(1024 * 1024, 0x20), { level: 9 });
  assert.ok(small.length * 100 < MAX_BATCH_BYTES);
  await refused(await send("/v1/batch", small, { headers: gz }), 413, "compression_ratio_exceeded");
  // Under the ratio (random-ish text inflates ~2×) but past 500 KB once inflated.
  const wide = gzipSync(JSON.stringify({ batch: [], junk: randomText(700 * KB, "abcd") }));
  await refused(await send("/v1/batch", wide, { headers: gz }), 413, "decompressed_too_large");
  const valid = gzipSync(JSON.stringify({ batch: [track()] }));
  await refused(
    await send("/v1/batch", valid.subarray(0, valid.length >> 1), { headers: gz }),
    400,
    "malformed_gzip",
  );
  await refused(
    await send("/v1/batch", JSON.stringify({ batch: [track()] }), { headers: gz }),
    400,
    "malformed_gzip",
  );
  await refused(await send("/v1/batch", Buffer.alloc(0), { headers: gz }), 400, "malformed_gzip");
  for (const enc of ["br", "deflate", "compress", "gzip, br", "x".repeat(300)]) {
    await refused(
      await send("/v1/batch", JSON.stringify({ batch: [track()] }), { headers: { "Content-Encoding": enc } }),
      415,
      "unsupported_encoding",
    );
  }
  // Any Content-Type is read as JSON (beacons send text/plain).
  for (const ct of [
    "text/plain;charset=UTF-8",
    "application/xml",
    "multipart/form-data; boundary=x",
    "application/x-www-form-urlencoded",
    null,
  ]) {
    const events = [track()];
    await judged(await send("/v1/batch", JSON.stringify({ batch: events }), { contentType: ct }), events, [
      "ok",
    ]);
  }
  // A gzip body of exactly the batch limit once inflated is accepted.
  const { events, body } = exactBatch(40, MAX_BATCH_BYTES, (k) => randomText(k, "0123456789abcdef"));
  await judged(
    await send("/v1/batch", gzipSync(body), { headers: gz }),
    events,
    events.map(() => "ok"),
  );
  for (const method of ["GET", "PUT", "DELETE", "PATCH"]) {
    const res = await send("/v1/batch", method === "GET" ? undefined : "{}", { method });
    await refused(res, 405, "method_not_allowed", { stored: false });
  }
  const head = await send("/v1/batch", undefined, { method: "HEAD" });
  ledger.cases++;
  assert.equal(head.status, 405);
});

test("huge headers and paths are refused with a 4xx or read within bounds, never a 5xx", async () => {
  // A long User-Agent is kept but not parsed past its limit; the event lands.
  const ua = [track()];
  const res = await send(
    "/v1/batch",
    { batch: ua },
    { headers: { "User-Agent": "Mozilla/5.0 ".repeat(700) } },
  );
  await judged(res, ua, ["ok"]);
  // A 100 KB header the Worker does not read changes nothing.
  const junk = [track()];
  await judged(
    await send("/v1/batch", { batch: junk }, { headers: { "X-Junk": "j".repeat(100 * KB) } }),
    junk,
    ["ok"],
  );
  // Long paths: not an ingest route, so the admin guard answers before anything is read.
  for (const path of [
    `/v1/batch/${"x".repeat(8 * KB)}`,
    `/v1/${"%00".repeat(2000)}`,
    `/v1/batch?${"q=1&".repeat(2000)}`,
  ]) {
    const r = await send(path, { batch: [] });
    ledger.cases++;
    if (path.startsWith("/v1/batch?")) {
      assert.equal(r.status, 200, "a query string does not change the route");
    } else {
      assert.equal(r.status, 401);
      assert.equal((await r.json()).reason, "unauthorized");
    }
  }
  const deepPath = await send(`/${"a/".repeat(20_000)}`, { batch: [] });
  ledger.cases++;
  assert.ok([404, 414, 431].includes(deepPath.status), `got ${deepPath.status}`);
});

test("large valid batches at every limit", async () => {
  {
    const { events, body } = exactBatch(20, MAX_BATCH_BYTES);
    await judged(
      await send("/v1/batch", body),
      events,
      events.map(() => "ok"),
    );
  }
  {
    const { body } = exactBatch(20, MAX_BATCH_BYTES + 1);
    await refused(await send("/v1/batch", body), 413, "body_too_large");
  }
  {
    const events = Array.from({ length: MAX_BATCH_EVENTS }, () => track());
    await judged(
      await send("/v1/batch", { batch: events }),
      events,
      events.map(() => "ok"),
    );
  }
  {
    // One message over the cap refuses the whole request (kept as one bad row): nothing is
    // half stored, so a client can split the batch and resend it without duplicates.
    const events = Array.from({ length: MAX_BATCH_EVENTS + 1 }, () => track());
    await refused(await send("/v1/batch", { batch: events }), 413, "batch_too_long");
  }
  {
    // 100k tiny elements in 200 KB: one short answer and one bad row, not 100k rejections.
    const res = await send("/v1/batch", `{"batch":[${new Array(100_000).fill(0).join(",")}]}`);
    const text = await refused(res, 413, "batch_too_long");
    assert.ok(text.length < 1024, `answer is ${text.length} bytes`);
  }
  {
    const events = [eventOfSize(MAX_EVENT_BYTES), eventOfSize(MAX_EVENT_BYTES + 1), track()];
    await judged(await send("/v1/batch", { batch: events }), events, ["ok", "event_too_large", "ok"]);
    const single = eventOfSize(MAX_EVENT_BYTES);
    await judged(await send("/v1/track", single), [single], ["ok"]);
  }
  {
    // The reported defect: 250 events of ~1.7 KB, about 430 KB.
    const { events, body } = exactBatch(250, 430 * KB);
    await judged(
      await send("/v1/batch", body),
      events,
      events.map(() => "ok"),
    );
  }
  {
    // Fifteen events just under 32 KB each, and many tiny events after a big one.
    const { events, body } = exactBatch(15, 15 * (MAX_EVENT_BYTES - 500));
    await judged(
      await send("/v1/batch", body),
      events,
      events.map(() => "ok"),
    );
  }
});

test("auth failures are answered and not stored", async () => {
  const body = JSON.stringify({ batch: [track()] });
  await refused(await send("/v1/batch", body, { headers: { Authorization: "" } }), 401, "missing_write_key", {
    stored: false,
  });
  await refused(
    await send("/v1/batch", body, {
      headers: { Authorization: `Basic ${Buffer.from("nope:").toString("base64")}` },
    }),
    401,
    "unknown_write_key",
    { stored: false },
  );
  await refused(
    await send("/v1/batch", body, { headers: { Authorization: "Basic !!!not-base64" } }),
    401,
    null,
    { stored: false },
  );
  await refused(
    await send("/v1/batch", body, {
      headers: {
        Authorization: `Basic ${Buffer.from("wk_site:").toString("base64")}`,
        Origin: "https://evil.example",
      },
    }),
    403,
    "origin_not_allowed",
    { stored: false },
  );
});

test("afterwards the stored rows reconcile exactly with what was acknowledged", async () => {
  const want = [...ledger.accepted.keys()].sort();
  const wantBad = Object.fromEntries([...ledger.bad.entries()].sort());
  const badTotal = [...ledger.bad.values()].reduce((a, b) => a + b, 0);
  const state = await eventually(
    async () => {
      const [{ n }] = await spur.rows("SELECT count(*) AS n FROM events");
      const [{ b }] = await spur.rows("SELECT count(*) AS b FROM bad_rows");
      return n === want.length && b === badTotal ? { n, b } : null;
    },
    { timeoutMs: 60_000, message: `${want.length} events and ${badTotal} bad rows stored` },
  );
  assert.ok(state);
  const ids = (await spur.rows("SELECT message_id FROM events ORDER BY message_id")).map((r) => r.message_id);
  assert.deepEqual(ids, want);
  const grouped = Object.fromEntries(
    (await spur.rows("SELECT reason, count(*) AS n FROM bad_rows GROUP BY reason ORDER BY reason")).map(
      (r) => [r.reason, r.n],
    ),
  );
  assert.deepEqual(grouped, wantBad);
  // Each accepted event is one line of the R2 archive, once.
  const archived = await eventually(
    async () => {
      const seen = [];
      for (const text of await archiveTexts(spur.env.ARCHIVE)) {
        for (const line of text.split("\n")) if (line) seen.push(JSON.parse(line).messageId);
      }
      return seen.length >= want.length ? seen : null;
    },
    { timeoutMs: 30_000, message: "every accepted event archived" },
  );
  assert.deepEqual(archived.sort(), want);
  // Figures for bench/RELIABILITY.md (npm run soak reads them from this line).
  console.log(
    `HOSTILE ${JSON.stringify({ cases: ledger.cases, requests: ledger.requests, accepted: want.length, badRows: badTotal, byReason: wantBad })}`,
  );
});

/** Deterministic pseudo-random text (so gzip ratios are the same every run). */
function randomText(n, alphabet) {
  let s = "";
  let x = 12345 + n;
  for (let i = 0; i < n; i++) {
    x = (x * 1103515245 + 12345) & 0x7fffffff;
    s += alphabet[x % alphabet.length];
  }
  return s;
}

/** Every archive object's NDJSON text (all pages of the listing). */
async function archiveTexts(bucket) {
  const texts = [];
  let cursor;
  do {
    const list = await bucket.list({ prefix: "events/", cursor });
    for (const o of list.objects) {
      const obj = await bucket.get(o.key);
      texts.push(gunzipSync(Buffer.from(await obj.arrayBuffer())).toString());
    }
    cursor = list.truncated ? list.cursor : undefined;
  } while (cursor);
  return texts;
}
