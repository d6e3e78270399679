"""How many cores a process may use, and how many engine threads it runs: shared by the runner's
worker processes and the sweep backends."""
from __future__ import annotations

import os


def usable_cores() -> int:
    """CPU cores this process may run on (affinity-aware)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


def threads_per_worker(workers: int) -> int:
    """Engine threads for each of ``workers`` processes sharing this machine's cores (at least 1)."""
    return max(1, usable_cores() // workers)


def limit_threads(threads: int | None) -> None:
    """Use at most ``threads`` numba and torch threads in this process (None: leave as is)."""
    if threads is None:
        return
    import numba
    import torch

    numba.set_num_threads(max(1, min(threads, numba.config.NUMBA_NUM_THREADS)))
    torch.set_num_threads(max(1, threads))
