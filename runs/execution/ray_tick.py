"""One network's tick on a Ray cluster: the train and predict phases sharded over Ray workers.

:class:`RayTickExecutor` is a :mod:`labnet.simulation.tick_executor` executor. Per tick:

* **train**: every engine task of every acting lab gets a cost, members x epochs x
  ceil(n_train / batch_size) (optimizer steps of its members at most), and the tasks are dealt
  into shards balanced by cost (longest first onto the lightest shard), ``shards_per_cpu`` shards
  per CPU of the cluster. Each shard is one Ray task that runs
  :func:`labnet.models.grouping.train_grouped` on its tasks with the network's trainer, on one
  thread. The numba engine's results of a member do not depend on which other members share its
  engine call (tests/test_engine.py), so the results are bit for bit those of one in-process call.
* **predict**: the selected models' predictors are dealt into shards the same way (cost: members)
  and each shard predicts over every material in one Ray task.

What travels: the descriptor matrix X once per executor (``ray.put``; one executor serves every
network of a run); a job's starting parameters that several jobs of the tick share (a published
snapshot transferred by several neighbours, a pool model chosen by several labs: equal content,
found by comparing arrays) once per tick through the object store, referenced by the jobs, not
copied into each; every other job's arrays inside its shard; the results back. The bytes of the
numpy arrays sent and received are counted per tick (:class:`TickTraffic`, ``executor.history``).

A worker that dies mid-task (its process killed, its node lost) is retried by Ray
(``max_retries``, default 3): a shard is a pure function of its inputs, so the retried shard
gives the same result and the tick is unchanged (tests/test_ray_tick.py kills one).

The results equal an in-process run where every worker runs the same labnet, numba and torch
builds on the same kind of CPU (the predictions are single-threaded BLAS matmuls and numba
kernels, whose rounding may differ between CPU instruction sets).

Ray itself: :func:`ray_session` joins ``address`` (e.g. ``"auto"`` after ``ray start --head``) or
starts a local instance with ``workers`` CPUs (default: every core), as the sweep's Ray backend
does (:mod:`labnet.runs.execution.ray_cluster`), and shuts down only what it started.
"""
from __future__ import annotations

import logging
import math
import os
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from labnet.runs.execution.ray_cluster import RayUnavailable, import_ray, ray_runtime_env, start_local_ray

DEFAULT_MAX_RETRIES = 3
"""Ray retries of a shard whose worker died (Ray's own default for tasks)."""
DEFAULT_SHARDS_PER_CPU = 1
"""Shards per cluster CPU: 1 gives each worker one balanced shard per phase (fewest task
overheads); more shards even out a cluster whose workers run at different speeds."""


class TickBackendError(RayUnavailable):
    """The Ray tick backend cannot run as asked (Ray missing or not started, cluster unreachable)."""


@contextmanager
def ray_session(address: str | None = None, workers: int | None = None) -> Iterator["RayTickExecutor"]:
    """A :class:`RayTickExecutor` on a connected Ray: ``address`` joined, or a new local instance of
    ``workers`` CPUs (None: every core), or the already initialized Ray as it is. Shuts down
    what it started.

    Raises:
        TickBackendError: Ray is not installed, did not start, or the cluster cannot be joined.
    """
    try:
        ray = import_ray()
    except RayUnavailable as exc:
        raise TickBackendError(f"execution.backend 'ray': {exc}") from None
    started_here = not ray.is_initialized()
    task_env: dict[str, Any] | None = None
    try:
        if started_here and address is None:  # a local instance: the whole job gets labnet's environment
            start_local_ray(ray, workers)
        else:
            if started_here:
                ray.init(address=address, include_dashboard=False, logging_level=logging.WARNING)
            task_env = ray_runtime_env(ray)
    except RayUnavailable as exc:
        raise TickBackendError(f"execution.backend 'ray': {exc}") from None
    except Exception as exc:  # noqa: BLE001 - ray.init raises ConnectionError, RuntimeError, ...
        ray.shutdown()
        raise TickBackendError(f"execution.ray_address = {address!r}: could not join the Ray cluster: {exc}") from None
    try:
        yield RayTickExecutor(ray, runtime_env=task_env)
    finally:
        if started_here:
            ray.shutdown()


