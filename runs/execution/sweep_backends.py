"""Where the points of a sweep run: serially, in local processes, or on a Ray cluster.

A point is one scenario run (:func:`labnet.runs.execution.runner.run_scenario`) into its own directory. Every
backend executes the same function on the same plain-data :class:`PointTask`, so the same
points give the same tables on every backend (each run is seeded by its scenario alone).

- ``serial``: in this process, one point after another (the engine uses all its threads).
- ``processes``: a :class:`concurrent.futures.ProcessPoolExecutor` with the *spawn* start
  method; ``workers`` points at once (default: the usable cores), each worker limited to
  ``cores // workers`` numba and torch threads so workers x threads <= cores. The workers die
  with the driver, even on SIGKILL, and stop when it is interrupted
  (:mod:`labnet.runs.execution.processes`).
- ``ray``: one Ray task per point (1 CPU, 1 thread each). Without an address a local Ray
  instance is started (``ray.init(num_cpus=workers)``) and shut down afterwards; with
  ``ray_address`` (e.g. ``"auto"`` after ``ray start --head``) the driver joins that cluster.
  An already initialized Ray (``ray.is_initialized()``) is used as it is. Tasks run the
  point in a temporary directory on their node and send the run directory's files back,
  so the sweep directory need not be on a shared file system. Workers import labnet from
  the driver's source tree: through ``PYTHONPATH`` when every node of the cluster is this
  machine, else uploaded as the tasks' ``working_dir``.

A point whose run raises is reported as ``failed`` (with the error) and the others go on.
"""
from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Literal

from labnet.runs.execution.ray_cluster import RayUnavailable, import_ray, ray_runtime_env, start_local_ray
from labnet.runs.execution.threads import limit_threads, threads_per_worker, usable_cores

BACKENDS = ("serial", "processes", "ray")

DEFAULT_OUT = "labnet-sweeps"
"""Default parent of a sweep directory (``labnet sweep --out``); here, not in :mod:`labnet.runs.execution.sweep`,
so that the command's help reads it without importing the runner."""

POINT_MARKER = "point.json"
"""Written into a point's directory once its run has finished (never for a failed run)."""


class SweepError(ValueError):
    """A sweep that cannot be run as asked (backend, workers, sweep directory); bad input."""


@dataclass(frozen=True)
class PointTask:
    """One point to run, as plain data (crosses process and node boundaries).

    Attributes:
        point_id: e.g. ``"p003"``.
        scenario: the point's resolved scenario (:meth:`Scenario.to_dict`).
        point_dir: absolute path of the point's directory (the run directory goes inside).
        threads: numba and torch threads for the run; None leaves the process's setting.
        extend_to: None: run the point. A number: the point is finished already; raise its run
            directory to this many trials and run the new ones (:func:`extend_trials`, then
            :func:`resume_run`), as a sweep ranked until decided does.
    """

    point_id: str
    scenario: dict[str, Any]
    point_dir: str
    threads: int | None = None
    extend_to: int | None = None


@dataclass(frozen=True)
class PointOutcome:
    """What became of a point.

    Attributes:
        point_id: the task's point id.
        status: "finished" or "failed".
        wall_seconds: wall time of the run itself (validation + simulation + writing), s.
        run_dir: name of the run directory inside the point directory (finished only).
        error: the exception as text (failed only).
    """

    point_id: str
    status: Literal["finished", "failed"]
    wall_seconds: float
    run_dir: str | None = None
    error: str | None = None


# --------------------------------------------------------------------------- one point


def write_marker(point_dir: Path, outcome: PointOutcome, scenario: dict[str, Any]) -> Path:
    """Record a finished point: ``point.json`` with its run directory, wall time and scenario."""
    marker = {
        "point": outcome.point_id,
        "status": outcome.status,
        "run_dir": outcome.run_dir,
        "wall_seconds": outcome.wall_seconds,
        "finished_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "scenario": scenario,
    }
    path = point_dir / POINT_MARKER
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(marker, indent=1), encoding="utf-8")
    os.replace(tmp, path)
    return path


def _run(task: PointTask, out_dir: Path) -> PointOutcome:
    """Run the task's scenario into ``out_dir``; exceptions become a failed outcome."""
    start = time.perf_counter()
    try:
        from labnet.runs.execution.runner import run_scenario
        from labnet.runs.config.scenario import validate_scenario

        limit_threads(task.threads)
        result = run_scenario(validate_scenario(task.scenario), out_dir, progress=False)
    except Exception as exc:  # noqa: BLE001 - one failed point must not stop the sweep
        return PointOutcome(task.point_id, "failed", time.perf_counter() - start, error=_error_text(exc))
    return PointOutcome(task.point_id, "finished", time.perf_counter() - start, run_dir=result.run_dir.name)


