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


BUDGETS = (25, 50, 100)
"""Fixed budgets (observations, initial points counted) at which the best value found is compared."""

COMPARISON_COLUMNS = (
    "lab", "property", "goal", "comparison", "condition_a", "condition_b", "metric", "tau", "budget", "n_pairs",
    "estimate_a", "estimate_b", "difference", "ci_low", "ci_high", "effect_size_dz", "test", "p_value",
    "p_logrank_stratified", "verdict",
)
"""Columns of :func:`compare_conditions` (``comparisons.csv``)."""


def ordered_condition_names(conditions: Sequence[str]) -> list[str]:
    """Conditions in the order networked, isolated, random, then any other (order of appearance)."""
    present = list(dict.fromkeys(conditions))
    return [c for c in CONDITION_ORDER if c in present] + [c for c in present if c not in CONDITION_ORDER]


def default_comparisons(conditions: Sequence[str]) -> list[tuple[str, str]]:
    """The named comparisons of a run: the first condition (networked) against each other one."""
    ordered = ordered_condition_names(conditions)
    return [(ordered[0], other) for other in ordered[1:]]


def best_at_budgets(steps: pd.DataFrame, budgets: Sequence[int] = BUDGETS) -> pd.DataFrame:
    """Best true value found after ``budget`` observations, per (trial, condition, lab, budget).

    Only budgets that the (trial, condition, lab) run reached (``n_obs`` = budget present) appear.
    Columns ``trial, condition, lab, budget, best``.
    """
    wanted = steps[steps["n_obs"].isin(list(budgets))]
    rows = wanted[GROUP_KEYS + ["n_obs", "best_true_so_far"]].drop_duplicates(GROUP_KEYS + ["n_obs"])
    return rows.rename(columns={"n_obs": "budget", "best_true_so_far": "best"}).reset_index(drop=True)


def lab_restriction_times(obs: pd.DataFrame) -> dict[str, float]:
    """Lab -> tau: the smallest last observation (``n_obs_total``) over all of that lab's runs, so
    every condition of a lab is restricted to the same tau and every run is followed up to it."""
    return {str(lab): float(group["n_obs_total"].min()) for lab, group in obs.groupby("lab", sort=False)}