# --------------------------------------------------------------------------- shards


def job_cost(task: Any) -> int:
    """The cost of an engine task: members x epochs x ceil(n_train / batch_size) (member-optimizer steps at most)."""
    job, config = task.job, task.config
    return int(job.n_members) * int(config.epochs) * max(1, math.ceil(len(job.train_rows) / int(config.batch_size)))


def balance(costs: Sequence[float], n_shards: int) -> list[list[int]]:
    """Item indices dealt into at most ``n_shards`` non-empty shards by the engine's own greedy rule
    (:func:`labnet.models.engine.balanced_bins`: the costliest first, each onto the shard with the
    least cost so far, ties to the lower shard); every shard's items in ascending order."""
    from labnet.models.engine import balanced_bins

    order, starts = balanced_bins(np.asarray(costs, dtype=np.float64), n_shards)
    return [sorted(order[a:b].tolist()) for a, b in zip(starts[:-1], starts[1:]) if b > a]


def _arrays_bytes(*arrays: np.ndarray) -> int:
    return int(sum(np.asarray(a).nbytes for a in arrays))


def _result_bytes(result: Any) -> int:
    """The numpy bytes of a TrainResult (every array field it has)."""
    import dataclasses

    return int(sum(value.nbytes for f in dataclasses.fields(result)
                   if isinstance(value := getattr(result, f.name), np.ndarray)))


def _predictor_bytes(predictor: Any) -> int:
    params = getattr(predictor, "params", None)
    if isinstance(params, np.ndarray):
        return params.nbytes
    import pickle

    return len(pickle.dumps(predictor, protocol=pickle.HIGHEST_PROTOCOL))


@dataclass(frozen=True)
class _JobSpec:
    """An engine task as a shard carries it: its parameters inline, or the index of a shared array
    among the shard task's extra arguments."""

    params: np.ndarray | None
    shared: int | None
    train_rows: np.ndarray
    y_train: np.ndarray
    val_rows: np.ndarray
    y_val: np.ndarray
    seeds: np.ndarray
    frozen_layers: int
    layer_sizes: tuple[int, ...]
    config: Any


@dataclass(frozen=True)
class _CrashOnce:
    """Test hook: the first attempt of the shard that carries it ends its worker process (``os._exit``);
    the marker file it leaves tells the retried attempt to run normally."""

    marker: str

    def trigger(self) -> None:
        if not os.path.exists(self.marker):
            with open(self.marker, "w", encoding="utf-8") as f:
                f.write(str(os.getpid()))
            os._exit(1)


def _one_thread() -> None:
    """A shard runs on its worker's one CPU: one numba and one torch thread (Ray sets OMP_NUM_THREADS=1)."""
    import numba
    import torch

    numba.set_num_threads(1)
    torch.set_num_threads(1)


def train_shard(X: np.ndarray, specs: list[_JobSpec], trainer: Any, crash: _CrashOnce | None,
                *shared: np.ndarray) -> tuple[list[Any], float]:
    """A Ray task: train a shard's jobs (one grouped engine call); returns (results in spec order, busy seconds)."""
    if crash is not None:
        crash.trigger()
    start = time.perf_counter()
    _one_thread()
    from labnet.models.engine import TrainJob
    from labnet.models.grouping import EngineTask, train_grouped

    tasks = [
        EngineTask(TrainJob(spec.params if spec.shared is None else shared[spec.shared], spec.train_rows, spec.y_train,
                            spec.val_rows, spec.y_val, spec.seeds, spec.frozen_layers), spec.layer_sizes, spec.config)
        for spec in specs
    ]
    results = train_grouped(tasks, X, trainer)
    return results, time.perf_counter() - start


def predict_shard(X: np.ndarray, predictors: list[Any]) -> tuple[list[tuple[np.ndarray, np.ndarray]], float]:
    """A Ray task: every predictor's (mu, sigma) over X; returns (predictions in order, busy seconds)."""
    import warnings

    start = time.perf_counter()
    _one_thread()
    with warnings.catch_warnings():  # the parameters arrive read-only from the object store; predict only reads them
        warnings.filterwarnings("ignore", message="The given NumPy array is not writable")
        predictions = [predictor.predict(X) for predictor in predictors]
    return predictions, time.perf_counter() - start


