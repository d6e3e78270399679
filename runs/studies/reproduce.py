"""Reproduce a paper's study end to end, and (re)draw its figures and results from a run directory.

``labnet reproduce paper1 --data B2.csv`` runs the built-in scenario of the study through
:func:`labnet.runs.execution.runner.run_scenario` and then calls :func:`draw_run`, the same function behind
``labnet figures RUN_DIR``. :func:`draw_run` reads only the run directory (``scenario.yaml``,
``steps.parquet``, ``transfers.parquet``, ``run_info.json`` if present) plus the dataset, so a
finished or interrupted run can be re-plotted without recomputing anything.

Files added to the run directory:

- ``fig3_best_so_far.png``, ``fig4_validation_loss.png``, ``fig5_generalization.png``,
  ``fig6_property_correlations.png``, ``transfer_graph.png`` (see :mod:`labnet.runs.reports.figures`);
- ``transfer_counts.csv``: source, target, phase (early/late half of the horizon), attempts, selected;
- ``results.csv`` / ``results.md``: time to the threshold per lab and condition as survival data
  (Kaplan-Meier RMST and median with CIs; the paired RMST difference of each baseline from the
  networked condition with its CI, test, N and verdict; best value after fixed budgets), and the
  paper's mean over the reached trials beside the paper's values (:func:`results_table`);
- ``run_info.json`` (written by :func:`reproduce`): command, start date, wall time, status.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import shlex
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pandas as pd

from labnet.models.config import LearnerConfig
from labnet.runs.reports import figures
from labnet.runs.reports import paper1
from labnet.runs.reports.analysis import BUDGETS, compare_conditions, observations_to_threshold, summarize
from labnet.runs.config.build import build_space, thresholds_for
from labnet.runs.execution.runner import KM_PNG, SCENARIO_FILE, STEPS_FILE, run_scenario, with_execution
from labnet.runs.execution.until_decided import SEQUENTIAL_CSV
from labnet.runs.reports.paper_verdict import VERDICTS_CSV, verdicts_markdown, write_paper_verdicts
from labnet.runs.reports.plots import plot_time_to_threshold
from labnet.runs.config.scenario import Scenario, load_builtin, resolve, validate_scenario
from labnet.runs.reports.catalog import STUDIES
from labnet.runs.reports.run_directory import RUN_INFO, RunDirectory, StudyError, read_run_directory  # noqa: F401

RESULTS_CSV = "results.csv"
RESULTS_MD = "results.md"
TRANSFER_COUNTS_CSV = "transfer_counts.csv"


@dataclass
class ReproduceResult:
    """What :func:`reproduce` produced.

    Attributes:
        run_dir: the run directory.
        files: output name -> path (figures, tables) written by :func:`draw_run`.
        results: the results table (also ``results.csv``).
        wall_seconds: wall time of the simulation and drawing, seconds.
    """

    run_dir: Path
    files: dict[str, Path]
    results: pd.DataFrame
    wall_seconds: float


# --------------------------------------------------------------------------- the study


def study_module(study: str | None) -> ModuleType:
    """The module describing ``study``; :class:`StudyError` listing the known studies otherwise."""
    if study not in STUDIES:
        known = ", ".join(STUDIES)
        what = "no study given" if study is None else f"unknown study {study!r}"
        raise StudyError(f"{what}; available: {known}")
    return STUDIES[study]


def study_scenario(
    study: str,
    data: str | Path | None,
    trials: int | None = None,
    ticks: int | None = None,
    learner: Mapping[str, Any] | None = None,
    seed: int | None = None,
) -> Scenario:
    """The study's built-in scenario with the overrides applied and validated.

    Args:
        data: the dataset file (required).
        learner: overrides of :class:`labnet.models.config.LearnerConfig` fields (e.g. ``{"epochs": 10}``
            for a quick check; the paper's study uses none).

    Raises:
        StudyError: unknown study or no ``data``.
        ScenarioError: bad overrides.
    """
    module = study_module(study)
    if data is None:
        raise StudyError(
            f"reproduce {study} needs the dataset file: pass --data PATH "
            f"(the B2 file B2_20220520_full.csv; it is not shipped with labnet)"
        )
    scenario = resolve(load_builtin(module.SCENARIO), data=data, trials=trials, ticks=ticks, seed=seed)
    if learner:
        raw = scenario.to_dict()
        raw["learner"] = {**raw.get("learner", {}), **dict(learner)}
        scenario = validate_scenario(raw, label=f"study {study!r} with learner overrides")
    return scenario


def reproduce(
    study: str = paper1.STUDY,
    data: str | Path | None = None,
    trials: int | None = None,
    ticks: int | None = None,
    out: str | Path = "labnet-runs",
    learner: Mapping[str, Any] | None = None,
    progress: bool = True,
    command: str | None = None,
    workers: int = 1,
    until_decided: Any = None,
    execution: Mapping[str, Any] | None = None,
) -> ReproduceResult:
    """Run a study's scenario and write its figures and results table into the run directory.

    Args:
        study: a name in :data:`STUDIES` ("paper1").
        data: dataset file (required).
        trials, ticks: override the study's trials / horizon (``None``: the paper's).
        out: parent of the run directory.
        learner: learner overrides (quick checks and tests only; results then differ from the paper's).
        progress: progress bar on stderr.
        command: the command line to record in ``results.md`` (default: a description of this call).
        workers: local processes running (trial, condition) units side by side (see :func:`run_scenario`).
        until_decided: a :class:`labnet.runs.execution.until_decided.StoppingRule`: ``trials`` is the
            first look and batches are added until every comparison is decided (None: a fixed study).
        execution: the scenario's ``execution`` section (where the ticks run, e.g. ``{"backend": "ray"}``;
            :mod:`labnet.runs.config.execution`); None: the study's (local). The results do not depend on it.

    On Ctrl-C the finished (trial, condition) runs are kept, ``run_info.json`` records the
    interruption, the figures are drawn from what finished, and ``KeyboardInterrupt`` is re-raised.
    """
    scenario = with_execution(study_scenario(study, data, trials=trials, ticks=ticks, learner=learner), execution)
    if command is None:
        args = {"data": str(data), "trials": trials, "ticks": ticks, "out": str(out), "learner": dict(learner or {})}
        command = f"runs.reproduce.reproduce({study!r}, " + ", ".join(
            f"{k}={v!r}" for k, v in args.items() if v not in (None, {})
        ) + ")"
    out = Path(out)
    before = _run_dirs(out, scenario.name)
    started = datetime.now().astimezone()
    clock = time.perf_counter()
    info = {
        "study": study,
        "scenario": scenario.name,
        "command": command,
        "started": started.isoformat(timespec="seconds"),
        "cpu_count": os.cpu_count(),
        "python": sys.version.split()[0],
        "workers": workers,
    }
    if until_decided is not None:
        info["until_decided"] = dataclasses.asdict(until_decided)
    try:
        if until_decided is None:
            result = run_scenario(scenario, out, progress=progress, workers=workers)
        else:
            from labnet.runs.execution.until_decided import run_until_decided

            decided = run_until_decided(scenario, out, until_decided, progress=progress, workers=workers)
            result = decided.run
            print(decided.text() + "\n", file=sys.stderr)
    except KeyboardInterrupt:
        new = sorted(_run_dirs(out, scenario.name) - before)
        if new:
            run_dir = new[-1]
            _write_info(run_dir, {**info, "status": "interrupted", **_finish(clock)})
            if (run_dir / STEPS_FILE).exists():
                print(f"labnet: drawing what finished in {run_dir}", file=sys.stderr)
                draw_run(run_dir)
        raise
    _write_info(result.run_dir, {**info, "status": "finished", **_finish(clock)})
    files = draw_run(result.run_dir)
    final = _finish(clock)  # wall time including the figures
    _write_info(result.run_dir, {**info, "status": "finished", **final})
    draw_run(result.run_dir, only_results=True)  # results.md with the final wall time
    results = pd.read_csv(files[RESULTS_CSV])
    return ReproduceResult(run_dir=result.run_dir, files=files, results=results, wall_seconds=final["wall_seconds"])


def _run_dirs(out: Path, name: str) -> set[Path]:
    return {p for p in out.glob(f"{name}-*") if p.is_dir()} if out.is_dir() else set()


def _finish(clock: float) -> dict[str, Any]:
    return {
        "finished": datetime.now().astimezone().isoformat(timespec="seconds"),
        "wall_seconds": round(time.perf_counter() - clock, 1),
    }


def _write_info(run_dir: Path, info: Mapping[str, Any]) -> None:
    (run_dir / RUN_INFO).write_text(json.dumps(dict(info), indent=2) + "\n", encoding="utf-8")


# --------------------------------------------------------------------------- drawing a run directory


def study_of(run: RunDirectory) -> ModuleType | None:
    """The study a run directory belongs to (from ``run_info.json`` or the scenario name), if any."""
    if run.info.get("study") in STUDIES:
        return STUDIES[run.info["study"]]
    return next((m for m in STUDIES.values() if m.SCENARIO == run.scenario.name), None)


def draw_run(run_dir: str | Path, data: str | Path | None = None, only_results: bool = False) -> dict[str, Path]:
    """(Re)draw every figure and the results table of a run directory.

    Args:
        run_dir: a run directory (finished or interrupted).
        data: the dataset file, when the path recorded in ``scenario.yaml`` is no longer valid.
        only_results: rewrite only ``results.csv`` / ``results.md``.

    Returns:
        File name -> path of everything written.

    Raises:
        FileNotFoundError, StudyError: not a run directory / nothing finished.
        DataError: the dataset cannot be read (pass ``data``).
    """
    run = read_run_directory(run_dir)
    scenario = run.scenario
    if data is not None:
        scenario = resolve(scenario, data=data)
    space = build_space(scenario)
    thresholds = thresholds_for(scenario, space)
    study = study_of(run)
    units = dict(getattr(study, "PROPERTY_UNITS", {}) or {})
    files: dict[str, Path] = {}

    results = results_table(run.steps, scenario, thresholds, study)
    files[RESULTS_CSV] = run.path / RESULTS_CSV
    results.to_csv(files[RESULTS_CSV], index=False)
    sequential = run.path / SEQUENTIAL_CSV
    verdicts = write_paper_verdicts(run.path, observations_to_threshold(run.steps, thresholds, scenario.goals),
                                    pd.read_csv(sequential) if sequential.is_file() else None)
    if not verdicts.empty:
        files[VERDICTS_CSV] = run.path / VERDICTS_CSV
    files[RESULTS_MD] = run.path / RESULTS_MD
    files[RESULTS_MD].write_text(results_markdown(results, run, scenario, space, thresholds, study, units)
                                 + ("\n" + verdicts_markdown(verdicts) if not verdicts.empty else ""),
                                 encoding="utf-8")
    if only_results:
        return files

    steps = run.steps
    fraction = scenario.threshold_fraction
    zero_min = all(space.minimum(lab.property) == 0 for lab in scenario.labs if lab.goal == "maximize")
    target_label = f"{fraction:.0%} of dataset max" if zero_min else f"target ({fraction:.0%} of the range)"
    files[figures.FIG3_BEST_SO_FAR] = figures.plot_best_so_far(
        steps, thresholds, run.path / figures.FIG3_BEST_SO_FAR, units=units, target_label=target_label.replace("%", " %"),
        title=f"{_title(scenario, run)}: best value found so far",
    )
    files[KM_PNG] = plot_time_to_threshold(
        observations_to_threshold(steps, thresholds, scenario.goals), run.path / KM_PNG,
        title=f"{_title(scenario, run)}: time to target (Kaplan-Meier)",
    )
    files[figures.FIG4_VALIDATION_LOSS] = figures.plot_validation_loss(steps, run.path / figures.FIG4_VALIDATION_LOSS)
    files[figures.FIG5_GENERALIZATION] = figures.plot_generalization(
        steps, run.path / figures.FIG5_GENERALIZATION, units=units
    )
    props = list(dict.fromkeys(lab.property for lab in scenario.labs))
    if len(props) >= 2:
        values = pd.DataFrame({p: space.values(p) for p in props})
        files[figures.FIG6_PROPERTY_CORRELATIONS] = figures.plot_property_correlations(
            values, run.path / figures.FIG6_PROPERTY_CORRELATIONS, units=units,
            title=f"Correlations between the labs' target properties over the {space.name} dataset "
            f"({len(space):,} materials)",
        )
    counts = figures.transfer_counts(run.transfers, scenario.horizon_ticks, condition="networked")
    files[TRANSFER_COUNTS_CSV] = run.path / TRANSFER_COUNTS_CSV
    counts.to_csv(files[TRANSFER_COUNTS_CSV], index=False)
    networked = run.steps[run.steps["condition"] == "networked"]
    files[figures.TRANSFER_GRAPH] = figures.plot_transfer_graph(
        counts, run.path / figures.TRANSFER_GRAPH, labs=scenario.lab_names,
        properties={lab.name: lab.property for lab in scenario.labs},
        n_trials=int(networked["trial"].nunique()) if not networked.empty else 0,
    )
    return files


def _title(scenario: Scenario, run: RunDirectory) -> str:
    n_trials = int(run.steps["trial"].nunique())
    return f"{scenario.name} ({n_trials} trial{'s' if n_trials != 1 else ''}, {scenario.horizon_ticks} ticks)"


# --------------------------------------------------------------------------- the results table


def results_table(
    steps: pd.DataFrame, scenario: Scenario, thresholds: Mapping[str, float], study: ModuleType | None
) -> pd.DataFrame:
    """Time to the threshold per lab and condition (the headline), beside the paper's values.

    Returns:
        One row per (lab, condition) with columns ``lab, property, threshold, condition, n_trials,
        n_reached, reached`` ("k/n"), ``tau, rmst, rmst_ci_low, rmst_ci_high`` (Kaplan-Meier
        restricted mean observations to the threshold up to tau, unreached trials censored at
        their last observation; bootstrap CI), ``median, median_ci_low, median_ci_high`` (KM),
        ``diff_rmst_vs_networked, diff_ci_low, diff_ci_high, n_pairs, p_logrank_stratified,
        effect_size_dz, verdict`` (baseline rows: paired RMST difference networked - this
        condition over the shared trials, paired-bootstrap CI; NaN on the networked row),
        ``best_at_<B>`` (mean best value after B observations), then the paper's metric:
        ``mean_obs`` (over the trials that reached the threshold; initial points counted),
        ``ci_low, ci_high`` (95 % bootstrap), ``paper_mean_obs`` (NaN: not reported),
        ``diff_vs_paper`` (ours - paper), ``p_networked_vs_isolated`` (two-sided Mann-Whitney U
        over reached trials, unpaired as in the paper; same on every row of a lab), ``horizon_ticks``.
    """
    observations = observations_to_threshold(steps, thresholds, scenario.goals)
    summary = summarize(observations, steps, seed=scenario.seed)
    comparisons = compare_conditions(observations, steps, seed=scenario.seed)
    rmst_rows = comparisons[comparisons["metric"] == "rmst"].set_index(["lab", "condition_b"])
    paper_values = getattr(study, "MEAN_OBSERVATIONS_TO_90", {}) or {}
    out = summary[["lab", "property", "threshold", "condition", "n_trials", "n_reached", "reached", "tau", "rmst",
                   "rmst_ci_low", "rmst_ci_high", "median", "median_ci_low", "median_ci_high"]].copy()
    paired = [rmst_rows.loc[key] if key in rmst_rows.index else None for key in zip(out["lab"], out["condition"])]
    for column, source in (("diff_rmst_vs_networked", "difference"), ("diff_ci_low", "ci_low"),
                           ("diff_ci_high", "ci_high"), ("n_pairs", "n_pairs"),
                           ("p_logrank_stratified", "p_logrank_stratified"), ("effect_size_dz", "effect_size_dz")):
        out[column] = [np.nan if row is None else row[source] for row in paired]
    out["verdict"] = ["" if row is None else row["verdict"] for row in paired]
    for budget in BUDGETS:
        out[f"best_at_{budget}"] = summary[f"best_at_{budget}"]
    out["mean_obs"] = summary["mean_reached"]
    out["ci_low"] = summary["mean_reached_ci_low"]
    out["ci_high"] = summary["mean_reached_ci_high"]
    out["paper_mean_obs"] = [
        float(paper_values.get(lab, {}).get(condition, np.nan)) for lab, condition in zip(out["lab"], out["condition"])
    ]
    out["diff_vs_paper"] = out["mean_obs"] - out["paper_mean_obs"]
    out["p_networked_vs_isolated"] = summary["p_mwu_reached"]
    out["horizon_ticks"] = scenario.horizon_ticks
    return out


def results_text(results: pd.DataFrame) -> str:
    """The results table as aligned text for the terminal (headline RMST and paired difference first)."""
    def num(value: object, fmt: str = "{:.1f}") -> str:
        if value is None or pd.isna(value):
            return "-"
        return "inf" if np.isinf(float(value)) else fmt.format(float(value))

    rows = [("lab", "condition", "reached", "RMST obs", "95% CI", "net - this [95% CI]", "N", "verdict",
             "mean reached", "paper")]
    previous = None
    for rec in pd.DataFrame(results).to_dict("records"):
        first = rec["lab"] != previous
        previous = rec["lab"]
        diff = ("-" if pd.isna(rec["diff_rmst_vs_networked"]) else
                f"{num(rec['diff_rmst_vs_networked'], '{:+.1f}')} [{num(rec['diff_ci_low'], '{:+.1f}')}, "
                f"{num(rec['diff_ci_high'], '{:+.1f}')}]")
        rows.append((str(rec["lab"]) if first else "", str(rec["condition"]), str(rec["reached"]),
                     num(rec["rmst"]), f"[{num(rec['rmst_ci_low'])}, {num(rec['rmst_ci_high'])}]", diff,
                     "-" if pd.isna(rec["n_pairs"]) else str(int(rec["n_pairs"])),
                     str(rec["verdict"]) if isinstance(rec["verdict"], str) and rec["verdict"] else "-",
                     num(rec["mean_obs"]), num(rec["paper_mean_obs"])))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(c.ljust(w) if i in (0, 1, 7) else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths))).rstrip()
             for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    tau = sorted({int(t) for t in pd.DataFrame(results)["tau"].dropna()})
    return "\n".join(lines + [
        f"(RMST: Kaplan-Meier restricted mean observations to the target up to tau = {', '.join(map(str, tau))}, "
        "unreached trials censored, initial points counted; net - this: paired bootstrap over trials; "
        "mean reached: the paper's mean over the trials that reached the target)"])


def _fmt(value: object, digits: int = 1, signed: bool = False) -> str:
    if value is None or pd.isna(value):
        return "-"
    if np.isinf(float(value)):
        return "inf" if float(value) > 0 else "-inf"
    return f"{float(value):+.{digits}f}" if signed else f"{float(value):.{digits}f}"


def _duration(seconds: float) -> str:
    seconds = float(seconds)
    if seconds < 120:
        return f"{seconds:.0f} s"
    minutes = seconds / 60
    return f"{minutes:.1f} min" if minutes < 120 else f"{minutes / 60:.2f} h"


def _file_sha256(path: str | None) -> str | None:
    if not path or not Path(path).is_file():
        return None
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _timing_lines(run: RunDirectory) -> list[str]:
    info = run.info
    if "wall_seconds" in info:
        status = info.get("status", "finished")
        return [
            f"command: `{info.get('command', '?')}`",
            f"date: started {info.get('started', '?')}, {status} {info.get('finished', '?')}",
            f"wall time: {_duration(info['wall_seconds'])} ({info['wall_seconds']} s, {status}; "
            f"{info.get('cpu_count', '?')} CPUs)",
        ]
    start = (run.path / SCENARIO_FILE).stat().st_mtime
    end = (run.path / STEPS_FILE).stat().st_mtime
    stamp = datetime.fromtimestamp(start).astimezone().isoformat(timespec="seconds")
    return [
        "command: not recorded (this run was not started by `labnet reproduce`)",
        f"date: started {stamp}",
        f"wall time: about {_duration(end - start)} (from file times: {SCENARIO_FILE} to the last {STEPS_FILE} write)",
    ]


def _until_decided_line(run: RunDirectory) -> str:
    """How the until-decided study went (its plan in ``until_decided.json``)."""
    rule = run.info["until_decided"]
    line = (f"until decided: up to {rule.get('max_trials')} trials, Lan-DeMets {rule.get('spending')} alpha spending, "
            f"alpha {rule.get('alpha')}" + (f", precision {rule['precision']} obs" if rule.get("precision") else ""))
    path = run.path / "until_decided.json"
    if path.is_file():
        plan = json.loads(path.read_text(encoding="utf-8"))
        line += (f"; status **{plan.get('status')}** at {plan.get('target_trials')} trials; the sequential "
                 "intervals are in [until_decided.md](until_decided.md). The study's decisions are those intervals "
                 "(each look's level, see \"Verdict against the paper\" below); the 95 % bootstrap intervals of the "
                 "tables that follow describe the data and do not keep the coverage over looks")
    return line


def results_markdown(
    results: pd.DataFrame,
    run: RunDirectory,
    scenario: Scenario,
    space: Any,
    thresholds: Mapping[str, float],
    study: ModuleType | None,
    units: Mapping[str, str],
) -> str:
    """``results.md``: how the run was made, the metric's definition, and the comparison table."""
    steps = run.steps
    finished = steps[["trial", "condition"]].drop_duplicates()
    planned = scenario.trials * len(scenario.conditions)
    lines = [f"# {'Reproduction of ' + study.STUDY if study else 'Results'}: observations to "
             f"{scenario.threshold_fraction:.0%} of the maximum".replace("%", " %"), ""]
    if study is not None:
        lines += [f"Paper: {study.CITATION}.", ""]
    lines += [f"- {line}" for line in _timing_lines(run)]
    paper_note = f" (paper: {study.HORIZON_TICKS} ticks, {study.TRIALS} trials)" if study is not None else ""
    trials_done = int(steps["trial"].nunique())
    lines += [
        f"- horizon: {scenario.horizon_ticks} ticks; trials: {trials_done} of {scenario.trials} "
        f"(seeds {scenario.seed}..{scenario.seed + scenario.trials - 1}){paper_note}; "
        f"finished runs (trial x condition): {len(finished)}/{planned}",
        "- labs: " + ", ".join(
            f"{lab.name} ({lab.property}, every {lab.period_ticks} tick{'s' if lab.period_ticks != 1 else ''}, "
            f"{lab.initial_points} initial points)" for lab in scenario.labs
        ) + f"; topology: {scenario.topology.kind}; conditions: {', '.join(scenario.conditions)}",
    ]
    if "until_decided" in run.info:
        lines.append("- " + _until_decided_line(run))
    changed = {
        f.name: getattr(scenario.learner, f.name)
        for f in dataclasses.fields(LearnerConfig)
        if getattr(scenario.learner, f.name) != getattr(LearnerConfig(), f.name)
    }
    if changed:
        lines.append("- learner: **differs from the paper's settings**: "
                     + ", ".join(f"{k} = {v}" for k, v in changed.items()))
    else:
        lines.append("- learner: the paper's settings (models/config.py: LearnerConfig)")
    data_path = getattr(scenario.dataset, "path", None)
    sha = _file_sha256(data_path)
    lines.append(f"- dataset: {space.name}, {len(space):,} materials"
                 + (f", `{data_path}`" if data_path else "") + (f", sha256 `{sha}`" if sha else ""))
    lines.append("- targets: " + ", ".join(
        f"{lab.name} {'>=' if lab.goal == 'maximize' else '<='} {thresholds[lab.name]:.4g}"
        + (f" {units[lab.property]}" if units.get(lab.property) and units[lab.property] != "dimensionless" else "")
        + f" (max {space.maximum(lab.property):.4g})"
        for lab in scenario.labs
    ))
    lines += [
        "",
        f"Note: observation counts **include the {', '.join(sorted({str(l.initial_points) for l in scenario.labs}))} "
        "initial random points** of each lab (n_obs counts every observation, as the paper does). "
        "**Headline:** time to the target as survival data: a trial that never reached it is censored at its "
        "last observation. RMST = Kaplan-Meier restricted mean observations to the target up to tau (the lab's "
        "smallest last observation; unreached trials count as tau), 95 % percentile-bootstrap CI over trials; "
        "\"networked - this\" = paired RMST difference over the trials both conditions ran (same seeds and "
        "initial points), 95 % paired-bootstrap CI (2000 resamples of trial indices), p of the log-rank test "
        "stratified by trial, N = pairs; \"undecided\" when the CI includes 0 (docs/statistics.md). "
        "Kaplan-Meier curves: [km_time_to_threshold.png](km_time_to_threshold.png).",
        "",
        "| lab | property | condition | reached | RMST obs [95 % CI] (tau) | KM median [95 % CI] | "
        "networked - this [95 % CI] | N | p (log-rank, strat.) | verdict |",
        "|---|---|:--|--:|--:|--:|--:|--:|--:|:--|",
    ]
    previous = None
    for rec in results.to_dict("records"):
        first = rec["lab"] != previous
        previous = rec["lab"]
        paired = "-" if pd.isna(rec["diff_rmst_vs_networked"]) else (
            f"{_fmt(rec['diff_rmst_vs_networked'], signed=True)} [{_fmt(rec['diff_ci_low'], signed=True)}, "
            f"{_fmt(rec['diff_ci_high'], signed=True)}]")
        lines.append(
            f"| {rec['lab'] if first else ''} | {rec['property'] if first else ''} | {rec['condition']} | "
            f"{rec['reached']} | {_fmt(rec['rmst'])} [{_fmt(rec['rmst_ci_low'])}, {_fmt(rec['rmst_ci_high'])}] "
            f"({_fmt(rec['tau'], 0)}) | {_fmt(rec['median'], 0)} [{_fmt(rec['median_ci_low'], 0)}, "
            f"{_fmt(rec['median_ci_high'], 0)}] | {paired} | "
            f"{'-' if pd.isna(rec['n_pairs']) else int(rec['n_pairs'])} | {_fmt(rec['p_logrank_stratified'], 3)} | "
            f"{rec['verdict'] if isinstance(rec['verdict'], str) and rec['verdict'] else '-'} |"
        )
    lines += [
        "",
        "The paper's metric, for comparison: \"mean obs\" is the mean over the trials that reached the target "
        "(reached = k/n), with a 95 % percentile-bootstrap CI (2000 resamples); p = two-sided Mann-Whitney U, "
        "networked vs isolated, over the trials that reached the target (unpaired, as in the paper)."
        + (f" \"paper\" = the paper's mean over {study.TRIALS} trials (random search: not reported); "
           "\"ours - paper\" = difference of the means." if study is not None else ""),
    ]
    if study is not None and (scenario.horizon_ticks < study.HORIZON_TICKS or trials_done < study.TRIALS):
        lines += ["", "**Caution:** shorter horizon or fewer trials than the paper's study; a mean over the "
                  "reached trials of a short run is biased low (slow trials are censored), so it is not "
                  "comparable with the paper's numbers."]
    lines += [
        "",
        "| lab | property | condition | reached | mean obs | 95 % CI | paper | ours - paper | p (net vs iso) |",
        "|---|---|:--|--:|--:|--:|--:|--:|--:|",
    ]
    previous = None
    for rec in results.to_dict("records"):
        first = rec["lab"] != previous
        previous = rec["lab"]
        ci = "-" if pd.isna(rec["ci_low"]) else f"[{_fmt(rec['ci_low'])}, {_fmt(rec['ci_high'])}]"
        lines.append(
            f"| {rec['lab'] if first else ''} | {rec['property'] if first else ''} | {rec['condition']} | "
            f"{rec['reached']} | {_fmt(rec['mean_obs'])} | {ci} | {_fmt(rec['paper_mean_obs'])} | "
            f"{_fmt(rec['diff_vs_paper'], signed=True)} | {_fmt(rec['p_networked_vs_isolated'], 3) if first else ''} |"
        )
    lines += ["", "## Figures", ""]
    for name, what in (
        (figures.FIG3_BEST_SO_FAR, "best-so-far vs observations"),
        (figures.FIG4_VALIDATION_LOSS, "validation loss of the chosen model, coloured by its source lab"),
        (figures.FIG5_GENERALIZATION, "error of the chosen model on all unmeasured materials"),
        (figures.FIG6_PROPERTY_CORRELATIONS, "correlations between the properties over the dataset"),
        (figures.TRANSFER_GRAPH, f"who transferred to whom (networked; counts in {TRANSFER_COUNTS_CSV})"),
    ):
        lines.append(f"- [{name}]({name}): {what}")
    lines.append("")
    return "\n".join(lines)


def command_line(argv: list[str]) -> str:
    """The ``labnet ...`` command line, shell-quoted."""
    return shlex.join(["labnet", *argv])