def _extend(task: PointTask, point_dir: Path) -> PointOutcome:
    """Raise a finished point's run to ``task.extend_to`` trials; its wall time adds to the marker's."""
    start = time.perf_counter()
    try:
        from labnet.runs.execution.runner import extend_trials, resume_run

        marker = json.loads((point_dir / POINT_MARKER).read_text(encoding="utf-8"))
        run_dir = point_dir / str(marker["run_dir"])
        limit_threads(task.threads)
        extend_trials(run_dir, int(task.extend_to))
        resume_run(run_dir, progress=False)
    except Exception as exc:  # noqa: BLE001 - one failed point must not stop the sweep
        return PointOutcome(task.point_id, "failed", time.perf_counter() - start, error=_error_text(exc))
    wall = float(marker.get("wall_seconds") or 0.0) + time.perf_counter() - start
    return PointOutcome(task.point_id, "finished", wall, run_dir=run_dir.name)


def run_point(task: PointTask) -> PointOutcome:
    """Run a point into its directory (or extend it, ``task.extend_to``) and mark it finished there
    (serial and processes backends)."""
    point_dir = Path(task.point_dir)
    point_dir.mkdir(parents=True, exist_ok=True)
    outcome = _run(task, point_dir) if task.extend_to is None else _extend(task, point_dir)
    if outcome.status == "finished":
        write_marker(point_dir, outcome, task.scenario)
    return outcome


def run_point_detached(task: PointTask) -> tuple[PointOutcome, dict[str, bytes]]:
    """Run a point in a temporary directory; return its outcome and the run directory's files.

    Used on Ray: the node running the task may not share the driver's file system. Files
    are keyed by their path relative to the run directory.
    """
    with tempfile.TemporaryDirectory(prefix=f"labnet-{task.point_id}-") as scratch:
        outcome = _run(task, Path(scratch))
        files: dict[str, bytes] = {}
        if outcome.status == "finished":
            run_dir = Path(scratch) / str(outcome.run_dir)
            files = {p.relative_to(run_dir).as_posix(): p.read_bytes() for p in sorted(run_dir.rglob("*")) if p.is_file()}
    return outcome, files


def store_detached(task: PointTask, outcome: PointOutcome, files: dict[str, bytes]) -> PointOutcome:
    """Write a detached run's files into the point directory and mark the point finished."""
    if outcome.status != "finished":
        return outcome
    run_dir = Path(task.point_dir) / str(outcome.run_dir)
    for relative, content in files.items():
        target = run_dir / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content)
    write_marker(Path(task.point_dir), outcome, task.scenario)
    return outcome


def _error_text(exc: BaseException) -> str:
    last = traceback.extract_tb(exc.__traceback__)[-1:] if exc.__traceback__ else []
    where = f" (at {Path(last[0].filename).name}:{last[0].lineno})" if last else ""
    return f"{type(exc).__name__}: {exc}{where}"


# --------------------------------------------------------------------------- backends


def resolve_workers(backend: str, workers: int | None, n_tasks: int) -> int:
    """Points run at once: 1 for serial; else ``workers`` (default: usable cores), at most the tasks."""
    if backend not in BACKENDS:
        raise SweepError(f"backend: unknown backend {backend!r}; expected one of {', '.join(BACKENDS)}")
    if workers is not None and (isinstance(workers, bool) or not isinstance(workers, int) or workers < 1):
        raise SweepError(f"workers: expected an integer >= 1 (got {workers!r})")
    if backend == "serial":
        return 1
    return max(1, min(workers or usable_cores(), max(n_tasks, 1)))