def summarize(
    obs: pd.DataFrame,
    steps: pd.DataFrame | None = None,
    seed: int = 0,
    n_resamples: int = 2000,
    confidence: float = 0.95,
    budgets: Sequence[int] = BUDGETS,
) -> pd.DataFrame:
    """Per lab and condition: time to threshold as survival data, best value at budgets, and the
    paper's mean over the reached trials for comparison.

    Args:
        obs: output of :func:`observations_to_threshold` (unreached runs censored at ``n_obs_total``).
        steps: the step table; gives the ``best_at_<budget>`` columns (NaN without it).
        seed, n_resamples, confidence: the percentile bootstraps (seeded; one generator per cell).
        budgets: observation budgets of the ``best_at_<budget>`` columns.

    Returns:
        One row per (lab, condition), labs in order of appearance and conditions networked,
        isolated, random (then any other), with columns ``lab, property, goal, threshold,
        condition, n_trials, n_reached, reached`` ("k/n"), ``tau`` (restriction time, the lab's
        smallest last observation), ``rmst, rmst_ci_low, rmst_ci_high`` (KM restricted mean time
        to threshold up to tau, observations; bootstrap CI over trials), ``median, median_ci_low,
        median_ci_high`` (KM median; inf = not reached by half the trials), ``best_at_<B>`` (mean
        best value found after B observations; NaN where the run is shorter), ``mean_reached,
        mean_reached_ci_low, mean_reached_ci_high`` (the paper's metric: mean over the trials
        that reached the threshold) and ``p_mwu_reached`` (the paper-style unpaired two-sided
        Mann-Whitney U over reached trials, networked vs isolated, same on every row of a lab).
    """
    from labnet.runs.reports.survival import km_median, rmst_with_ci, survival_data

    data = survival_data(obs)
    taus = lab_restriction_times(obs)
    budget_table = best_at_budgets(steps, budgets) if steps is not None else None
    conditions = ordered_condition_names(list(obs["condition"]))
    rows = []
    for lab in dict.fromkeys(obs["lab"]):
        of_lab = data[data["lab"] == lab]
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
            time, event = runs["time"].to_numpy(float), runs["event"].to_numpy(bool)
            restricted = rmst_with_ci(time, event, taus[str(lab)], seed=seed, n_resamples=n_resamples,
                                      confidence=confidence)
            median = km_median(time, event, confidence=confidence)
            values = reached_values[condition]
            low, high = bootstrap_mean_ci(values, seed=seed, n_resamples=n_resamples, confidence=confidence)
            row = {
                "lab": lab,
                "property": first.get("property"),
                "goal": first.get("goal", "maximize"),
                "threshold": first.get("threshold", float("nan")),
                "condition": condition,
                "n_trials": int(runs["trial"].nunique()),
                "n_reached": int(values.size),
                "reached": f"{values.size}/{runs['trial'].nunique()}",
                "tau": taus[str(lab)],
                "rmst": restricted.estimate,
                "rmst_ci_low": restricted.ci_low,
                "rmst_ci_high": restricted.ci_high,
                "median": median.median,
                "median_ci_low": median.ci_low,
                "median_ci_high": median.ci_high,
            }
            for budget in budgets:
                best = float("nan")
                if budget_table is not None:
                    cell = budget_table[(budget_table["lab"] == lab) & (budget_table["condition"] == condition)
                                        & (budget_table["budget"] == budget)]
                    best = float(cell["best"].mean()) if len(cell) else float("nan")
                row[f"best_at_{budget}"] = best
            row.update({
                "mean_reached": float(values.mean()) if values.size else float("nan"),
                "mean_reached_ci_low": low,
                "mean_reached_ci_high": high,
                "p_mwu_reached": p_value,
            })
            rows.append(row)
    return pd.DataFrame(rows)


MIN_PAIRS_FOR_VERDICT = 6
"""Fewest pairs for a verdict: with 5 pairs all on one side the percentile bootstrap CI already
excludes 0, while the exact sign test gives p = 2 / 2**5 = 0.0625 > 0.05; with 6, p = 0.031."""


def _verdict(difference: object, metric: str, goal: str, a: str, b: str) -> str:
    """``a faster`` / ``b faster`` (RMST: lower is faster), ``a better`` / ``b better`` (best value,
    goal-aware) when the CI excludes 0 and N >= :data:`MIN_PAIRS_FOR_VERDICT`; ``undecided`` otherwise."""
    low, high = difference.ci_low, difference.ci_high
    if not (np.isfinite(low) and np.isfinite(high)) or low <= 0 <= high:
        return "undecided"
    if difference.n < MIN_PAIRS_FOR_VERDICT:
        return f"undecided (N < {MIN_PAIRS_FOR_VERDICT})"
    if metric == "rmst":
        return f"{a} faster" if high < 0 else f"{b} faster"
    a_higher = low > 0
    return f"{a} better" if a_higher == (goal != "minimize") else f"{b} better"


