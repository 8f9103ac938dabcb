// Retention panel of the dashboard: cohorts by a start event, the share returning in each later
// period, drawn as a table on a heat scale. The numbers are the API's (/v1/query/retention).

/** Heat scale: near-white (0) to deep blue (1). */
const heat = (x) => (x == null ? "" : `hsl(225 70% ${Math.round(97 - Math.min(x, 1) * 55)}%)`);

export async function retention({ api, el, $, range, pct, showError }) {
  const body = {
    start: { event: $("#retention-start").value.trim() || "$pageview" },
    ...range(),
    interval: $("#retention-interval").value,
    cohort: $("#retention-cohort").value,
  };
  const back = $("#retention-return").value.trim();
  if (back) body.return = { event: back };
  let r;
  try {
    r = await api("/v1/query/retention", body);
    showError("#retention-error", null);
  } catch (e) {
    return showError("#retention-error", e);
  }
  const n = r.periods.length;
  // Later periods are scaled to the table's highest return share (period 0 is always 100%),
  // so a 3% vs 9% difference still shows.
  const top = Math.max(0, ...r.cohorts.flatMap((c) => c.shares.slice(1).filter((s) => s != null)));
  const unit = r.interval === "week" ? "Week" : "Day";
  $("#retention-table thead").replaceChildren(
    el(
      "tr",
      {},
      el("th", { textContent: "Cohort" }),
      el("th", { className: "num", textContent: "People" }),
      ...r.periods.map((_, k) => el("th", { className: "num", textContent: `${unit} ${k}` })),
    ),
  );
  $("#retention-table tbody").replaceChildren(
    ...r.cohorts.map((c) =>
      el(
        "tr",
        {},
        el("td", { textContent: c.start.slice(0, 10) }),
        el("td", { className: "num size", textContent: String(c.size) }),
        ...Array.from({ length: n }, (_, k) => {
          if (k >= c.returned.length) return el("td");
          const td = el("td", {
            className: "cell",
            textContent: pct(c.shares[k]),
            title: `${c.returned[k]} of ${c.size} people`,
          });
          td.dataset.returned = String(c.returned[k]);
          const x = k === 0 || c.shares[k] == null ? c.shares[k] : top > 0 ? c.shares[k] / top : 0;
          td.style.background = heat(x);
          if (x > 0.6) td.style.color = "#fff";
          return td;
        }),
      ),
    ),
  );
  $("#retention").dataset.loaded = "true";
}
