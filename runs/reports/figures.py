"""The figures of a reproduction study (paper 1's Figs. 3-6 and the transfer graph).

One function per figure; each takes plain tables (the run directory's ``steps.parquet`` /
``transfers.parquet`` rows, or a property table of the whole dataset) and writes one image.
Figures are :class:`matplotlib.figure.Figure` objects on an Agg canvas, as in
:mod:`labnet.runs.reports.plots`: nothing touches pyplot's global state.

Colours: conditions as in :mod:`labnet.runs.reports.plots` (networked blue, isolated orange, random grey);
labs (as the source of a model, or as graph nodes) by :func:`lab_colors`.
Legends are placed outside the panels (below the figure) so they never cover data.
"""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import MaxNLocator
from scipy.stats import pearsonr, spearmanr

from labnet.runs.reports.plots import condition_color, draw_best_so_far

FIG3_BEST_SO_FAR = "fig3_best_so_far.png"
FIG4_VALIDATION_LOSS = "fig4_validation_loss.png"
FIG5_GENERALIZATION = "fig5_generalization.png"
FIG6_PROPERTY_CORRELATIONS = "fig6_property_correlations.png"
TRANSFER_GRAPH = "transfer_graph.png"

MODEL_CONDITIONS = ("networked", "isolated")
"""Conditions whose labs train models (random search has no BPM)."""

_LAB_PALETTE = {"M": "#9467bd", "Tc": "#d62728", "Sp": "#2ca02c"}
_FALLBACK_PALETTE = ("#8c564b", "#e377c2", "#17becf", "#bcbd22", "#9467bd", "#d62728", "#2ca02c", "#7f7f7f")
DPI = 130


# --------------------------------------------------------------------------- helpers


def lab_colors(labs: Sequence[str], properties: Mapping[str, str] | None = None) -> dict[str, str]:
    """Lab -> colour, by the lab's property (M purple, Tc red, Sp green; others from a palette).

    The palette avoids the condition colours (blue, orange), so "which lab" and "which
    condition" never share a colour.
    """
    properties = properties or {}
    colors: dict[str, str] = {}
    spare = iter(c for c in _FALLBACK_PALETTE if c not in _LAB_PALETTE.values())
    for lab in labs:
        key = properties.get(lab, lab)
        color = _LAB_PALETTE.get(key) or _LAB_PALETTE.get(lab)
        if color is None or color in colors.values():
            color = next(spare, "#333333")
        colors[lab] = color
    return colors


def property_label(prop: str, units: Mapping[str, str] | None = None) -> str:
    """``"Tc (K)"``; just the name when its unit is unknown."""
    unit = (units or {}).get(prop)
    return f"{prop} ({unit})" if unit else str(prop)


