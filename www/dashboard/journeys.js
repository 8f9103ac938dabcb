// Journeys panel of the dashboard: the list with live totals, one journey drawn as a graph
// (journey-graph.js) and as a table of its nodes in path order, with per-node counts from /stats, the draft editor (checked by the Worker with the
// same reason codes as the API), publish, dry-run over stored events, and explain for one person.
// Everything shown comes from the admin API; nothing is computed here but ordering and percentages.

const TEMPLATE = {
  id: "new-journey",
  name: "New journey",
  enabled: true,
  trigger: { type: "event", events: ["Added To Cart"] },
  entry: { policy: "after_exit" },
  start: "wait-order",
  nodes: [
    {
      id: "wait-order",
      type: "wait_until",
      events: ["Order Completed"],
      timeout: "30m",
      next: "done",
      onTimeout: "remind",
    },
    {
      id: "remind",
      type: "action",
      action: { type: "message", title: "Still thinking?", body: "Your cart is waiting." },
      next: "done",
    },
    { id: "done", type: "exit" },
  ],
  goal: { events: ["Order Completed"], within: "3d" },
};

/** `el` with `data-*` attributes (`dataset` cannot be assigned whole). */
const tagged = (el, tag, data, ...children) => {
  const e = el(tag, {}, ...children);
  Object.assign(e.dataset, data);
  return e;
};
import { drawGraph, edges, flowOrder, summary } from "./journey-graph.js";
import { showCampaign } from "./campaign.js";

const pct = (x) => (x == null ? "–" : `${(x * 100).toFixed(1)}%`);
const compact = (v) => JSON.stringify(v);

