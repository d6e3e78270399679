"""Topology sweeps compared: per topology and condition, how many labs reached the threshold and how fast.

Takes the tidy table of a sweep (:mod:`labnet.runs.execution.sweep`) or any table with columns
``topology, condition, lab, n_obs_to_threshold, reached``.

**Each lab's own horizon.** A row's restricted time is ``min(T, h)`` with ``h`` the smallest last
observation of that lab in that network (same seed, trial and other axes) over every topology and
condition of the table (:func:`restricted_times`); unreached rows count ``h``. Every run of the
lab is followed up to ``h``, so ``min(T, h)`` is observed for all of them and any two rows of the
lab compare over the same span, as a run's per-lab tau does (:mod:`labnet.runs.reports.survival`).
A fast lab counts up to its own 40 observations instead of the slowest lab's 14.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from labnet.runs.reports.analysis import MIN_PAIRS_FOR_VERDICT, bootstrap_mean_ci
from labnet.runs.reports.plots import ordered_conditions
from labnet.runs.reports.survival import cluster_bootstrap_mean_ci

ROW_COLUMNS = frozenset({"point", "topology", "condition", "lab", "property", "goal", "threshold",
                         "n_obs_to_threshold", "reached", "n_obs_total", "run_dir"})
"""Columns of the tidy table that describe a row, not the network it belongs to."""

TOPOLOGY_TABLE_COLUMNS = ("topology", "condition", "n", "n_reached", "reached_share", "tau_min", "tau_max", "rmst",
                          "rmst_ci_low", "rmst_ci_high", "n_clusters", "diff_vs_isolated", "diff_ci_low",
                          "diff_ci_high", "verdict", "mean", "median", "ci_low", "ci_high")
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


def network_keys(table: pd.DataFrame) -> list[str]:
    """The columns naming a network: every column of the tidy table but the per-row ones (seed,
    n_labs, other sweep axes, trial)."""
    return [c for c in table.columns if c not in ROW_COLUMNS]


def horizons(table: pd.DataFrame) -> pd.Series:
    """Per row ``h``: the smallest ``n_obs_total`` of that (network, lab) over the table's rows."""
    pair = [*network_keys(table), "lab"]
    return table.groupby(pair, dropna=False)["n_obs_total"].transform("min").astype(float)


def restricted_times(table: pd.DataFrame, metric: str = "n_obs_to_threshold",
                     horizon: pd.Series | None = None) -> pd.Series:
    """Per row ``min(T, h)`` (module docstring), unreached rows counting ``h``: ``horizon`` when
    given (the caller's :func:`horizons` of the same table), else computed here."""
    time = table[metric].where(table["reached"].astype(bool), np.inf).astype(float)
    return np.minimum(time, horizons(table) if horizon is None else horizon).rename("restricted")


def _clusters(table: pd.DataFrame) -> pd.Series:
    """The resampling unit: a (point, trial) or a trial (every lab of it resampled together)."""
    keys = [c for c in ("point", "trial") if c in table.columns]
    if not keys:
        return pd.Series(np.arange(len(table)), index=table.index).astype(str)
    return table[keys].astype(str).agg("/".join, axis=1)


