"""The ensemble member: a plain MLP whose parameters live in one flat float32 vector.

Layout of a member's flat parameter vector for layer sizes (n_0, n_1, ..., n_L):
for each layer l = 0..L-1 the kernel W_l (row-major, shape [n_l, n_{l+1}]) then the bias
b_l (shape [n_{l+1}]). Freezing the first k hidden layers therefore freezes the prefix
``params[:, :layer_offsets(sizes)[k]]``. Stacking members gives an array [n_members, n_params],
which is what the batched engine, the reference trainer and published snapshots share.
"""
from __future__ import annotations

import math
import os
import threading
from collections.abc import Sequence

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import torch
from torch import nn

from .selu import SELU_ALPHA, SELU_SCALE  # noqa: F401  (engines import them from here too)


def layer_sizes_for(n_inputs: int, hidden_layers: Sequence[int], n_outputs: int = 1) -> tuple[int, ...]:
    """(n_inputs, *hidden, n_outputs): the paper's d → 100 → 100 → 10 → 1 by default
    (``authors_code``: 2 output neurons for the one target, ``LearnerConfig.rules.output_width``)."""
    return (int(n_inputs), *(int(w) for w in hidden_layers), int(n_outputs))


def layer_offsets(layer_sizes: Sequence[int]) -> np.ndarray:
    """Start of each layer's kernel in the flat vector; the last entry is n_params. Shape [L + 1]."""
    offsets = [0]
    for n_in, n_out in zip(layer_sizes[:-1], layer_sizes[1:]):
        offsets.append(offsets[-1] + n_in * n_out + n_out)
    return np.asarray(offsets, dtype=np.int64)


def n_params(layer_sizes: Sequence[int]) -> int:
    return int(layer_offsets(layer_sizes)[-1])


def kernel_mask(layer_sizes: Sequence[int]) -> np.ndarray:
    """True where the flat vector holds a kernel weight (L2-regularized), False for biases. Shape [P]."""
    mask = np.zeros(n_params(layer_sizes), dtype=np.bool_)
    for start, n_in, n_out in zip(layer_offsets(layer_sizes)[:-1], layer_sizes[:-1], layer_sizes[1:]):
        mask[start : start + n_in * n_out] = True
    return mask


def lecun_normal_params(layer_sizes: Sequence[int], n_members: int, rng: np.random.Generator) -> np.ndarray:
    """Keras ``lecun_normal`` kernels (truncated normal at 2 std, std = sqrt(1/fan_in)/0.8796), zero biases.

    Returns float32 [n_members, n_params].
    """
    params = np.zeros((n_members, n_params(layer_sizes)), dtype=np.float32)
    for start, n_in, n_out in zip(layer_offsets(layer_sizes)[:-1], layer_sizes[:-1], layer_sizes[1:]):
        std = math.sqrt(1.0 / n_in) / 0.87962566103423978
        size = n_members * n_in * n_out
        draws = rng.standard_normal(size)
        bad = np.flatnonzero(np.abs(draws) > 2.0)
        while bad.size:  # resample outside ±2 std, in index order: a truncated normal, as Keras does
            draws[bad] = rng.standard_normal(bad.size)
            bad = bad[np.abs(draws[bad]) > 2.0]  # only a redrawn value can be out of range
        draws *= std
        params[:, start : start + n_in * n_out] = draws.reshape(n_members, -1)
    return params


def unflatten(flat: np.ndarray | torch.Tensor, layer_sizes: Sequence[int]) -> list[tuple]:
    """Split one member's flat vector [P] into [(W_l [n_in, n_out], b_l [n_out]), ...] (views)."""
    out = []
    for start, n_in, n_out in zip(layer_offsets(layer_sizes)[:-1], layer_sizes[:-1], layer_sizes[1:]):
        start = int(start)
        w = flat[start : start + n_in * n_out].reshape(n_in, n_out)
        b = flat[start + n_in * n_out : start + n_in * n_out + n_out]
        out.append((w, b))
    return out


