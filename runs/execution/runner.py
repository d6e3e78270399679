"""Run a scenario: every trial x condition, serially, into one run directory; resume it if interrupted.

Run directory ``<out_dir>/<scenario name>-<YYYYmmdd-HHMMSS>/``:

- ``scenario.yaml``: the resolved scenario (every default filled in);
- ``labs.csv``: one row per lab (:func:`labnet.runs.config.build.lab_table`: property, period, community, ...);
- ``steps.parquet``: one row per observation (:meth:`ExplorationNetwork.step_table`)
  with ``trial`` and ``condition`` prepended;
- ``transfers.parquet``: one row per candidate transferred model, same two columns prepended;
- ``observations_to_threshold.csv``: the headline metric per trial, condition and lab;
- ``summary.csv`` / ``summary.md``: per lab and condition, time to threshold as survival data
  (RMST, median, CIs) beside the paper's mean over reached trials; ``comparisons.csv``: the paired
  comparisons of the conditions (:mod:`labnet.runs.reports.run_report`); ``summary.md`` also
  carries the degenerate-study warnings;
- ``best_so_far.png``: best-so-far curves; ``km_time_to_threshold.png``: Kaplan-Meier curves;
- ``run_state.json``: per (trial, condition) pending / in progress / done and the last tick on
  disk; the run's status (:mod:`labnet.runs.execution.run_state`);
- ``stream/trial-<t>_<condition>.{steps,transfers}.jsonl``: the rows of each (trial, condition),
  appended after every tick (:mod:`labnet.runs.execution.tick_stream`);
- ``checkpoints/trial-<t>_<condition>.pkl``: the network of a (trial, condition) in progress,
  rewritten atomically every ``checkpoint_every`` ticks, deleted when it is done
  (:mod:`labnet.simulation.checkpoint`).

The tables and summaries are built from the streams of the finished (trial, condition) runs and
rewritten after each one, so an interrupted run keeps everything already computed, and
:func:`resume_run` (``labnet resume RUN_DIR``) finishes it to exactly the result of an
uninterrupted run. Trial t uses seed ``scenario.seed + t`` in every condition (paired
comparison: same initial points).

With ``workers > 1`` the (trial, condition) runs go to spawned processes: ``workers`` of them, but
no more than the usable cores, nor than one per :data:`MIN_TRAINING_RUNS_PER_PROCESS` runs that
train models (with one left, the runs go serially here, with every core's threads), each with
``cores // processes`` engine threads (at least 1); the runs that train are submitted first.
Workers stream and checkpoint their own runs;
the parent alone writes ``run_state.json`` (from the workers' reports) and the tables, which are
always assembled in (trial, condition) order. The workers die with the parent, even when it is
killed with SIGKILL, and are stopped at once when it is interrupted (Ctrl-C; SIGTERM in the
``labnet`` command) or a run fails (:mod:`labnet.runs.execution.processes`).

An interrupted run (``KeyboardInterrupt``) re-raises with a note that names what the run
directory keeps and the ``labnet resume`` command that finishes it. The engine trains each member on one thread, so
the run directory is identical to a serial run's. Single-threaded workers also keep their speed
when other programs share the CPU, where one multi-threaded process stalls at every barrier.
"""
from __future__ import annotations

import multiprocessing
import queue
import sys
import threading
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import FIRST_COMPLETED, wait
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd
from tqdm.auto import tqdm

from labnet.runs.reports.run_directory import SCENARIO_FILE, STEPS_FILE, TRANSFERS_FILE  # noqa: F401  (the run directory's names)
from labnet._files import atomic_write
from labnet.runs.config.build import (
    Condition, build_space, build_topology, check_candidates_last, lab_table, load_lab_pools, make_conditions,
    thresholds_for,
)
from labnet.runs.execution.processes import submit_all, worker_pool
from labnet.runs.execution.run_state import ConditionRun, RunDirError, RunState, run_lock
from labnet.runs.config.scenario import Scenario, ScenarioError, load_scenario, resolve
from labnet.runs.execution.threads import limit_threads, threads_per_worker, usable_cores
from labnet.runs.execution.tick_stream import TickStream, read_step_table, read_transfer_table, stream_paths

if TYPE_CHECKING:  # pragma: no cover
    from labnet.runs.reports.run_report import RunReport
    from labnet.simulation.network import ExplorationNetwork

LABS_FILE = "labs.csv"
OBSERVATIONS_FILE = "observations_to_threshold.csv"
SUMMARY_CSV = "summary.csv"
SUMMARY_MD = "summary.md"
BEST_SO_FAR_PNG = "best_so_far.png"
KM_PNG = "km_time_to_threshold.png"
COMPARISONS_CSV = "comparisons.csv"
CHECKPOINT_DIR = "checkpoints"


