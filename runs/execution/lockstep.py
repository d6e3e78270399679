"""Lockstep: every (trial, condition) network of a run stepped side by side, their jobs in one engine call.

Each network runs its own ticks in a thread of this process, exactly as a serial run would
(:func:`labnet.runs.execution.runner._run_condition_durably`: streams, checkpoints, run state),
except that its trainer is a :class:`BatchingTrainer`. A trainer call parks the network's jobs
with the :class:`Coordinator`; once every live network is parked (or finished), the coordinator
merges the parked jobs of equal (trainer, architecture, settings) into ONE engine call, hands each
network its own results and lets them all go on. One round is then one tick of all networks
(``runs.studies``: 10 trials x 3 conditions = 30 networks, one engine call per tick instead of 30).

Same results as a serial run: a member's result does not depend on the other members of an
engine call (numba: bit for bit, tested in tests/test_engine.py; torch: to float32 rounding), and
each network's own work (planning, prediction, streaming, checkpoints) runs in its thread as it
would alone. So the run directory is identical to a serial run's (tests/test_lockstep.py), and a
killed lockstep run resumes, serially or in lockstep, to the same result. The checkpoints hold
the plain engine trainer (a :class:`BatchingTrainer` pickles as the trainer it wraps).
"""
from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from labnet.runs.execution.run_state import ConditionRun, RunState


class LockstepAborted(RuntimeError):
    """Raised in a network thread when the lockstep run is stopped (Ctrl-C, another network failed)."""


def _unwrapped(trainer: Callable) -> Callable:
    return trainer


class BatchingTrainer:
    """A network's trainer in a lockstep run: parks the jobs with the coordinator, waits for its results."""

    def __init__(self, inner: Callable, coordinator: "Coordinator") -> None:
        self.inner = inner
        self.coordinator = coordinator

    def __call__(self, jobs: Sequence[Any], X: Any, layer_sizes: Sequence[int], config: Any) -> list:
        return self.coordinator.train(self.inner, jobs, X, layer_sizes, config)

    def __reduce__(self):  # a checkpoint holds the engine trainer itself
        return (_unwrapped, (self.inner,))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, BatchingTrainer) and other.inner == self.inner

    __hash__ = None  # type: ignore[assignment]


@dataclass(eq=False)
class _Request:
    inner: Callable
    jobs: list
    X: Any
    layer_sizes: tuple[int, ...]
    config: Any
    results: list | None = None
    error: BaseException | None = None
    done: bool = False


@dataclass
class Coordinator:
    """Rounds of merged engine calls for ``n_live`` network threads.

    Attributes:
        rounds: merged rounds served; engine_calls: engine calls made (one per group per round);
        requests: trainer calls of the networks.
    """

    n_live: int
    rounds: int = 0
    engine_calls: int = 0
    requests: int = 0
    _pending: list[_Request] = field(default_factory=list)
    _cv: threading.Condition = field(default_factory=threading.Condition)
    _aborted: bool = False

    def wrap(self, trainer: Callable) -> BatchingTrainer:
        return BatchingTrainer(getattr(trainer, "inner", trainer), self)

    def train(self, inner: Callable, jobs, X, layer_sizes, config) -> list:
        """Called from a network thread: park the jobs until the next round has trained them."""
        request = _Request(inner, list(jobs), X, tuple(int(s) for s in layer_sizes), config)
        with self._cv:
            if self._aborted:
                raise LockstepAborted("the lockstep run was stopped")
            self._pending.append(request)
            self.requests += 1
            self._cv.notify_all()
            while not request.done:
                self._cv.wait()
        if request.error is not None:
            raise request.error
        return request.results  # type: ignore[return-value]

    def finished(self) -> None:
        """Called when a network thread ends (normally or not)."""
        with self._cv:
            self.n_live -= 1
            self._cv.notify_all()

    def abort(self, error: BaseException) -> None:
        """Fail every parked and every later trainer call with ``error``."""
        with self._cv:
            self._aborted = True
            for request in self._pending:
                request.error, request.done = error, True
            self._pending = []
            self._cv.notify_all()

    def serve_round(self, timeout: float = 0.2) -> bool:
        """Wait until every live network is parked (or ``timeout``), then train their jobs; False when none is live."""
        with self._cv:
            if self.n_live == 0 and not self._pending:
                return False
            if len(self._pending) < self.n_live:
                self._cv.wait(timeout)
            if not self._pending or len(self._pending) < self.n_live:
                return True
            batch, self._pending = self._pending, []
        self._train(batch)
        with self._cv:
            for request in batch:
                request.done = True
            self._cv.notify_all()
        return True

    def _train(self, batch: list[_Request]) -> None:
        """One engine call per (trainer, X, architecture, settings) group; results split per request."""
        groups: dict[tuple, list[_Request]] = {}
        for request in batch:
            groups.setdefault((request.inner, id(request.X), request.layer_sizes, request.config), []).append(request)
        self.rounds += 1
        for (inner, _, sizes, config), members in groups.items():
            jobs = [job for request in members for job in request.jobs]
            try:
                results = inner(jobs, members[0].X, sizes, config) if jobs else []
            except BaseException as exc:  # the networks that asked see the engine's error
                for request in members:
                    request.error = exc
                continue
            self.engine_calls += 1
            start = 0
            for request in members:
                request.results = results[start : start + len(request.jobs)]
                start += len(request.jobs)