class MLP(nn.Module):
    """One ensemble member as a ``torch.nn.Module``: Linear layers with SELU on every layer.

    ``output_activation`` puts SELU on the output too (the authors' code does).
    Kernels are stored Keras-style as [n_in, n_out] so flat vectors round-trip exactly.
    """

    def __init__(self, layer_sizes: Sequence[int], output_activation: bool = True):
        super().__init__()
        self.layer_sizes = tuple(int(s) for s in layer_sizes)
        self.output_activation = output_activation
        self.kernels = nn.ParameterList(
            nn.Parameter(torch.zeros(n_in, n_out)) for n_in, n_out in zip(self.layer_sizes[:-1], self.layer_sizes[1:])
        )
        self.biases = nn.ParameterList(nn.Parameter(torch.zeros(n_out)) for n_out in self.layer_sizes[1:])

    @classmethod
    def from_flat(cls, flat: np.ndarray, layer_sizes: Sequence[int], output_activation: bool = True) -> "MLP":
        model = cls(layer_sizes, output_activation)
        model.load_flat(flat)
        return model

    def load_flat(self, flat: np.ndarray) -> None:
        with torch.no_grad():
            for (w, b), kernel, bias in zip(unflatten(np.asarray(flat, np.float32), self.layer_sizes), self.kernels, self.biases):
                kernel.copy_(torch.from_numpy(np.ascontiguousarray(w)))
                bias.copy_(torch.from_numpy(np.ascontiguousarray(b)))

    def to_flat(self) -> np.ndarray:
        parts = []
        for kernel, bias in zip(self.kernels, self.biases):
            parts += [kernel.detach().reshape(-1), bias.detach()]
        return torch.cat(parts).numpy().astype(np.float32)

    def outputs(self, x: torch.Tensor) -> torch.Tensor:
        """x: [batch, n_inputs] → [batch, n_outputs]: every output neuron (standardized target units)."""
        last = len(self.kernels) - 1
        for i, (kernel, bias) in enumerate(zip(self.kernels, self.biases)):
            x = torch.addmm(bias, x, kernel)
            if i < last or self.output_activation:
                x = torch.nn.functional.selu(x)
        return x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: [batch, n_inputs] → [batch] predictions: the first output neuron (standardized target units)."""
        return self.outputs(x)[:, 0]


PREDICT_CHUNK_ROWS = 512
"""Rows per block in :func:`predict_ensemble`: small enough that every member's activations of a
block stay in cache (measured fastest of 256-2048 on the B2 space, 2 cores)."""
SPARSE_INPUT_SHARE = 0.25
"""The first layer is a gather-sum over non-zero descriptors when at most this share of X is non-zero."""


_THREADS_LOCK = threading.Lock()
_threads: tuple[int, int, ThreadPoolExecutor] | None = None  # (process id, threads, pool)


def _prediction_threads(threads: int) -> ThreadPoolExecutor:
    """The threads :func:`predict_ensemble` runs its blocks on: one pool per process, kept between
    calls (starting two threads for every prediction cost ~2 ms, 0.7 s per tick of a 1,000-lab
    network), replaced when the thread count changes or in a forked child (which has none of its
    parent's threads)."""
    global _threads
    with _THREADS_LOCK:
        if _threads is None or _threads[:2] != (os.getpid(), threads):
            if _threads is not None and _threads[0] == os.getpid():
                _threads[2].shutdown(wait=False)
            _threads = (os.getpid(), threads, ThreadPoolExecutor(threads, thread_name_prefix="labnet-predict"))
        return _threads[2]


def predict_ensemble(
    params: np.ndarray, layer_sizes: Sequence[int], X: np.ndarray, output_activation: bool = True
) -> np.ndarray:
    """Predictions of every member on every row: params [K, P], X [N, d] → float32 [K, N].

    A member with two output neurons (``authors_code``) predicts with its first, as the authors'
    ``Bayesian_optimization.py`` reads it (docs/algorithm.md → The two protocols).

    Rows go in blocks of :data:`PREDICT_CHUNK_ROWS`; each block passes all K members at once:
    the first layer as a gather-sum over the row's non-zero descriptors when X is sparse (a
    composition vector has few; :data:`SPARSE_INPUT_SHARE`), else one matmul with the members'
    kernels side by side; every later layer one NumPy ``matmul`` over the members; bias and SELU
    by the kernels of :mod:`labnet.models.prediction_kernels`. Equal to a per-member
    :class:`MLP` forward up to float32 rounding (tested).

    The result does not depend on the thread count: every block is computed by single-threaded
    BLAS calls (labnet keeps its process's BLAS on one thread, :mod:`labnet._blas`; a
    multi-threaded matmul may sum in another order) and numba kernels, and blocks run side by
    side on ``torch.get_num_threads()`` Python threads (both release the GIL), each thread
    writing every block's layers into the same buffers.
    """
    from .prediction_kernels import bias_selu_inplace, first_layer_selu

    params = np.ascontiguousarray(params, dtype=np.float32)
    if params.ndim != 2:
        raise ValueError(f"params must be [members, parameters], got shape {params.shape}")
    X = np.ascontiguousarray(X, dtype=np.float32)
    n_members, n_rows = params.shape[0], X.shape[0]
    n_layers = len(layer_sizes) - 1
    members = [unflatten(params[k], layer_sizes) for k in range(n_members)]
    first_kernel = np.ascontiguousarray(np.concatenate([m[0][0] for m in members], axis=1))  # [d, K*h1]
    first_bias = np.concatenate([m[0][1] for m in members])
    sparse_input = np.count_nonzero(X) <= SPARSE_INPUT_SHARE * X.size
    activates = [l < n_layers - 1 or output_activation for l in range(n_layers)]
    later = [  # (kernel [K, n_in, n_out], bias [K, n_out]) of layers 1..L-1
        (np.stack([m[l][0] for m in members]), np.stack([m[l][1] for m in members])) for l in range(1, n_layers)
    ]
    out = np.empty((n_members, n_rows), dtype=np.float32)
    starts = range(0, n_rows, PREDICT_CHUNK_ROWS)
    blocks = iter(starts)  # shared by the threads: each takes the next block when it is free

    def run_blocks(_: int) -> None:
        # one buffer per layer output, reused block after block: a fresh array per block cost
        # page faults on every block (1.79x slower on one thread on the B2 space)
        buffers = [np.empty(n_members * PREDICT_CHUNK_ROWS * width, dtype=np.float32) for width in layer_sizes[1:]]

        def layer_output(l: int, rows: int) -> np.ndarray:
            return buffers[l][: n_members * rows * layer_sizes[l + 1]].reshape(n_members, rows, layer_sizes[l + 1])

        for start in blocks:
            stop = min(start + PREDICT_CHUNK_ROWS, n_rows)
            rows = stop - start
            h = layer_output(0, rows)
            if sparse_input:
                first_layer_selu(X, start, stop, first_kernel, first_bias, h, activates[0])
            else:
                h[...] = (X[start:stop] @ first_kernel).reshape(rows, n_members, -1).transpose(1, 0, 2)
                bias_selu_inplace(h, first_bias.reshape(n_members, -1), activates[0])
            for l, (kernel, bias) in enumerate(later, start=1):
                following = layer_output(l, rows)
                np.matmul(h, kernel, out=following)
                bias_selu_inplace(following, bias, activates[l])
                h = following
            out[:, start:stop] = h[:, :, 0]

    threads = min(torch.get_num_threads(), len(starts))
    if threads <= 1:
        run_blocks(0)
    else:
        list(_prediction_threads(threads).map(run_blocks, range(threads)))
    return out