# --------------------------------------------------------------------------- the executor


@dataclass
class TickTraffic:
    """What one tick's phases cost on the cluster.

    Attributes:
        tick: index of the train call (0, 1, ...) since the executor was made.
        bytes_sent: numpy bytes put into the object store for the tick (shared parameters, shard
            arguments, predictors; X when it is first put), B.
        bytes_received: numpy bytes of the results fetched back (trained ensembles, predictions), B.
        shared_arrays: distinct shared starting-parameter arrays put once for the tick.
        shared_uses: jobs that referenced one instead of carrying a copy.
        jobs, job_costs: engine tasks and their costs (members x epochs x batches).
        train_shards, predict_shards: Ray tasks of each phase; *_busy_s: each shard's work time
            measured inside its worker, s; *_wall_s: the phase's wall time on the driver
            (dealing, putting, waiting, fetching), s.
        predictors: selected models predicted.
    """

    tick: int
    bytes_sent: int = 0
    bytes_received: int = 0
    shared_arrays: int = 0
    shared_uses: int = 0
    jobs: int = 0
    job_costs: list[int] = field(default_factory=list)
    train_shard_costs: list[int] = field(default_factory=list)
    train_busy_s: list[float] = field(default_factory=list)
    train_wall_s: float = 0.0
    predictors: int = 0
    predict_busy_s: list[float] = field(default_factory=list)
    predict_wall_s: float = 0.0


