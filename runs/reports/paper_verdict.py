"""A paper's networked-vs-isolated effect, per lab: reproduced, contradicted, or undecided at N.

For a paper reproduction (``labnet reproduce``) the paper reports, per lab, mean observations to
the threshold networked and isolated; its effect is their difference
(:func:`labnet.runs.reports.power.paper_effects_of`, networked - isolated, negative = networked
faster). Ours is the paired RMST difference over the trials, with its interval:

- an until-decided study's interval at the look where it stopped (``sequential.csv``: paired
  t-interval at level 1 - alpha_k, the group-sequential design of
  :mod:`labnet.runs.execution.until_decided`), when it covers the run's trials;
- else the paired t-interval at level 1 - alpha over the run's trials.

Verdict (the interval [lo, hi] of networked - isolated, the paper's difference ``e``):

- **reproduced**: the interval excludes 0 on the paper's side ("... ; the paper's size lies outside
  the interval" is added when ``e`` is not in it);
- **contradicted**: the interval excludes 0 on the other side, or it holds 0 but excludes ``e``
  (the paper's effect is too large for these data);
- **undecided at N trials**: the interval holds both 0 and ``e``; the row gives the power N trials
  have against ``e`` (paired t-test at the interval's level) and the trials a fixed-size study
  needs for 80 % power at alpha = 0.05.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from labnet.runs.reports.analysis import paired_restricted_times
from labnet.runs.reports.survival import PairedTInterval, pairs_needed, paired_t_interval, power_at

VERDICTS_CSV = "paper_verdicts.csv"
VERDICT_COLUMNS = ("lab", "comparison", "n_pairs", "tau", "difference", "ci_low", "ci_high", "level", "interval_from",
                   "paper_difference", "sd_paired", "power_vs_paper", "trials_needed_80", "verdict")


def paper_verdicts(obs: pd.DataFrame, paper_effects: dict[tuple[str, str], float],
                   sequential: pd.DataFrame | None = None, alpha: float = 0.05) -> pd.DataFrame:
    """One row per (lab, comparison) the paper reports (module docstring).

    Args:
        obs: the run's ``observations_to_threshold`` table.
        paper_effects: (lab, "networked - isolated") -> the paper's difference of means (observations).
        sequential: an until-decided study's last-look intervals (``sequential.csv``), or None.
        alpha: the level of the fixed-size interval when ``sequential`` does not cover the run.

    Returns:
        Columns :data:`VERDICT_COLUMNS` (``level``: the interval's confidence; ``interval_from``:
        "until-decided look" or "fixed N").
    """
    pairs = paired_restricted_times(obs)
    looks = {} if sequential is None else {(r["lab"], r["comparison"]): r for r in sequential.to_dict("records")}
    rows = []
    for (lab, comparison), group in pairs.groupby(["lab", "comparison"], sort=False):
        if (lab, comparison) not in paper_effects:
            continue
        d = group["d"].to_numpy(float)
        look = looks.get((lab, comparison))
        if look is not None and int(look["n"]) == d.size:
            level_alpha, source = float(look["alpha_k"]), "until-decided look"
        else:
            level_alpha, source = alpha, "fixed N"
        interval = paired_t_interval(d, level_alpha)
        effect = float(paper_effects[(lab, comparison)])
        power = power_at(interval.n, effect, interval.sd, level_alpha)
        rows.append({"lab": lab, "comparison": comparison, "n_pairs": interval.n, "tau": float(group["tau"].iloc[0]),
                     "difference": interval.difference, "ci_low": interval.ci_low, "ci_high": interval.ci_high,
                     "level": 1 - level_alpha, "interval_from": source, "paper_difference": effect,
                     "sd_paired": interval.sd, "power_vs_paper": power,
                     "trials_needed_80": pairs_needed(effect, interval.sd, 0.05, 0.8),
                     "verdict": _verdict(interval, effect, power)})
    return pd.DataFrame(rows, columns=list(VERDICT_COLUMNS))


def _verdict(interval: PairedTInterval, effect: float, power: float) -> str:
    inside = interval.ci_low <= effect <= interval.ci_high
    if interval.excludes_zero:
        if (interval.ci_high < 0) == (effect < 0):
            return "reproduced" + ("" if inside else "; the paper's size lies outside the interval")
        return "contradicted (the other condition is faster)"
    if not inside:
        return "contradicted (the paper's difference lies outside the interval)"
    return f"undecided at {interval.n} trials (power {power:.0%} against the paper's difference)"


def verdicts_markdown(table: pd.DataFrame) -> str:
    """The verdict table as a markdown section."""
    if table.empty:
        return ""
    lines = ["## Verdict against the paper", "",
             "Networked − isolated, paired RMST difference in observations (negative: networked faster), "
             "beside the paper's difference of means (runs/reports/paper_verdict.py).", "",
             "| lab | N | ours [CI] | level | paper | power vs paper | trials for 80 % | verdict |",
             "|---|--:|--:|--:|--:|--:|--:|---|"]
    for r in table.to_dict("records"):
        needed = "inf" if np.isinf(r["trials_needed_80"]) else f"{r['trials_needed_80']:.0f}"
        lines.append(f"| {r['lab']} | {r['n_pairs']} | {r['difference']:+.2f} [{r['ci_low']:+.2f}, {r['ci_high']:+.2f}] "
                     f"| {r['level']:.4f} ({r['interval_from']}) | {r['paper_difference']:+.1f} | "
                     f"{r['power_vs_paper']:.0%} | {needed} | {r['verdict']} |")
    return "\n".join(lines) + "\n"


def write_paper_verdicts(run_dir: str | Path, obs: pd.DataFrame, sequential: pd.DataFrame | None = None) -> pd.DataFrame:
    """``paper_verdicts.csv`` in a paper reproduction's run directory (empty table and no file for
    an ordinary run); ``sequential``: the until-decided study's ``sequential.csv``, if any."""
    from labnet.runs.reports.power import paper_effects_of

    run_dir = Path(run_dir)
    effects = {key: value for key, value in paper_effects_of(run_dir).items() if key[1] == "networked - isolated"}
    if not effects:
        return pd.DataFrame(columns=list(VERDICT_COLUMNS))
    table = paper_verdicts(obs, effects, sequential)
    table.to_csv(run_dir / VERDICTS_CSV, index=False)
    return table
