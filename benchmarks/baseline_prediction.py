"""BASELINE for benchmarks/bench_prediction.py: the ensemble prediction as it was before issue 14 item 4.

A frozen copy of ``labnet.models.mlp.predict_ensemble`` at commit 8afebc7 (torch ``addmm`` for the
dense first layer, torch ``baddbmm`` per later layer, torch's SELU), kept only so the benchmark can
time it beside today's kernel in one run. Not used by the library.
"""
from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import torch

from labnet.models.mlp import unflatten

PREDICT_CHUNK_ROWS = 512

def baseline_predict_ensemble(
    params: np.ndarray, layer_sizes: Sequence[int], X: np.ndarray, output_activation: bool = True
) -> np.ndarray:
    """Predictions of every member on every row: params [K, P], X [N, d] → float32 [K, N].

    Rows go in blocks of :data:`PREDICT_CHUNK_ROWS`. In each block the first layer of all K members
    is one ``addmm`` (their kernels side by side, so the input is read once) and every later layer
    one ``baddbmm`` over the members; SELU runs in place. No autograd. Equal to a per-member
    :class:`MLP` forward up to float32 rounding (tested).

    The result does not depend on the thread count: every block is computed by single-threaded
    torch ops (a multi-threaded matmul may sum in another order), and blocks run side by side on
    ``torch.get_num_threads()`` Python threads (torch releases the GIL).
    """
    params = np.ascontiguousarray(params, dtype=np.float32)
    if params.ndim != 2:
        raise ValueError(f"params must be [members, parameters], got shape {params.shape}")
    n_members, n_rows = params.shape[0], X.shape[0]
    params_t = torch.from_numpy(params)
    members = [unflatten(params_t[k], layer_sizes) for k in range(n_members)]
    first_kernel = torch.cat([m[0][0] for m in members], dim=1)  # [d, K*h1]
    first_bias = torch.cat([m[0][1] for m in members])
    later = [
        (torch.stack([m[l][1] for m in members])[:, None, :], torch.stack([m[l][0] for m in members]))
        for l in range(1, len(layer_sizes) - 1)
    ]
    x = torch.tensor(X, dtype=torch.float32)  # a copy: X may be read-only
    out = torch.empty((n_members, n_rows), dtype=torch.float32)
    selu = torch.nn.functional.selu
    last = len(layer_sizes) - 2

    def block(start: int) -> None:
        stop = min(start + PREDICT_CHUNK_ROWS, n_rows)
        with torch.inference_mode():
            h = torch.addmm(first_bias, x[start:stop], first_kernel)
            if last > 0 or output_activation:
                selu(h, inplace=True)
            h = h.view(stop - start, n_members, layer_sizes[1]).transpose(0, 1)  # [K, rows, h1]
            for l, (bias, kernel) in enumerate(later, start=1):
                h = torch.baddbmm(bias, h, kernel)
                if l < last or output_activation:
                    selu(h, inplace=True)
            out[:, start:stop] = h[:, :, 0]

    starts = range(0, n_rows, PREDICT_CHUNK_ROWS)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        if threads == 1 or len(starts) == 1:
            for start in starts:
                block(start)
        else:
            with ThreadPoolExecutor(threads) as pool:
                list(pool.map(block, starts))
    finally:
        torch.set_num_threads(threads)
    return out.numpy()
