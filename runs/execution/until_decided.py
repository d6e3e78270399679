"""Studies that run until they decide: add trials in batches until every named comparison is decided.

A run directory becomes an until-decided study when ``until_decided.json`` (its plan and looks)
is in it. The planned looks are fixed before the first trial: at ``first, first + batch, ...``
trials, the last at ``max_trials``. At each look every named comparison (per lab: networked
minus each baseline, RMST to the lab's tau, observations) gets a confidence interval at the
look's **nominal level** 1 - alpha_k, where alpha_k = A(t_k) - A(t_{k-1}) is the increment of a
Lan-DeMets alpha-spending function A at the information fraction t_k = n_k / max_trials
(O'Brien-Fleming type A(t) = 2 - 2 Phi(z_{1-alpha/2} / sqrt t), or Pocock type
A(t) = alpha ln(1 + (e - 1) t)). A comparison is decided when its interval excludes 0, or when
its half-width is at most ``precision`` observations; the study stops when every comparison is
decided or at ``max_trials``.

Why the coverage holds: the intervals of all looks cover the true difference simultaneously with
probability at least 1 - sum_k alpha_k = 1 - A(1) = 1 - alpha (Bonferroni over the planned
looks, whatever their correlation). So the interval at any look, in particular the data-dependent
look at which the study stops, covers with probability at least 1 - alpha (docs/statistics.md).

The interval at a look: the RMST difference of a paired comparison is the mean of the per-trial
differences d_i = min(T_a,i, tau) - min(T_b,i, tau) (every run is followed up to tau, see
:func:`labnet.runs.reports.analysis.paired_restricted_times`), so the interval is the paired
t-interval mean(d) +- t_{n-1, 1 - alpha_k / 2} sd(d) / sqrt(n).

Durable like every run: the plan is written before the first trial; each batch is added with
:func:`labnet.runs.execution.runner.extend_trials` and run by
:func:`labnet.runs.execution.runner.resume_run`, so ``labnet resume RUN_DIR`` continues a killed
study to the same result as an uninterrupted one.
"""
from __future__ import annotations

import json
import math
import sys
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.stats import norm

from labnet._files import atomic_write
from labnet.runs.config.scenario import Scenario, ScenarioError, resolve
from labnet.runs.config.stopping import SPENDING_FUNCTIONS, Spending
from labnet.runs.execution.run_state import RunDirError
from labnet.runs.execution.runner import SUMMARY_MD, RunResult, extend_trials, resume_run, run_scenario
from labnet.runs.reports.analysis import paired_restricted_times
from labnet.runs.reports.survival import paired_t_interval

UNTIL_DECIDED_FILE = "until_decided.json"
SEQUENTIAL_CSV = "sequential.csv"
UNTIL_DECIDED_MD = "until_decided.md"
PLAN_FORMAT = 1



@dataclass(frozen=True)
class StoppingRule:
    """When an until-decided study stops (see the module docstring).

    Attributes:
        max_trials: the most trials per condition (the last planned look).
        precision: also stop a comparison whose CI half-width is at most this (observations); None: only
            a CI that excludes 0 decides.
        alpha: 1 - the confidence level kept over all looks (0.05: 95 %).
        spending: "obrien-fleming" or "pocock" (Lan-DeMets types).
        batch: trials added per look (None: the scenario's trials, the first look's size).
    """

    max_trials: int = 50
    precision: float | None = None
    alpha: float = 0.05
    spending: Spending = "obrien-fleming"
    batch: int | None = None

    def check(self, first: int, replicates: int | None = None) -> None:
        """Raise :class:`ScenarioError` (a ValueError) naming the bad field.

        ``replicates``: the pairs the first look compares (default ``first`` trials; a sweep's ranking
        compares networks, seeds x trials), at least 2.
        """
        try:
            self._check(first, first if replicates is None else replicates)
        except ValueError as exc:
            raise ScenarioError(f"--until-decided: {exc}") from None

    def _check(self, first: int, replicates: int) -> None:
        if isinstance(self.max_trials, bool) or not isinstance(self.max_trials, int) or self.max_trials < first:
            raise ValueError(f"max_trials = {self.max_trials!r}: expected a whole number >= the first look's "
                             f"trials ({first})")
        if replicates < 2:
            raise ValueError(f"trials = {first}: an until-decided study needs at least 2 trials (pairs) at its "
                             f"first look")
        if self.precision is not None and not (isinstance(self.precision, (int, float)) and self.precision > 0):
            raise ValueError(f"precision = {self.precision!r}: expected a number of observations > 0")
        if not 0 < self.alpha < 1:
            raise ValueError(f"alpha = {self.alpha!r}: expected a number in (0, 1)")
        if self.spending not in SPENDING_FUNCTIONS:
            raise ValueError(f"spending = {self.spending!r}: expected one of {', '.join(SPENDING_FUNCTIONS)}")
        if self.batch is not None and (isinstance(self.batch, bool) or not isinstance(self.batch, int)
                                       or self.batch < 1):
            raise ValueError(f"batch = {self.batch!r}: expected a whole number >= 1")