def compare_conditions(
    obs: pd.DataFrame,
    steps: pd.DataFrame | None = None,
    comparisons: Sequence[tuple[str, str]] | None = None,
    seed: int = 0,
    n_resamples: int = 2000,
    confidence: float = 0.95,
    budgets: Sequence[int] = BUDGETS,
) -> pd.DataFrame:
    """Paired comparisons of conditions over the trials both ran (same seed, same initial points).

    Per lab and comparison (a, b) (default :func:`default_comparisons`: networked vs each baseline):

    - ``metric = "rmst"``: RMST(tau) of a minus that of b, observations (negative: a reaches the
      threshold sooner); 95 % paired-bootstrap CI over trials (the headline); ``p_value`` from the
      same bootstrap; ``p_logrank_stratified``: log-rank test stratified by trial.
    - ``metric = "best_at_<B>"``: mean best value after B observations, a minus b (property units),
      paired bootstrap; only budgets every paired run reached.

    ``effect_size_dz``: difference over its per-pair standard deviation (paired Cohen's d).
    ``verdict``: "<a> faster", "<b> better", ... when the CI excludes 0, else "undecided".

    Returns:
        Columns :data:`COMPARISON_COLUMNS`, one row per (lab, comparison, metric).
    """
    from labnet.runs.reports.survival import paired_mean_difference, paired_rmst_difference, stratified_logrank, \
        survival_data

    data = survival_data(obs)
    taus = lab_restriction_times(obs)
    pairs = list(comparisons) if comparisons is not None else default_comparisons(list(obs["condition"]))
    budget_table = best_at_budgets(steps, budgets) if steps is not None else None
    rows = []
    for lab in dict.fromkeys(obs["lab"]):
        of_lab = data[data["lab"] == lab]
        first = of_lab.iloc[0]
        goal = str(first.get("goal", "maximize"))
        for a, b in pairs:
            left = of_lab[of_lab["condition"] == a].set_index("trial")
            right = of_lab[of_lab["condition"] == b].set_index("trial")
            trials = [t for t in left.index if t in right.index]
            if not trials:
                continue
            left, right = left.loc[trials], right.loc[trials]
            base = {"lab": lab, "property": first.get("property"), "goal": goal, "comparison": f"{a} - {b}",
                    "condition_a": a, "condition_b": b}
            tau = taus[str(lab)]
            diff = paired_rmst_difference(left["time"].to_numpy(), left["event"].to_numpy(), right["time"].to_numpy(),
                                          right["event"].to_numpy(), tau, seed=seed, n_resamples=n_resamples,
                                          confidence=confidence)
            p_logrank = stratified_logrank(
                np.concatenate([left["time"], right["time"]]), np.concatenate([left["event"], right["event"]]),
                np.array([a] * len(trials) + [b] * len(trials)), np.array(trials + trials),
            )
            rows.append({**base, **_difference_columns(diff), "metric": "rmst", "tau": tau, "budget": np.nan,
                         "test": f"paired bootstrap over trials ({n_resamples} resamples)",
                         "p_logrank_stratified": p_logrank, "verdict": _verdict(diff, "rmst", goal, a, b)})
            if budget_table is None:
                continue
            of_budgets = budget_table[budget_table["lab"] == lab]
            for budget in budgets:
                at = of_budgets[of_budgets["budget"] == budget]
                values_a = at[at["condition"] == a].set_index("trial")["best"]
                values_b = at[at["condition"] == b].set_index("trial")["best"]
                common = [t for t in trials if t in values_a.index and t in values_b.index]
                if len(common) < len(trials) or not common:
                    continue  # a paired run shorter than the budget: this budget is not compared
                diff = paired_mean_difference(values_a.loc[common].to_numpy(), values_b.loc[common].to_numpy(),
                                              seed=seed, n_resamples=n_resamples, confidence=confidence)
                rows.append({**base, **_difference_columns(diff), "metric": f"best_at_{budget}", "tau": np.nan,
                             "budget": budget, "test": f"paired bootstrap over trials ({n_resamples} resamples)",
                             "p_logrank_stratified": np.nan,
                             "verdict": _verdict(diff, "best", goal, a, b)})
    return pd.DataFrame(rows, columns=list(COMPARISON_COLUMNS))


def _difference_columns(diff: object) -> dict[str, float]:
    return {"n_pairs": diff.n, "estimate_a": diff.estimate_a, "estimate_b": diff.estimate_b,
            "difference": diff.difference, "ci_low": diff.ci_low, "ci_high": diff.ci_high,
            "effect_size_dz": diff.effect_size, "p_value": diff.p_value}


# --------------------------------------------------------------------------- formatting

