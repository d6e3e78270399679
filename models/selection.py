"""Model selection: the best-performing model (BPM) is the candidate with the lowest validation loss."""
from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np


def select_best(validation_losses: Sequence[float]) -> int:
    """Index of the lowest validation loss (the first one on ties). This is what blocks negative transfer."""
    losses = np.asarray(validation_losses, dtype=np.float64)
    if losses.size == 0:
        raise ValueError("select_best needs at least one candidate")
    if np.isnan(losses).any():
        raise ValueError(f"validation losses contain NaN: {losses.tolist()}")
    return int(np.argmin(losses))


def validation_split(n: int, fraction: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Seeded split of positions 0..n-1 into (train, validation); ceil(fraction·n) >= 1 validation points."""
    n_val = max(1, int(np.ceil(fraction * n)))
    if n - n_val < 1:
        raise ValueError(f"{n} observations are too few for a {fraction:.0%} validation split")
    order = rng.permutation(n)
    return np.sort(order[n_val:]), np.sort(order[:n_val])


def keras_split(
    n: int, test_fraction: float, validation_fraction: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The authors' split of positions 0..n-1 into (train, validation, test), each sorted, int64.

    As ``train_from_scratch.py`` / ``transfer_learning.py`` of the authors' code cut it (docs/algorithm.md →
    The two protocols): the data shuffled (here from ``rng``), the first ``int(n * test_fraction)``
    held out as a test set that nothing uses, and of the rest, Keras ``validation_split``: the first
    ``floor(n_rest * (1 - validation_fraction))`` train and the last ones validate. 100 observations
    give 64/16/20, 10 give 6/2/2.

    Raises:
        ValueError: too few observations for a training and a validation point (Keras raises too).
    """
    n_test = int(n * test_fraction)
    n_rest = n - n_test
    n_train = int(math.floor(n_rest * (1.0 - validation_fraction)))
    if n_train < 1 or n_train == n_rest:
        raise ValueError(
            f"{n} observations are too few for a {test_fraction:.0%} test and a {validation_fraction:.0%} "
            f"validation split (train {n_train} of the remaining {n_rest})"
        )
    order = rng.permutation(n)
    rest = order[n_test:]
    return np.sort(rest[:n_train]), np.sort(rest[n_train:]), np.sort(order[:n_test])
