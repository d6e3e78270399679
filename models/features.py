"""Frozen features: a network's hidden-layer activations, computed without training (torch, no Mesa).

Used by the ``featurizer_rf`` transfer mode (a forest on a source's last hidden layer), by the
``ridge_probe`` pool scorer (a ridge regression on the same features) and by
:class:`~labnet.models.predictor.EnsemblePredictor` (a hidden prefix shared by every member is
computed once).
"""
from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence

import numpy as np
import torch

from .mlp import layer_offsets, unflatten
from .transfer import SourceNetwork

FEATURE_CHUNK_ROWS = 2048


@contextlib.contextmanager
def one_torch_thread() -> Iterator[None]:
    """Run torch on one thread inside the block (restored after).

    The featurizer's matrix products are tiny (a few hundred rows, widths <= 512); with two
    threads on the loaded 2-core machine, ranking a 100-model pool took 1.6 s instead of
    0.17 s (measured), the time going to thread synchronisation.
    """
    before = torch.get_num_threads()
    if before != 1:
        torch.set_num_threads(1)
    try:
        yield
    finally:
        if before != 1:
            torch.set_num_threads(before)


def layer_activations(flat: np.ndarray, layer_sizes: Sequence[int], X: np.ndarray, n_layers: int) -> np.ndarray:
    """Activations after the first ``n_layers`` hidden (SELU) layers of one member.

    flat: the member's flat parameters [P] for ``layer_sizes``; X [N, d] -> float32 [N, layer_sizes[n_layers]].
    One torch thread, no autograd, rows in chunks.
    """
    sizes = tuple(int(s) for s in layer_sizes[: n_layers + 1])
    layers = unflatten(torch.tensor(np.asarray(flat, np.float32)[: layer_offsets(sizes)[-1]]), sizes)
    out = np.empty((X.shape[0], sizes[-1]), dtype=np.float32)
    with torch.inference_mode(), one_torch_thread():
        x_all = torch.tensor(np.asarray(X, np.float32))  # a copy: X may be read-only
        for start in range(0, X.shape[0], FEATURE_CHUNK_ROWS):
            h = x_all[start : start + FEATURE_CHUNK_ROWS]
            for w, b in layers:
                h = torch.nn.functional.selu(torch.addmm(b, h, w))
            out[start : start + h.shape[0]] = h.numpy()
    return out


def hidden_features(source: SourceNetwork, X: np.ndarray) -> np.ndarray:
    """Last hidden layer activations of every member of ``source``: X [N, d] -> float32 [N, K_s * h_last].

    Member k's activations occupy columns ``k*h_last : (k+1)*h_last``.
    """
    X = np.asarray(X, dtype=np.float32)
    if X.ndim != 2 or X.shape[1] != source.layer_sizes[0]:
        raise ValueError(f"source {source.label!r} takes {source.layer_sizes[0]} descriptors, got X of shape {X.shape}")
    return np.concatenate(
        [layer_activations(member, source.layer_sizes, X, source.n_hidden) for member in source.params], axis=1
    )
