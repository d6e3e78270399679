"""Degenerate-study checks: targets that the candidates or the initial random points already reach.

A study whose target many candidates already meet says nothing about learning: the random initial
points reach it. :func:`threshold_checks` counts, per lab, the candidates at or past its threshold
and the runs that reached it within their initial points; :func:`degenerate_warnings` turns the
counts into warnings (printed by the runner and written into ``summary.md``).
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from labnet.runs.reports.analysis import reaches

CANDIDATE_SHARE_WARNING = 0.05
"""Warn when at least this share of the candidates is already at or past a lab's threshold."""
INITIAL_SHARE_WARNING = 0.5
"""Warn when the threshold was reached within the initial points in at least this share of runs."""

CHECK_COLUMNS = ("lab", "property", "goal", "threshold", "rule", "n_candidates", "n_past", "share_past",
                 "initial_points", "n_runs", "n_reached_in_initial", "share_reached_in_initial")


def threshold_rule(goal: str, fraction: float, low: float, high: float) -> str:
    """How the threshold follows from the dataset, in words right for the goal and the sign."""
    pct = f"{fraction:.0%}".replace("%", " %")
    if goal == "minimize":
        return f"<= max - {pct} of the range (dataset min {low:.4g}, max {high:.4g})"
    if low == 0:
        return f">= {pct} of the dataset maximum ({high:.4g}; minimum 0)"
    return f">= min + {pct} of the range (dataset min {low:.4g}, max {high:.4g})"


def threshold_checks(
    labs: Sequence[Any],
    thresholds: Mapping[str, float],
    space: Any,
    fraction: float,
    obs: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Per lab: the candidates already at or past its threshold and the runs reached within the initial points.

    Args:
        labs: lab specs with ``name, property, goal, initial_points`` (the scenario's labs).
        thresholds: lab -> threshold (property units).
        space: the material space (``values(property)``: one value per candidate; ``minimum``, ``maximum``).
        fraction: the scenario's ``threshold_fraction``.
        obs: :func:`labnet.runs.reports.analysis.observations_to_threshold` of the finished runs, if any.

    Returns:
        Columns :data:`CHECK_COLUMNS`; ``n_runs`` and ``n_reached_in_initial`` are 0 without ``obs``.
    """
    rows = []
    for lab in labs:
        values = np.asarray(space.values(lab.property), dtype=float)
        past = int(reaches(values, float(thresholds[lab.name]), lab.goal).sum())
        runs = obs[obs["lab"] == lab.name] if obs is not None else None
        n_runs = int(len(runs)) if runs is not None else 0
        early = int((runs["reached"].astype(bool) & (runs["n_obs_to_threshold"] <= lab.initial_points)).sum()) \
            if runs is not None else 0
        rows.append({
            "lab": lab.name, "property": lab.property, "goal": lab.goal, "threshold": float(thresholds[lab.name]),
            "rule": threshold_rule(lab.goal, fraction, float(space.minimum(lab.property)),
                                   float(space.maximum(lab.property))),
            "n_candidates": int(values.size), "n_past": past, "share_past": past / values.size if values.size else np.nan,
            "initial_points": int(lab.initial_points), "n_runs": n_runs, "n_reached_in_initial": early,
            "share_reached_in_initial": early / n_runs if n_runs else np.nan,
        })
    return pd.DataFrame(rows, columns=list(CHECK_COLUMNS))


def degenerate_warnings(checks: pd.DataFrame) -> list[str]:
    """One sentence per lab whose study is degenerate (see the module docstring)."""
    out = []
    for rec in checks.to_dict("records"):
        sign = "<=" if rec["goal"] == "minimize" else ">="
        target = f"{rec['property']} {sign} {rec['threshold']:.4g}"
        if rec["share_past"] >= CANDIDATE_SHARE_WARNING:
            out.append(f"lab {rec['lab']}: {rec['share_past']:.1%} of the candidates ({rec['n_past']} of "
                       f"{rec['n_candidates']}) are already at or past its target {target}; random initial points "
                       f"will often reach it (warned from {CANDIDATE_SHARE_WARNING:.0%})")
        if rec["n_runs"] and rec["share_reached_in_initial"] >= INITIAL_SHARE_WARNING:
            out.append(f"lab {rec['lab']}: the target {target} was reached within the {rec['initial_points']} "
                       f"initial random points in {rec['n_reached_in_initial']} of {rec['n_runs']} runs "
                       f"({rec['share_reached_in_initial']:.0%}); the comparison says little about learning")
    return out


def format_checks(checks: pd.DataFrame) -> str:
    """The checks as a Markdown table."""
    lines = ["| lab | property | target | how the target is set | candidates past it | "
             "runs reached within the initial points |", "|---|---|--:|---|--:|--:|"]
    for rec in checks.to_dict("records"):
        sign = "<=" if rec["goal"] == "minimize" else ">="
        runs = (f"{rec['n_reached_in_initial']}/{rec['n_runs']} (initial points: {rec['initial_points']})"
                if rec["n_runs"] else "-")
        lines.append(f"| {rec['lab']} | {rec['property']} | {sign} {rec['threshold']:.4g} | {rec['rule']} | "
                     f"{rec['n_past']} of {rec['n_candidates']} ({rec['share_past']:.1%}) | {runs} |")
    return "\n".join(lines)
