"""Run a scenario: every trial x condition, serially, into one run directory.

Run directory ``<out_dir>/<scenario name>-<YYYYmmdd-HHMMSS>/``:

- ``scenario.yaml``: the resolved scenario (every default filled in);
- ``steps.parquet``: one row per observation (:meth:`ExplorationNetwork.step_table`)
  with ``trial`` and ``condition`` prepended;
- ``transfers.parquet``: one row per candidate transferred model, same two columns prepended;
- ``observations_to_threshold.csv``: the headline metric per trial, condition and lab;
- ``summary.csv`` / ``summary.md``: mean observations to threshold, CI, p-value;
- ``best_so_far.png``: best-so-far curves.

Tables and summaries are rewritten after every finished (trial, condition), so an
interrupted run keeps everything already computed. Trial t uses seed
``scenario.seed + t`` in every condition (paired comparison: same initial points).
"""
from __future__ import annotations

import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import pandas as pd
from tqdm.auto import tqdm

from runs.analysis import observations_to_threshold, summarize, summary_markdown
from runs.build import Condition, build_space, build_topology, load_lab_pools, make_conditions, thresholds_for
from runs.plots import plot_best_so_far
from runs.scenario import Scenario, resolve

STEPS_FILE = "steps.parquet"
TRANSFERS_FILE = "transfers.parquet"
SCENARIO_FILE = "scenario.yaml"
OBSERVATIONS_FILE = "observations_to_threshold.csv"
SUMMARY_CSV = "summary.csv"
SUMMARY_MD = "summary.md"
BEST_SO_FAR_PNG = "best_so_far.png"


@dataclass
class RunResult:
    """What a finished run produced.

    Attributes:
        run_dir: the run directory; the ``*_path`` attributes are files inside it.
        summary: :func:`runs.analysis.summarize` table (one row per lab and condition).
        observations: :func:`runs.analysis.observations_to_threshold` table.
        thresholds: lab -> threshold (property units).
    """

    run_dir: Path
    scenario_path: Path
    steps_path: Path
    transfers_path: Path
    observations_path: Path
    summary_csv_path: Path
    summary_md_path: Path
    plot_path: Path
    summary: pd.DataFrame
    observations: pd.DataFrame
    thresholds: dict[str, float] = field(default_factory=dict)


def make_run_dir(out_dir: str | Path, name: str, now: datetime | None = None) -> Path:
    """Create ``out_dir/<name>-<YYYYmmdd-HHMMSS>`` (``-2``, ``-3``, ... appended if taken)."""
    stamp = (now or datetime.now()).strftime("%Y%m%d-%H%M%S")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    candidate = out_dir / f"{name}-{stamp}"
    suffix = 2
    while True:
        try:
            candidate.mkdir()
            return candidate
        except FileExistsError:
            candidate = out_dir / f"{name}-{stamp}-{suffix}"
            suffix += 1


