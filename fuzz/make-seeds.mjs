// Writes the committed seed corpus (fuzz/corpus/<target>/): real SDK payloads from
// core/tests/fixtures, the repository's plan and rules, query examples, and edge cases.
// Rerun after adding a case: `node fuzz/make-seeds.mjs`. Seeds are named by content, so
// rerunning is idempotent; libFuzzer's own finds (`npm run fuzz`) are not committed.
import { createHash } from "node:crypto";
import { mkdirSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { gzipSync } from "node:zlib";

const root = new URL("..", import.meta.url).pathname;
const corpus = (t) => `${root}fuzz/corpus/${t}`;
const put = (target, bytes) => {
  const buf = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes);
  mkdirSync(corpus(target), { recursive: true });
  const name = createHash("sha1").update(buf).digest("hex").slice(0, 16);
  writeFileSync(`${corpus(target)}/seed-${name}`, buf);
};
const cat = (...parts) => Buffer.concat(parts.map((p) => (Buffer.isBuffer(p) ? p : Buffer.from(p))));

const fixtures = readdirSync(`${root}core/tests/fixtures`).map((f) =>
  readFileSync(`${root}core/tests/fixtures/${f}`),
);
const track =
  '{"type":"track","event":"Order Completed","anonymousId":"a1","properties":{"order_id":"o1","total":12.5,"currency":"EUR"}}';
const edge = [
  "",
  "{}",
  "[]",
  "null",
  '{"batch":[]}',
  '{"batch":{}}',
  '{"batch":[1,"x",null,[]]}',
  `{"batch":[${track}],"writeKey":"wk_any","sentAt":"2024-05-01T12:00:00Z"}`,
  `{"batch":[${track}],"writeKey":"wk","context":{"ip":"198.51.100.7"},"integrations":{"All":false}}`,
  '{"batch":[{"type":"track","event":"e","anonymousId":"a","timestamp":"0000-01-01T00:00:00Z","sentAt":"9999-12-31T23:59:59Z"}],"writeKey":"wk_any"}',
  '{"batch":[{"type":"identify","userId":12345678901234567890,"traits":{"email":"x"}}],"writeKey":"wk_srv"}',
  '{"batch":[{"type":"alias","userId":"u","previousId":"a"},{"type":"group","userId":"u","groupId":"g"}],"writeKey":"wk_any"}',
  `{"batch":[{"type":"track","event":"e","anonymousId":"a","properties":${"[".repeat(20)}${"]".repeat(20)}}],"writeKey":"wk_any"}`,
  '{"batch":[{"type":"track","event":"e","anonymousId":"a","properties":{"__proto__":1,"constructor":{"prototype":2}}}],"writeKey":"wk_any"}',
  '{"batch":[{"type":"page","anonymousId":"a","context":{"page":{"url":"https://x.example/?utm_source=a&utm_campaign=b"},"userAgent":"curl/8"}}],"writeKey":"wk_any"}',
  '{"batch":[{"type":"track","event":"e","anonymousId":"a\\u0000","properties":{"s":"\\ud800"}}],"writeKey":"wk_any"}',
  `{"batch":[${Array(3).fill(track).join(",")}]`,
  Buffer.from([0xff, 0xfe, 0x7b, 0x7d]),
];
const bodies = [...fixtures, ...edge.map((e) => Buffer.from(e))];

// decode: selector byte (encoding, single, gzip round trip) + body.
for (const b of bodies) {
  put("decode", cat(Buffer.from([0x10]), b));
  put("decode", cat(Buffer.from([0x01]), gzipSync(b)));
}
const g = gzipSync(fixtures[0]);
put("decode", cat(Buffer.from([0x01]), g.subarray(0, g.length - 6)));
put("decode", cat(Buffer.from([0x02]), gzipSync('{"batch":'), gzipSync("[]}")));
put("decode", cat(Buffer.from([0x01]), gzipSync(Buffer.alloc(100_000))));
put("decode", cat(Buffer.from([0x04]), "{}"));

// ingest_raw: two selector bytes (pipeline, endpoint, key, origin, GPC, gzip) + body.
const selectors = [
  [0x00, 0x00],
  [0x08, 0x00],
  [0x19, 0x01],
  [0x2a, 0x00],
  [0x03, 0x02],
  [0x08, 0x04],
  [0x0c, 0x00],
  [0xad, 0x00],
];
for (const b of bodies) {
  for (const [x, y] of selectors.slice(0, 3)) put("ingest_raw", cat(Buffer.from([x, y]), b));
}
for (const [x, y] of selectors) put("ingest_raw", cat(Buffer.from([x, y]), track));

// Structure-aware targets (arbitrary): deterministic pseudo-random byte strings to start from.
let s = 0x2545f491;
const rand = (n) => {
  const out = Buffer.alloc(n);
  for (let i = 0; i < n; i++) {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    out[i] = s & 0xff;
  }
  return out;
};
for (const n of [8, 64, 256, 1024, 4096]) {
  put("ingest_batch", rand(n));
  put("tracker", rand(n));
}
put("ingest_batch", Buffer.alloc(64));
put("tracker", Buffer.alloc(64));

