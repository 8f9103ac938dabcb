// Spur dashboard: plain ES module, no build step. Reads the admin API with the token kept in
// sessionStorage; draws with Chart.js (window.Chart, copied into /vendor at build time).
import { mountJourneys } from "./journeys.js";
import { mountLive } from "./live.js";
import { retention } from "./retention.js";
import { drivers } from "./drivers.js";
import { showCampaign } from "./campaign.js";

const TOKEN_KEY = "spur.adminToken";
const $ = (sel, root = document) => root.querySelector(sel);
const el = (tag, props = {}, ...children) => {
  const e = Object.assign(document.createElement(tag), props);
  e.append(...children);
  return e;
};
const params = new URLSearchParams(location.search);
const charts = {};
const COLORS = ["#3454d1", "#e0683a", "#2a9d8f", "#c2378b", "#8a6d1f", "#6b7385", "#5c9ded", "#9b5de5"];

class Unauthorized extends Error {}
const live = mountLive({
  api,
  el,
  $,
  token: () => sessionStorage.getItem(TOKEN_KEY),
  onUnauthorized: () => logout(true),
  Unauthorized,
});

async function api(path, body, method) {
  const token = sessionStorage.getItem(TOKEN_KEY);
  const res = await fetch(path, {
    method: method ?? (body === undefined ? "GET" : "POST"),
    headers: {
      Authorization: `Bearer ${token}`,
      ...(body === undefined ? {} : { "Content-Type": "application/json" }),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (res.status === 401 || res.status === 403) throw new Unauthorized();
  const text = await res.text();
  const json = text ? JSON.parse(text) : null;
  if (!res.ok) {
    const err = new Error(json?.detail ?? `HTTP ${res.status}`);
    err.status = res.status;
    err.reason = json?.reason;
    throw err;
  }
  return json;
}

// ---- time range -------------------------------------------------------------------------
const DAY = 86_400_000;
const dateInput = (ms) => new Date(ms).toISOString().slice(0, 10);
function range() {
  const from = Date.parse(`${$("#from").value}T00:00:00Z`);
  const to = Date.parse(`${$("#to").value}T00:00:00Z`) + DAY; // the "to" day is included
  return { from: new Date(from).toISOString(), to: new Date(to).toISOString() };
}
function initRange() {
  const today = Date.parse(`${dateInput(Date.now())}T00:00:00Z`);
  $("#from").value = params.get("from") ?? dateInput(today - 13 * DAY);
  $("#to").value = params.get("to") ?? dateInput(today);
}

// ---- formatting -------------------------------------------------------------------------
const pct = (x) => (x == null ? "–" : `${(x * 100).toFixed(1)}%`);
function duration(ms) {
  if (ms == null) return "–";
  const s = Math.round(ms / 1000);
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m ${s % 60}s`;
  const h = Math.floor(m / 60);
  if (h < 48) return `${h}h ${m % 60}m`;
  return `${Math.floor(h / 24)}d ${h % 24}h`;
}
const label = (key, other) => (other ? "other" : key == null ? "(none)" : String(key));

function showError(id, e) {
  const p = $(id);
  if (e instanceof Unauthorized) throw e;
  p.textContent = e ? e.message : "";
  p.hidden = !e;
}

function drawChart(id, config) {
  if (!window.Chart) return;
  charts[id]?.destroy();
  charts[id] = new window.Chart($(id), {
    ...config,
    options: { responsive: true, maintainAspectRatio: false, animation: false, ...config.options },
  });
}

// ---- funnel -----------------------------------------------------------------------------
function addStep(name = "") {
  const wrap = el("span", { className: "step" });
  const input = el("input", { value: name, size: 16, placeholder: "event" });
  input.setAttribute("list", "event-names");
  input.className = "step-event";
  const rm = el("button", {
    type: "button",
    className: "btn subtle",
    textContent: "×",
    title: "remove step",
  });
  rm.onclick = () => wrap.remove();
  wrap.append(input, rm);
  $("#funnel-steps").append(wrap);
}

/** The funnel form's steps and window (shared with the drivers panel). */
function funnelDefinition() {
  const steps = [...document.querySelectorAll(".step-event")].map((i) => i.value.trim()).filter(Boolean);
  return { steps: steps.map((event) => ({ event })), window: $("#funnel-window").value.trim() || "1d" };
}

/**
 * The grouping a panel asks for: an event field (`breakdown`) or the person's cohort — the
 * week they were first seen, or a profile trait named in the text box (issue 13).
 */
function grouping(panel) {
  const by = $(`#${panel}-by`).value;
  const text = $(`#${panel}-breakdown`).value.trim();
  if (by === "first_seen") return { cohort: { by: "first_seen", period: "week" } };
  if (by === "trait") return text ? { cohort: { by: "trait", trait: text } } : {};
  return text ? { breakdown: text } : {};
}

/** A group's label; first-seen weeks show their start date. */
function groupLabel(body, key, other) {
  if (!other && body.cohort?.by === "first_seen" && key) return `first seen week of ${key.slice(0, 10)}`;
  if (!other && body.cohort?.by === "trait") return `${body.cohort.trait}: ${key ?? "(none)"}`;
  return label(key, other);
}

/** Fills a panel's per-group table (hidden without a grouping). */
function groupRows(sel, rows) {
  const table = $(sel);
  table.hidden = !rows;
  table.querySelector("tbody").replaceChildren(
    ...(rows ?? []).map((cells) => {
      const tds = cells.map((c, i) => el("td", { className: i ? "num" : "key", textContent: String(c) }));
      return el("tr", { className: "group" }, ...tds);
    }),
  );
}

const runDrivers = () => drivers({ api, el, $, range, pct, showError, funnel: funnelDefinition });

async function runFunnel() {
  const body = { ...funnelDefinition(), ...range(), ...grouping("funnel") };
  let r;
  try {
    r = await api("/v1/query/funnel", body);
    showError("#funnel-error", null);
  } catch (e) {
    return showError("#funnel-error", e);
  }
  const tbody = $("#funnel-table tbody");
  tbody.replaceChildren(
    ...r.steps.map((s, i) => {
      const prev = i === 0 ? 1 : r.steps[i - 1].conversionRate;
      const tr = el(
        "tr",
        {},
        el("td", { textContent: `${i + 1}. ${s.event}` }),
        el("td", { className: "num users", textContent: String(s.entered) }),
        el("td", { className: "num", textContent: i === 0 ? "–" : pct(prev) }),
        el("td", { className: "num", textContent: pct(s.conversionFromStart) }),
        el("td", { className: "num dropped", textContent: s.dropOff == null ? "–" : String(s.dropOff) }),
        el("td", { className: "num", textContent: duration(s.medianMsToNext) }),
      );
      tr.dataset.step = String(i);
      return tr;
    }),
  );
  const labels = r.steps.map((s, i) => `${i + 1}. ${s.event}`);
  const datasets = r.breakdown
    ? r.breakdown.map((b, i) => ({
        label: groupLabel(body, b.key, b.other),
        data: b.steps.map((s) => s.entered),
        backgroundColor: COLORS[i % COLORS.length],
      }))
    : [
        { label: "Users", data: r.steps.map((s) => s.entered), backgroundColor: "#3454d1", stack: "s" },
        {
          label: "Dropped before this step",
          data: r.steps.map((_, i) => (i === 0 ? 0 : r.steps[i - 1].dropOff)),
          backgroundColor: "#f1c9bb",
          stack: "s",
        },
      ];
  drawChart("#funnel-chart", {
    type: "bar",
    data: { labels, datasets },
    options: { scales: { x: { stacked: !r.breakdown }, y: { stacked: !r.breakdown, beginAtZero: true } } },
  });
  groupRows(
    "#funnel-groups",
    r.breakdown?.map((b) => {
      const first = b.steps[0].entered;
      const last = b.steps[b.steps.length - 1].entered;
      return [groupLabel(body, b.key, b.other), first, last, pct(first ? last / first : null)];
    }),
  );
  $("#funnel").dataset.loaded = "true";
}

// ---- insight ----------------------------------------------------------------------------
async function runInsight() {
  const body = {
    event: $("#insight-event").value.trim() || "$any",
    ...range(),
    interval: $("#insight-interval").value,
    ...grouping("insight"),
  };
  const bd = body.breakdown || body.cohort;
  let r;
  try {
    r = await api("/v1/query/insight", body);
    showError("#insight-error", null);
  } catch (e) {
    return showError("#insight-error", e);
  }
  const measure = $("#insight-measure").value;
  $("#insight-total").textContent = `${r.totalEvents} events by ${r.totalUsers} people`;
  const fmt = r.interval === "hour" ? (b) => `${b.slice(5, 13).replace("T", " ")}h` : (b) => b.slice(0, 10);
  drawChart("#insight-chart", {
    type: "line",
    data: {
      labels: r.buckets.map(fmt),
      datasets: r.series.map((s, i) => ({
        label: bd ? groupLabel(body, s.key, s.other) : body.event,
        data: s[measure],
        borderColor: COLORS[i % COLORS.length],
        backgroundColor: COLORS[i % COLORS.length],
        tension: 0.2,
        pointRadius: 2,
      })),
    },
    options: { scales: { y: { beginAtZero: true } } },
  });
  groupRows(
    "#insight-groups",
    bd ? r.series.map((s) => [groupLabel(body, s.key, s.other), s.totalEvents, s.totalUsers]) : null,
  );
  $("#insight").dataset.loaded = "true";
}

const runRetention = () => retention({ api, el, $, range, pct, showError });

// ---- segments ---------------------------------------------------------------------------
const KINDS = {
  did: "did",
  not: "did not do",
  trait: "trait equals",
  before: "last seen before",
  after: "last seen after",
};
function addCondition(kind = "did", values = {}) {
  const row = el("div", { className: "cond" });
  const sel = el(
    "select",
    { className: "kind" },
    ...Object.entries(KINDS).map(([v, t]) => el("option", { value: v, textContent: t })),
  );
  sel.value = kind;
  const fields = el("span", { className: "fields" });
  const render = () => {
    const k = sel.value;
    const input = (cls, attrs) => Object.assign(el("input", { className: cls }), attrs);
    if (k === "did" || k === "not") {
      const ev = input("event", { value: values.event ?? "", placeholder: "event", size: 14 });
      ev.setAttribute("list", "event-names");
      fields.replaceChildren(
        ev,
        k === "did" ? "at least" : "",
        k === "did"
          ? input("min", { type: "number", value: values.min ?? 1, min: 0, style: "width:4rem" })
          : "",
        k === "did" ? "times" : "",
        "within",
        input("within", { value: values.within ?? "", placeholder: "7d / empty = ever", size: 10 }),
      );
    } else if (k === "trait") {
      fields.replaceChildren(
        input("name", { value: values.name ?? "plan", size: 10 }),
        "=",
        input("value", { value: values.value ?? "pro", size: 10 }),
      );
    } else {
      fields.replaceChildren(
        input("when", { value: values.when ?? "7d", placeholder: "7d or 2026-11-01T00:00:00Z", size: 16 }),
        "ago/at",
      );
    }
  };
  sel.onchange = render;
  render();
  const rm = el("button", { type: "button", className: "btn subtle", textContent: "×" });
  rm.onclick = () => row.remove();
  row.append(sel, fields, rm);
  $("#segment-rows").append(row);
}

function segmentWhere() {
  const leaves = [...document.querySelectorAll("#segment-rows .cond")].map((row) => {
    const k = $(".kind", row).value;
    const v = (cls) => $(`.${cls}`, row)?.value.trim();
    if (k === "did" || k === "not") {
      const did = { event: v("event") };
      if (k === "did") did.min = Number(v("min") || 1);
      if (v("within")) did.within = v("within");
      return k === "did" ? { did } : { not: { did } };
    }
    if (k === "trait") {
      const raw = v("value");
      const value =
        raw === "true"
          ? true
          : raw === "false"
            ? false
            : raw !== "" && !Number.isNaN(Number(raw))
              ? Number(raw)
              : raw;
      return { trait: { name: v("name"), value } };
    }
    return { lastSeen: { [k]: v("when") } };
  });
  return { [$("#segment-glue").value]: leaves };
}

async function runSegment(where = segmentWhere(), saved) {
  let r;
  try {
    // Evaluate as of the end of the chosen range (or now, if that is earlier).
    const asOf = new Date(Math.min(Date.parse(range().to), Date.now())).toISOString();
    r = saved
      ? await api(`/v1/segments/${saved}/query`, { limit: 20, asOf })
      : await api("/v1/query/segment", { where, limit: 20, asOf });
    showError("#segment-error", null);
  } catch (e) {
    return showError("#segment-error", e);
  }
  $("#segment-count").textContent = String(r.count);
  $("#segment-users").textContent = r.users.length
    ? `e.g. ${r.users.join(", ")}${r.nextCursor ? " …" : ""}`
    : "";
}

async function loadSaved() {
  const { segments } = await api("/v1/segments");
  const ul = $("#saved-segments");
  ul.replaceChildren(
    ...segments.map((s) => {
      const run = el("button", { type: "button", className: "btn subtle", textContent: "count" });
      run.onclick = () => runSegment(undefined, s.id);
      const del = el("button", { type: "button", className: "btn subtle", textContent: "delete" });
      del.onclick = async () => {
        await api(`/v1/segments/${s.id}`, undefined, "DELETE");
        loadSaved();
      };
      return el("li", {}, `${s.name} `, el("code", { textContent: s.id }), " ", run, del);
    }),
  );
  if (!segments.length)
    ul.replaceChildren(el("li", { className: "muted", textContent: "No saved segments yet." }));
}

async function saveSegment() {
  const name = $("#segment-name").value.trim();
  const id =
    name
      .toLowerCase()
      .replace(/[^a-z0-9_-]+/g, "-")
      .replace(/^-+|-+$/g, "")
      .slice(0, 64) || "segment";
  try {
    await api(`/v1/segments/${id}`, { name, where: segmentWhere() }, "PUT");
    showError("#segment-error", null);
    await loadSaved();
  } catch (e) {
    showError("#segment-error", e);
  }
}

// ---- bad rows, rules ---------------------------------------------------------------------

async function optionalList(path, bodyId, render, empty) {
  const box = $(bodyId);
  try {
    const r = await api(path);
    const node = render(r);
    box.replaceChildren(node ?? el("div", { className: "empty", textContent: empty }));
  } catch (e) {
    if (e instanceof Unauthorized) throw e;
    box.replaceChildren(
      el("div", { className: "empty", textContent: e.status === 404 ? empty : `Unavailable: ${e.message}` }),
    );
  }
}

function loadBadRows() {
  return optionalList(
    "/v1/bad-rows?limit=20",
    "#bad-rows-body",
    (r) => {
      const rows = r?.rows ?? [];
      if (!rows.length) return null;
      return el(
        "table",
        {},
        el(
          "thead",
          {},
          el("tr", {}, ...["Received", "Reason", "Detail"].map((t) => el("th", { textContent: t }))),
        ),
        el(
          "tbody",
          {},
          ...rows.map((b) =>
            el(
              "tr",
              {},
              el("td", { textContent: b.receivedAt ?? "" }),
              el("td", { textContent: b.reason }),
              el("td", { textContent: b.detail ?? "" }),
            ),
          ),
        ),
      );
    },
    "No bad rows: every event was accepted.",
  );
}

function loadRules() {
  return optionalList(
    "/v1/rules",
    "#rules-body",
    (r) => {
      const rules = r?.rules ?? [];
      if (!rules.length) return null;
      return el(
        "ul",
        { className: "list" },
        ...rules.map((x) => {
          // Campaign results of the rule's messages in the date range, on demand.
          const box = el("div", { className: "rule-results" });
          const button = el("button", { className: "btn subtle", type: "button", textContent: "Results" });
          button.addEventListener("click", () =>
            showCampaign({ api, el, box, sender: { rule: x.id }, range: range(), Unauthorized }),
          );
          const li = el("li", {}, `${x.name ?? x.id} — ${x.firings} firings in the last 24 h `, button, box);
          li.dataset.rule = x.id;
          return li;
        }),
      );
    },
    "No rules yet.",
  );
}

async function loadNames() {
  const { events } = await api("/v1/events/names");
  $("#event-names").replaceChildren(
    ...["$any", "$pageview", ...events.map((e) => e.event)].map((v) => el("option", { value: v })),
  );
}

// ---- start ------------------------------------------------------------------------------
function logout(refused = false) {
  live.stop();
  sessionStorage.removeItem(TOKEN_KEY);
  $("#app").hidden = true;
  $("#logout").hidden = true;
  $("#login-error").hidden = !refused;
  $("#login").showModal();
}

async function refresh() {
  await Promise.all([
    runFunnel(),
    runDrivers(),
    runInsight(),
    runRetention(),
    runSegment(),
    loadBadRows(),
    loadRules(),
    journeys.load(),
  ]);
}

async function start() {
  try {
    await loadNames();
  } catch (e) {
    if (e instanceof Unauthorized) return logout(true);
    throw e;
  }
  $("#login").close();
  $("#app").hidden = false;
  $("#logout").hidden = false;
  try {
    await Promise.all([refresh(), loadSaved()]);
  } catch (e) {
    if (e instanceof Unauthorized) return logout(true);
  }
  live.start();
}

let journeys;
function init() {
  initRange();
  journeys = mountJourneys({ api, el, $, Unauthorized, range });
  const steps = (params.get("steps") ?? "$pageview,Product Viewed,Added To Cart,Order Completed").split(",");
  for (const s of steps) addStep(s.trim());
  $("#funnel-window").value = params.get("window") ?? "1d";
  if (params.get("event")) $("#insight-event").value = params.get("event");
  $("#insight-breakdown").value = params.get("breakdown") ?? "";
  if (params.get("by")) $("#insight-by").value = $("#funnel-by").value = params.get("by");
  if (params.get("trait")) $("#insight-breakdown").value = $("#funnel-breakdown").value = params.get("trait");
  if (params.get("start")) $("#retention-start").value = params.get("start");
  if (params.get("return")) $("#retention-return").value = params.get("return");
  if (params.get("cohort")) $("#retention-cohort").value = params.get("cohort");
  addCondition("did", { event: "Product Viewed", min: 1, within: "7d" });
  addCondition("not", { event: "Order Completed" });

  $("#add-step").onclick = () => addStep();
  $("#add-condition").onclick = () => addCondition();
  $("#funnel-form").onsubmit = (e) => {
    e.preventDefault();
    Promise.all([runFunnel(), runDrivers()]).catch(onError);
  };
  $("#drivers-form").onsubmit = (e) => {
    e.preventDefault();
    runDrivers().catch(onError);
  };
  $("#insight-form").onsubmit = (e) => {
    e.preventDefault();
    runInsight().catch(onError);
  };
  $("#retention-form").onsubmit = (e) => {
    e.preventDefault();
    runRetention().catch(onError);
  };
  $("#segment-form").onsubmit = (e) => {
    e.preventDefault();
    runSegment().catch(onError);
  };
  $("#segment-save").onsubmit = (e) => {
    e.preventDefault();
    saveSegment().catch(onError);
  };
  $("#range").onsubmit = (e) => {
    e.preventDefault();
    refresh().catch(onError);
  };
  $("#logout").onclick = () => logout();
  $("#login-form").onsubmit = (e) => {
    e.preventDefault();
    sessionStorage.setItem(TOKEN_KEY, $("#token").value.trim());
    start();
  };
  if (sessionStorage.getItem(TOKEN_KEY)) start();
  else $("#login").showModal();
}

function onError(e) {
  if (e instanceof Unauthorized) logout(true);
  else console.error(e);
}

init();
