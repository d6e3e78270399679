"""Topologies ranked by how fast their labs reach the threshold, with simultaneous paired CIs.

The question of a topology sweep (issue 15 item 5) is a ranking: which topology lets its labs
reach the threshold sooner, and is the order decided? The statistics here answer it.

- **Unit of replication: the network** (a sweep point's seed and trial, every axis but the
  topology). Labs of one network share its models, so they are not independent; a network's labs
  are averaged first.
- **Paired across topologies.** For one seed every topology has the same world, the same labs
  (property, period) and the same initial points (a sweep varies only the graph), so lab ``l`` of
  network ``s`` under topology A and under B is a pair. Its restricted time is
  ``min(T, h)``, with ``h`` the lab's own horizon (its smallest last observation in that network
  over the topologies ranked: a fast lab counts up to its 40 observations, a slow one up to 14;
  :func:`labnet.runs.reports.topology_comparison.restricted_times`), unreached runs counting ``h``. ``T`` is observations to threshold, initial points counted.
- **Network RMST** ``R_s(A)`` = mean over the network's labs of ``min(T, h)``; a topology's RMST is
  the mean of ``R_s(A)`` over networks. The difference of A and B is ``D_s = R_s(A) - R_s(B)``.
- **Simultaneous intervals.** Each of the ``m = K (K - 1) / 2`` pairs of ``K`` topologies gets the
  paired t-interval of ``mean(D_s)`` over ``S`` networks at level ``1 - alpha / m`` (Bonferroni):
  with probability at least ``1 - alpha`` every interval covers its difference at once, so the
  ranking read from them holds jointly.
- **Verdict per pair:** "<A> faster" / "<B> faster" when the interval excludes 0, "no difference
  detected (half-width <= P)" when its half-width is at most the stated precision ``P`` observations,
  else "undecided". **The ranking** is decided when every pair adjacent in the order by RMST is
  decided by sign; the topologies are **indistinguishable at +-P** when every pair's interval
  contains 0 and has half-width at most P ("partly ranked" when some of those exclude 0); otherwise it is
  undecided at ``S`` networks, and the table says which difference ``S`` networks detect with 80 %
  power and how many networks a difference of ``effect`` observations needs.
- Beside it, the **Friedman test** of "all topologies equal" (ranks within each network; scipy).

Shapes: ``table`` is the tidy sweep table (:func:`labnet.runs.execution.sweep.tidy_results`), one
row per (point, trial, condition, lab).
"""
from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations

import numpy as np
import pandas as pd
from scipy.stats import friedmanchisquare

from labnet.runs.reports.survival import detectable_difference, pairs_needed, paired_t_interval
from labnet.runs.reports.topology_comparison import check_topology_table, network_keys, restricted_times

RANKING_COLUMNS = ("topology_a", "topology_b", "networks", "lab_runs", "rmst_a", "rmst_b", "difference", "sd",
                   "alpha_pair", "ci_low", "ci_high", "half_width", "verdict", "detectable_80", "networks_needed")
"""Columns of :attr:`TopologyRanking.pairs`."""


def format_level(alpha: float) -> str:
    """A confidence level ``1 - alpha`` as text that keeps the digits that matter: ``0.9967`` for
    alpha >= 1e-4, else ``1 - 1.1e-07`` (an early look's tiny alpha would otherwise print as 1.0000)."""
    return f"{1 - alpha:.4f}" if alpha >= 1e-4 else f"1 - {alpha:.2g}"


@dataclass(frozen=True)
class TopologyRanking:
    """Networks' RMST per topology, every pair's simultaneous interval, and the ranking's verdict."""

    network_rmst: pd.DataFrame
    """One row per network (index: its key), one column per topology: mean over labs of min(T, h)."""
    pairs: pd.DataFrame
    """Columns :data:`RANKING_COLUMNS`, one row per pair of topologies (a before b in sweep order)."""
    order: list[str]
    """Topologies from the smallest RMST (fastest) to the largest."""
    verdict: str
    friedman_p: float
    alpha: float
    precision: float | None
    effect: float

    def text(self, markdown: bool = True) -> str:
        """The ranking as a short report (a table of pairs and the verdict)."""
        s, k = len(self.network_rmst), len(self.order)
        lines = [
            f"Ranking by RMST (observations to threshold, unreached counting the lab's horizon; smaller is faster), "
            f"{s} networks x {k} topologies, networked labs:",
            "",
            " < ".join(f"{t} {self.network_rmst[t].mean():.2f}" for t in self.order),
            "",
            f"**Verdict: {self.verdict}.**" if markdown else f"Verdict: {self.verdict}.",
            "",
            f"Pairs: paired t-intervals over networks, Bonferroni over {len(self.pairs)} pairs (each at "
            f"{format_level(self.alpha / max(len(self.pairs), 1))}; all hold jointly with >= "
            f"{format_level(self.alpha)}). "
            f"Friedman test of all topologies equal: p = {self.friedman_p:.3g} (N = {s} networks). "
            f"`detectable_80`: the difference these {s} networks detect with 80 % power; `networks_needed`: "
            f"networks a fixed-size study needs to detect a difference of {self.effect:g} observations (80 % power, "
            f"same level).",
            "",
        ]
        header = ("| A | B | A - B [simultaneous CI] | verdict | detectable with 80 % power | networks to detect "
                  f"{self.effect:g} |")
        lines += [header, "|---|---|---|---|--:|--:|"]
        for row in self.pairs.itertuples():
            lines.append(f"| {row.topology_a} | {row.topology_b} | {row.difference:+.2f} [{row.ci_low:+.2f}, "
                         f"{row.ci_high:+.2f}] | {row.verdict} | {row.detectable_80:.2f} | {row.networks_needed:.0f} |")
        return "\n".join(lines) + "\n"