def spent_alpha(fraction: float, alpha: float, spending: str) -> float:
    """Cumulative alpha spent at information fraction ``fraction`` in [0, 1] (Lan-DeMets)."""
    fraction = min(max(float(fraction), 0.0), 1.0)
    if fraction == 0:
        return 0.0
    if spending == "obrien-fleming":
        return float(2 - 2 * norm.cdf(norm.ppf(1 - alpha / 2) / math.sqrt(fraction)))
    if spending == "pocock":
        return float(alpha * math.log(1 + (math.e - 1) * fraction))
    raise ValueError(f"spending = {spending!r}: expected one of {', '.join(SPENDING_FUNCTIONS)}")


def planned_looks(first: int, rule: StoppingRule) -> list[int]:
    """Trials per condition at each planned look: first, first + batch, ..., max_trials."""
    batch = rule.batch or first
    looks = list(range(first, rule.max_trials, batch)) + [rule.max_trials]
    return sorted(set(looks))


def look_alphas(looks: Sequence[int], rule: StoppingRule) -> list[float]:
    """alpha_k of every planned look: the spending function's increments (they sum to alpha)."""
    spent = [spent_alpha(n / rule.max_trials, rule.alpha, rule.spending) for n in looks]
    return [spent[0]] + [b - a for a, b in zip(spent, spent[1:])]


def sequential_intervals(obs: pd.DataFrame, alpha_k: float, precision: float | None) -> pd.DataFrame:
    """Every named comparison at one look: paired t-interval of the RMST difference at level 1 - alpha_k.

    Returns:
        Columns ``lab, comparison, n, tau, difference, sd, alpha_k, ci_low, ci_high, half_width,
        excludes_zero, precise, decided, verdict`` (verdict: "<a> faster", "<b> faster", "no difference
        detected (half-width <= precision)" or "undecided").
    """
    pairs = paired_restricted_times(obs)
    rows = []
    for (lab, comparison), group in pairs.groupby(["lab", "comparison"], sort=False):
        interval = paired_t_interval(group["d"].to_numpy(float), alpha_k)
        a, b = group["condition_a"].iloc[0], group["condition_b"].iloc[0]
        precise = interval.is_precise(precision)
        rows.append({"lab": lab, "comparison": comparison, "n": interval.n, "tau": float(group["tau"].iloc[0]),
                     "difference": interval.difference, "sd": interval.sd, "alpha_k": alpha_k,
                     "ci_low": interval.ci_low, "ci_high": interval.ci_high, "half_width": interval.half_width,
                     "excludes_zero": interval.excludes_zero, "precise": precise,
                     "decided": interval.excludes_zero or precise, "verdict": interval.verdict(a, b, precision)})
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------- the plan on disk


@dataclass
class Plan:
    """``until_decided.json``: the rule, the planned looks, the looks taken, the status."""

    rule: StoppingRule
    looks: list[int]
    alphas: list[float]
    target_trials: int
    status: str = "running"
    """"running", "decided" (every comparison decided) or "max_trials" (stopped undecided at the maximum)."""
    history: list[dict] | None = None

    def save(self, run_dir: Path, name: str = UNTIL_DECIDED_FILE) -> None:
        """Write the plan to ``run_dir / name`` (a sweep's ranking keeps its own file)."""
        raw = {"format": PLAN_FORMAT, "rule": asdict(self.rule), "looks": self.looks, "alphas": self.alphas,
               "target_trials": self.target_trials, "status": self.status, "history": self.history or []}
        text = json.dumps(raw, indent=1) + "\n"
        atomic_write(Path(run_dir) / name, lambda tmp: tmp.write_text(text, encoding="utf-8"))

    @classmethod
    def read(cls, run_dir: Path, name: str = UNTIL_DECIDED_FILE) -> "Plan":
        path = Path(run_dir) / name
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
            if raw.get("format") != PLAN_FORMAT:
                raise RunDirError(f"{path}: format {raw.get('format')!r}; this labnet reads format {PLAN_FORMAT}")
            return cls(StoppingRule(**raw["rule"]), [int(n) for n in raw["looks"]], [float(a) for a in raw["alphas"]],
                       int(raw["target_trials"]), str(raw["status"]), list(raw.get("history") or []))
        except (OSError, ValueError, KeyError, TypeError) as exc:
            if isinstance(exc, RunDirError):
                raise
            raise RunDirError(f"{path}: damaged until-decided plan ({type(exc).__name__}: {exc})") from None