@dataclass
class RunResult:
    """What a finished run produced.

    Attributes:
        run_dir: the run directory; the ``*_path`` attributes are files inside it.
        summary: :func:`labnet.runs.reports.analysis.summarize` table (one row per lab and condition).
        observations: :func:`labnet.runs.reports.analysis.observations_to_threshold` table.
        thresholds: lab -> threshold (property units).
        already_finished: :func:`resume_run` found the run finished and changed nothing.
        report: every table of the run (:class:`labnet.runs.reports.run_report.RunReport`).
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
    already_finished: bool = False
    report: RunReport | None = None


def make_run_dir(out_dir: str | Path, name: str, now: datetime | None = None) -> Path:
    """Create ``out_dir/<name>-<YYYYmmdd-HHMMSS>`` (``-2``, ``-3``, ... appended if taken).

    Raises:
        ScenarioError: ``out_dir`` (or a folder above it) is an existing file.
    """
    stamp = (now or datetime.now()).strftime("%Y%m%d-%H%M%S")
    out_dir = Path(out_dir)
    for folder in (out_dir, *out_dir.parents):  # an existing file where a folder must be: say so
        if folder.exists():
            if not folder.is_dir():
                raise ScenarioError(f"--out {out_dir}: {folder} is a file, not a folder; "
                                    "pass a folder to hold the run directory")
            break
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
    """Run one condition of one trial in memory (no files); returns (step table, transfer table).

    ``pools``: the labs' loaded source-model pools (:func:`labnet.runs.config.build.load_lab_pools`); loaded
    from disk by the network when None.
    """
    network = build_network(scenario, space, condition, seed, pools)
    network.run(scenario.horizon_ticks, progress=progress)
    return network.step_table(), network.transfer_table()


def build_network(
    scenario: Scenario, space: object, condition: Condition, seed: int, pools: dict | None = None
) -> "ExplorationNetwork":
    """The network of one (trial, condition) before its first tick (initial points measured); ``seed``
    is the trial seed (``scenario.seed + trial``), ``pools`` as in :func:`run_condition`."""
    from labnet.simulation.network import ExplorationNetwork

    return ExplorationNetwork(
        space,
        list(condition.labs),
        condition.topology,
        scenario.learner,
        seed=seed,
        isolated_candidates=condition.isolated_candidates,
        pools=pools,
    )


@dataclass
class _Setup:
    """Everything a run needs that follows from its scenario."""

    scenario: Scenario
    space: object
    conditions: list[Condition]
    thresholds: dict[str, float]
    fingerprint: str
    pools: dict
    """The labs' source-model pools, loaded once (and once per worker process)."""
    executor: object | None = None
    """Where the networks' train and predict phases run (``execution.backend: ray``: the run's
    :class:`~labnet.runs.execution.ray_tick.RayTickExecutor`); None: in the network's process."""

    @classmethod
    def of(cls, scenario: Scenario) -> "_Setup":
        from labnet.simulation.checkpoint import space_fingerprint

        space = build_space(scenario)
        check_candidates_last(scenario, len(space))
        pools = load_lab_pools(scenario, space)
        conditions = make_conditions(scenario, build_topology(scenario))
        return cls(scenario, space, conditions, thresholds_for(scenario, space), space_fingerprint(space), pools)


