// Campaign results (POST /v1/query/campaign): what one rule's or one journey's messages did in the
// dashboard's date range — per channel the sent, delivered, shown, clicked, dismissed and failed
// messages (people, with events in brackets when they differ), the click rate, the people reached
// and, with a goal (a journey's own), who converted within its window.
const STEPS = ["sent", "delivered", "shown", "clicked", "dismissed", "failed"];
const pct = (x) => (x == null ? "–" : `${(x * 100).toFixed(1)}%`);

/** The results as a table plus a summary line (elements built with the dashboard's `el`). */
export function campaignResults(r, el) {
  const cell = (c) => {
    const td = el("td", { className: "num", textContent: String(c.people) });
    if (c.events !== c.people) td.append(el("span", { className: "muted", textContent: ` (${c.events})` }));
    return td;
  };
  const table = el(
    "table",
    { className: "campaign" },
    el(
      "thead",
      {},
      el(
        "tr",
        {},
        ...["Channel", ...STEPS.map((s) => s[0].toUpperCase() + s.slice(1)), "Click rate"].map((t) =>
          el("th", { textContent: t }),
        ),
      ),
    ),
    el(
      "tbody",
      {},
      ...r.channels.map((c) => {
        const tr = el(
          "tr",
          {},
          el("td", { textContent: c.channel }),
          ...STEPS.map((s) => cell(c[s])),
          el("td", { className: "num", textContent: pct(c.clickRate) }),
        );
        tr.dataset.channel = c.channel;
        return tr;
      }),
    ),
  );
  const g = r.goal;
  const goal = g
    ? ` · ${g.converted} converted (${pct(g.conversionRate)}) with ${g.events.join(" or ")} within ` +
      `${Math.round(g.withinMs / 3_600_000)} h of the first message`
    : "";
  const summary = el("p", {
    className: "muted campaign-summary",
    textContent: r.channels.length
      ? `${r.reached} ${r.reached === 1 ? "person" : "people"} reached${goal}`
      : "No messages in this date range.",
  });
  return el("div", { className: "campaign-results" }, summary, ...(r.channels.length ? [table] : []));
}

/** Fetches and draws the results of `sender` (`{rule}` or `{journey}`) into `box`. */
export async function showCampaign({ api, el, box, sender, range, Unauthorized }) {
  box.replaceChildren(el("p", { className: "muted", textContent: "Loading results…" }));
  try {
    const r = await api("/v1/query/campaign", { ...sender, ...range });
    box.replaceChildren(campaignResults(r, el));
    box.dataset.loaded = "true";
  } catch (e) {
    if (e instanceof Unauthorized) throw e;
    box.replaceChildren(el("p", { className: "error", textContent: `Results unavailable: ${e.message}` }));
  }
}
