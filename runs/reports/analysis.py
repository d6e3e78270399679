"""The headline metric: observations until a lab's best-so-far reaches a threshold.

Convention (the paper's): ``n_obs`` counts **every** observation of a lab, the initial
random points included. A lab whose initial points already contain a material at or
beyond the threshold reaches it at the ``n_obs`` of that initial point (≤ the number of
initial points).

Tables:
    steps: one row per observation (runner's ``steps.parquet``) with at least
        ``trial, condition, lab, n_obs, best_true_so_far`` (``property`` used if present).
    obs: :func:`observations_to_threshold`'s output, one row per (trial, condition, lab).
    summary: :func:`summarize`'s output, one row per (lab, condition).
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from scipy.stats import mannwhitneyu

CONDITION_ORDER = ("networked", "isolated", "random")
GROUP_KEYS = ["trial", "condition", "lab"]


def reaches(values: np.ndarray | pd.Series, threshold: float, goal: str = "maximize") -> np.ndarray:
    """Boolean mask: ``values >= threshold`` for maximize, ``<=`` for minimize (NaN never reaches)."""
    values = np.asarray(values, dtype=float)
    if goal == "minimize":
        return values <= threshold
    if goal == "maximize":
        return values >= threshold
    raise ValueError(f"goal = {goal!r}: expected 'maximize' or 'minimize'")


def observations_to_threshold(
    steps: pd.DataFrame,
    thresholds: Mapping[str, float],
    goals: Mapping[str, str] | None = None,
) -> pd.DataFrame:
    """First ``n_obs`` at which each lab's ``best_true_so_far`` reaches its threshold.

    The initial random points are counted (``n_obs`` is 1-based over all of a lab's
    observations), as in paper 1.

    Args:
        steps: per-observation table (see module docstring).
        thresholds: lab -> threshold in the property's units.
        goals: lab -> "maximize" | "minimize" (default maximize).

    Returns:
        One row per (trial, condition, lab), in order of first appearance, with columns
        ``trial, condition, lab, property, goal, threshold, n_obs_to_threshold`` (float,
        NaN if never reached), ``reached`` (bool) and ``n_obs_total`` (the lab's
        observations in that run: the censoring point for unreached runs).
    """
    goals = dict(goals or {})
    missing = sorted(set(steps["lab"].unique()) - set(thresholds))
    if missing:
        raise ValueError(f"no threshold for lab(s) {', '.join(map(str, missing))}")
    frame = steps[GROUP_KEYS + ["n_obs", "best_true_so_far"]].copy()
    frame["_hit"] = False
    for lab, rows in frame.groupby("lab", sort=False).groups.items():
        values = frame.loc[rows, "best_true_so_far"]
        frame.loc[rows, "_hit"] = reaches(values, float(thresholds[lab]), goals.get(lab, "maximize"))

    grouped = frame.groupby(GROUP_KEYS, sort=False)
    out = grouped["n_obs"].max().rename("n_obs_total").to_frame()
    first = frame[frame["_hit"]].groupby(GROUP_KEYS, sort=False)["n_obs"].min()
    out["n_obs_to_threshold"] = first.reindex(out.index).astype(float)
    out = out.reset_index()

    properties = (
        steps.drop_duplicates("lab").set_index("lab")["property"]
        if "property" in steps.columns
        else pd.Series(dtype=object)
    )
    out.insert(3, "property", out["lab"].map(properties))
    out.insert(4, "goal", out["lab"].map(lambda lab: goals.get(lab, "maximize")))
    out.insert(5, "threshold", out["lab"].map(lambda lab: float(thresholds[lab])))
    out["reached"] = out["n_obs_to_threshold"].notna()
    out["n_obs_total"] = out["n_obs_total"].astype(int)
    return out[GROUP_KEYS + ["property", "goal", "threshold", "n_obs_to_threshold", "reached", "n_obs_total"]]


def bootstrap_mean_ci(
    values: Sequence[float] | np.ndarray, seed: int = 0, n_resamples: int = 2000, confidence: float = 0.95
) -> tuple[float, float]:
    """Percentile bootstrap confidence interval of the mean (seeded; NaNs if ``values`` is empty)."""
    values = np.asarray(values, dtype=float)
    if values.size == 0:
        return (float("nan"), float("nan"))
    rng = np.random.default_rng(seed)
    means = values[rng.integers(0, values.size, size=(n_resamples, values.size))].mean(axis=1)
    tail = 100 * (1 - confidence) / 2
    low, high = np.percentile(means, [tail, 100 - tail])
    return (float(low), float(high))


def mann_whitney_p(a: Sequence[float], b: Sequence[float]) -> float:
    """Two-sided Mann–Whitney U p-value; NaN when either side has fewer than 2 values."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if a.size < 2 or b.size < 2:
        return float("nan")
    return float(mannwhitneyu(a, b, alternative="two-sided").pvalue)