class _LockedReporter:
    """The runner's reporter, called from many network threads: one at a time."""

    def __init__(self, reporter) -> None:
        self.reporter = reporter
        self.lock = threading.Lock()

    def saved(self, run: ConditionRun) -> None:
        with self.lock:
            self.reporter.saved(run)

    def ticked(self, run: ConditionRun) -> None:
        with self.lock:
            self.reporter.ticked(run)


def run_in_lockstep(run_dir: Path, setup, state: RunState, todo: list[ConditionRun], bar, workers: int, *,
                    run_condition, local_reporter) -> Iterator[ConditionRun]:
    """Run the (trial, condition) runs of ``todo`` in lockstep in this process; yields each finished one.

    Same signature as the runner's serial and process runners (``workers`` is 1), plus the
    runner's durable single-run function and its progress reporter, passed in by the runner
    (this module sits below it).
    """
    _run_condition_durably, _LocalReporter = run_condition, local_reporter
    by_name = {c.name: c for c in setup.conditions}
    reporter = _LockedReporter(_LocalReporter(state, bar))
    coordinator = Coordinator(n_live=len(todo))
    errors: list[BaseException] = []
    finished: list[ConditionRun] = []
    lock = threading.Lock()
    bar.set_description(f"{len(todo)} runs in lockstep")

    def work(run: ConditionRun) -> None:
        try:
            _run_condition_durably(run_dir, setup, by_name[run.condition], run, state.checkpoint_every, reporter,
                                   wrap_trainer=coordinator.wrap)
            with lock:
                finished.append(run)
        except BaseException as exc:  # noqa: BLE001 - reported by the coordinating thread
            with lock:
                errors.append(exc)
            coordinator.abort(LockstepAborted(f"trial {run.trial}, condition {run.condition!r} failed: {exc!r}"))
        finally:
            coordinator.finished()

    threads = [threading.Thread(target=work, args=(run,), name=f"lockstep-{run.key}", daemon=True) for run in todo]
    for thread in threads:
        thread.start()
    try:
        while coordinator.serve_round():
            with lock:
                done, finished[:] = list(finished), []
            yield from done
    except BaseException as exc:  # Ctrl-C here: stop the networks at their next trainer call
        coordinator.abort(LockstepAborted("the lockstep run was interrupted"))
        for thread in threads:
            thread.join()
        raise exc
    for thread in threads:
        thread.join()
    yield from finished
    first = next((e for e in errors if not isinstance(e, LockstepAborted)), errors[0] if errors else None)
    if first is not None:
        raise first