def run_scenario(
    scenario: Scenario, out_dir: str | Path, progress: bool = True, *, checkpoint_every: int = 1, workers: int = 1,
    on_created: Callable[[Path], None] | None = None,
    lockstep: bool = False,
) -> RunResult:
    """Run every trial of every condition and write the run directory.

    Results stream to ``RUN_DIR/stream/`` after every tick and the network is checkpointed to
    ``RUN_DIR/checkpoints/`` every ``checkpoint_every`` ticks, so an interrupted run can be
    finished with :func:`resume_run` (``labnet resume RUN_DIR``) to exactly the result of an
    uninterrupted one.

    Args:
        scenario: a validated scenario (CLI overrides already applied with :func:`labnet.runs.config.scenario.resolve`).
        out_dir: parent of the run directory (created if needed).
        progress: show a tqdm bar over all ticks of all trials and conditions on stderr.
        checkpoint_every: ticks between checkpoints (>= 1). With 1 a crash loses at most the
            tick in progress; larger values save the checkpoint time (measured in
            docs/benchmarks/checkpoint.md) and redo up to that many ticks on resume.
        workers: at most this many local processes run (trial, condition) runs side by side
            (no more than the usable cores, nor than one per :data:`MIN_TRAINING_RUNS_PER_PROCESS`
            runs that train); 1 = in this process.
        on_created: called with the run directory once it holds ``scenario.yaml`` and
            ``run_state.json``, before the first trial runs (the until-decided loop records its plan).
        lockstep: step every (trial, condition) network side by side in this process, each round's
            jobs of all of them in one engine call (:mod:`labnet.runs.execution.lockstep`; same run
            directory); needs ``workers == 1``.

    Raises:
        ScenarioError: the scenario cannot run on its dataset (e.g. missing ``--data``, unknown property).
        DataError: the data file is unusable.
        ValueError: ``checkpoint_every < 1``.
    """
    if isinstance(checkpoint_every, bool) or not isinstance(checkpoint_every, int) or checkpoint_every < 1:
        raise ValueError(f"checkpoint_every = {checkpoint_every!r}: expected an integer >= 1")
    _check_workers(workers, lockstep)
    scenario = resolve(scenario)
    _check_execution(scenario, workers, lockstep)
    setup = _Setup.of(scenario)
    run_dir = make_run_dir(out_dir, scenario.name)
    scenario.to_yaml(run_dir / SCENARIO_FILE)
    lab_table(scenario).to_csv(run_dir / LABS_FILE, index=False)
    state = RunState.new(run_dir, scenario.trials, [c.name for c in setup.conditions], scenario.horizon_ticks,
                         checkpoint_every)
    state.save()
    if on_created is not None:
        on_created(run_dir)
    # the reports are imported where they are used: worker processes import this module and
    # start sooner without them (pandas' plotting, matplotlib, scipy.stats)
    from labnet.runs.reports.degenerate import degenerate_warnings, threshold_checks

    for warning in degenerate_warnings(threshold_checks(scenario.labs, setup.thresholds, setup.space,
                                                        scenario.threshold_fraction)):
        print(f"labnet: warning: {warning}", file=sys.stderr)
    if progress:
        print(f"labnet: writing results to {run_dir}", file=sys.stderr)
    return _execute(run_dir, setup, state, progress, workers, lockstep)


def _check_workers(workers: object, lockstep: bool = False) -> None:
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ValueError(f"workers = {workers!r}: expected a whole number >= 1")
    if lockstep and workers != 1:
        raise ValueError(f"workers = {workers}: a lockstep run steps every network in one process; use workers = 1")


def resume_run(
    run_dir: str | Path, progress: bool = True, data: str | Path | None = None, workers: int = 1,
    engine: str | None = None, device: str | None = None, lockstep: bool = False,
    execution: Mapping[str, object] | None = None,
) -> RunResult:
    """Finish an interrupted run: continue every (trial, condition) in progress from its last
    checkpoint, run those not started, and rebuild the tables, summary and plot.

    The result is identical to that of an uninterrupted run of the same scenario and seed.
    Resuming a finished run changes nothing and returns its result with ``already_finished``.

    Args:
        run_dir: a run directory written by :func:`run_scenario` (``labnet run``).
        progress: progress bar on stderr.
        data: the dataset file, if the path recorded in ``RUN_DIR/scenario.yaml`` has moved
            (its content must be unchanged: checkpoints record a fingerprint of the material space).
        workers: local processes, as in :func:`run_scenario` (the result does not depend on it).
        engine, device: train from here on with this engine / on this device
            (:func:`labnet.models.engines.with_engine`; None: as recorded). A change is written to
            ``scenario.yaml``; the engines agree to float32 rounding, not bit for bit.
        lockstep: continue in lockstep (as in :func:`run_scenario`; the result does not depend on it).
        execution: replace the recorded ``execution`` section (``{"backend": "ray", "ray_address": ...}``;
            :mod:`labnet.runs.config.execution`; None: as recorded). A change is written to
            ``scenario.yaml``; the result does not depend on it.

    Raises:
        RunDirError: not a (resumable) run directory, damaged state, or a run already writing to it.
        CheckpointError: a checkpoint cannot be read or the dataset differs from the run's.
        ScenarioError, DataError: the recorded scenario or its dataset cannot be loaded.
    """
    _check_workers(workers, lockstep)
    run_dir = Path(run_dir).expanduser()
    state = RunState.read(run_dir)
    if not (run_dir / SCENARIO_FILE).is_file():
        raise RunDirError(f"{run_dir}: {SCENARIO_FILE} is missing; cannot resume")
    scenario = resolve(load_scenario(run_dir / SCENARIO_FILE), data=data)
    scenario = _switch_engine(run_dir, scenario, engine, device)
    _check_execution(with_execution(scenario, execution), workers, lockstep)
    scenario = _switch_execution(run_dir, scenario, execution)
    setup = _Setup.of(scenario)
    planned = [(t, c.name) for t in range(scenario.trials) for c in setup.conditions]
    if [(r.trial, r.condition) for r in state.runs] != planned or state.horizon_ticks != scenario.horizon_ticks:
        raise RunDirError(
            f"{state.path} does not match {run_dir / SCENARIO_FILE} (trials, conditions or horizon differ)"
        )
    if state.finished:
        report = _summaries(setup, _read_tables(run_dir, setup, state)[0])
        return _result(run_dir, setup, report, already_finished=True)
    if progress:
        print(f"labnet: resuming {run_dir} ({state.describe()})", file=sys.stderr)
    return _execute(run_dir, setup, state, progress, workers, lockstep)