export function mountJourneys({ api, el, $, Unauthorized, range }) {
  let current = null; // { id, stored, stats, dry }
  let edited = false; // the editor holds text the reader typed and has not saved

  const status = (s) => {
    if (!s.published) return "draft only";
    const differs = compact(s.draft) !== compact(s.published);
    const live = s.published.enabled === false ? "disabled" : "live";
    return `${live}, revision ${s.revision}${differs ? " (unpublished draft changes)" : ""}`;
  };

  async function load() {
    const box = $("#journeys-list");
    let list;
    try {
      list = (await api("/v1/journeys")).journeys ?? [];
    } catch (e) {
      if (e instanceof Unauthorized) throw e;
      box.replaceChildren(el("div", { className: "empty", textContent: `Unavailable: ${e.message}` }));
      $("#journeys").dataset.loaded = "true";
      return;
    }
    const stats = await Promise.all(
      list.map((j) => api(`/v1/journeys/${encodeURIComponent(j.id)}/stats`).catch(() => null)),
    );
    if (!list.length) {
      box.replaceChildren(el("div", { className: "empty", textContent: "No journeys yet." }));
    } else {
      box.replaceChildren(
        el(
          "table",
          {},
          el(
            "thead",
            {},
            el(
              "tr",
              {},
              ...["Journey", "Status", "Entered", "Converted", "Conversion", "Holdout conversion", ""].map(
                (t) => el("th", { textContent: t }),
              ),
            ),
          ),
          el(
            "tbody",
            {},
            ...list.map((j, i) => {
              const st = stats[i];
              const doc = j.published ?? j.draft ?? {};
              const open = el("button", { className: "btn subtle", type: "button", textContent: "Open" });
              open.onclick = () => openJourney(j.id).catch(report);
              return tagged(
                el,
                "tr",
                { journey: j.id },
                el("td", { textContent: doc.name ?? j.id }),
                el("td", { className: "status", textContent: status(j) }),
                el("td", { className: "num entered", textContent: String(st?.totals?.entered ?? 0) }),
                el("td", { className: "num converted", textContent: String(st?.totals?.converted ?? 0) }),
                el("td", { className: "num", textContent: pct(st?.conversionRate) }),
                el("td", { className: "num", textContent: pct(st?.holdoutConversionRate) }),
                el("td", {}, open),
              );
            }),
          ),
        ),
      );
    }
    $("#journeys").dataset.loaded = "true";
    if (current) await openJourney(current.id);
  }

  // Opening another journey resets the editor, the message and explain; refreshing the one open
  // keeps what the reader typed.
  async function openJourney(id) {
    const path = `/v1/journeys/${encodeURIComponent(id)}`;
    const [stored, stats] = await Promise.all([api(path), api(`${path}/stats`)]);
    const same = current?.id === id;
    current = { id, stored, stats, dry: same ? current.dry : null };
    $("#journey-detail").hidden = false;
    $("#journey-title").textContent = `${(stored.published ?? stored.draft)?.name ?? id} — ${status(stored)}`;
    if (!same || !edited) {
      edited = false;
      $("#journey-json").value = JSON.stringify(stored.draft, null, 2);
    }
    if (!same) {
      $("#journey-message").hidden = true;
      $("#journey-explain").replaceChildren();
    }
    renderFlow();
    $("#journey-detail").dataset.journey = id;
    // Its messages' campaign results in the dashboard's date range (conversions by its own goal).
    await showCampaign({
      api,
      el,
      box: $("#journey-campaign"),
      sender: { journey: id },
      range: range(),
      Unauthorized,
    });
  }

  function renderFlow() {
    const { stored, stats, dry } = current;
    const doc = stored.published ?? stored.draft;
    const t = stats.totals ?? {};
    // Lift in points with its 95 % interval (Newcombe's score method, computed by the edge).
    const points = (x) => `${x >= 0 ? "+" : ""}${(x * 100).toFixed(1)}`;
    const l = stats.lift;
    const lift = l
      ? ` · lift ${points(l.absolute)} points (95 % CI ${points(l.ci95[0])} to ${points(l.ci95[1])}` +
        `${l.significant ? ", significant" : ", not significant"})`
      : "";
    $("#journey-totals").textContent =
      `${t.entered ?? 0} entered, ${t.converted ?? 0} converted (${pct(stats.conversionRate)}); ` +
      `holdout ${t.holdoutEntered ?? 0} entered, ${t.holdoutConverted ?? 0} converted ` +
      `(${pct(stats.holdoutConversionRate)})${lift}` +
      (stored.published ? "" : " · showing the draft: publish to run it");
    const headers = ["Node", "Type", "What it does", "Next", "Visited", "Exited here", "Holdout visits"];
    if (dry) headers.push("Dry-run visits");
    const rows = flowOrder(doc).map((n) => {
      const c = stats.nodes?.[n.id] ?? {};
      const cells = [
        el("td", { className: "node", textContent: n.id }),
        el("td", {}, el("span", { className: `badge ${n.type}`, textContent: n.type })),
        el("td", { className: "what", textContent: summary(n) }),
        el(
          "td",
          { className: "next" },
          ...edges(n).map((e) => el("div", { textContent: `${e.label ? `${e.label} ` : ""}→ ${e.to}` })),
        ),
        el("td", { className: "num visited", textContent: String(c.visited ?? 0) }),
        el("td", { className: "num exited", textContent: String(c.exited ?? 0) }),
        el("td", { className: "num", textContent: String((c.visitedHoldout ?? 0) + (c.exitedHoldout ?? 0)) }),
      ];
      if (dry)
        cells.push(el("td", { className: "num dry", textContent: String(dry.result.nodes?.[n.id] ?? 0) }));
      return tagged(el, "tr", { node: n.id }, ...cells);
    });
    $("#journey-graph").replaceChildren(drawGraph(doc, stats.nodes));
    $("#journey-flow").replaceChildren(
      el("thead", {}, el("tr", {}, ...headers.map((h) => el("th", { textContent: h })))),
      el("tbody", {}, ...rows),
    );
    const d = dry?.result;
    $("#journey-dry").textContent = d
      ? `Dry-run ${dry.from.slice(0, 10)} → ${dry.to.slice(0, 10)} over ${dry.events} stored events` +
        `${dry.truncated ? " (truncated)" : ""}: ${d.people} people, ${d.entered} would enter ` +
        `(${d.holdout} holdout), ${d.converted} convert, ${d.actions} actions sent, ${d.waiting} still waiting.`
      : "";
  }

  function message(text, error) {
    const m = $("#journey-message");
    m.textContent = text;
    m.className = error ? "error" : "ok";
    m.hidden = false;
  }

  function report(e) {
    if (e instanceof Unauthorized) throw e;
    message(e.reason ? `${e.reason}: ${e.message}` : e.message, true);
  }

  function editorDoc() {
    try {
      return JSON.parse($("#journey-json").value);
    } catch (e) {
      throw Object.assign(new Error(e.message), { reason: "malformed" });
    }
  }

  async function validate() {
    const r = await api("/v1/journeys/validate", editorDoc());
    message(`Valid. The longest path takes at most ${Math.round(r.maxSpanMs / 60_000)} minutes.`);
  }

  async function save() {
    const doc = editorDoc();
    const id = doc.id ?? current?.id;
    if (!id) throw Object.assign(new Error("the journey needs an id"), { reason: "invalid_node_id" });
    await api(`/v1/journeys/${encodeURIComponent(id)}`, doc, "PUT");
    current = { id, dry: null };
    edited = false;
    await load();
    message("Draft saved. Publish to make it live.");
  }

  async function publish() {
    await save();
    await api(`/v1/journeys/${encodeURIComponent(current.id)}/publish`, {});
    await load();
    message(`Published revision ${current.stored.revision}.`);
  }

  async function dryRun() {
    // Never replay past now: a replay runs the clock to `to`, and future timeouts have not fired.
    const to = new Date(Math.min(Date.parse(`${$("#to").value}T23:59:59.999Z`), Date.now()));
    const from = new Date(`${$("#from").value}T00:00:00Z`);
    const body = Number.isNaN(to.getTime()) ? {} : { from: from.toISOString(), to: to.toISOString() };
    const id = current.id;
    const dry = await api(`/v1/journeys/${encodeURIComponent(id)}/dry-run`, body);
    // A refresh may have replaced `current` while this ran: attach to whatever is open now.
    if (current?.id !== id) return;
    current.dry = dry;
    renderFlow();
  }

  async function explain() {
    const user = $("#journey-user").value.trim();
    if (!user) return;
    const r = await api(
      `/v1/journeys/${encodeURIComponent(current.id)}/explain?user=${encodeURIComponent(user)}`,
    );
    const active = r.activeRuns ?? (r.active ? [r.active] : []);
    const runs = [
      ...active.toReversed().map((a) => ({ ...a, label: "active" })),
      ...(r.ended ?? []).toReversed(),
    ];
    const box = $("#journey-explain");
    if (!runs.length) {
      box.replaceChildren(
        el("p", { className: "muted", textContent: `${user} has not entered this journey.` }),
      );
      return;
    }
    box.replaceChildren(
      el("p", {
        className: "muted small",
        textContent: `${r.entries} ${r.entries === 1 ? "entry" : "entries"}; traits ${compact(r.traits ?? {})}`,
      }),
      ...runs.map((run) =>
        el(
          "div",
          { className: "run" },
          el("h4", {
            textContent:
              `Run ${run.seq} (revision ${run.revision})${run.holdout ? ", holdout" : ""}: ` +
              (run.ended ? `ended ${run.ended.reason}` : `waiting at ${run.node}`) +
              (run.convertedAt ? ", converted" : ""),
          }),
          el(
            "table",
            {},
            el(
              "tbody",
              {},
              ...(run.path ?? []).map((s) =>
                el(
                  "tr",
                  {},
                  el("td", { textContent: new Date(s.at).toISOString().replace("T", " ").slice(0, 19) }),
                  el("td", { className: "node", textContent: s.node }),
                  el("td", { className: "outcome", textContent: s.outcome }),
                  el("td", { className: "small", textContent: s.read == null ? "" : compact(s.read) }),
                ),
              ),
            ),
          ),
        ),
      ),
    );
  }

  const wire = (id, fn) => {
    $(id).onclick = () => fn().catch(report);
  };
  wire("#journey-validate", validate);
  wire("#journey-save", save);
  wire("#journey-publish", publish);
  wire("#journey-dry-run", dryRun);
  $("#journey-explain-form").onsubmit = (e) => {
    e.preventDefault();
    explain().catch(report);
  };
  $("#journey-json").oninput = () => {
    edited = true;
  };
  $("#journey-new").onclick = () => {
    current = null;
    edited = true;
    $("#journey-detail").hidden = false;
    delete $("#journey-detail").dataset.journey;
    $("#journey-title").textContent = "New journey (draft)";
    $("#journey-json").value = JSON.stringify(TEMPLATE, null, 2);
    $("#journey-flow").replaceChildren();
    $("#journey-totals").textContent = "";
    $("#journey-dry").textContent = "";
    $("#journey-explain").replaceChildren();
    $("#journey-message").hidden = true;
  };
  return { load };
}