def _figure(rows: int, columns: int, panel: tuple[float, float], **subplot_kw: object) -> tuple[Figure, np.ndarray]:
    figure = Figure(figsize=(panel[0] * columns, panel[1] * rows), layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.subplots(rows, columns, squeeze=False, **subplot_kw)
    return figure, axes


def _legend_below(figure: Figure, handles: Sequence[object], labels: Sequence[str], title: str | None = None) -> None:
    if handles:
        figure.legend(handles, labels, loc="outside lower center", ncol=min(len(labels), 6), title=title,
                      fontsize="small", frameon=False)


def _save(figure: Figure, path: str | Path) -> Path:
    path = Path(path)
    figure.savefig(path, dpi=DPI)
    return path


def _spans_decades(values: np.ndarray | pd.Series, decades: float = 1.3) -> bool:
    """True when the positive values span more than ``decades`` decades (then a log axis reads better)."""
    values = np.asarray(values, dtype=float)
    values = values[np.isfinite(values) & (values > 0)]
    return bool(values.size) and float(np.log10(values.max() / values.min())) > decades


def _log_if_wide(ax: Axes, values: np.ndarray | pd.Series) -> None:
    """Log y scale when the values span more than about a decade, else linear."""
    if _spans_decades(values):
        ax.set_yscale("log")


def _lab_order(steps: pd.DataFrame) -> list[str]:
    return list(dict.fromkeys(steps["lab"]))


def _lab_property(steps: pd.DataFrame) -> dict[str, str]:
    if "property" not in steps.columns:
        return {lab: lab for lab in _lab_order(steps)}
    return steps.drop_duplicates("lab").set_index("lab")["property"].astype(str).to_dict()


def _panel_title(lab: str, prop: str) -> str:
    return prop if prop == lab else f"{prop} (lab {lab})"


X_OBSERVATIONS = "observations n (initial points included)"


# --------------------------------------------------------------------------- Fig. 3


def plot_best_so_far(
    steps: pd.DataFrame,
    targets: Mapping[str, float],
    path: str | Path,
    units: Mapping[str, str] | None = None,
    target_label: str = "90 % of dataset max",
    title: str | None = None,
) -> Path:
    """Fig. 3: best true value found so far vs observations, one panel per lab.

    Thin lines: single trials; bold: the mean over trials per condition; dashed: the target.

    Args:
        steps: step table (``trial, condition, lab, n_obs, best_true_so_far``; ``property``, ``phase`` used).
        targets: lab -> target line (property units), e.g. 0.9 x the dataset's maximum.
        units: property -> unit for the y labels.
        target_label: legend text of the dashed line (its value is appended per panel).
    """
    labs = _lab_order(steps)
    props = _lab_property(steps)
    figure, axes = _figure(1, len(labs), (4.8, 4.0))
    for ax, lab in zip(axes[0], labs):
        lab_steps = steps[steps["lab"] == lab]
        draw_best_so_far(ax, lab_steps, None)
        heading = _panel_title(lab, props[lab])
        if lab in targets:
            ax.axhline(targets[lab], color="black", linestyle="--", linewidth=1.0, zorder=30)
            unit = (units or {}).get(props[lab], "")
            unit = "" if unit in ("", "dimensionless") else f" {unit}"
            heading += f" (target {targets[lab]:.4g}{unit})"
        ax.set_title(heading)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_ylabel(f"best {property_label(props[lab], units)} so far")
        ax.set_xlabel(X_OBSERVATIONS)
    handles, labels = axes[0][0].get_legend_handles_labels()
    handles.append(Line2D([], [], color="black", linestyle="--", linewidth=1.0))
    labels.append(target_label)
    handles.insert(0, Line2D([], [], color="0.4", alpha=0.4, linewidth=0.8))
    labels.insert(0, "single trials")
    _legend_below(figure, handles, labels)
    figure.suptitle(title or "Best value found so far (true values)")
    return _save(figure, path)


# --------------------------------------------------------------------------- Fig. 4


def plot_validation_loss(
    steps: pd.DataFrame,
    path: str | Path,
    conditions: Sequence[str] = MODEL_CONDITIONS,
    title: str | None = None,
) -> Path:
    """Fig. 4: validation loss of the chosen model (BPM) vs observations.

    One row per condition (networked, isolated), one column per lab; every action of every
    trial is a marker coloured by the lab whose model the BPM came from (``bpm_source``);
    a thin black line is the median over trials. Log y scale when the losses span more than a decade.

    Args:
        steps: step table (``condition, trial, lab, n_obs, phase, bpm_source, bpm_validation_loss``).
    """
    labs = _lab_order(steps)
    props = _lab_property(steps)
    colors = lab_colors(labs, props)
    acted = steps[steps["bpm_validation_loss"].notna() & (steps["bpm_source"].astype(str) != "")]
    rows = [c for c in conditions if (acted["condition"] == c).any()] or list(conditions[:1])
    figure, axes = _figure(len(rows), len(labs), (4.4, 3.1), sharex="col", sharey="col")
    for r, condition in enumerate(rows):
        for c, lab in enumerate(labs):
            ax = axes[r][c]
            data = acted[(acted["condition"] == condition) & (acted["lab"] == lab)]
            size, alpha = (14, 0.75) if len(data) < 400 else (6, 0.5)
            for source in [s for s in labs if (data["bpm_source"] == s).any()]:
                own = data[data["bpm_source"] == source]
                ax.scatter(own["n_obs"], own["bpm_validation_loss"], s=size, color=colors[source], alpha=alpha,
                           linewidths=0, zorder=3)
            if not data.empty:
                median = data.groupby("n_obs")["bpm_validation_loss"].median()
                ax.plot(median.index, median.to_numpy(), color="black", linewidth=0.9, alpha=0.8, zorder=4)
            else:
                ax.text(0.5, 0.5, "no actions", ha="center", va="center", transform=ax.transAxes, color="0.5")
            ax.set_title(f"{_panel_title(lab, props[lab])}: {condition}", fontsize="medium")
            ax.grid(alpha=0.25)
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
            if c == 0:
                ax.set_ylabel("BPM validation MSE\n(lab-standardized, dimensionless)")
            if r == 0:  # y is shared within a column: decide the scale once, from every row
                _log_if_wide(ax, acted.loc[acted["lab"] == lab, "bpm_validation_loss"])
            if r == len(rows) - 1:
                ax.set_xlabel(X_OBSERVATIONS)
    used = [s for s in labs if (acted["bpm_source"] == s).any()]
    handles = [Line2D([], [], marker="o", linestyle="", color=colors[s], markersize=6) for s in used]
    labels = [f"{s} ({props[s]})" if props[s] != s else s for s in used]
    handles.append(Line2D([], [], color="black", linewidth=0.9))
    labels.append("median over trials")
    _legend_below(figure, handles, labels, title="BPM taken from lab")
    figure.suptitle(title or "Validation loss of the chosen model (BPM), coloured by the lab it came from")
    return _save(figure, path)


# --------------------------------------------------------------------------- Fig. 5


def generalization_in_property_units(steps: pd.DataFrame) -> pd.Series:
    """The logged ``generalization_mse`` converted to an RMSE in the property's units.

    A BO lab standardizes its targets with the mean/std (ddof 0) of the observations it had
    *before* the action (agents/lab.py), so ``RMSE = sqrt(mse) * std(y_observed[: n_obs - 1])``
    with std 1 when the observations are all equal. NaN where ``generalization_mse`` is NaN.
    """
    out = pd.Series(np.nan, index=steps.index, dtype=float)
    for _, run in steps.groupby(["trial", "condition", "lab"], sort=False):
        run = run.sort_values("n_obs")
        y = run["y_observed"].to_numpy(float)
        mse = run["generalization_mse"].to_numpy(float)
        stds = np.array([_population_std(y[: i]) for i in range(len(y))])  # row i has n_obs = i + 1
        out.loc[run.index] = np.sqrt(mse) * stds
    return out


def _population_std(values: np.ndarray) -> float:
    if values.size == 0:
        return float("nan")
    std = float(values.std())
    return std if np.isfinite(std) and std >= 1e-12 else 1.0


def _mean_band(ax: Axes, data: pd.DataFrame, column: str, color: str, label: str, log: bool) -> None:
    grouped = data.groupby("n_obs")[column]
    mean, std = grouped.mean(), grouped.std(ddof=1).fillna(0.0)
    x = mean.index.to_numpy()
    low, high = (mean - std).to_numpy(), (mean + std).to_numpy()
    if log:  # a band below zero cannot be drawn on a log axis: clip it at a tenth of the mean
        low = np.maximum(low, mean.to_numpy() / 10)
    ax.fill_between(x, low, high, color=color, alpha=0.2, linewidth=0)
    ax.plot(x, mean.to_numpy(), color=color, linewidth=1.8, label=label)


def plot_generalization(
    steps: pd.DataFrame,
    path: str | Path,
    units: Mapping[str, str] | None = None,
    conditions: Sequence[str] = MODEL_CONDITIONS,
    title: str | None = None,
) -> Path:
    """Fig. 5: error of the chosen model on every unmeasured material vs observations.

    Top row: ``generalization_mse`` as logged (MSE in the lab's standardized units); bottom
    row: the same error as an RMSE in the property's units
    (:func:`generalization_in_property_units`), which does not move when a lab's data
    spread changes. Lines: mean over trials; bands: ±1 standard deviation over trials. The top row
    is on a log axis when its values span more than about a decade.
    """
    labs = _lab_order(steps)
    props = _lab_property(steps)
    data = steps[steps["condition"].isin(conditions)].copy()  # initial points kept: they set the std
    data["rmse_units"] = generalization_in_property_units(data) if not data.empty else pd.Series(dtype=float)
    data = data[data["generalization_mse"].notna()]
    figure, axes = _figure(2, len(labs), (4.4, 3.1), sharex="col")
    present = [c for c in conditions if (data["condition"] == c).any()]
    for c, lab in enumerate(labs):
        for r, (column, ylabel, log) in enumerate(
            (
                ("generalization_mse", "MSE on unmeasured materials\n(lab-standardized, dimensionless)", True),
                ("rmse_units", f"RMSE on unmeasured materials\n{property_label(props[lab], units)}", False),
            )
        ):
            ax = axes[r][c]
            log = log and _spans_decades(data.loc[data["lab"] == lab, column])
            for index, condition in enumerate(present):
                rows = data[(data["condition"] == condition) & (data["lab"] == lab)]
                if not rows.empty:
                    _mean_band(ax, rows, column, condition_color(condition, index), condition, log)
            if log:
                ax.set_yscale("log")
            ax.set_ylabel(ylabel, fontsize="small")
            ax.grid(alpha=0.25)
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
            if r == 0:
                ax.set_title(_panel_title(lab, props[lab]))
            else:
                ax.set_xlabel(X_OBSERVATIONS)
    handles = [Line2D([], [], color=condition_color(c, i), linewidth=1.8) for i, c in enumerate(present)]
    labels = [f"{c}: mean over trials, band ±1 s.d." for c in present]
    _legend_below(figure, handles, labels)
    figure.suptitle(title or "Generalization error of the chosen model (BPM) on all unmeasured materials")
    return _save(figure, path)


# --------------------------------------------------------------------------- Fig. 6


def correlation_coefficients(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """(Pearson r, Spearman rho) of two equal-length arrays (NaN when a side is constant)."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    if x.size < 2 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return (float("nan"), float("nan"))
    return (float(pearsonr(x, y).statistic), float(spearmanr(x, y).statistic))


def plot_property_correlations(
    values: pd.DataFrame,
    path: str | Path,
    units: Mapping[str, str] | None = None,
    title: str | None = None,
    gridsize: int = 45,
) -> Path:
    """Fig. 6: pairwise hexbin scatter of the properties over the whole dataset.

    One panel per pair of columns of ``values`` (the dataset's ground truth, one column per
    property); colour = number of materials per hexagon (log scale); the panel title gives
    Pearson r and Spearman rho over all rows.
    """
    props = list(values.columns)
    pairs = [(a, b) for i, a in enumerate(props) for b in props[i + 1 :]]
    if not pairs:
        raise ValueError(f"need at least two property columns to correlate (got {props})")
    columns = min(3, len(pairs))
    rows = math.ceil(len(pairs) / columns)
    figure, axes = _figure(rows, columns, (4.3, 3.9))
    flat = axes.ravel()
    image = None
    for ax, (a, b) in zip(flat, pairs):
        x, y = values[a].to_numpy(float), values[b].to_numpy(float)
        image = ax.hexbin(x, y, gridsize=gridsize, bins="log", mincnt=1, cmap="viridis", linewidths=0.1)
        r, rho = correlation_coefficients(x, y)
        heading = f"all: Pearson r = {r:.2f}, Spearman ρ = {rho:.2f}"
        both = (x != 0) & (y != 0)
        if 0.05 < 1 - both.mean() and both.sum() >= 2:  # many exact zeros (e.g. non-magnetic alloys)
            r0, rho0 = correlation_coefficients(x[both], y[both])
            heading += f"\nboth ≠ 0 ({both.sum():,}): r = {r0:.2f}, ρ = {rho0:.2f}"
        ax.set_title(heading, fontsize="medium")
        ax.set_xlabel(property_label(a, units))
        ax.set_ylabel(property_label(b, units))
    for ax in flat[len(pairs) :]:
        ax.remove()
    if image is not None:
        figure.colorbar(image, ax=list(flat[: len(pairs)]), label="materials per hexagon", shrink=0.9)
    figure.suptitle(title or f"Correlations between the target properties ({len(values):,} materials)")
    return _save(figure, path)


# --------------------------------------------------------------------------- transfer graph

PHASES = ("early", "late")


def transfer_counts(transfers: pd.DataFrame, horizon_ticks: int, condition: str | None = "networked") -> pd.DataFrame:
    """Transfer events aggregated per (source, target, phase), summed over trials.

    ``early`` = ticks ``< horizon_ticks / 2``, ``late`` = the rest. Every (source, target)
    pair with at least one attempt gets both phase rows (zeros where nothing happened).

    Args:
        transfers: ``transfers.parquet`` rows (``tick, source, target, selected``; ``condition`` filtered
            when present and ``condition`` is not None).
        horizon_ticks: the run's horizon.

    Returns:
        Columns ``source, target, phase, ticks`` (e.g. "0-149"), ``attempts`` (transferred candidate
        models built), ``selected`` (times chosen as BPM), ``selected_share`` (selected / attempts).
    """
    if condition is not None and "condition" in transfers.columns:
        transfers = transfers[transfers["condition"] == condition]
    half = horizon_ticks / 2
    split = math.ceil(half)
    ranges = {"early": f"0-{split - 1}", "late": f"{split}-{horizon_ticks - 1}"}
    frame = transfers[["source", "target", "tick", "selected"]].copy()
    frame["phase"] = np.where(frame["tick"] < half, "early", "late")
    frame["selected"] = frame["selected"].astype(bool).astype(int)
    grouped = frame.groupby(["source", "target", "phase"], sort=False).agg(
        attempts=("selected", "size"), selected=("selected", "sum")
    )
    pairs = list(dict.fromkeys(zip(frame["source"], frame["target"])))
    index = pd.MultiIndex.from_tuples([(s, t, p) for s, t in pairs for p in PHASES], names=["source", "target", "phase"])
    out = grouped.reindex(index, fill_value=0).reset_index()
    out.insert(3, "ticks", out["phase"].map(ranges))
    out["attempts"] = out["attempts"].astype(int)
    out["selected"] = out["selected"].astype(int)
    out["selected_share"] = np.where(out["attempts"] > 0, out["selected"] / out["attempts"].clip(lower=1), np.nan)
    return out


def plot_transfer_graph(
    counts: pd.DataFrame,
    path: str | Path,
    labs: Sequence[str] | None = None,
    properties: Mapping[str, str] | None = None,
    n_trials: int | None = None,
    title: str | None = None,
) -> Path:
    """Who transferred to whom: labs as nodes, edge source -> target when target used source's models.

    Edge width grows with the times the source's model was chosen as the target's BPM (summed
    over trials); label ``total (early | late)``. Edges with attempts but no selection are thin
    and dashed. A table beside the graph gives attempts and selections per phase.

    Args:
        counts: :func:`transfer_counts` output.
        labs: nodes in order (default: every lab in ``counts``); labs without transfers still show.
            When given, transfers from sources that are not labs (pool models) are left out.
        properties: lab -> property (node colour and label).
    """
    import networkx as nx

    if labs is not None:
        counts = counts[counts["source"].isin(labs) & counts["target"].isin(labs)]
    labs = list(labs) if labs is not None else list(dict.fromkeys([*counts["source"], *counts["target"]]))
    properties = dict(properties or {})
    colors = lab_colors(labs, properties)
    totals = counts.groupby(["source", "target"], sort=False)[["attempts", "selected"]].sum()
    by_phase = counts.set_index(["source", "target", "phase"])

    graph = nx.DiGraph()
    graph.add_nodes_from(labs)
    for (source, target), row in totals.iterrows():
        graph.add_edge(source, target, attempts=int(row["attempts"]), selected=int(row["selected"]))

    figure = Figure(figsize=(11.5, 4.8), layout="constrained")
    FigureCanvasAgg(figure)
    ax_graph, ax_table = figure.subplots(1, 2, width_ratios=[1.15, 1.0])
    angles = np.pi / 2 - 2 * np.pi * np.arange(len(labs)) / max(len(labs), 1)
    pos = {lab: (math.cos(a), math.sin(a)) for lab, a in zip(labs, angles)}
    node_size = 2600
    nx.draw_networkx_nodes(graph, pos, ax=ax_graph, node_color=[colors[n] for n in labs], nodelist=labs,
                           node_size=node_size, edgecolors="black", linewidths=1.0)
    nx.draw_networkx_labels(
        graph, pos, ax=ax_graph, font_color="white", font_weight="bold",
        labels={n: n if properties.get(n, n) == n else f"{n}\n{properties[n]}" for n in labs},
    )
    most = max([d["selected"] for _, _, d in graph.edges(data=True)] + [1])
    chosen = [(s, t) for s, t, d in graph.edges(data=True) if d["selected"] > 0]
    never = [(s, t) for s, t, d in graph.edges(data=True) if d["selected"] == 0]
    style = "arc3,rad=0.18"

    def phase_count(source: str, target: str, phase: str) -> int:
        key = (source, target, phase)
        return int(by_phase.loc[key, "selected"]) if key in by_phase.index else 0

    if chosen:
        nx.draw_networkx_edges(
            graph, pos, ax=ax_graph, edgelist=chosen, node_size=node_size, connectionstyle=style, arrowstyle="-|>",
            arrowsize=18, width=[1.2 + 7.0 * graph.edges[e]["selected"] / most for e in chosen],
            edge_color=[colors[s] for s, _ in chosen], alpha=0.85,
        )
    if never:
        nx.draw_networkx_edges(graph, pos, ax=ax_graph, edgelist=never, node_size=node_size, connectionstyle=style,
                               arrowstyle="-|>", arrowsize=12, width=0.8, style="dashed", edge_color="0.55")
    edge_labels = {
        (s, t): f"{d['selected']} ({phase_count(s, t, 'early')} | {phase_count(s, t, 'late')})"
        for s, t, d in graph.edges(data=True)
    }
    for edge, text in edge_labels.items():  # one call per edge: the label's frame takes the source's colour
        nx.draw_networkx_edge_labels(
            graph, pos, ax=ax_graph, edge_labels={edge: text}, connectionstyle=style, node_size=node_size,
            font_size=9, rotate=False,
            bbox={"boxstyle": "round,pad=0.25", "fc": "white", "ec": colors[edge[0]], "lw": 1.2, "alpha": 0.95},
        )
    ax_graph.set_xlim(-1.45, 1.45)
    ax_graph.set_ylim(-1.35, 1.4)
    ax_graph.set_aspect("equal")
    ax_graph.axis("off")
    ax_graph.set_title("edge source → target: target chose source's model as BPM\n"
                       "label: times chosen (early | late); width ∝ times chosen; dashed: never chosen",
                       fontsize="small")

    ax_table.axis("off")
    header = ["source → target", "built\nearly", "chosen\nearly", "built\nlate", "chosen\nlate", "chosen\ntotal"]
    cells = []
    for (source, target), row in totals.iterrows():
        def get(phase: str, column: str) -> int:
            key = (source, target, phase)
            return int(by_phase.loc[key, column]) if key in by_phase.index else 0

        cells.append([f"{source} → {target}", get("early", "attempts"), get("early", "selected"),
                      get("late", "attempts"), get("late", "selected"), int(row["selected"])])
    if cells:
        ticks = counts.drop_duplicates("phase").set_index("phase")["ticks"].to_dict() if "ticks" in counts else {}
        table = ax_table.table(cellText=[[str(v) for v in r] for r in cells], colLabels=header, loc="center",
                               cellLoc="center", colWidths=[0.26] + [0.148] * 5)
        table.auto_set_font_size(False)
        table.set_fontsize(9)
        table.scale(1.0, 1.6)
        for (r, _), cell in table.get_celld().items():
            if r == 0:
                cell.set_height(cell.get_height() * 1.6)
                cell.set_facecolor("#eeeeee")
        note = "built = transferred candidate models trained; chosen = selected as BPM"
        if ticks:
            note += "\n" + "; ".join(f"{p}: ticks {ticks[p]}" for p in PHASES if p in ticks)
        ax_table.set_title(note, fontsize="small")
    else:
        ax_table.text(0.5, 0.5, "no transfer events", ha="center", va="center", color="0.5")
    trials = f", summed over {n_trials} trial{'s' if n_trials != 1 else ''}" if n_trials else ""
    figure.suptitle(title or f"Transfer graph of the networked condition{trials}")
    return _save(figure, path)