def network_rmst_table(table: pd.DataFrame, condition: str = "networked") -> pd.DataFrame:
    """Per network (rows) and topology (columns, sweep order): mean over labs of ``min(T, h)``.

    Only networks present under every topology are kept (the pairing needs all of them).

    Raises:
        ValueError: a required column is missing, or no row has ``condition``.
    """
    table = check_topology_table(table)
    if "n_obs_total" not in table.columns:
        raise ValueError("topology ranking: the table has no n_obs_total column (each run's last observation)")
    rows = table[table["condition"].astype(str) == condition].copy()
    if rows.empty:
        raise ValueError(f"topology ranking: no row has condition {condition!r} "
                         f"(conditions: {', '.join(sorted(set(table['condition'].astype(str))))})")
    keys = network_keys(rows)
    rows["_restricted"] = restricted_times(rows)
    rows["_topology"] = rows["topology"].astype(str)
    wide = rows.pivot_table(index=keys or None, columns="_topology", values="_restricted", aggfunc="mean")
    topologies = list(dict.fromkeys(rows["_topology"]))
    return wide[topologies].dropna(how="any")


def rank_topologies(
    table: pd.DataFrame,
    condition: str = "networked",
    alpha: float = 0.05,
    precision: float | None = None,
    effect: float = 1.0,
    power: float = 0.8,
) -> TopologyRanking:
    """Rank the topologies of a sweep by RMST with simultaneous paired intervals (module docstring).

    Args:
        table: the tidy sweep table (columns ``topology, condition, lab, n_obs_to_threshold, reached,
            n_obs_total`` and the network's keys, e.g. ``seed``, ``trial``).
        condition: the condition ranked (default ``networked``).
        alpha: the joint error rate of all pairs' intervals.
        precision: observations; a pair whose interval's half-width is at most this is "no
            difference detected (half-width <= precision)". None: only sign decides.
        effect: observations; the difference ``networks_needed`` is computed for.
        power: the power ``detectable_80`` and ``networks_needed`` refer to.

    Raises:
        ValueError: a required column is missing, no row has ``condition``, or fewer than 2 topologies.
    """
    wide = network_rmst_table(table, condition)
    topologies = list(wide.columns)
    if len(topologies) < 2:
        raise ValueError(f"topology ranking: needs at least 2 topologies, got {topologies}")
    n_pairs = len(topologies) * (len(topologies) - 1) // 2
    alpha_pair = alpha / n_pairs
    lab_runs = int(table[table["condition"].astype(str) == condition].groupby("topology")["lab"].size().min())
    rows = []
    for a, b in combinations(topologies, 2):
        interval = paired_t_interval((wide[a] - wide[b]).to_numpy(), alpha_pair)
        detectable = detectable_difference(interval.n, interval.sd, alpha_pair, power)
        rows.append({"topology_a": a, "topology_b": b, "networks": interval.n, "lab_runs": lab_runs,
                     "rmst_a": float(wide[a].mean()), "rmst_b": float(wide[b].mean()),
                     "difference": interval.difference, "sd": interval.sd, "alpha_pair": alpha_pair,
                     "ci_low": interval.ci_low, "ci_high": interval.ci_high, "half_width": interval.half_width,
                     "verdict": interval.verdict(a, b, precision), "detectable_80": float(detectable),
                     "networks_needed": pairs_needed(effect, interval.sd, alpha=alpha_pair, power=power)})
    pairs = pd.DataFrame(rows, columns=list(RANKING_COLUMNS))
    order = sorted(topologies, key=lambda t: float(wide[t].mean()))
    friedman = (float(friedmanchisquare(*[wide[t].to_numpy() for t in topologies]).pvalue)
                if len(topologies) >= 3 and len(wide) >= 2 else float("nan"))
    return TopologyRanking(wide, pairs, order, _ranking_verdict(pairs, order, precision), friedman, alpha,
                           precision, effect)


def _ranking_verdict(pairs: pd.DataFrame, order: list[str], precision: float | None) -> str:
    by_pair = {frozenset((r.topology_a, r.topology_b)): r for r in pairs.itertuples()}
    adjacent = [by_pair[frozenset(p)] for p in zip(order, order[1:])]
    if all(r.ci_low > 0 or r.ci_high < 0 for r in adjacent):
        return "ranking decided: " + " < ".join(order)
    decided = sum(bool(r.ci_low > 0 or r.ci_high < 0) for r in pairs.itertuples())
    if precision is not None and all(r.half_width <= precision for r in pairs.itertuples()):
        if decided == 0:
            return (f"indistinguishable at +-{precision:g} observations: every pair's interval contains 0 and is at "
                    f"most +-{precision:g} wide")
        return (f"partly ranked: every pair's interval is at most +-{precision:g} observations wide and {decided} of "
                f"{len(pairs)} pairs are decided by sign")
    networks = int(pairs["networks"].min())
    return (f"undecided at {networks} networks ({decided} of {len(pairs)} pairs decided by sign; "
            f"the smallest difference detectable with 80 % power is {pairs['detectable_80'].min():.2f} observations)")