def is_until_decided(run_dir: str | Path) -> bool:
    """True when ``run_dir`` holds an until-decided study."""
    return (Path(run_dir) / UNTIL_DECIDED_FILE).is_file()


def start_plan(run_dir: Path, first: int, rule: StoppingRule, name: str = UNTIL_DECIDED_FILE,
               replicates: int | None = None) -> Plan:
    """Write the plan of a new study whose first look is at ``first`` trials (to ``run_dir / name``)."""
    rule.check(first, replicates)
    looks = planned_looks(first, rule)
    plan = Plan(rule, looks, look_alphas(looks, rule), target_trials=first, history=[])
    plan.save(run_dir, name)
    return plan


# --------------------------------------------------------------------------- the loop


@dataclass
class UntilDecidedResult:
    """What an until-decided study produced: the last run result, the plan and the last look's intervals."""

    run: RunResult
    plan: Plan
    intervals: pd.DataFrame

    @property
    def run_dir(self) -> Path:
        return self.run.run_dir

    def text(self) -> str:
        return until_decided_text(self.plan, self.intervals)


def run_until_decided(
    scenario: Scenario, out_dir: str | Path, rule: StoppingRule, progress: bool = True, workers: int = 1
) -> UntilDecidedResult:
    """Run ``scenario`` (its ``trials`` = the first look) and add batches until decided (module docstring).

    Raises:
        ScenarioError: a bad rule (the message names the field).
    """
    scenario = resolve(scenario)
    rule.check(scenario.trials)
    created: list[Path] = []

    def plan_first(run_dir: Path) -> None:
        start_plan(run_dir, scenario.trials, rule)
        created.append(run_dir)

    run_scenario(scenario, out_dir, progress=progress, workers=workers, on_created=plan_first)
    return continue_until_decided(created[0], progress=progress, workers=workers)


def continue_until_decided(
    run_dir: str | Path, progress: bool = True, data: str | Path | None = None, workers: int = 1
) -> UntilDecidedResult:
    """Continue (or finish) the until-decided study in ``run_dir`` from wherever it stopped.

    Each step: finish the current batch (:func:`resume_run`), take the look, and either stop or
    record the next target and extend the run directory (:func:`extend_trials`). Idempotent.

    Raises:
        RunDirError: not an until-decided run directory, or a damaged plan.
    """
    run_dir = Path(run_dir).expanduser()
    if not is_until_decided(run_dir):
        raise RunDirError(f"{run_dir}: no {UNTIL_DECIDED_FILE}; not an until-decided study")
    plan = Plan.read(run_dir)
    while True:
        extend_trials(run_dir, plan.target_trials)  # completes an extension cut short by a kill
        result = resume_run(run_dir, progress=progress, data=data, workers=workers)
        n = plan.target_trials
        k = plan.looks.index(n) if n in plan.looks else len(plan.looks) - 1
        intervals = sequential_intervals(result.observations, plan.alphas[k], plan.rule.precision)
        history = [h for h in (plan.history or []) if h["trials"] != n]
        history.append({"trials": n, "look": k + 1, "alpha_k": plan.alphas[k],
                        "decided": int(intervals["decided"].sum()), "comparisons": int(len(intervals))})
        plan.history = history
        all_decided = bool(len(intervals)) and bool(intervals["decided"].all())
        if all_decided or k + 1 >= len(plan.looks):
            plan.status = "decided" if all_decided else "max_trials"
            plan.save(run_dir)
            break
        plan.target_trials = plan.looks[k + 1]
        plan.save(run_dir)  # the next target first: a kill from here on resumes the extension
        if progress:
            print(f"labnet: look {k + 1}/{len(plan.looks)} at {n} trials: {int(intervals['decided'].sum())}/"
                  f"{len(intervals)} comparisons decided; adding trials up to {plan.target_trials}", file=sys.stderr)
    _write_outputs(run_dir, plan, intervals)
    return UntilDecidedResult(result, plan, intervals)


def _write_outputs(run_dir: Path, plan: Plan, intervals: pd.DataFrame) -> None:
    """``sequential.csv``, ``until_decided.md``, and the same section at the end of ``summary.md``
    (replacing an earlier one, so continuing a finished study changes nothing)."""
    atomic_write(run_dir / SEQUENTIAL_CSV, lambda tmp: intervals.to_csv(tmp, index=False))
    section = until_decided_text(plan, intervals, markdown=True) + "\n"
    atomic_write(run_dir / UNTIL_DECIDED_MD,
                 lambda tmp: tmp.write_text("# Until decided\n\n" + section, encoding="utf-8"))
    summary = run_dir / SUMMARY_MD
    if summary.is_file():
        head = summary.read_text(encoding="utf-8").split(_SUMMARY_SECTION)[0].rstrip("\n")
        text = f"{head}\n\n{_SUMMARY_SECTION}\n\n{section}"
        atomic_write(summary, lambda tmp: tmp.write_text(text, encoding="utf-8"))


