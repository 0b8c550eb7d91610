// The scenario as a picture: the trigger on top, each node below the one it follows, a
// router's routes side by side. Nodes are buttons (Tab reaches each, Enter opens it); every
// node has a "+" below it that inserts a new node after it.

import { h } from "../dom.js";

const W = 190, H = 64, GAP_X = 36, GAP_Y = 60, PAD = 20;

/** What each node follows: `trigger`, a node id, or `router.route`. */
export function parentOf(def, index) {
  const node = def.nodes[index];
  if (node.after) return node.after;
  return index === 0 ? "trigger" : def.nodes[index - 1].id;
}

export function subtitle(node) {
  switch (node.type) {
    case "action": return `${node.connector || "?"} · ${node.action || "pick an action"}`;
    case "store": return `data store · ${node.op || "?"} ${node.collection || ""}`;
    case "filter": return `only if ${node.condition || "…"}`;
    case "router": return `router · ${(node.routes || []).map((r) => r.name).join(", ")}`;
    case "iterator": return `for each in ${node.over || "…"}`;
    case "transform": return `transform · ${Object.keys(node.output || {}).length} fields`;
    case "delay": return `wait ${node.seconds ?? "?"} s`;
    default: return node.type || "?";
  }
}

export function triggerTitle(trigger) {
  switch (trigger.type) {
    case "poll": return `${trigger.connector || "?"} · ${trigger.trigger || "?"} every ${trigger.every || "15m"}`;
    case "schedule": return `schedule · ${trigger.cron || "?"}`;
    case "webhook": return trigger.connector ? `webhook · ${trigger.connector}` : "webhook";
    default: return "manual";
  }
}

/** Lays out and draws the graph. */
export function drawGraph(def, selected, { onSelect, onAdd }) {
  const children = new Map([["trigger", []]]);
  def.nodes.forEach((node) => children.set(node.id, []));
  def.nodes.forEach((node, i) => {
    const parent = parentOf(def, i);
    const base = parent.split(".")[0];
    (children.get(base) || children.get("trigger")).push({ id: node.id, route: parent.includes(".") ? parent.split(".")[1] : null });
  });
  const pos = new Map();
  let leaf = 0;
  const place = (id, depth, seen) => {
    if (seen.has(id)) return 0;
    seen.add(id);
    const kids = children.get(id) || [];
    let x;
    if (!kids.length) x = leaf++;
    else {
      const xs = kids.map((k) => place(k.id, depth + 1, seen));
      x = (Math.min(...xs) + Math.max(...xs)) / 2;
    }
    pos.set(id, { x, depth });
    return x;
  };
  const seen = new Set();
  place("trigger", 0, seen);
  // A node in a cycle (only a hand-edited definition has one) still gets drawn.
  def.nodes.forEach((node) => { if (!pos.has(node.id)) pos.set(node.id, { x: leaf++, depth: 1 }); });
  const left = (p) => PAD + p.x * (W + GAP_X);
  const top = (p) => PAD + p.depth * (H + GAP_Y);
  let width = 0, height = 0;
  for (const p of pos.values()) { width = Math.max(width, left(p) + W + PAD); height = Math.max(height, top(p) + H + GAP_Y); }
  const svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
  svg.setAttribute("width", width);
  svg.setAttribute("height", height);
  svg.setAttribute("aria-hidden", "true");
  for (const [parent, kids] of children) {
    const from = pos.get(parent);
    if (!from) continue;
    for (const kid of kids) {
      const to = pos.get(kid.id);
      const x1 = left(from) + W / 2, y1 = top(from) + H, x2 = left(to) + W / 2, y2 = top(to);
      const path = document.createElementNS(svg.namespaceURI, "path");
      path.setAttribute("d", `M${x1},${y1} C${x1},${y1 + 40} ${x2},${y2 - 40} ${x2},${y2}`);
      path.setAttribute("fill", "none");
      path.setAttribute("stroke", "#8c96a8");
      path.setAttribute("stroke-width", "2");
      svg.appendChild(path);
      if (kid.route) {
        const label = document.createElementNS(svg.namespaceURI, "text");
        label.setAttribute("x", (x1 + x2) / 2 + 4);
        label.setAttribute("y", (y1 + y2) / 2);
        label.setAttribute("font-size", "12");
        label.setAttribute("fill", "#5d6677");
        label.textContent = kid.route;
        svg.appendChild(label);
      }
    }
  }
  const box = (id, title, sub, extra) => {
    const p = pos.get(id);
    return [
      h("button", {
        type: "button", class: `node ${extra}${selected === id ? " selected" : ""}`,
        style: `left:${left(p)}px;top:${top(p)}px`, "aria-pressed": selected === id ? "true" : "false",
        "data-node": id, title: `${title}: ${sub}`, onclick: () => onSelect(id),
      }, h("strong", {}, title), h("span", {}, sub)),
      h("button", {
        type: "button", class: "add", style: `left:${left(p) + W / 2 - 14}px;top:${top(p) + H + 8}px`,
        "aria-label": `Add a node after ${title}`, title: `Add a node after ${title}`, "data-add": id, onclick: () => onAdd(id),
      }, "+"),
    ];
  };
  return h("div", { class: "graph", style: `height:${height}px`, role: "group", "aria-label": "The scenario's graph" },
    svg,
    box("trigger", "Trigger", triggerTitle(def.trigger), "trigger"),
    def.nodes.map((node) => box(node.id, node.id, subtitle(node), "")));
}