// plan: the repository's plan, a blocking plan, a whole config, and refusals.
put("plan", readFileSync(`${root}tracking-plan.json`));
for (const p of [
  '{"mode":"block","unknownEvents":"block","events":{"Order Completed":{"properties":{"type":"object","required":["total"],"properties":{"total":{"type":"number","minimum":0}}}}}}',
  '{"identify":{"traits":{"type":"object","properties":{"email":{"type":"string","format":"email"}}}},"group":{"mode":"flag","traits":{"required":["name"]}}}',
  '{"events":{"e":{"properties":{"$ref":"https://example.com/schema.json"}}}}',
  '{"events":{"e":{"properties":{"type":"object","patternProperties":{"^(a+)+$":{"type":"string"}}}}}}',
  '{"events":{"e":{"properties":{"$schema":"http://json-schema.org/draft-04/schema#","type":"object"}}}}',
  '{"events":{"e":{"properties":{"type":"nonsense"}}}}',
  '{"sources":{"wk":{"name":"s","allowedOrigins":["https://*.x.example","*"]}},"gpc":"drop","trackingPlan":{"events":{}}}',
  '{"sources":{"a:b":{"name":"s","allowedOrigins":["nope"]}}}',
])
  put("plan", p);

// rules: every rule in rules.json on its own, and edge cases.
for (const r of JSON.parse(readFileSync(`${root}rules.json`, "utf8")))
  put("rules", JSON.stringify({ ...r, enabled: true }));
for (const r of [
  '{"id":"r","trigger":{"events":["*"]},"actions":[{"type":"webhook","url":"https://h.example/x"}]}',
  '{"id":"r","trigger":{"events":["Order Completed"],"condition":{">=":[{"var":"properties.total"},500]}},"window":{"count":2,"within":"1h"},"cap":{"max":1,"per":"1d"},"actions":[{"type":"message","title":"t","body":"b"}]}',
  '{"id":"r","trigger":{"events":["Product Added"]},"absence":{"events":["Order Completed"],"within":"30m"},"actions":[{"type":"webhook","url":"https://h.example/x"}]}',
  '{"id":"r","trigger":{"events":["$page"]},"sequence":{"steps":[{"events":["Product Added"]},{"events":["Order Completed"]}],"within":"366d"},"actions":[{"type":"webhook","url":"https://h.example/x"}]}',
  '{"id":"r","trigger":{"events":["e"],"condition":{"in":[{"var":"traits.plan"},["pro","team"]]}},"window":{"count":1,"within":"0s"},"actions":[]}',
  '{"id":"BAD ID","trigger":{"events":[]},"actions":[]}',
])
  put("rules", r);

// query: kind byte (0 insight, 1 funnel, 2 segment, 3 saved segment, 4 recent), definition,
// then optionally a newline and rows as D1 would return them.
const q = (kind, def, rows) =>
  put("query", cat(Buffer.from([kind]), JSON.stringify(def), rows ? `\n${JSON.stringify(rows)}` : ""));
const range = { from: "2026-11-01T00:00:00Z", to: "2026-11-08T00:00:00Z" };
q(
  0,
  {
    event: "Product Viewed",
    ...range,
    interval: "day",
    breakdown: "properties.category",
    breakdown_limit: 2,
    filters: [{ field: "properties.price", op: "gt", value: 10 }],
  },
  [
    { grp: 1, label: "shoes", bucket: 1793491200000, events: 3, users: 2 },
    { grp: -1, label: null, bucket: null, events: 3, users: 2 },
  ],
);
q(0, { event: "x'); DROP TABLE events; --", ...range, interval: "hour" });
q(
  1,
  {
    steps: [{ event: "Product Viewed" }, { event: "Added To Cart" }, { event: "Order Completed" }],
    ...range,
    window: "1d",
    breakdown: "context.page.path",
  },
  [
    { kind: "n", grp: 1, label: "/", step: 0, value: 5 },
    { kind: "mid", grp: -1, label: null, step: 1, value: 1000 },
  ],
);
q(1, {
  steps: [{ event: "$pageview", filters: [{ field: "properties.path", value: "/" }] }, { event: "$any" }],
  ...range,
});
q(
  2,
  {
    where: {
      and: [
        { did: { event: "Product Viewed", within: "7d" } },
        { not: { did: { event: "Order Completed" } } },
      ],
    },
  },
  [{ person: "u1" }, { person: null, total: 1 }],
);
q(2, {
  as_of: "2026-11-20T00:00:00Z",
  where: {
    or: [
      { trait: { name: "plan", value: "pro" } },
      { last_seen: { before: "7d", after: "2026-11-01T00:00:00Z" } },
    ],
  },
  limit: 1000,
  cursor: "u1",
});
q(3, { name: "Active", where: { did: { event: "A", min: 3, max: 5 } } });
put(
  "query",
  cat(
    Buffer.from([4]),
    "50\n",
    JSON.stringify([{ message_id: "m", type: "track", event: "e", received_at: 1, payload: "{}" }]),
  ),
);
put("query", cat(Buffer.from([4]), "abc"));
