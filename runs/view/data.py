"""What the network views show, as plain functions of a run's tables (no Solara, no browser).

Everything the browser views draw is computed here and tested without a browser:

- :func:`read_view_run`: a run directory's tables, lab table and topology (for the layout);
- :func:`node_table`: one row per lab with its stable position, colour (by property) and radius
  (by speed = 1 / clock period);
- :func:`edges_at_tick` / :func:`edges_in_window`: the transfers of one tick or a tick window,
  one row per (source, target) with ``attempts``, ``selected`` and ``state`` (chosen / attempted);
- :func:`edge_drawing`: those edges as SVG paths, one element per edge or aggregated into one
  path per state when there are many (large networks);
- :func:`transfer_matrix` / :func:`property_matrix`: source x target counts over a tick window;
- :func:`best_so_far_curves`: each lab's best-so-far value at the end of every tick;
- :func:`lab_detail`: one lab's choices (``bpm_source``), candidate losses and measurements.

Ticks are the simulation's ticks (0-based); initial points are logged at tick -1. A transfer
event at tick t is a candidate model the target built at t from the source's model.
"""
from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import networkx as nx
import numpy as np
import pandas as pd

from labnet.runs.config.scenario import Scenario

__all__ = [
    "CHOSEN", "ATTEMPTED", "PALETTE", "VIEW_WIDTH", "VIEW_HEIGHT", "EDGE_ELEMENT_LIMIT",
    "ViewInputError", "ViewRun", "LabDetail", "read_view_run", "conditions_of", "trials_of", "select_view_rows",
    "tick_range", "layout_positions", "node_table", "property_colors", "edges_at_tick", "edges_in_window",
    "edge_drawing", "transfer_matrix", "property_matrix", "best_so_far_curves", "curve_paths", "lab_detail",
    "parse_window", "network_frame", "topology_path",
]

CHOSEN = "chosen"
"""Edge state: at least one of the edge's transferred models was chosen as the target's best model."""
ATTEMPTED = "attempted"
"""Edge state: transferred models were built along the edge but none was chosen."""

PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
           "#bcbd22", "#17becf")
"""Property colours, in order of first appearance in the lab table (matplotlib's tab10)."""

VIEW_WIDTH = 1000.0
VIEW_HEIGHT = 700.0
"""The network drawing's coordinate box (SVG user units); positions lie inside a margin of it."""

EDGE_ELEMENT_LIMIT = 600
"""Above this many lit edges, :func:`edge_drawing` aggregates them into one SVG path per state."""

_MARGIN = 30.0


class ViewInputError(ValueError):
    """A run directory, condition, trial, tick window or lab that the views cannot show."""


# --------------------------------------------------------------------------- reading a run


@dataclass(frozen=True)
class ViewRun:
    """A run directory as the views read it.

    Attributes:
        path: the run directory.
        scenario: its resolved scenario.
        steps: ``steps.parquet`` (one row per observation, all trials and conditions).
        transfers: ``transfers.parquet`` (one row per transferred candidate model).
        labs: the lab table (``labs.csv``, else from the scenario), one row per lab in scenario order.
        links: the networked topology's edges ``(source, target)`` (for the layout only).
    """

    path: Path
    scenario: Scenario
    steps: pd.DataFrame
    transfers: pd.DataFrame
    labs: pd.DataFrame
    links: tuple[tuple[str, str], ...]

    @property
    def lab_names(self) -> list[str]:
        return self.labs["name"].tolist()


def read_view_run(run_dir: str | Path) -> ViewRun:
    """Read a run directory (``scenario.yaml``, ``labs.csv``, ``steps.parquet``, ``transfers.parquet``).

    Raises:
        ViewInputError: not a directory, not a run directory, no ``steps.parquet`` yet, or a bad
            ``labs.csv`` (the message names the file).
    """
    from labnet.runs.config.build import build_topology
    from labnet.runs.reports.graph import GraphInputError, read_graph_run
    from labnet.runs.reports.run_directory import StudyError

    try:
        run = read_graph_run(run_dir)
    except (FileNotFoundError, StudyError, GraphInputError) as exc:
        raise ViewInputError(str(exc)) from None
    try:
        links = tuple((str(source), str(target)) for source, target, _ in build_topology(run.scenario).edges())
    except (ValueError, OSError):  # e.g. a topology file that has moved: the layout then ignores links
        links = ()
    transfers = run.transfers
    if "tick" in transfers.columns:
        transfers = transfers.astype({"tick": "int64"})
    return ViewRun(run.path, run.scenario, run.steps, transfers, run.labs, links)


