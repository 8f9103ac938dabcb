// Issue 12 (real-time segments): at most MAX_LIVE_SEGMENTS (20) saved segments are live, and
// the cap holds by construction — the D1 write of a live segment is itself conditional on the
// count, in one statement — so concurrent saves cannot race past it, whatever the
// interleaving. Real workerd and D1.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startSpur } from "../helpers/spur.mjs";

const MAX_LIVE_SEGMENTS = 20;
let spur;
const api = (...args) => spur.api(...args);

before(async () => {
  spur = await startSpur();
});
after(async () => {
  await spur?.close();
});

const liveIds = async () => {
  const r = await api("/v1/segments");
  assert.equal(r.status, 200, JSON.stringify(r.body));
  return r.body.segments
    .filter((s) => s.live)
    .map((s) => s.id)
    .sort();
};

test(`25 concurrent saves of distinct live segments: exactly ${MAX_LIVE_SEGMENTS} accepted and stored`, async () => {
  assert.deepEqual(await liveIds(), [], "no segment is live yet");
  const ids = Array.from({ length: 25 }, (_, i) => `cap-${String(i).padStart(2, "0")}`);
  const answers = await Promise.all(
    ids.map((id) =>
      api(`/v1/segments/${id}`, { name: id, where: { did: { event: "A" } }, live: true }, { method: "PUT" }),
    ),
  );
  const accepted = ids.filter((_, i) => answers[i].status === 200);
  const refused = answers.filter((a) => a.status !== 200);
  assert.equal(accepted.length, MAX_LIVE_SEGMENTS, JSON.stringify(answers.map((a) => a.status)));
  assert.equal(refused.length, 25 - MAX_LIVE_SEGMENTS);
  for (const r of refused) {
    assert.equal(r.status, 400, JSON.stringify(r.body));
    assert.equal(r.body.reason, "invalid_value", JSON.stringify(r.body));
    assert.match(r.body.detail, /MAX_LIVE_SEGMENTS/);
  }
  assert.deepEqual(await liveIds(), accepted.sort(), "exactly the accepted ones are stored live");
  const rows = await spur.rows("SELECT count(*) AS n FROM segments");
  assert.equal(rows[0].n, MAX_LIVE_SEGMENTS, "a refused save wrote nothing");
  // At the cap: re-saving a live one still works (it does not count twice), a plain segment
  // saves, and one more live segment is refused.
  const again = await api(
    `/v1/segments/${accepted[0]}`,
    { name: "renamed", where: { did: { event: "B" } }, live: true },
    { method: "PUT" },
  );
  assert.equal(again.status, 200, JSON.stringify(again.body));
  assert.equal(again.body.name, "renamed");
  const plain = await api(
    "/v1/segments/cap-plain",
    { name: "p", where: { did: { event: "A" } } },
    { method: "PUT" },
  );
  assert.equal(plain.status, 200, JSON.stringify(plain.body));
  const more = await api(
    "/v1/segments/cap-plain",
    { name: "p", where: { did: { event: "A" } }, live: true },
    { method: "PUT" },
  );
  assert.equal(more.status, 400, JSON.stringify(more.body));
  assert.equal(more.body.reason, "invalid_value");
  const kept = await api("/v1/segments/cap-plain");
  assert.equal(kept.body.live, undefined, "the refused save left the plain segment as it was");
  assert.equal((await liveIds()).length, MAX_LIVE_SEGMENTS);
});
