"""Worker processes that never outlive the process that started them.

The runner (``--workers N``: one (trial, condition) run per task) and the sweep's
``processes`` backend (one point per task) both run their work in the
:class:`~concurrent.futures.ProcessPoolExecutor` of :func:`worker_pool` (*spawn* start
method: a fresh interpreter per worker, safe next to the threads of numba, torch and the
executor itself). Its workers

- **die with their parent.** On Linux each worker asks the kernel, first thing in its
  initializer, for SIGKILL when its parent dies (``prctl(PR_SET_PDEATHSIG)`` through
  ctypes). That is the only way that works whatever the parent dies of, SIGKILL included
  (which no handler in the parent can catch), and whatever the worker is doing: a worker
  inside a numba training kernel holds the GIL for the whole call (seconds), so no thread
  of its own could notice. The request covers only deaths after it is made, so the worker
  then checks that its parent is still the process that started the pool (a parent killed
  while the worker was importing labnet) and exits if not. Where ``prctl`` does not exist
  (macOS, Windows) a daemon thread polls :func:`os.getppid` every
  :data:`PARENT_POLL_SECONDS` instead, late by at most one kernel call. (A pipe from the
  parent, or polling the parent's pid, needs the same thread and has the same limit.)
  The kernel sends the signal when the *thread* that created the worker ends: the pool
  creates its spawn workers in the thread that calls ``submit``, and both users submit
  from the thread that then waits for the results.
- **ignore Ctrl-C.** A Ctrl-C in a terminal reaches every process of the foreground group;
  the parent alone handles it and stops its workers (below), so no worker prints a
  traceback. :func:`submit_all` blocks SIGINT in the submitting thread while the pool
  starts workers (a spawned process inherits the signal mask, so it is covered from its
  first instruction, while it imports labnet), and every worker ignores SIGINT.
- **are stopped at once when the parent is interrupted** (Ctrl-C, or SIGTERM, which the
  ``labnet`` command turns into ``KeyboardInterrupt``), or when a task fails:
  :func:`stop_workers` sends SIGTERM, then SIGKILL after :data:`STOP_GRACE_SECONDS`.
  ``ProcessPoolExecutor.shutdown`` alone would wait for the running tasks to finish (a
  whole trial). A stopped worker loses at most the tick in progress: every tick is
  streamed and checkpointed (:mod:`labnet.runs.execution.runner`).
"""
from __future__ import annotations

import ctypes
import ctypes.util
import multiprocessing
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from contextlib import contextmanager
from typing import Any

PR_SET_PDEATHSIG = 1
"""``prctl`` option: the signal this process gets when its parent dies (``<linux/prctl.h>``)."""

PARENT_POLL_SECONDS = 1.0
"""Where ``prctl`` is missing: how often a worker checks that its parent is alive, s."""

STOP_GRACE_SECONDS = 3.0
""":func:`stop_workers`: how long workers get to exit after SIGTERM before SIGKILL, s."""


@contextmanager
def worker_pool(
    workers: int, initializer: Callable[..., None] | None = None, initargs: tuple = ()
) -> Iterator[ProcessPoolExecutor]:
    """A spawn process pool of ``workers`` processes that die with this one (module docstring).

    ``initializer(*initargs)`` runs in each worker after it has arranged to die with its parent.
    Leaving the block normally waits for the submitted tasks; leaving it by an exception
    (``KeyboardInterrupt`` included) stops the workers at once (:func:`stop_workers`).
    Submit with :func:`submit_all`.
    """
    pool = ProcessPoolExecutor(
        workers, mp_context=multiprocessing.get_context("spawn"), initializer=_start_worker,
        initargs=(os.getpid(), initializer, initargs),
    )
    try:
        yield pool
    except BaseException:
        stop_workers(pool)
        raise
    pool.shutdown(wait=True)


def submit_all(pool: ProcessPoolExecutor, fn: Callable[..., Any], calls: Iterable[tuple]) -> list[Future]:
    """``pool.submit(fn, *args)`` for every ``args`` in ``calls``, in order; the workers these
    submits start are born with SIGINT blocked (module docstring)."""
    with _sigint_blocked():
        return [pool.submit(fn, *args) for args in calls]


def stop_workers(pool: ProcessPoolExecutor, grace: float = STOP_GRACE_SECONDS) -> None:
    """Stop every worker of ``pool`` now (SIGTERM; SIGKILL after ``grace`` s), cancel the queued
    tasks and shut the pool down."""
    # ProcessPoolExecutor has no public handle on its processes before Python 3.14's
    # terminate_workers(); _processes (pid -> Process) has been there since 3.2.
    processes = list((getattr(pool, "_processes", None) or {}).values())
    for process in processes:
        if process.is_alive():
            process.terminate()
    deadline = time.monotonic() + grace
    for process in processes:
        process.join(max(0.0, deadline - time.monotonic()))
    for process in processes:
        if process.is_alive():
            process.kill()
            process.join(1.0)
    pool.shutdown(wait=True, cancel_futures=True)


def _start_worker(parent_pid: int, initializer: Callable[..., None] | None, initargs: tuple) -> None:
    """Pool initializer in each worker: ignore Ctrl-C, die with the parent, then the caller's initializer."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    die_with_parent(parent_pid)
    if initializer is not None:
        initializer(*initargs)


def die_with_parent(parent_pid: int) -> None:
    """Make this process exit when process ``parent_pid`` (its parent) dies; exit now if it already has."""
    if not _request_parent_death_signal():
        threading.Thread(target=_watch_parent, args=(parent_pid,), name="labnet-parent-watch", daemon=True).start()
    if os.getppid() != parent_pid:  # died before the request: orphans are re-parented
        os._exit(1)


def _request_parent_death_signal() -> bool:
    """``prctl(PR_SET_PDEATHSIG, SIGKILL)``; False where the platform has no ``prctl``."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        return libc.prctl(PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0) == 0
    except (OSError, AttributeError):  # pragma: no cover - a libc without prctl
        return False


def _watch_parent(parent_pid: int) -> None:  # pragma: no cover - used where prctl is missing
    while os.getppid() == parent_pid:
        time.sleep(PARENT_POLL_SECONDS)
    os._exit(1)


@contextmanager
def _sigint_blocked() -> Iterator[None]:
    """Block SIGINT in this thread: processes it starts meanwhile inherit the mask. A Ctrl-C
    meanwhile still interrupts this process (the kernel hands it to another of its threads, or
    delivers it when the block ends). No-op where ``pthread_sigmask`` is missing."""
    if not hasattr(signal, "pthread_sigmask"):  # pragma: no cover - Windows
        yield
        return
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)