def conditions_of(run: ViewRun) -> list[str]:
    """The run's conditions, in run order (networked first)."""
    return list(dict.fromkeys(run.steps["condition"].astype(str)))


def trials_of(run: ViewRun, condition: str) -> list[int]:
    """The trials recorded for a condition, ascending."""
    return sorted(int(t) for t in run.steps.loc[run.steps["condition"] == condition, "trial"].unique())


def select_view_rows(run: ViewRun, condition: str, trial: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The (steps, transfers) rows of one condition and one trial.

    Raises:
        ViewInputError: the condition or the trial is not in the run (the message lists those that are).
    """
    known = conditions_of(run)
    if condition not in known:
        raise ViewInputError(f"condition {condition!r}: not in {run.path}; conditions: {', '.join(known) or '(none)'}")
    trials = trials_of(run, condition)
    if trial not in trials:
        raise ViewInputError(f"trial {trial!r}: condition {condition!r} of {run.path} has trial(s) "
                             f"{', '.join(map(str, trials))}")
    steps = run.steps[(run.steps["condition"] == condition) & (run.steps["trial"] == trial)]
    transfers = run.transfers
    if len(transfers):
        transfers = transfers[(transfers["condition"] == condition) & (transfers["trial"] == trial)]
    return steps.reset_index(drop=True), transfers.reset_index(drop=True)


def tick_range(run: ViewRun) -> tuple[int, int]:
    """``(first, last)`` tick of the run's horizon: ``(0, horizon_ticks - 1)`` (at least ``(0, 0)``)."""
    last = max(int(run.scenario.horizon_ticks) - 1, 0)
    if len(run.steps):
        last = max(last, int(run.steps["tick"].max()))
    return 0, last


def parse_window(text: str, ticks: tuple[int, int] | None = None) -> tuple[int, int]:
    """``"A:B"`` -> ``(A, B)``, both ticks included; ``":B"`` / ``"A:"`` take the run's first / last tick.

    Raises:
        ViewInputError: not of the form A:B with whole numbers A <= B (inside ``ticks`` when given).
    """
    parts = str(text).split(":")
    if len(parts) != 2:
        raise ViewInputError(f"--window {text!r}: expected A:B, two ticks (e.g. 0:10)")
    lo, hi = ticks if ticks is not None else (None, None)
    try:
        start = int(parts[0]) if parts[0].strip() else lo
        stop = int(parts[1]) if parts[1].strip() else hi
    except ValueError:
        raise ViewInputError(f"--window {text!r}: expected A:B with whole-number ticks (e.g. 0:10)") from None
    if start is None or stop is None:
        raise ViewInputError(f"--window {text!r}: both ticks are needed (e.g. 0:10)")
    if start > stop or start < 0:
        raise ViewInputError(f"--window {text!r}: expected 0 <= A <= B")
    if ticks is not None and (stop < ticks[0] or start > ticks[1]):
        raise ViewInputError(f"--window {text!r}: outside the run's ticks {ticks[0]}:{ticks[1]}")
    return start, stop


# --------------------------------------------------------------------------- nodes


def layout_positions(names: Sequence[str], links: Sequence[tuple[str, str]], seed: int = 0) -> dict[str, tuple[float, float]]:
    """Stable node positions inside the drawing box (:data:`VIEW_WIDTH` x :data:`VIEW_HEIGHT`).

    A seeded spring layout of the (undirected) topology, so the same run always draws the same
    picture, whatever the tick, trial or condition shown. Without links the labs sit on a circle.
    """
    graph = nx.Graph()
    graph.add_nodes_from(names)
    graph.add_edges_from((s, t) for s, t in links if s in graph and t in graph and s != t)
    if graph.number_of_edges() == 0 or len(names) < 3:
        raw = nx.circular_layout(graph) if len(names) > 1 else {n: np.zeros(2) for n in names}
    else:
        iterations = 50 if len(names) <= 300 else 30
        raw = nx.spring_layout(graph, seed=seed, iterations=iterations, method="force" if len(names) > 300 else "auto")
    coords = np.array([raw[n] for n in names], dtype=float).reshape(len(names), 2)
    span = np.ptp(coords, axis=0) if len(names) else np.ones(2)
    span[span == 0] = 1.0
    low = coords.min(axis=0) if len(names) else np.zeros(2)
    unit = (coords - low) / span
    x = _MARGIN + unit[:, 0] * (VIEW_WIDTH - 2 * _MARGIN)
    y = _MARGIN + unit[:, 1] * (VIEW_HEIGHT - 2 * _MARGIN)
    return {name: (round(float(x[i]), 2), round(float(y[i]), 2)) for i, name in enumerate(names)}


def property_colors(labs: pd.DataFrame) -> dict[str, str]:
    """Property -> colour (:data:`PALETTE`, cycled), in order of first appearance in the lab table."""
    properties = list(dict.fromkeys(labs["property"].astype(str)))
    return {p: PALETTE[i % len(PALETTE)] for i, p in enumerate(properties)}


def node_table(labs: pd.DataFrame, positions: Mapping[str, tuple[float, float]]) -> pd.DataFrame:
    """One row per lab (lab-table order): ``name, property, period_ticks, speed, color, radius, x, y``.

    ``speed`` = 1 / ``period_ticks`` (actions per tick); ``radius`` (drawing units) grows with the
    square root of the speed, so the area is proportional to it; the scale shrinks with the number
    of labs (22 units for the fastest of a handful of labs, 5 for 1,000).
    """
    colors = property_colors(labs)
    period = labs["period_ticks"].astype(float).to_numpy()
    speed = 1.0 / period
    top = float(speed.max()) if len(speed) else 1.0
    scale = float(np.clip(160.0 / math.sqrt(max(len(labs), 1)), 4.0, 22.0))
    radius = np.maximum(scale * np.sqrt(speed / top), 2.0)
    table = pd.DataFrame({
        "name": labs["name"].astype(str).to_numpy(),
        "property": labs["property"].astype(str).to_numpy(),
        "period_ticks": labs["period_ticks"].astype("int64").to_numpy(),
        "speed": speed,
        "color": [colors[str(p)] for p in labs["property"]],
        "radius": np.round(radius, 2),
    })
    table["x"] = [positions[n][0] for n in table["name"]]
    table["y"] = [positions[n][1] for n in table["name"]]
    return table


# --------------------------------------------------------------------------- edges

EDGE_COLUMNS = ("source", "target", "attempts", "selected", "state")


def edges_in_window(transfers: pd.DataFrame, start: int, stop: int) -> pd.DataFrame:
    """The transfer edges of ticks ``start..stop`` (both included), one row per (source, target).

    Returns:
        Columns :data:`EDGE_COLUMNS`: ``attempts`` = transferred candidate models built,
        ``selected`` = how many were chosen as the target's best model, ``state`` =
        :data:`CHOSEN` when ``selected > 0`` else :data:`ATTEMPTED`; sorted by source, target.
    """
    if transfers.empty:
        return pd.DataFrame({c: pd.Series(dtype="int64" if c in ("attempts", "selected") else object)
                             for c in EDGE_COLUMNS})
    rows = transfers[(transfers["tick"] >= start) & (transfers["tick"] <= stop)]
    grouped = rows.assign(selected=rows["selected"].astype(bool).astype("int64")).groupby(
        ["source", "target"], sort=True).agg(attempts=("selected", "size"), selected=("selected", "sum"))
    edges = grouped.reset_index().astype({"source": str, "target": str, "attempts": "int64", "selected": "int64"})
    edges["state"] = np.where(edges["selected"] > 0, CHOSEN, ATTEMPTED)
    return edges[list(EDGE_COLUMNS)]


def edges_at_tick(transfers: pd.DataFrame, tick: int) -> pd.DataFrame:
    """The transfer edges lit at one tick (:func:`edges_in_window` of ``tick..tick``)."""
    return edges_in_window(transfers, tick, tick)


def _curve(x1: float, y1: float, x2: float, y2: float, end_gap: float = 0.0, bend: float = 0.12) -> str:
    """A quadratic Bezier from (x1, y1) towards (x2, y2), bent to the left of its direction so that
    the two directions of a pair are two distinct arcs, stopping ``end_gap`` units short of the
    target (its node's radius: an arrowhead then shows at the node's rim)."""
    mx, my = (x1 + x2) / 2, (y1 + y2) / 2
    dx, dy = x2 - x1, y2 - y1
    cx, cy = mx - dy * bend, my + dx * bend
    ex, ey = x2 - cx, y2 - cy
    norm = math.hypot(ex, ey)
    if norm > 2 * end_gap > 0:
        x2, y2 = x2 - ex / norm * end_gap, y2 - ey / norm * end_gap
    return f"M{x1:.1f} {y1:.1f}Q{cx:.1f} {cy:.1f} {x2:.1f} {y2:.1f}"


def edge_drawing(edges: pd.DataFrame, nodes: pd.DataFrame, limit: int = EDGE_ELEMENT_LIMIT) -> dict:
    """The lit edges as SVG path data, JSON-ready.

    Returns:
        ``{"aggregated": bool, "n_chosen": int, "n_attempted": int, "edges": [...], "paths": {...}}``.
        With at most ``limit`` edges, ``edges`` has one entry per edge (``source, target, state,
        attempts, selected, d``) and ``paths`` is empty; above it ``edges`` is empty and ``paths``
        maps each state to ONE path holding all its edges (one DOM element per state, so a
        1,000-lab tick stays cheap to draw).
    """
    where = nodes.set_index("name")[["x", "y", "radius"]]
    known = edges[edges["source"].isin(where.index) & edges["target"].isin(where.index)]
    n_chosen = int((known["state"] == CHOSEN).sum())
    out = {"aggregated": len(known) > limit, "n_chosen": n_chosen, "n_attempted": int(len(known) - n_chosen),
           "edges": [], "paths": {}}
    if known.empty:
        return out
    xy1 = where.loc[known["source"]].to_numpy()
    xy2 = where.loc[known["target"]].to_numpy()
    d = [_curve(a[0], a[1], b[0], b[1], b[2] + 1.0) for a, b in zip(xy1, xy2)]
    if out["aggregated"]:
        states = known["state"].to_numpy()
        out["paths"] = {state: "".join(p for p, s in zip(d, states) if s == state) for state in (ATTEMPTED, CHOSEN)}
    else:
        out["edges"] = [
            {"source": s, "target": t, "state": st, "attempts": int(a), "selected": int(k), "d": p}
            for s, t, st, a, k, p in zip(known["source"], known["target"], known["state"], known["attempts"],
                                         known["selected"], d)
        ]
    return out


def network_frame(nodes: pd.DataFrame) -> list[dict]:
    """The nodes as JSON-ready dicts (``name, property, period_ticks, color, radius, x, y``)."""
    return [
        {"name": r.name, "property": r.property, "period_ticks": int(r.period_ticks), "color": r.color,
         "radius": float(r.radius), "x": float(r.x), "y": float(r.y)}
        for r in nodes.itertuples(index=False)
    ]


# --------------------------------------------------------------------------- matrices


def transfer_matrix(transfers: pd.DataFrame, labs: Sequence[str], start: int, stop: int,
                    value: str = "selected") -> pd.DataFrame:
    """Source x target counts over ticks ``start..stop`` (both included).

    Args:
        value: ``"selected"`` (transferred models chosen as best) or ``"attempts"`` (built).

    Returns:
        Integer DataFrame, index = source labs, columns = target labs (every lab, in ``labs`` order).

    Raises:
        ViewInputError: ``value`` is neither.
    """
    if value not in ("selected", "attempts"):
        raise ViewInputError(f"value {value!r}: expected 'selected' or 'attempts'")
    edges = edges_in_window(transfers, start, stop)
    matrix = edges.pivot_table(index="source", columns="target", values=value, aggfunc="sum", fill_value=0) \
        if len(edges) else pd.DataFrame()
    matrix = matrix.reindex(index=list(labs), columns=list(labs), fill_value=0).fillna(0).astype("int64")
    matrix.index.name, matrix.columns.name = "source", "target"
    return matrix


def property_matrix(transfers: pd.DataFrame, labs: pd.DataFrame, start: int, stop: int,
                    value: str = "selected") -> pd.DataFrame:
    """:func:`transfer_matrix` summed by the labs' properties (source property x target property)."""
    matrix = transfer_matrix(transfers, labs["name"].tolist(), start, stop, value)
    prop = dict(zip(labs["name"], labs["property"].astype(str)))
    order = list(dict.fromkeys(labs["property"].astype(str)))
    out = matrix.groupby(matrix.index.map(prop)).sum().T.groupby(matrix.columns.map(prop)).sum().T
    out = out.reindex(index=order, columns=order, fill_value=0).astype("int64")
    out.index.name, out.columns.name = "source property", "target property"
    return out


# --------------------------------------------------------------------------- curves


def best_so_far_curves(steps: pd.DataFrame, labs: Sequence[str], last_tick: int) -> pd.DataFrame:
    """Each lab's best-so-far (observed, goal-aware, property units) at the end of every tick.

    Returns:
        index = tick ``-1..last_tick`` (-1: after the initial points), columns = labs (in order);
        a lab that did not act at a tick keeps its previous value; NaN before its first observation.
    """
    ticks = pd.RangeIndex(-1, last_tick + 1, name="tick")
    if steps.empty:
        return pd.DataFrame(index=ticks, columns=list(labs), dtype=float)
    last = steps.sort_values(["tick", "n_obs"], kind="stable").groupby(["tick", "lab"])["best_so_far"].last()
    table = last.unstack("lab").reindex(index=ticks, columns=list(labs)).ffill()
    table.columns.name = None
    return table.astype(float)


def curve_paths(curves: pd.DataFrame, width: float = 600.0, height: float = 260.0, pad: float = 30.0) -> dict:
    """The best-so-far curves as SVG polyline points in a ``width`` x ``height`` box, JSON-ready.

    Returns:
        ``{"labs": {lab: "x,y x,y ..."}, "x_of_tick": {tick: x}, "y_min": float, "y_max": float,
        "box": [width, height, pad]}``; ticks map linearly onto ``pad..width-pad``, values onto
        ``height-pad..pad``.
    """
    ticks = curves.index.to_numpy()
    t0, t1 = (int(ticks[0]), int(ticks[-1])) if len(ticks) else (0, 1)
    values = curves.to_numpy(dtype=float)
    finite = values[np.isfinite(values)]
    y_min, y_max = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
    if y_max == y_min:
        y_min, y_max = y_min - 0.5, y_max + 0.5

    def x_of(t: float) -> float:
        return pad + (t - t0) / max(t1 - t0, 1) * (width - 2 * pad)

    def y_of(v: float) -> float:
        return height - pad - (v - y_min) / (y_max - y_min) * (height - 2 * pad)

    labs = {}
    for lab in curves.columns:
        column = curves[lab]
        points = [f"{x_of(t):.1f},{y_of(v):.1f}" for t, v in zip(ticks, column.to_numpy()) if np.isfinite(v)]
        labs[str(lab)] = " ".join(points)
    return {"labs": labs, "x_of_tick": {int(t): round(x_of(t), 1) for t in ticks}, "y_min": y_min,
            "y_max": y_max, "box": [width, height, pad]}


# --------------------------------------------------------------------------- one lab


@dataclass(frozen=True)
class LabDetail:
    """One lab in one trial of one condition.

    Attributes:
        lab, property, period_ticks: the lab.
        choices: one row per acquisition: ``tick, bpm_source`` (whose model it chose; its own name
            for its from-scratch ensemble), ``bpm_kind`` ("scratch" / "transfer"),
            ``bpm_validation_loss`` (validation MSE, standardized units), ``n_candidates``.
        candidate_losses: one row per (tick, candidate): ``tick, candidate, validation_loss,
            chosen`` (the ``candidate_losses`` JSON column of the step table, long form; ``chosen``:
            the candidate whose loss is the step's ``bpm_validation_loss``, i.e. the model it used).
        measurements: every observation: ``tick, phase, n_obs, material_id, y_observed, y_true,
            best_so_far`` (property units; initial points at tick -1).
        sources: transfers INTO the lab by source: ``source, attempts, selected``.
        targets: transfers OUT OF the lab by target: ``target, attempts, selected``.
    """

    lab: str
    property: str
    period_ticks: int
    choices: pd.DataFrame
    candidate_losses: pd.DataFrame
    measurements: pd.DataFrame
    sources: pd.DataFrame
    targets: pd.DataFrame


CHOICE_COLUMNS = ("tick", "bpm_source", "bpm_kind", "bpm_validation_loss", "n_candidates")
MEASUREMENT_COLUMNS = ("tick", "phase", "n_obs", "material_id", "y_observed", "y_true", "best_so_far")


def lab_detail(steps: pd.DataFrame, transfers: pd.DataFrame, labs: pd.DataFrame, lab: str) -> LabDetail:
    """The detail of one lab from the step and transfer rows of ONE trial of one condition.

    Raises:
        ViewInputError: ``lab`` is not in the lab table.
    """
    table = labs.set_index("name")
    if lab not in table.index:
        raise ViewInputError(f"lab {lab!r}: not in this run; labs: {', '.join(map(str, table.index[:20]))}"
                             + (" ..." if len(table) > 20 else ""))
    rows = steps[steps["lab"] == lab].sort_values(["tick", "n_obs"], kind="stable")
    acted = rows[rows["bpm_source"].fillna("").astype(str) != ""] if "bpm_source" in rows.columns else rows.iloc[0:0]
    choices = acted.reindex(columns=list(CHOICE_COLUMNS)).reset_index(drop=True)
    losses = []
    for tick, text, best in zip(acted["tick"], acted.get("candidate_losses", []), acted["bpm_validation_loss"]):
        parsed = json.loads(text) if isinstance(text, str) and text else {}
        for label, loss in parsed.items():
            losses.append({"tick": int(tick), "candidate": str(label), "validation_loss": float(loss),
                           "chosen": bool(np.isclose(float(loss), float(best), rtol=1e-12, atol=0.0))})
    candidate_losses = pd.DataFrame(losses, columns=["tick", "candidate", "validation_loss", "chosen"])
    measurements = rows.reindex(columns=list(MEASUREMENT_COLUMNS)).reset_index(drop=True)
    empty = transfers.empty

    def by(column: str, other: str) -> pd.DataFrame:
        if empty:
            return pd.DataFrame(columns=[other, "attempts", "selected"])
        mine = transfers[transfers[column] == lab]
        grouped = mine.assign(selected=mine["selected"].astype(bool).astype("int64")).groupby(other, sort=True).agg(
            attempts=("selected", "size"), selected=("selected", "sum"))
        return grouped.reset_index()

    return LabDetail(
        lab=str(lab), property=str(table.at[lab, "property"]), period_ticks=int(table.at[lab, "period_ticks"]),
        choices=choices, candidate_losses=candidate_losses, measurements=measurements,
        sources=by("target", "source"), targets=by("source", "target"),
    )


def topology_path(nodes: pd.DataFrame, links: Sequence[tuple[str, str]]) -> str:
    """The topology's links (each pair once, straight) as ONE SVG path, drawn faint under the lit edges."""
    where = nodes.set_index("name")[["x", "y"]]
    pairs = sorted({tuple(sorted((s, t))) for s, t in links if s != t and s in where.index and t in where.index})
    return "".join(f"M{where.at[a, 'x']:.1f} {where.at[a, 'y']:.1f}L{where.at[b, 'x']:.1f} {where.at[b, 'y']:.1f}"
                   for a, b in pairs)