def extend_trials(run_dir: str | Path, trials: int) -> None:
    """Raise the trial count of a run directory to ``trials`` (more trials only; used by
    :mod:`labnet.runs.execution.until_decided`).

    Appends the new (trial, condition) runs to ``run_state.json`` as pending (the run is "running"
    again), then rewrites ``scenario.yaml`` with the new ``trials``; :func:`resume_run` runs them.
    Trial t keeps seed ``scenario.seed + t``, so the first trials and their results are unchanged.
    Idempotent: calling it again after a kill between the two writes completes the change.

    Raises:
        RunDirError: not a run directory, in use, or ``trials`` below the trials it already has.
    """
    run_dir = Path(run_dir).expanduser()
    with run_lock(run_dir):
        state = RunState.read(run_dir)
        scenario = load_scenario(run_dir / SCENARIO_FILE)
        have = max((r.trial for r in state.runs), default=-1) + 1
        if isinstance(trials, bool) or not isinstance(trials, int) or trials < have:
            raise RunDirError(f"{run_dir}: cannot extend to {trials!r} trials; it has {have} (expected more)")
        conditions = list(dict.fromkeys(r.condition for r in state.runs))
        if trials > have:
            state.runs += [ConditionRun(t, c) for t in range(have, trials) for c in conditions]
            state.status = "running"
            state.save()
        if scenario.trials != trials:
            scenario.model_copy(update={"trials": trials}).to_yaml(run_dir / SCENARIO_FILE)


def _switch_engine(run_dir: Path, scenario: Scenario, engine: str | None, device: str | None) -> Scenario:
    """The scenario with the learner's engine / device replaced; a change is recorded in scenario.yaml."""
    from labnet.models.engines import trainer_for, with_engine

    try:
        learner = with_engine(scenario.learner, engine, device)
        trainer_for(learner)  # a device this machine lacks: reported before any work
    except ValueError as exc:
        raise ScenarioError(str(exc)) from None
    if learner == scenario.learner:
        return scenario
    scenario = scenario.model_copy(update={"learner": learner})
    atomic_write(run_dir / SCENARIO_FILE, lambda tmp: scenario.to_yaml(tmp))
    return scenario


def with_execution(scenario: Scenario, execution: Mapping[str, object] | None) -> Scenario:
    """``scenario`` with its ``execution`` section replaced by ``execution`` (None: unchanged).

    Raises:
        ScenarioError: ``execution.<field>: ...`` for a section that does not validate.
    """
    if execution is None:
        return scenario
    raw = scenario.to_dict()
    raw["execution"] = dict(execution)
    from labnet.runs.config.scenario import validate_scenario

    changed = validate_scenario(raw, model=type(scenario))
    return scenario if changed.execution == scenario.execution else scenario.model_copy(
        update={"execution": changed.execution})


def _switch_execution(run_dir: Path, scenario: Scenario, execution: Mapping[str, object] | None) -> Scenario:
    """The scenario with another ``execution`` section; a change is recorded in scenario.yaml."""
    changed = with_execution(scenario, execution)
    if changed is not scenario:
        atomic_write(run_dir / SCENARIO_FILE, lambda tmp: changed.to_yaml(tmp))
    return changed


def _check_execution(scenario: Scenario, workers: int, lockstep: bool) -> None:
    """``execution.backend: ray`` spreads a tick over the cluster: not with local worker processes or lockstep."""
    if scenario.execution.backend != "ray":
        return
    if workers != 1:
        raise ScenarioError(f"workers = {workers}: with execution.backend 'ray' every tick's work is spread over "
                            "the Ray cluster and the networks run one after another here; drop --workers")
    if lockstep:
        raise ScenarioError("lockstep: with execution.backend 'ray' every tick's work is spread over the Ray "
                            "cluster; drop --lockstep (or use --backend local)")


@contextmanager
def _tick_executor(setup: _Setup) -> Iterator[None]:
    """While active, ``setup.executor`` is the run's Ray executor when ``execution.backend`` is ray."""
    execution = setup.scenario.execution
    if execution.backend != "ray":
        yield
        return
    from labnet.runs.execution.ray_tick import ray_session

    with ray_session(execution.ray_address, execution.ray_workers) as executor:
        setup.executor = executor
        try:
            yield
        finally:
            setup.executor = None


