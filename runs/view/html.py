"""``labnet graph RUN_DIR --html``: one self-contained HTML file of the network over time.

Inline data (JSON) and inline JavaScript, no CDN: the file opens offline. The nodes sit at the
replay app's stable positions (:func:`~labnet.runs.view.data.layout_positions`); a range input
(the time slider) picks the tick, whose lit edges (:func:`~labnet.runs.view.data.edge_drawing`
of :func:`~labnet.runs.view.data.edges_at_tick`) are drawn, chosen bold and attempted faint.
"""
from __future__ import annotations

import html
import json
from pathlib import Path

from labnet.runs.view.data import (
    VIEW_HEIGHT, VIEW_WIDTH, ViewRun, edge_drawing, edges_at_tick, layout_positions, network_frame, node_table,
    select_view_rows, tick_range, topology_path,
)

__all__ = ["html_document", "write_html"]

_SCRIPT = """
const D = JSON.parse(document.getElementById("labnet-data").textContent);
const svg = document.getElementById("net"), edges = document.getElementById("edges");
const slider = document.getElementById("tick"), label = document.getElementById("tick-label");
const NS = "http://www.w3.org/2000/svg";
for (const n of D.nodes) {
  const c = document.createElementNS(NS, "circle");
  c.setAttribute("class", "lab-node"); c.setAttribute("data-lab", n.name);
  c.setAttribute("cx", n.x); c.setAttribute("cy", n.y); c.setAttribute("r", n.radius); c.setAttribute("fill", n.color);
  const t = document.createElementNS(NS, "title"); t.textContent = n.name + ": " + n.property + ", period " + n.period_ticks;
  c.appendChild(t); document.getElementById("nodes").appendChild(c);
}
function draw(tick) {
  const d = D.ticks[String(tick)] || {edges: [], paths: {}, n_chosen: 0, n_attempted: 0};
  edges.innerHTML = "";
  const add = (p, state, src, tgt) => {
    const e = document.createElementNS(NS, "path");
    e.setAttribute("d", p); e.setAttribute("fill", "none"); e.setAttribute("data-state", state);
    if (src) { e.setAttribute("class", "edge"); e.setAttribute("data-source", src); e.setAttribute("data-target", tgt); }
    e.setAttribute("stroke", state === "chosen" ? "#111" : "#8a8a8a");
    e.setAttribute("stroke-width", state === "chosen" ? 3 : 1.5);
    e.setAttribute("stroke-opacity", state === "chosen" ? 0.9 : 0.5);
    if (state === "chosen") e.setAttribute("marker-end", "url(#arrow)");
    edges.appendChild(e);
  };
  for (const e of d.edges) add(e.d, e.state, e.source, e.target);
  for (const [state, p] of Object.entries(d.paths || {})) if (p) add(p, state);
  svg.setAttribute("data-tick", tick);
  label.textContent = "tick " + tick + ": " + d.n_chosen + " chosen, " + d.n_attempted + " attempted-only edges";
}
slider.addEventListener("input", () => draw(Number(slider.value)));
draw(Number(slider.value));
"""


def html_document(run: ViewRun, condition: str, trial: int) -> str:
    """The HTML text: the network of ``run`` for one (condition, trial), a slider over its ticks."""
    _, transfers = select_view_rows(run, condition, trial)
    nodes = node_table(run.labs, layout_positions(run.lab_names, run.links))
    first, last = tick_range(run)
    ticks = {str(t): edge_drawing(edges_at_tick(transfers, t), nodes) for t in range(first, last + 1)}
    data = {"nodes": network_frame(nodes), "ticks": ticks, "first": first, "last": last}
    payload = json.dumps(data, separators=(",", ":")).replace("</", "<\\/")
    title = html.escape(f"labnet · {run.scenario.name} · {condition} · trial {trial}")
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>body{{font-family:sans-serif;margin:16px}} svg{{width:100%;max-width:1000px;border:1px solid #ddd;background:#fcfcfc}}</style>
</head><body>
<h2>{title}</h2>
<p>Edge source → target: target built a model from source's; grey = built (attempted), black with arrow = chosen as
its best model; node area ∝ speed (1 / clock period); faint lines = topology.</p>
<label>tick <input id="tick" type="range" min="{first}" max="{last}" value="{first}" step="1" style="width:400px"></label>
<span id="tick-label"></span>
<svg id="net" viewBox="0 0 {VIEW_WIDTH:g} {VIEW_HEIGHT:g}">
<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="5" markerHeight="5" orient="auto"><path d="M0 0L10 5L0 10z" fill="#222"/></marker></defs>
<path d="{topology_path(nodes, run.links)}" stroke="#ccc" stroke-opacity="0.5" stroke-width="0.5" fill="none"/>
<g id="edges"></g><g id="nodes"></g></svg>
<script id="labnet-data" type="application/json">{payload}</script>
<script>{_SCRIPT}</script>
</body></html>
"""


def write_html(run: ViewRun, condition: str, trial: int, path: Path) -> Path:
    """Write :func:`html_document` to ``path``; returns it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(html_document(run, condition, trial), encoding="utf-8")
    return path
