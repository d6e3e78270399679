"""Is the training kernel compiled? Compile it ahead of a run.

The numba kernel of :mod:`labnet.models.engine` (``_train_all`` and the functions it calls)
is compiled on its first call and cached by numba beside the source, in
``models/__pycache__/engine.*.nbi`` (an index) and ``*.nbc`` (machine code). The index is keyed
by the source file's timestamp and size, and each entry by the CPU (name and features), so
an installation compiles once, and again after ``engine.py`` changes or on another CPU. A
cold compile takes 15-60 s of one core (measured 45 s on a shared 2-core machine); loading
the cache well under a second.

The runner calls :func:`kernel_is_cached` and :func:`compile_kernel` before its progress bar
starts, so that it can say that it is compiling and the bar's estimate excludes the compile,
and before it starts worker processes, which then all load the cache instead of each
compiling it.
"""
from __future__ import annotations

import time

import numpy as np

from .config import LearnerConfig

_SIZES = (2, 3, 1)
"""Layer sizes of the warm-up network (the kernel's types do not depend on them)."""


def kernel_is_cached() -> bool:
    """True if this process has the kernel compiled or numba's cache holds it for this CPU;
    False if the next training call compiles it (or the cache cannot be read)."""
    from . import engine

    dispatcher = engine._train_all
    if dispatcher.signatures:  # already compiled or loaded in this process
        return True
    try:  # numba's FunctionCache: the index holds {(signature, CPU, code hash): data file}
        index = dispatcher._cache._cache_file._load_index()  # {} when missing or stale
        cpu = dispatcher.targetctx.codegen().magic_tuple()
    except Exception:  # noqa: BLE001 - numba internals moved: assume a compile is due
        return False
    return any(key[1] == cpu for key in index)


def compile_kernel() -> float:
    """Compile the kernel (or load it from numba's cache) with one tiny training call; returns
    the wall time of that call, s. Numba caches the compile for the next processes."""
    from .engine import TrainJob, train_jobs
    from .mlp import layer_offsets

    rng = np.random.default_rng(0)
    n_params = int(layer_offsets(_SIZES)[-1])
    job = TrainJob(
        params=(0.1 * rng.standard_normal((1, n_params))).astype(np.float32),
        train_rows=np.array([0, 1]), y_train=np.zeros(2, np.float32),
        val_rows=np.array([2]), y_val=np.zeros(1, np.float32), seeds=np.zeros(1, np.uint64),
    )
    X = rng.standard_normal((3, _SIZES[0])).astype(np.float32)
    X.setflags(write=False)  # as a material space's descriptors: numba compiles read-only arrays apart
    start = time.perf_counter()
    train_jobs([job], X, _SIZES, LearnerConfig(epochs=1, patience=1))
    return time.perf_counter() - start