_SUMMARY_SECTION = "## Until decided (sequential intervals)"


def until_decided_text(plan: Plan, intervals: pd.DataFrame, markdown: bool = False) -> str:
    """The stopping rule, the looks taken and the last look's intervals (text or Markdown)."""
    rule = plan.rule
    level = f"{1 - rule.alpha:.0%}".replace("%", " %")
    lines = [
        f"Stopping rule: group-sequential, Lan-DeMets {rule.spending} alpha spending over the planned looks at "
        f"{', '.join(map(str, plan.looks))} trials (alpha = {rule.alpha:g}, Bonferroni over looks: every look's "
        f"interval at level 1 - alpha_k, the alpha_k summing to alpha, so the interval at the stopping look keeps "
        f"{level} coverage); a comparison is decided when its interval excludes 0"
        + (f" or its half-width is at most {rule.precision:g} observations" if rule.precision else "") + ".",
        f"Status: {plan.status} after {plan.target_trials} trials per condition "
        f"(looks taken: {', '.join(str(h['trials']) for h in plan.history or [])}).",
        "",
    ]
    header = ("lab", "comparison", "N", "RMST difference [CI at 1 - alpha_k]", "alpha_k", "half-width", "verdict")
    rows = [(str(r["lab"]), str(r["comparison"]), str(int(r["n"])),
             f"{r['difference']:+.2f} [{r['ci_low']:+.2f}, {r['ci_high']:+.2f}]", f"{r['alpha_k']:.4g}",
             f"{r['half_width']:.2f}", str(r["verdict"])) for r in intervals.to_dict("records")]
    if markdown:
        lines += ["| " + " | ".join(header) + " |", "|---|---|--:|--:|--:|--:|:--|"]
        lines += ["| " + " | ".join(row) + " |" for row in rows]
    else:
        widths = [max(len(x[i]) for x in [header, *rows]) for i in range(len(header))]
        lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in [header, *rows]]
    return "\n".join(lines)


# --------------------------------------------------------------------------- sweeps


def sweep_until_decided(sweep: object, out: str | Path, rule: StoppingRule, progress: bool = True,
                        **sweep_options: object) -> object:
    """Run a sweep, then continue every finished point's run until its comparisons are decided
    (serially, here), then rebuild the sweep's tables. Running it again resumes where it stopped.

    Returns the :class:`labnet.runs.execution.sweep.SweepResult` of the rebuilt tables.
    """
    from labnet.runs.execution.sweep import load_sweep, run_sweep

    if not hasattr(sweep, "spec"):
        sweep = load_sweep(sweep)
    first = run_sweep(sweep, out, progress=progress, **sweep_options)
    for relative in first.points.loc[first.points["status"] == "finished", "run_dir"]:
        run_dir = first.sweep_dir / str(relative)
        if not is_until_decided(run_dir):
            trials = int(pd.read_csv(run_dir / "observations_to_threshold.csv")["trial"].nunique())
            start_plan(run_dir, trials, rule)
        outcome = continue_until_decided(run_dir, progress=False)
        if progress:
            print(f"  {relative}: {outcome.plan.status} at {outcome.plan.target_trials} trials", file=sys.stderr)
    return run_sweep(sweep, out, progress=False, **sweep_options)


def simulate_coverage(n_studies: int, rule: StoppingRule, first: int, effect: float = 0.0, sd: float = 1.0,
                      seed: int = 0) -> float:
    """Share of simulated sequential studies whose interval at the stopping look misses ``effect``.

    Paired differences are drawn normal(effect, sd); the study stops at the first look where the
    interval excludes 0 (or meets ``rule.precision``), else at ``max_trials``. Under the rule's
    guarantee the share is at most ``rule.alpha`` (up to simulation noise).
    """
    rng = np.random.default_rng(seed)
    looks = planned_looks(first, rule)
    alphas = look_alphas(looks, rule)
    misses = 0
    for _ in range(n_studies):
        d = rng.normal(effect, sd, size=rule.max_trials)
        for n, alpha_k in zip(looks, alphas):
            interval = paired_t_interval(d[:n], alpha_k)
            if interval.excludes_zero or interval.is_precise(rule.precision) or n == looks[-1]:
                misses += not (interval.ci_low <= effect <= interval.ci_high)
                break
    return misses / n_studies