class RayTickExecutor:
    """The train and predict phases of a network's ticks on the connected Ray cluster (module docstring).

    Args:
        ray: the connected Ray module (:func:`ray_session`).
        shards_per_cpu: shards per cluster CPU in each phase (>= 1).
        max_retries: Ray retries of a shard whose worker died.
        crash_once: test hook: the path of a marker file; the first shard of the next train phase
            kills its worker on its first attempt (and writes the marker), so Ray retries it.
        runtime_env: the tasks' Ray runtime environment (how workers of a joined cluster import
            labnet); None: the job's.

    Pickles as :class:`~labnet.simulation.tick_executor.InProcessExecutor` (a checkpoint holds no cluster handle).
    """

    def __init__(self, ray: Any, shards_per_cpu: int = DEFAULT_SHARDS_PER_CPU, max_retries: int = DEFAULT_MAX_RETRIES,
                 crash_once: str | None = None, runtime_env: dict[str, Any] | None = None) -> None:
        if isinstance(shards_per_cpu, bool) or not isinstance(shards_per_cpu, int) or shards_per_cpu < 1:
            raise ValueError(f"shards_per_cpu = {shards_per_cpu!r}: expected a whole number >= 1")
        self.ray = ray
        self.shards_per_cpu = shards_per_cpu
        self.crash_once = crash_once
        options: dict[str, Any] = {"num_cpus": 1, "max_retries": max_retries}
        if runtime_env is not None:
            options["runtime_env"] = runtime_env
        self._train = ray.remote(**options)(train_shard)
        self._predict = ray.remote(**options)(predict_shard)
        self._x: tuple[np.ndarray, Any] | None = None  # (X, its object ref): put once
        self.history: list[TickTraffic] = []

    def __reduce__(self):
        from labnet.simulation.tick_executor import in_process_executor

        return (in_process_executor, ())

    @property
    def n_shards(self) -> int:
        """Shards per phase: ``shards_per_cpu`` x the cluster's CPUs."""
        return max(1, int(self.ray.cluster_resources().get("CPU", 1))) * self.shards_per_cpu

    def _x_ref(self, X: np.ndarray, traffic: TickTraffic) -> Any:
        if self._x is None or self._x[0] is not X:
            self._x = (X, self.ray.put(X))
            traffic.bytes_sent += X.nbytes
        return self._x[1]

    def train(self, tasks: Sequence[Any], X: np.ndarray, trainer: Any) -> list[Any]:
        """The tasks' engine results in task order (sharded by cost; see the module docstring)."""
        traffic = TickTraffic(len(self.history))
        self.history.append(traffic)
        if not tasks:
            return []
        start = time.perf_counter()
        x_ref = self._x_ref(X, traffic)
        slot_of, arrays = _shared_params([task.job.params for task in tasks])
        shared_refs = {slot: self.ray.put(arrays[slot]) for slot in set(slot_of.values())}
        traffic.bytes_sent += sum(arrays[slot].nbytes for slot in shared_refs)
        traffic.shared_arrays, traffic.shared_uses = len(shared_refs), len(slot_of)
        costs = [job_cost(task) for task in tasks]
        traffic.jobs, traffic.job_costs = len(tasks), costs
        shards = balance(costs, self.n_shards)
        refs = []
        for number, shard in enumerate(shards):
            used = sorted({slot_of[i] for i in shard if i in slot_of})
            position = {slot: k for k, slot in enumerate(used)}
            specs = []
            for i in shard:
                job = tasks[i].job
                inline = None if i in slot_of else job.params
                specs.append(_JobSpec(inline, position.get(slot_of.get(i)), job.train_rows, job.y_train, job.val_rows,
                                      job.y_val, job.seeds, int(job.frozen_layers), tuple(tasks[i].layer_sizes),
                                      tasks[i].config))
                traffic.bytes_sent += _arrays_bytes(job.train_rows, job.y_train, job.val_rows, job.y_val, job.seeds)
                traffic.bytes_sent += 0 if inline is None else inline.nbytes
            crash = _CrashOnce(self.crash_once) if self.crash_once is not None and number == 0 else None
            refs.append(self._train.remote(x_ref, specs, trainer, crash, *[shared_refs[slot] for slot in used]))
            traffic.train_shard_costs.append(sum(costs[i] for i in shard))
        self.crash_once = None
        results: list[Any] = [None] * len(tasks)
        for shard, (shard_results, busy) in zip(shards, self.ray.get(refs)):
            traffic.train_busy_s.append(busy)
            for i, result in zip(shard, shard_results):
                results[i] = result
                traffic.bytes_received += _result_bytes(result)
        traffic.train_wall_s = time.perf_counter() - start
        return results

    def predict(self, predictors: Sequence[Any], X: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
        """Every predictor's (mu, sigma) over X, in order (sharded by members)."""
        traffic = self.history[-1] if self.history else TickTraffic(0)
        if not predictors:
            return []
        start = time.perf_counter()
        x_ref = self._x_ref(X, traffic)
        costs = [int(getattr(p, "params", np.zeros((1, 1))).shape[0]) for p in predictors]
        shards = balance(costs, self.n_shards)
        refs = []
        for shard in shards:
            chosen = [predictors[i] for i in shard]
            traffic.bytes_sent += sum(_predictor_bytes(p) for p in chosen)
            refs.append(self._predict.remote(x_ref, chosen))
        predictions: list[Any] = [None] * len(predictors)
        for shard, (shard_predictions, busy) in zip(shards, self.ray.get(refs)):
            traffic.predict_busy_s.append(busy)
            for i, prediction in zip(shard, shard_predictions):
                predictions[i] = prediction
                traffic.bytes_received += _arrays_bytes(*prediction)
        traffic.predictors = len(predictors)
        traffic.predict_wall_s = time.perf_counter() - start
        return predictions


def _shared_params(params: Sequence[np.ndarray]) -> tuple[dict[int, int], list[np.ndarray]]:
    """Which starting-parameter arrays several jobs share by content.

    Returns ({job index: slot} for every job whose array equals another job's, [array of each slot]).
    Arrays are bucketed by shape and a few sampled values, then compared in full (``np.array_equal``).
    """
    buckets: dict[tuple, list[tuple[int, list[int]]]] = {}
    arrays: list[np.ndarray] = []
    for i, array in enumerate(params):
        flat = array.reshape(-1)
        probe = flat[:: max(1, flat.size // 8)][:8]
        key = (array.shape, array.dtype.str, probe.tobytes())
        for slot, members in buckets.setdefault(key, []):
            if np.array_equal(arrays[slot], array):
                members.append(i)
                break
        else:
            arrays.append(array)
            buckets[key].append((len(arrays) - 1, [i]))
    slot_of: dict[int, int] = {}
    kept: list[np.ndarray] = []
    for groups in buckets.values():
        for slot, members in groups:
            if len(members) > 1:
                for i in members:
                    slot_of[i] = len(kept)
                kept.append(arrays[slot])
    return slot_of, kept