_HEADERS = ("lab", "property", "target", "condition", "reached", "RMST obs [95% CI]", "median [95% CI]",
            "mean reached (paper)")


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
                f"{_num(rec['rmst'], 1)} {_ci(rec['rmst_ci_low'], rec['rmst_ci_high'])} (tau {_num(rec['tau'], 0)})",
                f"{_num(rec['median'], 0)} {_ci(rec['median_ci_low'], rec['median_ci_high'], 0)}",
                f"{_num(rec['mean_reached'], 1)} {_ci(rec['mean_reached_ci_low'], rec['mean_reached_ci_high'])}",
            )
        )
    return rows


def _ci(low: object, high: object, digits: int = 1) -> str:
    if low is None or pd.isna(low):
        return "[-]"
    return f"[{_num(low, digits)}, {_num(high, digits)}]"


def _text(value: object) -> str:
    return "" if value is None or (isinstance(value, float) and np.isnan(value)) else str(value)


def _num(value: object, digits: int, general: bool = False) -> str:
    if value is None or pd.isna(value):
        return "-"
    if np.isinf(float(value)):
        return "inf" if float(value) > 0 else "-inf"
    return f"{float(value):.{digits}g}" if general else f"{float(value):.{digits}f}"


def _table(headers: Sequence[str], rows: list[tuple[str, ...]], markdown: bool, right: set[int]) -> str:
    if markdown:
        lines = ["| " + " | ".join(headers) + " |",
                 "|" + "|".join("--:" if i in right else "---" for i in range(len(headers))) + "|"]
        return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in rows])
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)]

    def line(cells: Sequence[str]) -> str:
        return "  ".join(c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(cells, widths))).rstrip()

    return "\n".join([line(headers), line(["-" * w for w in widths])] + [line(r) for r in rows])


def format_summary(summary: pd.DataFrame, markdown: bool = False) -> str:
    """The per-condition summary as a table: aligned plain text for the terminal, or Markdown.

    Columns: lab, property, target (threshold with direction), condition, reached (k/n trials),
    KM restricted mean observations to the target (RMST) with its 95 % bootstrap CI and tau, the
    KM median with its CI, and the paper's mean over the reached trials with its CI.
    """
    return _table(_HEADERS, _display_rows(summary), markdown, right={4, 5, 6, 7})


_COMPARISON_HEADERS = ("lab", "comparison", "metric", "N", "difference [95% CI]", "d_z", "p (bootstrap)",
                       "p (log-rank, strat.)", "verdict")


def format_comparisons(comparisons: pd.DataFrame, markdown: bool = False) -> str:
    """The paired comparisons (:func:`compare_conditions`) as a table (text or Markdown)."""
    rows = []
    previous = None
    for rec in comparisons.to_dict("records"):
        first = rec["lab"] != previous
        previous = rec["lab"]
        metric = (f"RMST (tau {_num(rec['tau'], 0)})" if rec["metric"] == "rmst"
                  else f"best at {int(rec['budget'])}")
        digits = 1 if rec["metric"] == "rmst" else 3
        rows.append((
            str(rec["lab"]) if first else "", str(rec["comparison"]), metric, str(int(rec["n_pairs"])),
            f"{_signed(rec['difference'], digits)} [{_signed(rec['ci_low'], digits)}, {_signed(rec['ci_high'], digits)}]",
            _num(rec["effect_size_dz"], 2), _num(rec["p_value"], 3), _num(rec["p_logrank_stratified"], 3),
            str(rec["verdict"]),
        ))
    return _table(_COMPARISON_HEADERS, rows, markdown, right={3, 4, 5, 6, 7})


def _signed(value: object, digits: int) -> str:
    if value is None or pd.isna(value):
        return "-"
    value = float(value)
    if abs(value) >= 1000 or (value != 0 and abs(value) < 10 ** -digits):
        return f"{value:+.3g}"
    return f"{value:+.{digits}f}"


METRIC_NOTE = (
    "Time to target = observations until the lab's best true value so far reaches its target; the "
    "initial random points are counted. A trial that never reached the target is censored at its last "
    "observation (survival data). RMST = Kaplan-Meier restricted mean time to target up to tau (the lab's "
    "smallest last observation, so every trial is followed up to tau; unreached trials count as tau), "
    "with a 95 % percentile-bootstrap CI over trials (2000 resamples); median = Kaplan-Meier median "
    "(inf: not reached by half the trials) with its Greenwood CI. \"mean reached (paper)\" = the paper's "
    "metric, the mean over the trials that reached the target only (biased low when trials are censored), "
    "kept for comparison."
)

