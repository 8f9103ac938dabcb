// The drawn journey: nodes as boxes in columns by their longest distance from `start` (so every
// edge of the acyclic graph runs left to right), edges as labelled curves, and each node's live
// counts inside its box. `layout` is pure (tested through the dashboard e2e); `drawGraph` only
// turns its result into SVG.

const compact = (v) => JSON.stringify(v);

/** The nodes in the order a reader follows them: breadth first from `start`, then any others. */
export function flowOrder(journey) {
  const byId = new Map((journey?.nodes ?? []).map((n) => [n.id, n]));
  const order = [];
  const seen = new Set();
  const queue = [journey?.start];
  while (queue.length) {
    const id = queue.shift();
    if (id == null || seen.has(id) || !byId.has(id)) continue;
    seen.add(id);
    order.push(byId.get(id));
    queue.push(...edges(byId.get(id)).map((e) => e.to));
  }
  for (const n of byId.values()) if (!seen.has(n.id)) order.push(n);
  return order;
}

/** A node's outgoing edges, labelled as the model names them. */
export function edges(node) {
  switch (node.type) {
    case "wait_until":
      return [
        { label: "event", to: node.next },
        { label: "timeout", to: node.onTimeout },
      ];
    case "branch":
      return [
        ...(node.branches ?? []).map((b, i) => ({ label: `if #${i + 1}`, to: b.next })),
        { label: "else", to: node.else },
      ];
    case "split":
      return (node.paths ?? []).map((p) => ({ label: `${p.percent}%`, to: p.next }));
    case "exit":
      return [];
    default:
      return node.next == null ? [] : [{ label: "", to: node.next }];
  }
}

/** One line saying what a node does. */
export function summary(node) {
  switch (node.type) {
    case "delay":
      return `wait ${node.for}`;
    case "wait_until":
      return (
        `wait up to ${node.timeout} for ${(node.events ?? []).join(" or ")}` +
        (node.match ? ` with the trigger's ${node.match}` : "") +
        (node.condition ? ` where ${compact(node.condition)}` : "")
      );
    case "time_window":
      return `go on only ${node.from}–${node.to}${node.days ? ` on ${node.days.join(", ")}` : ""} (${
        node.timezone ?? "person"
      } time)`;
    case "branch":
      return (node.branches ?? []).map((b, i) => `#${i + 1} ${compact(b.condition)}`).join("; ");
    case "split":
      return `sticky split ${(node.paths ?? []).map((p) => `${p.percent}%`).join(" / ")}`;
    case "action": {
      const a = node.action ?? {};
      const what = a.url ?? a.title ?? a.queue ?? a.event ?? (a.traits ? compact(a.traits) : "");
      return `${a.type}${what ? `: ${what}` : ""}`;
    }
    case "exit":
      return "end of the journey";
    default:
      return compact(node);
  }
}

const W = 176;
const H = 58;
const GAP_X = 70;
const GAP_Y = 22;
const PAD = 12;
const NS = "http://www.w3.org/2000/svg";

/**
 * Column and row of every node. A node's column is its longest path from `start`; nodes not
 * reachable from it (a draft being edited) get a column after the others. A cycle (refused on
 * save, but a draft may hold one) is cut where it closes.
 */
export function layout(journey) {
  const nodes = journey?.nodes ?? [];
  const byId = new Map(nodes.map((n) => [n.id, n]));
  const column = new Map();
  const visit = (id, depth, path) => {
    if (!byId.has(id) || path.has(id) || (column.get(id) ?? -1) >= depth) return;
    column.set(id, depth);
    path.add(id);
    for (const e of edges(byId.get(id))) visit(e.to, depth + 1, path);
    path.delete(id);
  };
  visit(journey?.start, 0, new Set());
  const last = Math.max(-1, ...column.values()) + 1;
  for (const n of nodes) if (!column.has(n.id)) column.set(n.id, last);
  const rows = new Map();
  const place = new Map();
  for (const n of flowOrder(journey)) {
    const c = column.get(n.id);
    const r = rows.get(c) ?? 0;
    rows.set(c, r + 1);
    place.set(n.id, { column: c, row: r });
  }
  const links = nodes.flatMap((n) =>
    edges(n)
      .filter((e) => place.has(e.to))
      .map((e) => ({ from: n.id, to: e.to, label: e.label })),
  );
  return { place, links, columns: Math.max(0, ...[...place.values()].map((p) => p.column + 1)) };
}

const svg = (tag, attrs = {}, ...children) => {
  const e = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
  e.append(...children);
  return e;
};
const text = (x, y, s, cls) => svg("text", { x, y, class: cls }, s);
const clip = (s, n) => (s.length > n ? `${s.slice(0, n - 1)}…` : s);

/** An SVG drawing of `journey` with `counts[nodeId] = {visited, exited}` in each box. */
export function drawGraph(journey, counts) {
  const { place, links } = layout(journey);
  const byId = new Map((journey?.nodes ?? []).map((n) => [n.id, n]));
  const at = (id) => {
    const p = place.get(id);
    return { x: PAD + p.column * (W + GAP_X), y: PAD + p.row * (H + GAP_Y) };
  };
  let width = 0;
  let height = 0;
  for (const id of place.keys()) {
    const { x, y } = at(id);
    width = Math.max(width, x + W + PAD);
    height = Math.max(height, y + H + PAD);
  }
  const lines = links.map((l) => {
    const a = at(l.from);
    const b = at(l.to);
    const [x1, y1, x2, y2] = [a.x + W, a.y + H / 2, b.x, b.y + H / 2];
    const bend = Math.max(30, Math.abs(x2 - x1) / 2);
    const g = svg(
      "g",
      { class: "jg-edge", "data-from": l.from, "data-to": l.to },
      svg("path", {
        d: `M${x1},${y1} C${x1 + bend},${y1} ${x2 - bend},${y2} ${x2},${y2}`,
        "marker-end": "url(#jg-arrow)",
      }),
    );
    if (l.label) g.append(text((x1 + x2) / 2, (y1 + y2) / 2 - 4, l.label, "jg-label"));
    return g;
  });
  const boxes = [...place.keys()].map((id) => {
    const n = byId.get(id);
    const c = counts?.[id] ?? {};
    const { x, y } = at(id);
    return svg(
      "g",
      { class: `jg-node ${n.type}`, "data-node": id, transform: `translate(${x},${y})` },
      svg("title", {}, `${id} (${n.type}): ${summary(n)}`),
      svg("rect", { width: W, height: H, rx: 6 }),
      text(8, 16, clip(id, 24), "jg-id"),
      text(8, 32, clip(`${n.type} · ${summary(n)}`, 30), "jg-what"),
      text(8, 49, `visited ${c.visited ?? 0} · exited ${c.exited ?? 0}`, "jg-counts"),
    );
  });
  return svg(
    "svg",
    { class: "journey-graph", width, height, viewBox: `0 0 ${width} ${height}`, role: "img" },
    svg(
      "defs",
      {},
      svg(
        "marker",
        {
          id: "jg-arrow",
          viewBox: "0 0 10 10",
          refX: 9,
          refY: 5,
          markerWidth: 7,
          markerHeight: 7,
          orient: "auto",
        },
        svg("path", { d: "M0,0 L10,5 L0,10 z" }),
      ),
    ),
    ...lines,
    ...boxes,
  );
}
