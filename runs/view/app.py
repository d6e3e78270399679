"""``labnet view RUN_DIR``: the replay app (Solara) on a recorded run directory.

Thin: every number it shows comes from :mod:`labnet.runs.view.data`; this module lays out the
panels and keeps the state (condition, trial, tick, tick window, selected lab). The network and
the best-so-far curves are Vue components (``vue/*.vue``): Python sends them the nodes once and
the lit edges of the current tick, the browser draws the SVG.

Run it with ``labnet view RUN_DIR`` (see :mod:`labnet.runs.view.serve`), or
``LABNET_VIEW_RUN_DIR=RUN_DIR solara run labnet.runs.view.app:Page``.
"""
from __future__ import annotations

import functools
import html
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import solara

from labnet.runs.view.data import (
    VIEW_HEIGHT, VIEW_WIDTH, LabDetail, ViewInputError, ViewRun, best_so_far_curves, conditions_of, curve_paths,
    edge_drawing, edges_at_tick, lab_detail, layout_positions, network_frame, node_table, property_colors,
    property_matrix, read_view_run, select_view_rows, tick_range, topology_path, transfer_matrix, trials_of,
)

RUN_DIR_ENV = "LABNET_VIEW_RUN_DIR"
"""Environment variable naming the run directory the app shows (set by ``labnet view``)."""
PLAY_INTERVAL_S = 0.8
"""Seconds between two ticks while playing."""
LAB_MATRIX_LIMIT = 40
"""Up to this many labs the transfer matrix is lab x lab; above it, property x property."""

VUE = Path(__file__).with_name("vue")


@solara.component_vue(str(VUE / "network.vue"))
def NetworkSvg(nodes: list, drawing: dict, links: str, tick: int, caption: str, selected_lab: str,
               width: float, height: float, event_lab_click: Callable[[str], None] | None = None):
    """The network: nodes (stable positions), faint topology links, the lit edges of one tick."""


@solara.component_vue(str(VUE / "curves.vue"))
def CurvesSvg(curves: dict, colors: dict, tick: int, selected_lab: str):
    """Every lab's best-so-far curve with the current tick marked."""


# --------------------------------------------------------------------------- cached data


@dataclass(frozen=True)
class Scene:
    """What does not change with the tick: the run, its nodes (positions, colours, sizes), links."""

    run: ViewRun
    nodes: pd.DataFrame
    node_dicts: list
    links: str
    lab_colors: dict


@dataclass(frozen=True)
class Selection:
    """One (condition, trial) of a run: its rows and its best-so-far curves."""

    steps: pd.DataFrame
    transfers: pd.DataFrame
    curves: dict


@functools.lru_cache(maxsize=4)
def load_scene(run_dir: str) -> Scene:
    """The run's :class:`Scene` (read and laid out once per server process)."""
    run = read_view_run(run_dir)
    nodes = node_table(run.labs, layout_positions(run.lab_names, run.links))
    colors = property_colors(run.labs)
    lab_colors = {name: colors[str(p)] for name, p in zip(run.labs["name"], run.labs["property"])}
    return Scene(run, nodes, network_frame(nodes), topology_path(nodes, run.links), lab_colors)


@functools.lru_cache(maxsize=16)
def load_selection(run_dir: str, condition: str, trial: int) -> Selection:
    scene = load_scene(run_dir)
    steps, transfers = select_view_rows(scene.run, condition, trial)
    curves = curve_paths(best_so_far_curves(steps, scene.run.lab_names, tick_range(scene.run)[1]))
    return Selection(steps, transfers, curves)


@functools.lru_cache(maxsize=256)
def tick_drawing(run_dir: str, condition: str, trial: int, tick: int) -> dict:
    """:func:`edge_drawing` of the edges lit at ``tick``."""
    selection = load_selection(run_dir, condition, trial)
    return edge_drawing(edges_at_tick(selection.transfers, tick), load_scene(run_dir).nodes)


# --------------------------------------------------------------------------- HTML tables


def _table_html(table: pd.DataFrame, css_class: str, float_format: str = "{:.4g}") -> str:
    if table.empty:
        return f'<p class="{css_class} empty">none</p>'
    formatters = {c: float_format.format for c in table.columns if pd.api.types.is_float_dtype(table[c])}
    return table.to_html(index=False, classes=[css_class], border=0, formatters=formatters, na_rep="",
                         escape=True)


