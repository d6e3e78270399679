"""Topology sweeps compared: per topology and condition, how many labs reached the threshold and how fast.

Takes the tidy table of a sweep (:mod:`labnet.runs.execution.sweep`) or any table with columns
``topology, condition, lab, n_obs_to_threshold, reached``.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from labnet.runs.reports.analysis import bootstrap_mean_ci
from labnet.runs.reports.plots import ordered_conditions

TOPOLOGY_TABLE_COLUMNS = ("topology", "condition", "n", "n_reached", "reached_share", "mean", "median",
                          "ci_low", "ci_high")
"""Columns of :func:`topology_comparison_table`."""


def check_topology_table(table: pd.DataFrame, metric: str = "n_obs_to_threshold") -> pd.DataFrame:
    """Validate a sweep's tidy table (columns ``topology, condition, lab, <metric>``, ``reached``).

    Returns:
        The table, with ``reached`` derived as ``metric`` not NaN when the column is absent.

    Raises:
        ValueError: a required column is missing (the message names it).
    """
    missing = [c for c in ("topology", "condition", "lab", metric) if c not in table.columns]
    if missing:
        raise ValueError(f"topology comparison table: missing column(s) {', '.join(missing)}; expected at least "
                         f"topology, condition, lab, {metric}, reached (got {', '.join(map(str, table.columns))})")
    if "reached" not in table.columns:
        table = table.assign(reached=table[metric].notna())
    return table


def topology_comparison_table(
    table: pd.DataFrame,
    metric: str = "n_obs_to_threshold",
    seed: int = 0,
    n_resamples: int = 2000,
    confidence: float = 0.95,
) -> pd.DataFrame:
    """Per (topology, condition): how many rows reached the threshold and the metric's statistics.

    Args:
        table: tidy rows (one per topology x condition x trial x lab) with at least ``topology``,
            ``condition``, ``lab``, ``metric`` (NaN = never reached) and ``reached``.
        metric: the column summarized (default ``n_obs_to_threshold``).
        seed, n_resamples, confidence: the percentile bootstrap of the mean
            (:func:`labnet.runs.reports.analysis.bootstrap_mean_ci`).

    Returns:
        Columns :data:`TOPOLOGY_TABLE_COLUMNS`: ``n`` rows, ``n_reached`` of them reached,
        ``reached_share`` = n_reached / n; ``mean``, ``median``, ``ci_low``, ``ci_high`` over the
        reached rows (NaN when none). Topologies in order of appearance, conditions networked,
        isolated, random, then others.

    Raises:
        ValueError: a required column is missing.
    """
    table = check_topology_table(table, metric)
    rows = []
    conditions = ordered_conditions(list(table["condition"].astype(str)))
    for topology in dict.fromkeys(table["topology"].astype(str)):
        of_topology = table[table["topology"].astype(str) == topology]
        for condition in conditions:
            group = of_topology[of_topology["condition"].astype(str) == condition]
            if group.empty:
                continue
            values = group.loc[group["reached"].astype(bool), metric].to_numpy(float)
            values = values[np.isfinite(values)]
            low, high = bootstrap_mean_ci(values, seed=seed, n_resamples=n_resamples, confidence=confidence)
            rows.append({
                "topology": topology,
                "condition": condition,
                "n": int(len(group)),
                "n_reached": int(values.size),
                "reached_share": values.size / len(group),
                "mean": float(values.mean()) if values.size else float("nan"),
                "median": float(np.median(values)) if values.size else float("nan"),
                "ci_low": low,
                "ci_high": high,
            })
    return pd.DataFrame(rows, columns=list(TOPOLOGY_TABLE_COLUMNS))
