"""Figures of the transfer-graph analysis (``labnet graph``) and of topology sweeps.

- :func:`plot_transfer_network`: the transfer graph drawn (``transfer_network.png``);
- :func:`plot_property_flows`: source property x target property selection rates (``property_flows.png``);
- :func:`plot_topology_comparison`: observations to threshold per topology, networked vs the
  isolated baseline (for sweeps);
- :func:`plot_topology_ranking`: each network's RMST per topology and every pair's simultaneous
  interval (for sweeps).

As in :mod:`labnet.runs.reports.plots` and :mod:`labnet.runs.reports.figures`, figures are :class:`matplotlib.figure.Figure`
objects on an Agg canvas; nothing touches pyplot's global state.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import matplotlib
import networkx as nx
import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import to_hex
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.transforms import blended_transform_factory

from labnet.runs.reports.figures import DPI, lab_colors
from labnet.runs.reports.plots import condition_color, ordered_conditions
from labnet.runs.reports.topology_comparison import check_topology_table, topology_comparison_table
from labnet.runs.reports.topology_ranking import TopologyRanking, format_level

LABEL_ALL_UP_TO = 30
"""Networks with at most this many labs get every lab's name; larger ones only the highlighted labs'."""


def property_colors(properties: Sequence[str]) -> dict[str, str]:
    """Property -> colour: paper 1's (M purple, Tc red, Sp green) and a spare palette from
    :func:`labnet.runs.reports.figures.lab_colors` while it lasts, then ``tab20`` (distinct for up to 20 properties)."""
    properties = list(dict.fromkeys(str(p) for p in properties))
    colors = lab_colors(properties, {p: p for p in properties})
    if len(set(colors.values())) < len(properties):  # the small palette ran out
        cmap = matplotlib.colormaps["tab20"]
        colors = {p: to_hex(cmap(i % 20)) for i, p in enumerate(properties)}
    return colors


def _new_figure(size: tuple[float, float]) -> Figure:
    figure = Figure(figsize=size, layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def _save(figure: Figure, path: str | Path) -> Path:
    path = Path(path)
    figure.savefig(path, dpi=DPI)
    return path


# --------------------------------------------------------------------------- the network


def network_layout(graph: nx.DiGraph, seed: int = 0) -> dict[str, np.ndarray]:
    """Node positions: Kamada-Kawai when the (undirected) graph is connected and has at most 200
    nodes, else a spring layout seeded with ``seed`` (both deterministic)."""
    undirected = graph.to_undirected(as_view=False)
    n = undirected.number_of_nodes()
    if n == 0:
        return {}
    if n == 1:
        return {next(iter(undirected.nodes)): np.zeros(2)}
    if n <= 200 and nx.is_connected(undirected):
        return nx.kamada_kawai_layout(undirected, weight=None)
    return nx.spring_layout(undirected, seed=seed, k=1.5 / math.sqrt(n))


def plot_transfer_network(
    graph: nx.DiGraph,
    path: str | Path,
    title: str | None = None,
    highlight: Sequence[str] = (),
    seed: int = 0,
) -> Path:
    """Draw a transfer graph (:func:`labnet.runs.reports.graph.transfer_graph`).

    Node colour = the lab's ``property`` (legend), node area ∝ its speed ``1 / period_ticks``;
    edge width ∝ ``selected`` (times the source's model was chosen as the target's BPM), coloured
    by the source's property; edges with attempts but no selection are thin and faint. Labs are
    named when there are at most :data:`LABEL_ALL_UP_TO`; in larger graphs only ``highlight``.

    Args:
        graph: nodes with ``property`` and ``period_ticks``; edges with ``attempts`` and ``selected``.
        highlight: labs to name even in a large graph (e.g. the most-chosen sources).
        seed: layout seed (see :func:`network_layout`).
    """
    nodes = list(graph.nodes)
    n = len(nodes)
    large = n > LABEL_ALL_UP_TO
    figure = _new_figure((11.0, 8.6) if large else (9.0, 6.8))
    ax = figure.add_subplot(1, 1, 1)
    ax.axis("off")
    if title:
        figure.suptitle(title)
    if n == 0:
        ax.text(0.5, 0.5, "no labs", ha="center", va="center", color="0.5", transform=ax.transAxes)
        return _save(figure, path)

    properties = [str(graph.nodes[v].get("property", "")) for v in nodes]
    palette = property_colors(properties)
    node_colors = [palette[p] for p in properties]
    periods = np.array([max(int(graph.nodes[v].get("period_ticks", 1) or 1), 1) for v in nodes], dtype=float)
    speed = 1.0 / periods
    biggest = 900.0 if n <= 12 else (520.0 if not large else max(90.0, 14000.0 / n))
    sizes = np.maximum(biggest * speed / speed.max(), 10.0)
    pos = network_layout(graph, seed)

    # heaviest edges drawn last (on top); long edge lists as plain lines (arrows would be slow and unreadable)
    chosen = sorted(((s, t) for s, t, d in graph.edges(data=True) if d.get("selected", 0) > 0),
                    key=lambda e: graph.edges[e]["selected"])
    never = [(s, t) for s, t, d in graph.edges(data=True) if d.get("selected", 0) == 0]
    if never:
        _draw_edges(ax, graph, pos, never, nodes, sizes, arrows=len(never) <= 300, width=0.4 if large else 0.7,
                    color="0.6", alpha=0.12 if len(never) > 300 else 0.35, arrow_size=6, rad=0.08)
    most = max([graph.edges[e]["selected"] for e in chosen] + [1])
    dense = len(chosen) > 400
    max_width = 3.0 if dense else (4.5 if large else 6.0)
    if chosen:
        _draw_edges(ax, graph, pos, chosen, nodes, sizes, arrows=not dense,
                    width=[(0.3 if dense else 0.7) + max_width * graph.edges[e]["selected"] / most for e in chosen],
                    color=[palette[str(graph.nodes[s].get("property", ""))] for s, _ in chosen],
                    alpha=0.3 if dense else 0.75, arrow_size=8 if large else 13, rad=0.12)
    nx.draw_networkx_nodes(graph, pos, ax=ax, nodelist=nodes, node_color=node_colors, node_size=sizes,
                           edgecolors="black", linewidths=0.4 if large else 0.8)
    named = nodes if not large else [v for v in highlight if v in graph]
    radius_points = dict(zip(nodes, np.sqrt(sizes) / 2))  # scatter sizes are areas in points²
    for v in named:  # names just above their node, so the node's colour stays visible
        ax.annotate(str(v), xy=tuple(pos[v]), xytext=(0, radius_points[v] + 1.0), textcoords="offset points",
                    ha="center", va="bottom", fontsize=7 if large or n > 12 else 9, zorder=5,
                    bbox={"boxstyle": "round,pad=0.1", "fc": "white", "ec": "none", "alpha": 0.6})

    handles = [Line2D([], [], marker="o", linestyle="", markerfacecolor=palette[p], markeredgecolor="black",
                      markersize=8) for p in dict.fromkeys(properties)]
    labels = [p or "(unknown)" for p in dict.fromkeys(properties)]
    handles.append(Line2D([], [], color="0.3", linewidth=max_width))
    labels.append(f"chosen as BPM\n(width ∝ times, {most} max)")
    handles.append(Line2D([], [], color="0.6", alpha=0.5, linewidth=0.7))
    labels.append("built, never chosen")
    figure.legend(handles, labels, loc="outside right upper", fontsize="small", frameon=False,
                  title="node colour: property", title_fontsize="small")
    distinct = sorted(set(periods.astype(int)))
    shown = distinct if len(distinct) <= 4 else [distinct[round(i * (len(distinct) - 1) / 3)] for i in range(4)]
    size_handles = [Line2D([], [], marker="o", linestyle="", markerfacecolor="white", markeredgecolor="black",
                           markersize=math.sqrt(max(biggest * (1.0 / p) / speed.max(), 10.0))) for p in shown]
    figure.legend(size_handles, [f"every {p} tick{'s' if p != 1 else ''}" for p in shown],
                  loc="outside right lower", fontsize="small", frameon=False, borderpad=1.2,
                  labelspacing=max(1.2, math.sqrt(biggest) / 12), handletextpad=max(0.8, math.sqrt(biggest) / 14),
                  title="node area ∝ speed\n(1 / period)", title_fontsize="small")
    note = "edge source → target: target built a candidate from source's model"
    if large:
        note += f"; {n} labs, names shown for the {len(named)} most-chosen sources"
    if dense or len(never) > 300:
        note += "\n(many edges: drawn as lines without arrow heads)"
    ax.set_title(note, fontsize="small")
    return _save(figure, path)


def _draw_edges(
    ax: object, graph: nx.DiGraph, pos: dict, edges: list, nodes: list, sizes: np.ndarray, arrows: bool,
    width: float | list[float], color: str | list[str], alpha: float, arrow_size: float, rad: float,
) -> None:
    """Edges as curved arrows stopping at the node borders, or (``arrows`` False) as straight lines."""
    style = {"arrowstyle": "-|>", "arrowsize": arrow_size, "node_size": list(sizes),
             "connectionstyle": f"arc3,rad={rad}"} if arrows else {}
    nx.draw_networkx_edges(graph, pos, ax=ax, edgelist=edges, nodelist=nodes, width=width, edge_color=color,
                           alpha=alpha, arrows=arrows, **style)


# --------------------------------------------------------------------------- property flows


def plot_property_flows(
    flows: pd.DataFrame,
    path: str | Path,
    properties: Sequence[str] | None = None,
    title: str | None = None,
) -> Path:
    """Heat map: source property (rows) x target property (columns), colour = selection rate
    (chosen as BPM / built); each cell annotated with the rate and ``selected/attempts``.
    Cells without attempts are blank.

    Args:
        flows: :func:`labnet.runs.reports.graph.property_flows`.
        properties: axis order (default: sorted properties of ``flows``).
    """
    if properties is None:
        properties = sorted(set(flows["source_property"]) | set(flows["target_property"])) if not flows.empty else []
    properties = [str(p) for p in dict.fromkeys(properties)]
    k = len(properties)
    side = max(4.2, 0.75 * k + 2.5)
    figure = _new_figure((side + 1.2, side))
    ax = figure.add_subplot(1, 1, 1)
    if title:
        figure.suptitle(title)
    if flows.empty or k == 0:
        ax.axis("off")
        ax.text(0.5, 0.5, "no transfers", ha="center", va="center", color="0.5", transform=ax.transAxes)
        return _save(figure, path)
    index = {p: i for i, p in enumerate(properties)}
    attempts = np.zeros((k, k), dtype=int)
    selected = np.zeros((k, k), dtype=int)
    for rec in flows.to_dict("records"):
        i, j = index.get(str(rec["source_property"])), index.get(str(rec["target_property"]))
        if i is not None and j is not None:
            attempts[i, j] += int(rec["attempts"])
            selected[i, j] += int(rec["selected"])
    rate = np.where(attempts > 0, selected / np.maximum(attempts, 1), np.nan)
    ax.set_facecolor("0.93")
    image = ax.imshow(np.ma.masked_invalid(rate), cmap="viridis", vmin=0.0, vmax=1.0)
    font = 9 if k <= 6 else (7 if k <= 12 else 5)
    for i in range(k):
        for j in range(k):
            if attempts[i, j] == 0:
                continue
            text = f"{rate[i, j]:.0%}\n{selected[i, j]}/{attempts[i, j]}"
            ax.text(j, i, text, ha="center", va="center", fontsize=font,
                    color="black" if rate[i, j] > 0.6 else "white")
    ax.set_xticks(range(k), properties, rotation=45 if k > 6 else 0, ha="right" if k > 6 else "center")
    ax.set_yticks(range(k), properties)
    ax.set_xlabel("target property (lab that fine-tuned the model)")
    ax.set_ylabel("source property (lab that published the model)")
    ax.set_title("cell: selection rate, chosen as BPM / built; blank: none built", fontsize="small")
    figure.colorbar(image, ax=ax, label="selection rate", shrink=0.85)
    return _save(figure, path)


# --------------------------------------------------------------------------- topology comparison

TOPOLOGY_CONDITIONS = ("networked", "isolated")


def plot_topology_comparison(
    table: pd.DataFrame,
    path: str | Path,
    metric: str = "n_obs_to_threshold",
    conditions: Sequence[str] = TOPOLOGY_CONDITIONS,
    title: str | None = None,
    seed: int = 0,
) -> Path:
    """Per topology, the distribution of ``metric`` for the networked labs beside the isolated baseline.

    A box (quartiles, whiskers 1.5 IQR) and every value as a jittered point per (topology,
    condition), over the rows that reached the threshold (``metric`` not NaN); above each box the
    share of rows (labs x trials) that reached it, ``k/n``. The means over reached rows are
    white diamonds.

    Args:
        table: tidy rows with at least ``topology`` (label), ``condition``, ``lab``, ``metric``
            (NaN = never reached) and ``reached`` (bool; derived from ``metric`` when absent).
        metric: the column to plot (default ``n_obs_to_threshold``, initial points counted).
        conditions: conditions drawn, in this order, when present (default networked, isolated).
        seed: jitter seed.

    Raises:
        ValueError: a required column is missing, or no row has one of ``conditions``.
    """
    table = check_topology_table(table, metric)
    present = set(table["condition"].astype(str))
    drawn = [c for c in ordered_conditions(list(conditions)) if c in present]
    if not drawn:
        raise ValueError(f"topology comparison: no row has condition {', '.join(conditions)} "
                         f"(conditions in the table: {', '.join(sorted(present))})")
    topologies = list(dict.fromkeys(table["topology"].astype(str)))
    stats = topology_comparison_table(table, metric=metric).set_index(["topology", "condition"])
    figure = _new_figure((max(5.0, 1.1 * len(topologies) * len(drawn) + 2.0), 4.8))
    ax = figure.add_subplot(1, 1, 1)
    rng = np.random.default_rng(seed)
    width = 0.8 / len(drawn)
    top = blended_transform_factory(ax.transData, ax.transAxes)
    finite = table.loc[table["condition"].astype(str).isin(drawn), metric].to_numpy(float)
    finite = finite[np.isfinite(finite)]
    for t, topology in enumerate(topologies):
        for c, condition in enumerate(drawn):
            x = t - 0.4 + width * (c + 0.5)
            color = condition_color(condition, c)
            rows = table[(table["topology"].astype(str) == topology) & (table["condition"].astype(str) == condition)]
            if rows.empty:
                continue
            values = rows.loc[rows["reached"].astype(bool), metric].to_numpy(float)
            values = values[np.isfinite(values)]
            if values.size:
                ax.boxplot(values, positions=[x], widths=width * 0.8, patch_artist=True, showfliers=False,
                           boxprops={"facecolor": color, "alpha": 0.35, "edgecolor": color},
                           medianprops={"color": color, "linewidth": 1.8},
                           whiskerprops={"color": color}, capprops={"color": color})
                jitter = rng.uniform(-width * 0.28, width * 0.28, size=values.size)
                ax.scatter(x + jitter, values, s=10, color=color, alpha=0.7, linewidths=0, zorder=3)
                ax.scatter([x], [values.mean()], marker="D", s=28, color="white", edgecolors=color, zorder=4)
            row = stats.loc[(topology, condition)]
            ax.text(x, 0.985, f"{int(row['n_reached'])}/{int(row['n'])}\n{row['reached_share']:.0%}",
                    transform=top, ha="center", va="top", fontsize=7, color=color)
    if finite.size:
        low, high = float(finite.min()), float(finite.max())
        span = max(high - low, 1.0)
        ax.set_ylim(low - 0.05 * span, high + 0.3 * span)  # headroom for the reached-share labels
    ax.set_xticks(range(len(topologies)), topologies, rotation=30 if len(topologies) > 5 else 0,
                  ha="right" if len(topologies) > 5 else "center")
    ax.set_xlim(-0.6, len(topologies) - 0.4)
    ax.set_xlabel("topology")
    ax.set_ylabel("observations to threshold\n(initial points included)" if metric == "n_obs_to_threshold"
                  else metric)
    ax.grid(axis="y", alpha=0.25)
    handles = [Line2D([], [], marker="s", linestyle="", markersize=9, color=condition_color(c, i), alpha=0.6)
               for i, c in enumerate(drawn)]
    handles.append(Line2D([], [], marker="D", linestyle="", markerfacecolor="white", markeredgecolor="0.3"))
    figure.legend(handles, [*drawn, "mean"], loc="outside lower center", ncol=len(drawn) + 1, fontsize="small",
                  frameon=False)
    figure.suptitle(title or "Observations to threshold by topology (labs that reached it; "
                             "k/n = reached / labs x trials)", fontsize="medium")
    return _save(figure, path)


def plot_topology_ranking(ranking: TopologyRanking, path: str | Path, title: str | None = None) -> Path:
    """The ranking of topologies (:func:`labnet.runs.reports.topology_ranking.rank_topologies`) in two panels.

    Left: each network's RMST under every topology (one grey line per network: the pairing), the
    mean per topology as a black bar. Right: every pair's difference A - B with its simultaneous
    interval (Bonferroni over the pairs), 0 dashed, the ±precision band shaded when one is set;
    decided pairs in colour.
    """
    wide, pairs = ranking.network_rmst, ranking.pairs
    topologies = list(wide.columns)
    figure = _new_figure((11.0, max(4.2, 0.32 * len(pairs) + 1.8)))
    left, right = figure.subplots(1, 2, width_ratios=[1.0, 1.15])
    x = np.arange(len(topologies))
    for _, values in wide.iterrows():
        left.plot(x, values.to_numpy(float), color="0.55", alpha=0.45, linewidth=0.9, marker="o", markersize=3)
    means = wide.mean().to_numpy(float)
    left.scatter(x, means, marker="_", s=500, color="black", linewidths=2.2, zorder=4, label="mean over networks")
    left.set_xticks(x, topologies, rotation=30, ha="right")
    left.set_ylabel("network RMST: mean over labs of\nmin(observations to threshold, horizon)")
    left.set_title(f"{len(wide)} networks (grey: one network under each topology)", fontsize="small")
    left.legend(fontsize="small", frameon=False)
    left.grid(axis="y", alpha=0.25)
    y = np.arange(len(pairs))[::-1]
    decided = (pairs["ci_low"] > 0) | (pairs["ci_high"] < 0)
    colors = np.where(decided, "#c0392b", "0.35")
    for row, at, color in zip(pairs.itertuples(), y, colors):
        low, high = (row.ci_low if np.isfinite(row.ci_low) else row.difference,
                     row.ci_high if np.isfinite(row.ci_high) else row.difference)
        right.errorbar([row.difference], [at], xerr=[[row.difference - low], [high - row.difference]], fmt="o",
                       color=color, markersize=4, elinewidth=1.6, capsize=3)
    right.axvline(0, color="0.2", linestyle="--", linewidth=1)
    if ranking.precision is not None:
        right.axvspan(-ranking.precision, ranking.precision, color="#2e86c1", alpha=0.12,
                      label=f"±{ranking.precision:g} (precision)")
        right.legend(fontsize="small", frameon=False, loc="lower right")
    right.set_yticks(y, [f"{a} − {b}" for a, b in zip(pairs["topology_a"], pairs["topology_b"])], fontsize="small")
    right.set_xlabel("difference of RMST, observations (negative: the first is faster)")
    right.set_title(f"simultaneous intervals, joint level {format_level(ranking.alpha)} "
                    f"(Bonferroni over {len(pairs)} pairs)", fontsize="small")
    right.grid(axis="x", alpha=0.25)
    figure.suptitle(title or f"Topologies ranked: {ranking.verdict}", fontsize="medium", wrap=True)
    return _save(figure, path)