def topology_comparison_table(
    table: pd.DataFrame,
    metric: str = "n_obs_to_threshold",
    seed: int = 0,
    n_resamples: int = 2000,
    confidence: float = 0.95,
) -> pd.DataFrame:
    """Per (topology, condition): the reached share and the restricted mean time to threshold (RMST).

    Args:
        table: tidy rows (one per topology x condition x trial x lab) with at least ``topology``,
            ``condition``, ``lab``, ``metric`` (NaN = never reached) and ``reached``; ``n_obs_total``
            (each run's last observation) gives the RMST columns (NaN without it).
        metric: the column summarized (default ``n_obs_to_threshold``).
        seed, n_resamples, confidence: the percentile bootstraps.

    Returns:
        Columns :data:`TOPOLOGY_TABLE_COLUMNS`: ``n`` rows (labs x trials), ``n_reached`` of them
        reached, ``reached_share``; ``tau_min`` / ``tau_max``: the smallest and largest horizon
        ``h`` of its rows; the headline ``rmst`` = mean over rows of min(time, h), unreached rows
        counting their lab's horizon (module docstring), with a 95 % cluster-bootstrap CI
        resampling whole trials (``n_clusters`` = (point, trial) units);
        on networked rows ``diff_vs_isolated`` = RMST networked - isolated over the rows paired by
        (point, trial, lab), its paired cluster-bootstrap CI and ``verdict`` ("networked faster",
        "isolated faster", "undecided" when the CI includes 0, "undecided (N < 6 networks)" when
        fewer than 6 (point, trial) clusters make the bootstrap); then, for comparison, ``mean``,
        ``median``, ``ci_low``, ``ci_high`` over the reached rows only (NaN when none).
        Topologies in order of appearance, conditions networked, isolated, random, then others.

    Raises:
        ValueError: a required column is missing.
    """
    table = check_topology_table(table, metric)
    has_total = "n_obs_total" in table.columns and len(table) > 0
    if has_total:
        horizon = horizons(table)
        table = table.assign(_horizon=horizon, _restricted=restricted_times(table, metric, horizon))
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
            row = {"topology": topology, "condition": condition, "n": int(len(group)), "n_reached": int(values.size),
                   "reached_share": values.size / len(group),
                   "tau_min": float(group["_horizon"].min()) if has_total else np.nan,
                   "tau_max": float(group["_horizon"].max()) if has_total else np.nan, "rmst": np.nan, "rmst_ci_low": np.nan,
                   "rmst_ci_high": np.nan, "n_clusters": np.nan, "diff_vs_isolated": np.nan, "diff_ci_low": np.nan,
                   "diff_ci_high": np.nan, "verdict": "",
                   "mean": float(values.mean()) if values.size else float("nan"),
                   "median": float(np.median(values)) if values.size else float("nan"),
                   "ci_low": low, "ci_high": high}
            if has_total:
                restricted = group["_restricted"].to_numpy(float)
                clusters = _clusters(group).to_numpy()
                row["rmst"] = float(restricted.mean())
                row["rmst_ci_low"], row["rmst_ci_high"] = cluster_bootstrap_mean_ci(restricted, clusters, seed, n_resamples,
                                                                             confidence)
                row["n_clusters"] = int(np.unique(clusters).size)
                if condition == "networked":
                    row.update(_paired_vs_isolated(of_topology, seed, n_resamples, confidence))
            rows.append(row)
    return pd.DataFrame(rows, columns=list(TOPOLOGY_TABLE_COLUMNS))


def _paired_vs_isolated(of_topology: pd.DataFrame, seed: int, n_resamples: int,
                        confidence: float) -> dict[str, object]:
    keys = [c for c in ("point", "trial", "lab") if c in of_topology.columns]
    by_condition = {c: g.set_index(keys) for c, g in of_topology.groupby(of_topology["condition"].astype(str))}
    if "isolated" not in by_condition or "trial" not in keys:
        return {}
    networked, isolated = by_condition["networked"], by_condition["isolated"]
    common = networked.index.intersection(isolated.index)
    if common.empty:
        return {}
    net, iso = networked.loc[common].reset_index(), isolated.loc[common].reset_index()
    d = net["_restricted"].to_numpy(float) - iso["_restricted"].to_numpy(float)
    clusters = _clusters(net).to_numpy()
    low, high = cluster_bootstrap_mean_ci(d, clusters, seed, n_resamples, confidence)
    verdict = "undecided" if low <= 0 <= high else ("networked faster" if high < 0 else "isolated faster")
    if np.unique(clusters).size < MIN_PAIRS_FOR_VERDICT:  # a bootstrap over so few networks is no interval
        verdict = f"undecided (N < {MIN_PAIRS_FOR_VERDICT} networks)"
    return {"diff_vs_isolated": float(d.mean()), "diff_ci_low": low, "diff_ci_high": high, "verdict": verdict}