def matrix_html(matrix: pd.DataFrame) -> str:
    """A count matrix as an HTML table, cells shaded by count (darkest = largest)."""
    top = max(int(matrix.to_numpy().max()) if matrix.size else 0, 1)
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in matrix.columns)
    rows = []
    for source, values in matrix.iterrows():
        cells = "".join(
            f'<td data-source="{html.escape(str(source))}" data-target="{html.escape(str(t))}" '
            f'style="background: rgba(31,119,180,{0.08 + 0.8 * v / top if v else 0:.2f})">{v}</td>'
            for t, v in values.items())
        rows.append(f"<tr><th>{html.escape(str(source))}</th>{cells}</tr>")
    corner = f"{html.escape(str(matrix.index.name))} \\ {html.escape(str(matrix.columns.name))}"
    return (f'<table class="transfer-matrix"><thead><tr><th>{corner}</th>{head}</tr></thead>'
            f'<tbody>{"".join(rows)}</tbody></table>')


def lab_detail_html(detail: LabDetail) -> str:
    """A lab's detail as HTML: its choices, candidates' validation losses, transfers, measurements."""
    losses = detail.candidate_losses
    if len(losses):
        wide = losses.pivot_table(index="tick", columns="candidate", values="validation_loss", aggfunc="first")
        wide = wide.reset_index()
        wide.columns.name = None
    else:
        wide = losses
    name = html.escape(detail.lab)
    return (
        f'<div class="lab-detail-body" data-lab="{name}">'
        f"<h3>Lab {name}</h3><p>property {html.escape(detail.property)}, clock period {detail.period_ticks} "
        f"tick(s)</p>"
        "<h4>Whose model it chose at each step (bpm_source)</h4>" + _table_html(detail.choices, "lab-choices")
        + "<h4>Its candidates' validation losses (MSE, standardized units)</h4>"
        + _table_html(wide, "lab-candidate-losses")
        + "<h4>Models it took from (source: built, chosen)</h4>" + _table_html(detail.sources, "lab-sources")
        + "<h4>Labs that took its model (target: built, chosen)</h4>" + _table_html(detail.targets, "lab-targets")
        + "<h4>Its measurements (property units; tick -1 = initial points)</h4>"
        + _table_html(detail.measurements, "lab-measurements")
        + "</div>"
    )


STYLE = """
.labnet-view table { border-collapse: collapse; font-size: 12px; margin-bottom: 8px; }
.labnet-view th, .labnet-view td { border: 1px solid #ddd; padding: 2px 6px; text-align: right; }
.labnet-view h3 { margin: 4px 0; } .labnet-view h4 { margin: 10px 0 4px 0; font-size: 13px; }
.lab-detail { max-height: 75vh; overflow: auto; }
.matrix-box { overflow: auto; max-height: 45vh; }
"""


def legend_html(colors: dict[str, str]) -> str:
    items = "".join(f'<span style="margin-right:12px"><span style="display:inline-block;width:11px;height:11px;'
                    f'border-radius:50%;background:{c}"></span> {html.escape(p)}</span>' for p, c in colors.items())
    return (f'<div class="legend" style="font-size:12px">{items}<br>node area ∝ speed (1 / clock period); '
            "edge source → target: target built a model from source's; grey = built (attempted), "
            "black with arrow = chosen as its best model; faint lines = topology.</div>")


# --------------------------------------------------------------------------- the app


@solara.component
def ReplayView(run_dir: str):
    """The replay of one run directory: selectors, tick slider and play, network, curves, matrix, lab."""
    try:
        load_scene(str(run_dir))
    except ViewInputError as exc:
        solara.Error(str(exc))
        return
    if load_scene(str(run_dir)).run.steps.empty:
        solara.Error(f"{run_dir}: no steps recorded")
        return
    Replay(str(run_dir))