def summarize(obs: pd.DataFrame, seed: int = 0, n_resamples: int = 2000, confidence: float = 0.95) -> pd.DataFrame:
    """Per lab and condition: mean observations to threshold, its bootstrap CI and a test.

    Means, CIs and tests use only the trials that reached the threshold (as the paper
    does); ``reached`` says how many did ("k/n"). The initial points are counted.

    Args:
        obs: output of :func:`observations_to_threshold`.
        seed: seed of the bootstrap (each lab/condition uses its own generator seeded with it).
        n_resamples: bootstrap resamples.
        confidence: CI level.

    Returns:
        One row per (lab, condition), labs in order of appearance and conditions in
        the order networked, isolated, random (then any other), with columns ``lab,
        property, goal, threshold, condition, n_trials, n_reached, reached, mean,
        ci_low, ci_high, p_networked_vs_isolated`` (the same p-value on every row of a
        lab: two-sided Mann–Whitney U over the reached trials of the two conditions;
        NaN when either side has < 2 values).
    """
    labs = list(dict.fromkeys(obs["lab"]))
    present = list(dict.fromkeys(obs["condition"]))
    conditions = [c for c in CONDITION_ORDER if c in present] + [c for c in present if c not in CONDITION_ORDER]
    rows = []
    for lab in labs:
        of_lab = obs[obs["lab"] == lab]
        reached_values = {
            c: of_lab.loc[(of_lab["condition"] == c) & of_lab["reached"], "n_obs_to_threshold"].to_numpy(float)
            for c in conditions
        }
        p_value = mann_whitney_p(reached_values.get("networked", []), reached_values.get("isolated", []))
        first = of_lab.iloc[0]
        for condition in conditions:
            runs = of_lab[of_lab["condition"] == condition]
            if runs.empty:
                continue
            values = reached_values[condition]
            low, high = bootstrap_mean_ci(values, seed=seed, n_resamples=n_resamples, confidence=confidence)
            rows.append(
                {
                    "lab": lab,
                    "property": first.get("property"),
                    "goal": first.get("goal", "maximize"),
                    "threshold": first.get("threshold", float("nan")),
                    "condition": condition,
                    "n_trials": int(runs["trial"].nunique()),
                    "n_reached": int(values.size),
                    "reached": f"{values.size}/{runs['trial'].nunique()}",
                    "mean": float(values.mean()) if values.size else float("nan"),
                    "ci_low": low,
                    "ci_high": high,
                    "p_networked_vs_isolated": p_value,
                }
            )
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------- formatting

_HEADERS = ("lab", "property", "target", "condition", "reached", "mean obs", "95% CI", "p (net vs iso)")


def _display_rows(summary: pd.DataFrame) -> list[tuple[str, ...]]:
    rows = []
    previous_lab = None
    for rec in summary.to_dict("records"):
        first_of_lab = rec["lab"] != previous_lab
        previous_lab = rec["lab"]
        sign = "<=" if rec.get("goal") == "minimize" else ">="
        rows.append(
            (
                str(rec["lab"]) if first_of_lab else "",
                _text(rec.get("property")) if first_of_lab else "",
                f"{sign} {_num(rec.get('threshold'), 4, general=True)}" if first_of_lab else "",
                str(rec["condition"]),
                str(rec["reached"]),
                _num(rec["mean"], 1),
                "-" if pd.isna(rec["ci_low"]) else f"[{_num(rec['ci_low'], 1)}, {_num(rec['ci_high'], 1)}]",
                _num(rec["p_networked_vs_isolated"], 3) if first_of_lab else "",
            )
        )
    return rows


def _text(value: object) -> str:
    return "" if value is None or (isinstance(value, float) and np.isnan(value)) else str(value)


def _num(value: object, digits: int, general: bool = False) -> str:
    if value is None or pd.isna(value):
        return "-"
    return f"{float(value):.{digits}g}" if general else f"{float(value):.{digits}f}"


def format_summary(summary: pd.DataFrame, markdown: bool = False) -> str:
    """The summary as a table: aligned plain text for the terminal, or Markdown.

    Columns: lab, property, target (threshold with direction), condition, reached
    (k/n trials), mean observations to threshold (initial points counted) over the
    trials that reached it, its 95 % bootstrap CI, and the networked-vs-isolated
    Mann–Whitney p-value (shown once per lab).
    """
    rows = _display_rows(summary)
    if markdown:
        lines = ["| " + " | ".join(_HEADERS) + " |", "|" + "|".join(["---"] * 3 + [":--"] + ["--:"] * 4) + "|"]
        lines += ["| " + " | ".join(row) + " |" for row in rows]
        return "\n".join(lines)
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(_HEADERS)]
    right = {4, 5, 6, 7}

    def line(cells: Sequence[str]) -> str:
        return "  ".join(c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(cells, widths))).rstrip()

    return "\n".join([line(_HEADERS), line(["-" * w for w in widths])] + [line(r) for r in rows])


METRIC_NOTE = (
    "Observations until the lab's best true value so far reaches the target "
    "(threshold_fraction of the property's best value in the dataset). The initial random "
    "points are counted. Mean over the trials that reached the target (reached = k/n); "
    "95 % percentile-bootstrap CI of that mean (2000 resamples); p = two-sided Mann-Whitney U, "
    "networked vs isolated, over the trials that reached the target."
)


def summary_markdown(summary: pd.DataFrame, title: str | None = None, details: Sequence[str] = ()) -> str:
    """A short Markdown report: title, bullet ``details``, the metric's definition and the table."""
    parts = [f"# {title}", ""] if title else []
    parts += [f"- {d}" for d in details]
    if details:
        parts.append("")
    parts += [METRIC_NOTE, "", format_summary(summary, markdown=True), ""]
    return "\n".join(parts)
