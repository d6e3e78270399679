"""Figures of a run. Each function draws onto given axes or writes one file.

Figures are built with :class:`matplotlib.figure.Figure` directly (Agg canvas), so
nothing here touches pyplot's global state or the user's interactive backend.
"""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path

import pandas as pd
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from labnet.runs.reports.analysis import CONDITION_ORDER

CONDITION_COLORS = {"networked": "#1f77b4", "isolated": "#ff7f0e", "random": "#7f7f7f"}
FALLBACK_COLORS = ("#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#17becf")


def condition_color(condition: str, index: int = 0) -> str:
    """Fixed colour of a condition (networked blue, isolated orange, random grey)."""
    return CONDITION_COLORS.get(condition, FALLBACK_COLORS[index % len(FALLBACK_COLORS)])


def ordered_conditions(conditions: Sequence[str]) -> list[str]:
    """Conditions in the canonical order networked, isolated, random, then the others."""
    present = list(dict.fromkeys(conditions))
    return [c for c in CONDITION_ORDER if c in present] + [c for c in present if c not in CONDITION_ORDER]


def new_figure(n_panels: int, max_columns: int = 3, panel_size: tuple[float, float] = (4.4, 3.4)) -> tuple[Figure, list[Axes]]:
    """A figure with ``n_panels`` axes on a grid (row-major); unused grid cells are removed."""
    columns = max(1, min(n_panels, max_columns))
    rows = max(1, math.ceil(n_panels / columns))
    figure = Figure(figsize=(panel_size[0] * columns, panel_size[1] * rows), layout="constrained")
    FigureCanvasAgg(figure)
    axes = [figure.add_subplot(rows, columns, i + 1) for i in range(n_panels)]
    return figure, axes


def draw_best_so_far(ax: Axes, lab_steps: pd.DataFrame, threshold: float | None = None) -> None:
    """One lab's best-so-far curves: a thin line per (condition, trial), a bold mean per condition.

    Args:
        lab_steps: that lab's rows of the step table (``condition, trial, n_obs, best_true_so_far``).
        threshold: drawn as a dashed horizontal line when given.
    """
    conditions = ordered_conditions(lab_steps["condition"])
    for index, condition in enumerate(conditions):
        color = condition_color(condition, index)
        on_top = 2 + len(conditions) - index  # networked drawn above the baselines
        rows = lab_steps[lab_steps["condition"] == condition]
        for _, trial in rows.groupby("trial", sort=True):
            trial = trial.sort_values("n_obs")
            ax.plot(trial["n_obs"], trial["best_true_so_far"], color=color, alpha=0.3, linewidth=0.7, zorder=on_top)
        mean = rows.groupby("n_obs")["best_true_so_far"].mean()
        ax.plot(mean.index, mean.to_numpy(), color=color, linewidth=2.2, label=f"{condition} (mean)", zorder=on_top + 10)
    if threshold is not None:
        ax.axhline(threshold, color="black", linestyle="--", linewidth=1.0, label="threshold")
    if "phase" in lab_steps.columns:
        initial = lab_steps.loc[lab_steps["phase"] == "initial", "n_obs"]
        if not initial.empty:
            ax.axvline(initial.max(), color="0.6", linestyle=":", linewidth=1.0, label="end of initial points")
    ax.set_xlabel("observations (initial points included)")
    ax.set_ylabel("best true value so far")
    ax.grid(alpha=0.25)


def plot_best_so_far(
    steps: pd.DataFrame,
    thresholds: Mapping[str, float],
    path: str | Path,
    title: str | None = None,
) -> Path:
    """Write the best-so-far figure: one panel per lab, all conditions overlaid.

    Args:
        steps: the run's step table (``trial, condition, lab, n_obs, best_true_so_far``;
            ``property`` and ``phase`` used when present).
        thresholds: lab -> threshold (dashed line); labs missing here get none.
        path: output file (format from the suffix, e.g. ``.png``).
        title: figure title.

    Returns:
        ``path`` as a :class:`Path`.
    """
    labs = list(dict.fromkeys(steps["lab"]))
    figure, axes = new_figure(len(labs))
    for ax, lab in zip(axes, labs):
        lab_steps = steps[steps["lab"] == lab]
        draw_best_so_far(ax, lab_steps, thresholds.get(lab))
        prop = lab_steps["property"].iloc[0] if "property" in lab_steps.columns else None
        if prop is None or str(prop) == str(lab):
            ax.set_title(f"{prop if prop is not None else lab}")
        else:
            ax.set_title(f"{prop} (lab {lab})")
    if axes:
        axes[0].legend(fontsize="small", loc="best")
    if title:
        figure.suptitle(title)
    path = Path(path)
    figure.savefig(path, dpi=120)
    return path


def plot_time_to_threshold(obs: pd.DataFrame, path: str | Path, title: str | None = None) -> Path:
    """Write the Kaplan-Meier figure of time to threshold: one panel per lab, a curve per condition.

    Each curve is the KM estimate of the share of trials that have **not yet** reached the target
    after n observations (initial points counted), with its 95 % pointwise band (lifelines,
    exponential Greenwood); unreached trials are censored at their last observation (ticks on the
    curve). The dotted vertical line is the lab's restriction time tau of the RMST.

    Args:
        obs: :func:`labnet.runs.reports.analysis.observations_to_threshold` table.
        path: output file (format from the suffix).
        title: figure title.
    """
    from labnet.runs.reports.analysis import lab_restriction_times
    from labnet.runs.reports.survival import km_curve, survival_data

    data = survival_data(obs)
    taus = lab_restriction_times(obs)
    labs = list(dict.fromkeys(data["lab"]))
    figure, axes = new_figure(len(labs))
    for ax, lab in zip(axes, labs):
        of_lab = data[data["lab"] == lab]
        for index, condition in enumerate(ordered_conditions(of_lab["condition"])):
            runs = of_lab[of_lab["condition"] == condition]
            curve = km_curve(runs["time"].to_numpy(float), runs["event"].to_numpy(bool))
            color = condition_color(condition, index)
            reached = int(runs["event"].sum())
            ax.step(curve["time"], curve["survival"], where="post", color=color, linewidth=1.8,
                    label=f"{condition} ({reached}/{len(runs)} reached)")
            ax.fill_between(curve["time"], curve["ci_low"], curve["ci_high"], step="post", color=color, alpha=0.15)
            censored = runs[~runs["event"]]
            if not censored.empty:
                levels = [float(curve.loc[curve["time"] <= t, "survival"].iloc[-1]) for t in censored["time"]]
                ax.plot(censored["time"], levels, linestyle="", marker="|", markersize=8, color=color)
        ax.axvline(taus[str(lab)], color="0.5", linestyle=":", linewidth=1.0, label="tau (RMST)")
        prop = of_lab["property"].iloc[0] if "property" in of_lab.columns else None
        ax.set_title(f"{prop} (lab {lab})" if prop is not None and str(prop) != str(lab) else str(lab))
        ax.set_xlabel("observations (initial points included)")
        ax.set_ylabel("share of trials not yet at the target")
        ax.set_ylim(-0.02, 1.02)
        ax.grid(alpha=0.25)
        ax.legend(fontsize="small", loc="best")
    if title:
        figure.suptitle(title)
    path = Path(path)
    figure.savefig(path, dpi=120)
    return path