def run_condition(
    scenario: Scenario,
    space: object,
    condition: Condition,
    seed: int,
    progress: Callable[[int], None] | None = None,
    pools: dict | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Run one condition of one trial; returns (step table, transfer table) of the network.

    ``pools``: the labs' loaded source-model pools (:func:`runs.build.load_lab_pools`); loaded
    from disk by the network when None.
    """
    from environment.network import ExplorationNetwork

    network = ExplorationNetwork(
        space,
        list(condition.labs),
        condition.topology,
        scenario.learner,
        seed=seed,
        isolated_candidates=condition.isolated_candidates,
        pools=pools,
    )
    network.run(scenario.horizon_ticks, progress=progress)
    return network.step_table(), network.transfer_table()


def run_scenario(scenario: Scenario, out_dir: str | Path, progress: bool = True) -> RunResult:
    """Run every trial of every condition and write the run directory.

    Args:
        scenario: a validated scenario (CLI overrides already applied with :func:`runs.scenario.resolve`).
        out_dir: parent of the run directory (created if needed).
        progress: show a tqdm bar over all ticks of all trials and conditions on stderr.

    Raises:
        ScenarioError: the scenario cannot run on its dataset (e.g. missing ``--data``, unknown property).
        DataError: the data file is unusable.
    """
    scenario = resolve(scenario)
    space = build_space(scenario)
    pools = load_lab_pools(scenario, space)
    conditions = make_conditions(scenario, build_topology(scenario))
    thresholds = thresholds_for(scenario, space)

    run_dir = make_run_dir(out_dir, scenario.name)
    paths = {name: run_dir / name for name in (SCENARIO_FILE, STEPS_FILE, TRANSFERS_FILE, OBSERVATIONS_FILE,
                                                 SUMMARY_CSV, SUMMARY_MD, BEST_SO_FAR_PNG)}
    scenario.to_yaml(paths[SCENARIO_FILE])
    if progress:
        print(f"labnet: writing results to {run_dir}", file=sys.stderr)

    step_frames: list[pd.DataFrame] = []
    transfer_frames: list[pd.DataFrame] = []
    total = scenario.trials * len(conditions) * scenario.horizon_ticks
    with tqdm(total=total, unit="tick", file=sys.stderr, disable=not progress, dynamic_ncols=True) as bar:
        for trial in range(scenario.trials):
            for condition in conditions:
                bar.set_description(f"trial {trial + 1}/{scenario.trials} {condition.name}")
                done = 0

                def advance(tick: int) -> None:
                    nonlocal done
                    finished = min(tick + 1, scenario.horizon_ticks)
                    if finished > done:
                        bar.update(finished - done)
                        done = finished

                steps, transfers = run_condition(scenario, space, condition, scenario.seed + trial, advance, pools)
                advance(scenario.horizon_ticks - 1)
                step_frames.append(_label(steps, trial, condition.name))
                transfer_frames.append(_label(transfers, trial, condition.name))
                observations, summary = _write_tables(scenario, thresholds, step_frames, transfer_frames, paths)

    all_steps = pd.concat(step_frames, ignore_index=True)
    plot_best_so_far(all_steps, thresholds, paths[BEST_SO_FAR_PNG], title=f"{scenario.name}: best so far")
    return RunResult(
        run_dir=run_dir,
        scenario_path=paths[SCENARIO_FILE],
        steps_path=paths[STEPS_FILE],
        transfers_path=paths[TRANSFERS_FILE],
        observations_path=paths[OBSERVATIONS_FILE],
        summary_csv_path=paths[SUMMARY_CSV],
        summary_md_path=paths[SUMMARY_MD],
        plot_path=paths[BEST_SO_FAR_PNG],
        summary=summary,
        observations=observations,
        thresholds=thresholds,
    )


def _label(table: pd.DataFrame, trial: int, condition: str) -> pd.DataFrame:
    """The table with ``trial`` and ``condition`` as its first columns."""
    table = table.copy()
    table.insert(0, "condition", condition)
    table.insert(0, "trial", trial)
    return table


def _write_tables(
    scenario: Scenario,
    thresholds: dict[str, float],
    step_frames: list[pd.DataFrame],
    transfer_frames: list[pd.DataFrame],
    paths: dict[str, Path],
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(Re)write the tables and summaries from everything finished so far."""
    steps = pd.concat(step_frames, ignore_index=True)
    _write_parquet(steps, paths[STEPS_FILE])
    _write_parquet(pd.concat(transfer_frames, ignore_index=True), paths[TRANSFERS_FILE])
    observations = observations_to_threshold(steps, thresholds, scenario.goals)
    summary = summarize(observations, seed=scenario.seed)
    _atomic_write(paths[OBSERVATIONS_FILE], lambda tmp: observations.to_csv(tmp, index=False))
    _atomic_write(paths[SUMMARY_CSV], lambda tmp: summary.to_csv(tmp, index=False))
    finished = len(step_frames)
    planned = scenario.trials * len(scenario.conditions)
    details = [
        f"dataset: {scenario.dataset.kind}; labs: "
        + ", ".join(f"{lab.name} ({lab.property}, every {lab.period_ticks} ticks)" for lab in scenario.labs),
        f"topology: {scenario.topology.kind}; horizon: {scenario.horizon_ticks} ticks; "
        f"trials: {scenario.trials} (seeds {scenario.seed}..{scenario.seed + scenario.trials - 1})",
        f"finished runs: {finished}/{planned} (trial x condition)",
    ]
    text = summary_markdown(summary, title=f"labnet run: {scenario.name}", details=details)
    _atomic_write(paths[SUMMARY_MD], lambda tmp: tmp.write_text(text, encoding="utf-8"))
    return observations, summary


def _write_parquet(table: pd.DataFrame, path: Path) -> None:
    _atomic_write(path, lambda tmp: table.to_parquet(tmp, index=False))


def _atomic_write(path: Path, write: Callable[[Path], object]) -> None:
    """Write via a temporary file and rename, so a crash never leaves a half-written file."""
    tmp = path.with_name(f".{path.name}.tmp")
    write(tmp)
    os.replace(tmp, path)
