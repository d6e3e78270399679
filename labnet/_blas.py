"""One BLAS thread in every labnet process, so that every matrix product gives the same bits everywhere.

A multi-threaded OpenBLAS ``sgemm`` splits its sums differently from a single-threaded one, and
a call made while another thread's call is running may fall back to one thread: the same
product then differs in the last bits with the machine's core count and with what else runs
(measured: NumPy's bundled OpenBLAS, 1 vs 2 threads, a [512, 100] x [100, 100] product). labnet
runs its own parallelism (members over numba threads in training, row blocks over Python
threads in prediction, processes and Ray workers above them), so it asks every BLAS for one
thread: ``OPENBLAS_NUM_THREADS=1`` for libraries loaded later, and,
where NumPy is already loaded, its BLAS limited now (``threadpoolctl``). Not undone: the process
stays on one BLAS thread. Where the user set ``OPENBLAS_NUM_THREADS`` themselves, nothing is changed.
"""
from __future__ import annotations

import os
import sys

BLAS_THREADS_VARIABLES = ("OPENBLAS_NUM_THREADS",)


def use_one_blas_thread() -> None:
    """Ask every BLAS of this process, loaded or not, for one thread (idempotent).

    A thread count the user set in the environment is kept (their choice, at the price above).
    """
    if any(name in os.environ for name in BLAS_THREADS_VARIABLES):
        return
    for name in BLAS_THREADS_VARIABLES:
        os.environ[name] = "1"
    if "numpy" in sys.modules:
        from threadpoolctl import threadpool_limits

        threadpool_limits(limits=1, user_api="blas")