def _execute(
    run_dir: Path, setup: _Setup, state: RunState, progress: bool, workers: int = 1, lockstep: bool = False
) -> RunResult:
    """Run every (trial, condition) of ``state`` that is not done, then write the final outputs."""
    with _tick_executor(setup):
        return _execute_here(run_dir, setup, state, progress, workers, lockstep)


def _execute_here(
    run_dir: Path, setup: _Setup, state: RunState, progress: bool, workers: int = 1, lockstep: bool = False
) -> RunResult:
    """:func:`_execute` once the tick executor is in place."""
    scenario = setup.scenario
    horizon = scenario.horizon_ticks
    with run_lock(run_dir):
        try:
            todo = [run for run in state.runs if run.status != "done"]
            processes = _processes_for(setup, todo, workers)
            if any(_trains(condition) for condition in setup.conditions):
                _compile_training_kernel(progress, load_here=processes == 1)
            tqdm.set_lock(threading.RLock())  # not tqdm's default multiprocessing lock: no bar is drawn elsewhere
            with tqdm(total=len(state.runs) * horizon, initial=state.ticks_on_disk(), unit="tick", file=sys.stderr,
                      disable=not progress, dynamic_ncols=True) as bar:
                for run in state.runs:
                    if run.status == "done":
                        _checkpoint_path(run_dir, run).unlink(missing_ok=True)  # left by a kill right after "done"
                if progress and processes < workers:
                    print(f"labnet: {processes} process{'es' if processes > 1 else ''} instead of {workers} "
                          f"({len(todo)} runs, {usable_cores()} cores; a process needs "
                          f"{MIN_TRAINING_RUNS_PER_PROCESS} runs that train)", file=sys.stderr)
                runner = _run_serially if processes == 1 else _run_in_processes
                if lockstep:
                    from labnet.runs.execution.lockstep import run_in_lockstep

                    runner = partial(run_in_lockstep, run_condition=_run_condition_durably,
                                     local_reporter=_LocalReporter)
                with closing(runner(run_dir, setup, state, todo, bar, processes)) as finished_runs:
                    for _ in finished_runs:
                        if any(other.status != "done" for other in state.runs):
                            _write_tables(run_dir, setup, state)  # what finished so far; the last one is below
            steps, report = _write_tables(run_dir, setup, state)
            from labnet.runs.reports.plots import plot_best_so_far, plot_time_to_threshold

            plot_best_so_far(steps, setup.thresholds, run_dir / BEST_SO_FAR_PNG, title=f"{scenario.name}: best so far")
            plot_time_to_threshold(report.observations, run_dir / KM_PNG,
                                   title=f"{scenario.name}: time to target (Kaplan-Meier)")
            state.status = "finished"
            state.save()
        except KeyboardInterrupt as interrupt:
            interrupt.add_note(_stopped_note(run_dir, state))
            raise
    _remove_empty_dir(run_dir / CHECKPOINT_DIR)
    return _result(run_dir, setup, report)


def _trains(condition: Condition) -> bool:
    """Whether a condition's labs train models (a random-search condition costs next to nothing)."""
    return any(lab.strategy == "bo" for lab in condition.labs)


TRANSFERRED_ENSEMBLE_COST = 0.17
"""What fine-tuning a neighbour's ensemble costs against training one from scratch: 2.9 us against
16.8 us per member-optimizer-step in the engine's kernel (docs/benchmarks/engine_kernel.md). A
scheduling weight only."""


def training_weight(condition: Condition, horizon_ticks: int) -> float:
    """The training work of one run of ``condition``, in from-scratch ensembles trained (a scheduling
    weight, not a timing): per BO lab, its actions within the horizon times the ensembles it trains
    per action (the isolated baseline's from-scratch candidates; else one from scratch plus one
    transferred per in-neighbour, at :data:`TRANSFERRED_ENSEMBLE_COST`). 0 for random search."""
    weight = 0.0
    for lab in condition.labs:
        if lab.strategy != "bo":
            continue
        if condition.isolated_candidates is not None:
            per_action = float(condition.isolated_candidates.get(lab.name, 1))
        else:
            per_action = 1.0 + TRANSFERRED_ENSEMBLE_COST * condition.topology.in_degree(lab.name)
        weight += lab.actions_within(horizon_ticks) * per_action
    return weight


def longest_first(setup: _Setup, todo: list[ConditionRun]) -> list[ConditionRun]:
    """``todo`` by decreasing :func:`training_weight` (ties in their order): the order worker
    processes take runs in, so that none is left running one long run alone at the end (longest
    processing time first) and the cheap random-search runs fill the gaps."""
    by_name = {c.name: c for c in setup.conditions}
    horizon = setup.scenario.horizon_ticks
    return sorted(todo, key=lambda run: -training_weight(by_name[run.condition], horizon))


