// The model's computation graph as a small layered SVG (top to bottom, in dependency order).
import { h } from "./dom.js";

const SVG = "http://www.w3.org/2000/svg";
const NODE_W = 170;
const NODE_H = 36;
const GAP_X = 24;
const GAP_Y = 30;

function svg(tag, attrs = {}, text) {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  if (text !== undefined) el.textContent = text;
  return el;
}

// The engine's graph format is {nodes, edges}; accept the common spellings of each.
function nodeOf(n, i) {
  if (typeof n !== "object" || n === null) return { id: String(n), title: String(n), sub: "" };
  const id = String(n.id ?? n.name ?? n.path ?? i);
  // Layers show their class with the path below; inputs, outputs and functions show their label.
  const generic = !n.type || ["input", "output", "function"].includes(n.type);
  const title = String(generic ? n.label ?? n.type ?? id : n.type);
  const shape = n.output_shape ?? n.shape;
  const where = generic ? "" : String(n.path ?? n.label ?? "");
  const sub = [where, shape ? `[${shape}]` : ""].filter(Boolean).join(" ");
  return { id, title, sub };
}

function edgeOf(e) {
  if (Array.isArray(e)) return [String(e[0]), String(e[1])];
  return [String(e.source ?? e.from ?? e.src), String(e.target ?? e.to ?? e.dst)];
}

/** Layer of each node: the longest path from a source, so every edge points downwards. */
function layers(nodes, edges) {
  const depth = new Map(nodes.map((n) => [n.id, 0]));
  for (let pass = 0; pass < nodes.length; pass += 1) {
    let moved = false;
    for (const [a, b] of edges) {
      if (!depth.has(a) || !depth.has(b)) continue;
      if (depth.get(b) < depth.get(a) + 1) {
        depth.set(b, depth.get(a) + 1);
        moved = true;
      }
    }
    if (!moved) break;
  }
  return depth;
}

export function renderGraph(graph) {
  const nodes = (graph?.nodes || []).map(nodeOf);
  const edges = (graph?.edges || []).map(edgeOf);
  if (nodes.length === 0) return h("p", { class: "muted" }, "No graph for this model.");
  const depth = layers(nodes, edges);
  const rows = [];
  for (const n of nodes) (rows[depth.get(n.id)] ||= []).push(n);
  const widest = Math.max(...rows.map((r) => r?.length || 0));
  const width = widest * (NODE_W + GAP_X) + GAP_X;
  const pos = new Map();
  rows.forEach((row, y) => row?.forEach((n, x) => {
    const offset = (width - row.length * (NODE_W + GAP_X) + GAP_X) / 2;
    pos.set(n.id, { x: offset + x * (NODE_W + GAP_X), y: GAP_Y / 2 + y * (NODE_H + GAP_Y) });
  }));
  const height = rows.length * (NODE_H + GAP_Y);
  const root = svg("svg", { viewBox: `0 0 ${width} ${height}`, width, height, class: "graph",
    role: "img", "aria-label": `Computation graph with ${nodes.length} nodes` });
  for (const [a, b] of edges) {
    const p = pos.get(a);
    const q = pos.get(b);
    if (!p || !q) continue;
    root.append(svg("line", { x1: p.x + NODE_W / 2, y1: p.y + NODE_H, x2: q.x + NODE_W / 2, y2: q.y,
      class: "edge" }));
  }
  for (const n of nodes) {
    const p = pos.get(n.id);
    const g = svg("g", { transform: `translate(${p.x},${p.y})`, class: "node" });
    g.append(svg("title", {}, `${n.title} ${n.sub}`));
    g.append(svg("rect", { width: NODE_W, height: NODE_H, rx: 6 }));
    g.append(svg("text", { x: NODE_W / 2, y: 15, "text-anchor": "middle" }, n.title.slice(0, 24)));
    g.append(svg("text", { x: NODE_W / 2, y: 29, "text-anchor": "middle", class: "sub" }, n.sub.slice(0, 28)));
    root.append(g);
  }
  return h("div", { class: "graph-box" }, root);
}
