// Conversion drivers panel: for the funnel above (its steps and window, the page's range),
// which events and property values are over- or under-represented among the people who
// converted compared with those who dropped off. The numbers are the API's
// (/v1/query/drivers): odds ratio, its 95% interval, and the two-sided p value.

const fmt = (x) => (x >= 100 || x < 0.01 ? x.toPrecision(2) : x.toFixed(2));

/** What a driver is, for people. */
export function what(d) {
  if (d.kind === "event") return `did ${d.event}`;
  return `${d.property} = ${typeof d.value === "string" ? d.value : JSON.stringify(d.value)}`;
}

export async function drivers({ api, el, $, range, pct, showError, funnel }) {
  const props = $("#drivers-properties")
    .value.split(",")
    .map((s) => s.trim())
    .filter(Boolean);
  const body = { ...funnel(), ...range(), properties: props };
  let r;
  try {
    r = await api("/v1/query/drivers", body);
    showError("#drivers-error", null);
  } catch (e) {
    return showError("#drivers-error", e);
  }
  $("#drivers-summary").textContent =
    `${r.converted} of ${r.entered} people converted, ${r.droppedOff} dropped off; ` +
    `${r.candidates} behaviours compared.`;
  const rows = r.drivers.map((d) => {
    const up = d.oddsRatio >= 1;
    const [lo, hi] = d.logOddsRatioCi95.map(Math.exp);
    const tr = el(
      "tr",
      { className: up ? "up" : "down" },
      el("td", { className: "what", textContent: what(d) }),
      el("td", { className: "num", textContent: `${pct(d.convertedShare)} (${d.converted})` }),
      el("td", { className: "num", textContent: `${pct(d.droppedOffShare)} (${d.droppedOff})` }),
      el("td", {
        className: "num odds",
        textContent: `${up ? "▲" : "▼"} ${fmt(d.oddsRatio)}`,
        title: `95% interval ${fmt(lo)} – ${fmt(hi)}${d.corrected ? " (0.5 added to each cell: one was zero)" : ""}`,
      }),
      el("td", { className: "num p", textContent: d.pValue < 0.0001 ? "< 0.0001" : d.pValue.toFixed(4) }),
    );
    tr.dataset.kind = d.kind;
    tr.dataset.converted = String(d.converted);
    tr.dataset.droppedOff = String(d.droppedOff);
    return tr;
  });
  $("#drivers-table tbody").replaceChildren(
    ...(rows.length
      ? rows
      : [
          el(
            "tr",
            {},
            el("td", {
              colSpan: 5,
              className: "muted",
              textContent: "Nothing to compare: it takes people who converted and people who dropped off.",
            }),
          ),
        ]),
  );
  $("#drivers").dataset.loaded = "true";
}