@solara.component
def Replay(run_dir: str):
    scene = load_scene(run_dir)
    run = scene.run
    first, last = tick_range(run)
    conditions = conditions_of(run)
    condition = solara.use_reactive(conditions[0])
    trial = solara.use_reactive(0)
    tick = solara.use_reactive(first)
    playing = solara.use_reactive(False)
    window = solara.use_reactive((first, last))
    matrix_value = solara.use_reactive("selected")
    lab = solara.use_reactive("")

    trials = trials_of(run, condition.value)
    trial_value = trial.value if trial.value in trials else trials[0]
    selection = load_selection(str(run_dir), condition.value, trial_value)
    drawing = tick_drawing(str(run_dir), condition.value, trial_value, int(tick.value))

    def play() -> None:
        while playing.value:
            time.sleep(PLAY_INTERVAL_S)
            if not playing.value:
                return
            if tick.value >= last:
                playing.value = False
                return
            tick.value = tick.value + 1

    solara.lab.use_task(play, dependencies=[playing.value], prefer_threaded=True)

    solara.Style(STYLE)
    with solara.AppBar():
        solara.AppBarTitle(f"labnet view · {run.scenario.name}")
    with solara.Sidebar():
        with solara.Card("Run"):
            solara.Text(str(run.path), style="font-size: 11px")
            solara.Select("condition", values=conditions, value=condition, classes=["condition-select"])
            solara.Select("trial", values=trials, value=trial_value, on_value=trial.set, classes=["trial-select"])
        with solara.Card("Time"):
            solara.SliderInt("tick", value=tick, min=first, max=last, thumb_label="always")
            with solara.Row():
                solara.Button("❚❚ pause" if playing.value else "▶ play", on_click=lambda: playing.set(not playing.value),
                              classes=["play-button"])
                solara.Button("⟲ start", on_click=lambda: tick.set(first), classes=["rewind-button"])
            solara.Text(f"tick {tick.value}: {drawing['n_chosen']} chosen, {drawing['n_attempted']} attempted-only "
                        "edges" + (" (aggregated)" if drawing["aggregated"] else ""), classes=["tick-status"])
        with solara.Card("Transfer matrix window"):
            solara.SliderRangeInt("ticks", value=window, min=first, max=last)
            solara.ToggleButtonsSingle(value=matrix_value, values=["selected", "attempts"])
    with solara.Column(classes=["labnet-view"]):
        with solara.Columns([3, 2]):
            with solara.Column():
                NetworkSvg(nodes=scene.node_dicts, drawing=drawing, links=scene.links, tick=int(tick.value),
                           caption=f"{condition.value} · trial {trial_value} · tick {tick.value}",
                           selected_lab=lab.value, width=VIEW_WIDTH, height=VIEW_HEIGHT,
                           event_lab_click=lab.set)
                solara.HTML(unsafe_innerHTML=legend_html(property_colors(run.labs)))
                solara.HTML(unsafe_innerHTML="<b>Best so far</b> (observed, property units) per lab; "
                            "dashed line: current tick")
                CurvesSvg(curves=selection.curves, colors=scene.lab_colors, tick=int(tick.value),
                          selected_lab=lab.value)
            with solara.Column():
                if lab.value:
                    detail = lab_detail(selection.steps, selection.transfers, run.labs, lab.value)
                    solara.HTML(unsafe_innerHTML=lab_detail_html(detail), classes=["lab-detail"])
                else:
                    solara.HTML(unsafe_innerHTML="<i>Click a lab to see its detail.</i>", classes=["lab-detail-hint"])
        start, stop = window.value
        if len(run.labs) <= LAB_MATRIX_LIMIT:
            matrix = transfer_matrix(selection.transfers, run.lab_names, start, stop, matrix_value.value)
            title = "lab"
        else:
            matrix = property_matrix(selection.transfers, run.labs, start, stop, matrix_value.value)
            title = "property (too many labs for lab x lab)"
        solara.HTML(unsafe_innerHTML=f"<b>Transfer matrix</b>, {title}: {matrix_value.value} transferred models, "
                    f"source (rows) x target (columns), ticks {start}..{stop}")
        solara.HTML(unsafe_innerHTML=matrix_html(matrix), classes=["matrix-box"])


@solara.component
def Page():
    """The page ``solara run`` serves: the run directory comes from :data:`RUN_DIR_ENV`."""
    run_dir = os.environ.get(RUN_DIR_ENV, "")
    if not run_dir:
        solara.Error(f"no run directory: set {RUN_DIR_ENV}=RUN_DIR or start with `labnet view RUN_DIR`")
        return
    ReplayView(run_dir)