MIN_TRAINING_RUNS_PER_PROCESS = 4
"""A worker process gets at least this many runs that train, else fewer processes (each with more
engine threads) run them. The engine spreads a tick's training over its threads almost
perfectly, so one process with 2 threads already keeps 2 cores busy; what processes add is
each one's start (imports, dataset, kernel load: 4-6 s) and a tail where one process runs its
last run alone, which is a large share of the work when each process has only a few runs (the
built-in default study, 4 training runs of 16-22 s serially, 22-43 s on one thread each: 74 s
serially, 85 s in 2 processes, measured while the machine was shared)."""


def _processes_for(setup: _Setup, todo: list[ConditionRun], workers: int) -> int:
    """Worker processes for the runs ``todo``: at most ``workers`` and the usable cores, and at
    most one per :data:`MIN_TRAINING_RUNS_PER_PROCESS` runs that train (a random-search run costs
    next to nothing); 1 = run them here, with every core's engine threads."""
    by_name = {c.name: c for c in setup.conditions}
    training = sum(_trains(by_name[run.condition]) for run in todo)
    return max(1, min(workers, usable_cores(), training // MIN_TRAINING_RUNS_PER_PROCESS))


KERNEL_NOTICE = "labnet: compiling the training kernel (once per installation; 15-60 s)..."


def _compile_training_kernel(progress: bool, load_here: bool = True) -> None:
    """Compile the training kernel (or load numba's cache of it) now: before the progress bar,
    whose estimate then excludes the compile, and before worker processes start, which then load
    it instead of each compiling it. Says so on stderr when it compiles (``progress``).
    ``load_here=False`` (the runs go to worker processes): a cached kernel is not loaded here."""
    from labnet.models.kernel_cache import compile_kernel, kernel_is_cached

    cached = kernel_is_cached()
    if cached and not load_here:
        return
    announce = progress and not cached
    if announce:
        print(KERNEL_NOTICE, file=sys.stderr, flush=True)
    seconds = compile_kernel()
    if announce:
        print(f"labnet: compiled in {seconds:.0f} s", file=sys.stderr, flush=True)


def _stopped_note(run_dir: Path, state: RunState) -> str:
    """What an interrupted run keeps and how to continue it (two lines). Runs in progress are
    counted by their checkpoints on disk: ``run_state.json`` may lag a worker's last reports."""
    finished = sum(run.status == "done" for run in state.runs)
    started = sum(run.status != "done" and _checkpoint_path(run_dir, run).is_file() for run in state.runs)
    return (f"labnet: {run_dir} keeps {finished} of {len(state.runs)} (trial, condition) runs finished"
            + (f" and {started} in progress up to its last checkpoint" if started == 1 else
               f" and {started} in progress up to their last checkpoints" if started else "")
            + f"\nlabnet: to continue this run: labnet resume {run_dir}")


class _Reporter:
    """Where a running (trial, condition) reports: its state changed (persist it) or a tick was streamed."""

    def saved(self, run: ConditionRun) -> None:
        raise NotImplementedError

    def ticked(self, run: ConditionRun) -> None:
        raise NotImplementedError


class _LocalReporter(_Reporter):
    """In this process: save ``run_state.json``, advance the bar."""

    def __init__(self, state: RunState, bar: tqdm) -> None:
        self.state, self.bar = state, bar

    def saved(self, run: ConditionRun) -> None:
        self.state.save()
        self.bar.n = self.state.ticks_on_disk()  # a checkpoint may be one save ahead of run_state.json
        self.bar.refresh()

    def ticked(self, run: ConditionRun) -> None:
        self.bar.update(1)


def _run_serially(
    run_dir: Path, setup: _Setup, state: RunState, todo: list[ConditionRun], bar: tqdm, workers: int
) -> Iterator[ConditionRun]:
    """Run the (trial, condition) runs one after the other here; yields each finished one."""
    by_name = {c.name: c for c in setup.conditions}
    reporter = _LocalReporter(state, bar)
    for run in todo:
        bar.set_description(f"trial {run.trial + 1}/{setup.scenario.trials} {run.condition}")
        _run_condition_durably(run_dir, setup, by_name[run.condition], run, state.checkpoint_every, reporter)
        yield run


def _run_in_processes(
    run_dir: Path, setup: _Setup, state: RunState, todo: list[ConditionRun], bar: tqdm, workers: int
) -> Iterator[ConditionRun]:
    """Run the (trial, condition) runs in ``workers`` spawned processes; yields each finished one.

    Workers send ("saved", key, status, last_tick) and ("tick", key) messages; only this process
    writes ``run_state.json``, after the worker has written the checkpoint it describes. The
    workers die with this process and are stopped at once when it is interrupted or a run fails
    (:mod:`labnet.runs.execution.processes`); their last messages are then not read, so
    ``run_state.json`` may lag their checkpoints, which :func:`resume_run` handles.
    """
    threads = threads_per_worker(workers)
    messages = multiprocessing.get_context("spawn").Queue()
    by_key = {run.key: run for run in todo}
    bar.set_description(f"{len(todo)} runs in {workers} processes")
    order = longest_first(setup, todo)

    def drain(timeout: float) -> None:
        try:
            message = messages.get(timeout=timeout)
            while True:
                kind, key, *rest = message
                if kind == "saved":
                    by_key[key].status, by_key[key].last_tick = rest
                    state.save()
                    bar.n = state.ticks_on_disk()
                    bar.refresh()
                else:
                    bar.update(1)
                message = messages.get_nowait()
        except queue.Empty:
            pass

    with worker_pool(workers, _set_up_worker, (run_dir, setup.scenario, threads, messages)) as pool:
        futures = submit_all(pool, _run_in_worker, [(run, state.checkpoint_every) for run in order])
        pending = dict(zip(futures, order))
        while pending:
            finished, _ = wait(pending, timeout=0.5, return_when=FIRST_COMPLETED)
            drain(0.0)
            for future in finished:
                run = pending.pop(future)
                future.result()  # a worker's exception surfaces here
                drain(0.1)  # its last messages
                if run.status != "done":  # the "done" report and the result race: trust the result
                    run.status, run.last_tick = "done", setup.scenario.horizon_ticks - 1
                    state.save()
                yield run


class _QueueReporter(_Reporter):
    """In a worker process: send the run's changes to the parent."""

    def __init__(self, messages) -> None:
        self.messages = messages

    def saved(self, run: ConditionRun) -> None:
        self.messages.put(("saved", run.key, run.status, run.last_tick))

    def ticked(self, run: ConditionRun) -> None:
        self.messages.put(("tick", run.key))


_WORKER: dict[str, object] = {}


def _set_up_worker(run_dir: Path, scenario: Scenario, threads: int, messages) -> None:
    """Worker initializer: limit engine threads, build the space and conditions once."""
    limit_threads(threads)
    _WORKER.update(run_dir=run_dir, setup=_Setup.of(scenario), reporter=_QueueReporter(messages))


def _run_in_worker(run: ConditionRun, checkpoint_every: int) -> None:
    setup = _WORKER["setup"]
    condition = {c.name: c for c in setup.conditions}[run.condition]
    _run_condition_durably(_WORKER["run_dir"], setup, condition, run, checkpoint_every, _WORKER["reporter"])


def _run_condition_durably(
    run_dir: Path, setup: _Setup, condition: Condition, run: ConditionRun, checkpoint_every: int, report: _Reporter,
    wrap_trainer: Callable | None = None,
) -> None:
    """Run (or continue) one (trial, condition): stream every tick, checkpoint every
    ``checkpoint_every`` ticks, mark it done. ``wrap_trainer(trainer)``: what the network trains
    with instead (lockstep batching)."""
    from labnet.simulation.checkpoint import CheckpointError, load_network, save_network

    scenario = setup.scenario
    horizon = scenario.horizon_ticks
    seed = scenario.seed + run.trial
    label = {"trial": run.trial, "condition": run.condition, "seed": seed}
    checkpoint = _checkpoint_path(run_dir, run)
    if run.status == "in_progress" and checkpoint.is_file():
        try:
            saved = load_network(checkpoint, setup.space, setup.fingerprint)
        except CheckpointError as exc:
            raise CheckpointError(f"{exc}. Deleting {checkpoint} makes resume rerun trial {run.trial}, "
                                  f"condition {run.condition!r} from its first tick.") from exc
        if saved.extra != label:
            raise RunDirError(f"{checkpoint} belongs to {saved.extra}, expected {label}")
        network = saved.network
        _use_trainer(network, scenario.learner)
    else:  # not started, or killed before its first checkpoint: from the beginning
        network = build_network(scenario, setup.space, condition, seed, setup.pools)
    if setup.executor is not None:
        network.executor = setup.executor
    if wrap_trainer is not None:
        _set_trainer(network, wrap_trainer(network.trainer))
    run.status, run.last_tick = "in_progress", network.tick - 1
    report.saved(run)
    checkpoint.parent.mkdir(exist_ok=True)
    with TickStream(*stream_paths(run_dir, run.trial, run.condition), network) as stream:

        def after_tick(tick: int) -> None:
            stream.append_new(network)
            finished = tick + 1
            if finished < horizon and finished % checkpoint_every == 0:
                save_network(network, checkpoint, extra=label, fingerprint=setup.fingerprint)
                run.last_tick = tick
                report.saved(run)
            report.ticked(run)

        network.run(horizon, progress=after_tick)
    run.status, run.last_tick = "done", horizon - 1
    report.saved(run)
    checkpoint.unlink(missing_ok=True)


def _use_trainer(network: "ExplorationNetwork", learner) -> None:
    """A restored network trains with ``learner``'s engine (resume may switch it): the network and
    its labs hold the trainer."""
    from labnet.models.engines import trainer_for

    trainer = trainer_for(learner)
    if network.trainer != trainer:
        _set_trainer(network, trainer)


def _set_trainer(network: "ExplorationNetwork", trainer: Callable) -> None:
    for holder in (network, *network.agents):
        if hasattr(holder, "trainer"):
            holder.trainer = trainer


def _checkpoint_path(run_dir: Path, run: ConditionRun) -> Path:
    return run_dir / CHECKPOINT_DIR / f"{run.key}.pkl"


def _remove_empty_dir(path: Path) -> None:
    try:
        path.rmdir()
    except OSError:  # missing or not empty
        pass


def _read_tables(run_dir: Path, setup: _Setup, state: RunState) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(steps, transfers) of every done (trial, condition), from the streams, labelled and concatenated."""
    by_name = {c.name: c for c in setup.conditions}
    step_frames, transfer_frames = [], []
    for run in state.runs:
        if run.status != "done":
            continue
        steps_path, transfers_path = stream_paths(run_dir, run.trial, run.condition)
        lab_order = [lab.name for lab in by_name[run.condition].labs]
        step_frames.append(_label(read_step_table(steps_path, lab_order), run.trial, run.condition))
        transfer_frames.append(_label(read_transfer_table(transfers_path), run.trial, run.condition))
    return pd.concat(step_frames, ignore_index=True), pd.concat(transfer_frames, ignore_index=True)


def _summaries(setup: _Setup, steps: pd.DataFrame) -> RunReport:
    from labnet.runs.reports.run_report import build_run_report

    scenario = setup.scenario
    return build_run_report(steps, scenario.labs, setup.thresholds, scenario.goals, setup.space,
                            scenario.threshold_fraction, seed=scenario.seed)


def _result(run_dir: Path, setup: _Setup, report: RunReport, already_finished: bool = False) -> RunResult:
    return RunResult(
        run_dir=run_dir,
        scenario_path=run_dir / SCENARIO_FILE,
        steps_path=run_dir / STEPS_FILE,
        transfers_path=run_dir / TRANSFERS_FILE,
        observations_path=run_dir / OBSERVATIONS_FILE,
        summary_csv_path=run_dir / SUMMARY_CSV,
        summary_md_path=run_dir / SUMMARY_MD,
        plot_path=run_dir / BEST_SO_FAR_PNG,
        summary=report.summary,
        observations=report.observations,
        thresholds=setup.thresholds,
        already_finished=already_finished,
        report=report,
    )


def _label(table: pd.DataFrame, trial: int, condition: str) -> pd.DataFrame:
    """The table with ``trial`` and ``condition`` as its first columns."""
    table = table.copy()
    table.insert(0, "condition", condition)
    table.insert(0, "trial", trial)
    return table


def _write_tables(run_dir: Path, setup: _Setup, state: RunState) -> tuple[pd.DataFrame, RunReport]:
    """(Re)write the tables and summaries from every done (trial, condition); returns (steps, report)."""
    scenario = setup.scenario
    steps, transfers = _read_tables(run_dir, setup, state)
    _write_parquet(steps, run_dir / STEPS_FILE)
    _write_parquet(transfers, run_dir / TRANSFERS_FILE)
    report = _summaries(setup, steps)
    atomic_write(run_dir / OBSERVATIONS_FILE, lambda tmp: report.observations.to_csv(tmp, index=False))
    atomic_write(run_dir / SUMMARY_CSV, lambda tmp: report.summary.to_csv(tmp, index=False))
    atomic_write(run_dir / COMPARISONS_CSV, lambda tmp: report.comparisons.to_csv(tmp, index=False))
    finished = sum(run.status == "done" for run in state.runs)
    details = [
        f"dataset: {scenario.dataset.kind}; labs: "
        + ", ".join(f"{lab.name} ({lab.property}, every {lab.period_ticks} ticks)" for lab in scenario.labs),
        f"topology: {scenario.topology.kind}; horizon: {scenario.horizon_ticks} ticks; "
        f"trials: {scenario.trials} (seeds {scenario.seed}..{scenario.seed + scenario.trials - 1})",
        f"finished runs: {finished}/{len(state.runs)} (trial x condition)",
    ]
    text = report.markdown(title=f"labnet run: {scenario.name}", details=details)
    atomic_write(run_dir / SUMMARY_MD, lambda tmp: tmp.write_text(text, encoding="utf-8"))
    return steps, report


def _write_parquet(table: pd.DataFrame, path: Path) -> None:
    atomic_write(path, lambda tmp: table.to_parquet(tmp, index=False))
