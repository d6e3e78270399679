"""The tick table: one row per tick of a network, derived from its step and transfer tables.

Everything here is a function of the two tables the network already records (and the runner
streams and checkpoints), so it is computed on demand rather than collected every tick: it
works on a live :class:`~labnet.simulation.network.ExplorationNetwork`
(:meth:`~labnet.simulation.network.ExplorationNetwork.tick_table`) and on the rows of one
(trial, condition) of a finished run's ``steps.parquet`` / ``transfers.parquet``.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

TICK_COLUMNS: tuple[str, ...] = (
    "tick",
    "acquisitions",
    "n_obs",
    "mean_best_true_so_far",
    "transfers_built",
    "transfers_selected",
)
"""Columns of :func:`tick_frame`, in order."""


def tick_frame(steps: pd.DataFrame, transfers: pd.DataFrame, n_ticks: int) -> pd.DataFrame:
    """Per-tick state of one network at the end of ticks 0 .. n_ticks-1.

    Args:
        steps: the step table of one network (one trial and condition): at least ``tick``,
            ``lab``, ``n_obs``, ``best_true_so_far``, initial points at tick -1.
        transfers: its transfer table: at least ``tick`` and ``selected``.
        n_ticks: ticks run (``network.tick``); ticks at which no lab acted get a row too.

    Returns:
        Columns :data:`TICK_COLUMNS`: ``acquisitions`` (measurements made at the tick),
        ``n_obs`` (observations of all labs so far, initial points included),
        ``mean_best_true_so_far`` (mean over labs of each lab's best true value so far, property
        units; labs of different properties mix, so compare it within one network),
        ``transfers_built`` and ``transfers_selected`` (transferred candidate models built, and
        chosen as the BPM, so far).
    """
    if n_ticks < 0:
        raise ValueError(f"n_ticks = {n_ticks}: expected >= 0")
    missing = [c for c in ("tick", "lab", "n_obs", "best_true_so_far") if c not in steps.columns]
    missing += [f"transfers.{c}" for c in ("tick", "selected") if c not in transfers.columns]
    if missing:
        raise ValueError(f"tick_frame: missing column(s) {', '.join(missing)}")
    ticks = pd.RangeIndex(n_ticks, name="tick")
    every = pd.RangeIndex(-1, n_ticks)
    latest = steps.sort_values(["tick", "n_obs"], kind="stable").groupby(["tick", "lab"])[["n_obs", "best_true_so_far"]].last()
    n_obs = latest["n_obs"].unstack("lab").reindex(every).ffill().reindex(ticks)
    best = latest["best_true_so_far"].unstack("lab").reindex(every).ffill().reindex(ticks)
    built = transfers.groupby("tick").size().reindex(ticks, fill_value=0)
    selected = transfers.groupby("tick")["selected"].sum().reindex(ticks, fill_value=0)
    acquisitions = steps[steps["tick"] >= 0].groupby("tick").size().reindex(ticks, fill_value=0)
    return pd.DataFrame({
        "tick": np.arange(n_ticks, dtype=np.int64),
        "acquisitions": acquisitions.to_numpy(dtype=np.int64),
        "n_obs": n_obs.sum(axis=1).to_numpy(dtype=np.int64),
        "mean_best_true_so_far": best.mean(axis=1).to_numpy(dtype=np.float64),
        "transfers_built": built.cumsum().to_numpy(dtype=np.int64),
        "transfers_selected": selected.cumsum().to_numpy(dtype=np.int64),
    }, columns=list(TICK_COLUMNS))