def execute(
    tasks: Sequence[PointTask],
    backend: str,
    on_outcome: Callable[[PointOutcome], None],
    workers: int | None = None,
    ray_address: str | None = None,
) -> None:
    """Run every task on ``backend``; call ``on_outcome`` in this process as each one ends.

    Raises:
        SweepError: unknown backend, bad ``workers``, ``ray_address`` without the ray backend,
            the ray backend without Ray installed, or points whose ticks run on Ray
            (``execution.backend: ray``) on another backend than serial.
    """
    parallel = resolve_workers(backend, workers, len(tasks))
    if ray_address is not None and backend != "ray":
        raise SweepError(f"--ray-address is only used with the ray backend (backend is {backend!r})")
    ray_ticks = [task.point_id for task in tasks if task.scenario.get("execution", {}).get("backend") == "ray"]
    if ray_ticks and backend != "serial":
        raise SweepError(f"points {', '.join(ray_ticks[:5])}{' ...' if len(ray_ticks) > 5 else ''} spread their ticks "
                         f"over Ray (execution.backend 'ray', --tick-backend ray): their points run one after another "
                         f"here; use --backend serial (backend is {backend!r})")
    if not tasks:
        return
    if backend == "ray" and any(task.extend_to is not None for task in tasks):
        raise SweepError("extending finished points (a ranking until decided) runs on the serial or processes "
                         "backend, where the point directories are on this machine; backend is 'ray'")
    if backend == "serial":
        for task in tasks:
            on_outcome(run_point(task))
    elif backend == "processes":
        _execute_processes(tasks, parallel, on_outcome)
    else:
        _execute_ray(tasks, workers, ray_address, on_outcome)


def _init_process_worker(threads: int) -> None:
    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[name] = str(threads)
    limit_threads(threads)


def _execute_processes(tasks: Sequence[PointTask], workers: int, on_outcome: Callable[[PointOutcome], None]) -> None:
    """The processes backend: workers die with this process and stop at once when it is interrupted
    (:mod:`labnet.runs.execution.processes`); an interrupted point is rerun by the next ``labnet sweep``."""
    from concurrent.futures import as_completed

    from labnet.runs.execution.processes import submit_all, worker_pool

    threads = threads_per_worker(workers)
    tasks = [replace(task, threads=threads) for task in tasks]
    with worker_pool(workers, _init_process_worker, (threads,)) as pool:
        futures = dict(zip(submit_all(pool, run_point, [(task,) for task in tasks]), tasks))
        for future in as_completed(futures):
            task = futures[future]
            try:
                outcome = future.result()
            except Exception as exc:  # noqa: BLE001 - e.g. a worker killed by the OS
                outcome = PointOutcome(task.point_id, "failed", 0.0, error=_error_text(exc))
            on_outcome(outcome)


def _import_ray() -> Any:
    try:
        return import_ray()
    except RayUnavailable as exc:
        raise SweepError(str(exc)) from None


def _start_local_ray(ray: Any, workers: int | None) -> None:
    try:
        start_local_ray(ray, workers)
    except RayUnavailable as exc:
        raise SweepError(str(exc)) from None


def _execute_ray(
    tasks: Sequence[PointTask],
    workers: int | None,
    address: str | None,
    on_outcome: Callable[[PointOutcome], None],
) -> None:
    ray = _import_ray()
    started_here = not ray.is_initialized()
    task_env: dict[str, Any] | None = None
    if started_here and address is None:  # a local instance: the whole job gets the environment
        _start_local_ray(ray, workers)
    else:
        if started_here:
            ray.init(address=address, include_dashboard=False, logging_level=logging.WARNING)
        task_env = ray_runtime_env(ray)
    try:
        remote_run = ray.remote(num_cpus=1, max_retries=0)(run_point_detached)
        if task_env is not None:
            remote_run = remote_run.options(runtime_env=task_env)
        queue = [replace(task, threads=1) for task in tasks]
        in_flight_limit = workers or len(queue)
        pending: dict[Any, PointTask] = {}
        while queue or pending:
            while queue and len(pending) < in_flight_limit:
                task = queue.pop(0)
                pending[remote_run.remote(task)] = task
            done, _ = ray.wait(list(pending), num_returns=1)
            for ref in done:
                task = pending.pop(ref)
                try:
                    outcome, files = ray.get(ref)
                    outcome = store_detached(task, outcome, files)
                except Exception as exc:  # noqa: BLE001 - a lost node or worker: report the point as failed
                    outcome = PointOutcome(task.point_id, "failed", 0.0, error=_error_text(exc))
                on_outcome(outcome)
    finally:
        if started_here:
            ray.shutdown()


def clear_unfinished(point_dir: Path) -> bool:
    """Remove what an interrupted or failed earlier attempt left in a point directory; True if any."""
    if point_dir.exists() and any(point_dir.iterdir()):
        shutil.rmtree(point_dir)
        point_dir.mkdir(parents=True)
        return True
    point_dir.mkdir(parents=True, exist_ok=True)
    return False