COMPARISON_NOTE = (
    "Paired comparisons over the trials both conditions ran (trial t has the same seed and initial points "
    "in every condition): difference a - b of the RMST (negative = a reaches the target sooner) and of the "
    "mean best value found after fixed budgets of observations; 95 % CI from a paired bootstrap over trial "
    "indices (2000 resamples; each resample recomputes both conditions' Kaplan-Meier RMST); p (bootstrap) "
    "from the same resamples; p (log-rank, strat.) = log-rank test stratified by trial; d_z = difference "
    "over the per-pair standard deviation; N = pairs. \"undecided\" when the CI includes 0. "
    "See docs/statistics.md."
)


def summary_markdown(
    summary: pd.DataFrame,
    title: str | None = None,
    details: Sequence[str] = (),
    comparisons: pd.DataFrame | None = None,
    warnings: Sequence[str] = (),
    checks: str | None = None,
) -> str:
    """A short Markdown report: title, bullet ``details``, degenerate-study ``warnings``, the paired
    comparisons (the headline), the per-condition table and the threshold ``checks`` table."""
    parts = [f"# {title}", ""] if title else []
    parts += [f"- {d}" for d in details]
    if details:
        parts.append("")
    if warnings:
        parts += ["**Warnings (degenerate study):**", ""] + [f"- {w}" for w in warnings] + [""]
    if comparisons is not None and not comparisons.empty:
        parts += ["## Paired comparisons (headline)", "", COMPARISON_NOTE, "",
                  format_comparisons(comparisons, markdown=True), ""]
    parts += ["## Per lab and condition", "", METRIC_NOTE, "", format_summary(summary, markdown=True), ""]
    if checks:
        parts += ["## Targets and threshold checks", "", checks, ""]
    return "\n".join(parts)


def paired_restricted_times(
    obs: pd.DataFrame, comparisons: Sequence[tuple[str, str]] | None = None
) -> pd.DataFrame:
    """Per lab, comparison (a, b) and shared trial: the restricted times min(time, tau) of both conditions.

    With tau the lab's smallest last observation (:func:`lab_restriction_times`) no run is censored
    before tau, so ``min(time, tau)`` is observed for every run (unreached runs count tau) and the
    RMST difference of a and b is exactly the mean of ``d = y_a - y_b`` over the shared trials.

    Returns:
        Columns ``lab, comparison, condition_a, condition_b, trial, tau, y_a, y_b, d`` (observations).
    """
    from labnet.runs.reports.survival import survival_data

    data = survival_data(obs)
    taus = lab_restriction_times(obs)
    pairs = list(comparisons) if comparisons is not None else default_comparisons(list(obs["condition"]))
    frames = []
    for lab in dict.fromkeys(obs["lab"]):
        of_lab = data[data["lab"] == lab]
        tau = taus[str(lab)]
        for a, b in pairs:
            left = of_lab[of_lab["condition"] == a].set_index("trial")["time"]
            right = of_lab[of_lab["condition"] == b].set_index("trial")["time"]
            trials = [t for t in left.index if t in right.index]
            if not trials:
                continue
            y_a = np.minimum(left.loc[trials].to_numpy(float), tau)
            y_b = np.minimum(right.loc[trials].to_numpy(float), tau)
            frames.append(pd.DataFrame({"lab": lab, "comparison": f"{a} - {b}", "condition_a": a, "condition_b": b,
                                        "trial": trials, "tau": tau, "y_a": y_a, "y_b": y_b, "d": y_a - y_b}))
    columns = ["lab", "comparison", "condition_a", "condition_b", "trial", "tau", "y_a", "y_b", "d"]
    return pd.concat(frames, ignore_index=True)[columns] if frames else pd.DataFrame(columns=columns)
