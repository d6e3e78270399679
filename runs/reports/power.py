"""How many trials a given effect needs at the spread a run observed (``labnet power RUN_DIR``).

For each lab and named comparison (networked minus each baseline) the run gives the per-trial
paired differences of the restricted time to threshold, d_i = min(T_a,i, tau) - min(T_b,i, tau)
(observations; :func:`labnet.runs.reports.analysis.paired_restricted_times`). Their standard
deviation sd_d is the spread a paired study faces; a two-sided paired t-test at level alpha
detects a mean difference ``effect`` with probability ``power`` given the fewest n pairs whose
noncentral-t power reaches it (:func:`labnet.runs.reports.survival.pairs_needed`). Without
``--effect`` the run's own observed difference is used (and the paper's, for a paper
reproduction, where it reports one).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from labnet.runs.reports.analysis import paired_restricted_times
from labnet.runs.reports.survival import pairs_needed, power_at

POWER_CSV = "power.csv"
POWER_COLUMNS = ("lab", "comparison", "n_pairs", "tau", "observed_difference", "sd_paired", "effect",
                 "effect_source", "power_now", "trials_needed")


def read_observations(run_dir: str | Path) -> pd.DataFrame:
    """``observations_to_threshold.csv`` of a run directory.

    Raises:
        FileNotFoundError: no such directory or file (the message names it).
    """
    path = Path(run_dir).expanduser() / "observations_to_threshold.csv"
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found: expected a run directory written by labnet run/reproduce "
                                "with at least one finished trial x condition")
    return pd.read_csv(path, keep_default_na=False, na_values={"n_obs_to_threshold": [""]},
                       dtype={"condition": str, "lab": str})


def power_table(obs: pd.DataFrame, effect: float | None = None, alpha: float = 0.05, power: float = 0.8,
                paper_effects: dict[tuple[str, str], float] | None = None) -> pd.DataFrame:
    """Per lab and comparison: observed paired spread and the trials an effect needs.

    Args:
        obs: observations_to_threshold table.
        effect: the RMST difference to detect (observations; its sign does not matter); None: the
            observed difference, plus ``paper_effects`` rows where given.
        alpha, power: level of the two-sided paired test and the power wanted.
        paper_effects: (lab, comparison) -> the paper's difference of means, for extra rows.

    Returns:
        Columns :data:`POWER_COLUMNS`; ``power_now`` = power of the run's N against ``effect``,
        ``trials_needed`` = pairs (trials per condition) for ``power``; NaN where the spread is
        unknown (fewer than 2 pairs); inf for a zero effect.
    """
    pairs = paired_restricted_times(obs)
    rows = []
    for (lab, comparison), group in pairs.groupby(["lab", "comparison"], sort=False):
        d = group["d"].to_numpy(float)
        sd = float(d.std(ddof=1)) if d.size > 1 else float("nan")
        observed = float(d.mean())
        effects = [(effect, "given")] if effect is not None else [(observed, "observed")]
        if effect is None and paper_effects and (lab, comparison) in paper_effects:
            effects.append((paper_effects[(lab, comparison)], "paper"))
        for value, source in effects:
            rows.append({"lab": lab, "comparison": comparison, "n_pairs": int(d.size), "tau": float(group["tau"].iloc[0]),
                         "observed_difference": observed, "sd_paired": sd, "effect": float(value),
                         "effect_source": source, "power_now": power_at(int(d.size), value, sd, alpha),
                         "trials_needed": pairs_needed(value, sd, alpha, power)})
    return pd.DataFrame(rows, columns=list(POWER_COLUMNS))


def format_power(table: pd.DataFrame, alpha: float = 0.05, power: float = 0.8) -> str:
    """The power table as aligned text, with a line saying what it assumes."""
    def num(value: float, fmt: str) -> str:
        if pd.isna(value):
            return "-"
        return "inf" if np.isinf(value) else fmt.format(value)

    header = ("lab", "comparison", "N", "tau", "observed diff", "sd (paired)", "effect", "power now",
              f"trials for {power:.0%}")
    rows = [(str(r["lab"]), str(r["comparison"]), str(r["n_pairs"]), num(r["tau"], "{:.0f}"),
             num(r["observed_difference"], "{:+.2f}"), num(r["sd_paired"], "{:.2f}"),
             f"{num(r['effect'], '{:+.2f}')} ({r['effect_source']})", num(r["power_now"], "{:.0%}"),
             num(r["trials_needed"], "{:.0f}")) for r in table.to_dict("records")]
    widths = [max(len(x[i]) for x in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in [header, *rows]]
    lines.insert(1, "  ".join("-" * w for w in widths))
    lines.append(f"(RMST differences in observations up to tau; two-sided paired t-test at alpha = {alpha:g}, "
                 "power from the noncentral t; trials = pairs = trials per condition)")
    return "\n".join(lines)


def paper_effects_of(run_dir: str | Path) -> dict[tuple[str, str], float]:
    """For a paper reproduction: (lab, "networked - <baseline>") -> the paper's difference of its means.

    The study is named by ``run_info.json`` (``labnet reproduce``) or by the scenario's name in
    ``scenario.yaml``; an ordinary run gives {}.
    """
    import json

    import yaml

    from labnet.runs.reports.catalog import STUDIES

    run_dir = Path(run_dir).expanduser()
    name = None
    info, scenario = run_dir / "run_info.json", run_dir / "scenario.yaml"
    try:
        if info.is_file():
            name = json.loads(info.read_text(encoding="utf-8")).get("study")
        if name not in STUDIES and scenario.is_file():
            scenario_name = (yaml.safe_load(scenario.read_text(encoding="utf-8")) or {}).get("name")
            name = next((study for study, module in STUDIES.items() if module.SCENARIO == scenario_name), None)
    except (OSError, ValueError, yaml.YAMLError):
        return {}
    if name not in STUDIES:
        return {}
    values = getattr(STUDIES[name], "MEAN_OBSERVATIONS_TO_90", {}) or {}
    out = {}
    for lab, by_condition in values.items():
        for baseline in ("isolated", "random"):
            if "networked" in by_condition and baseline in by_condition:
                out[(lab, f"networked - {baseline}")] = float(by_condition["networked"]) - float(by_condition[baseline])
    return out
