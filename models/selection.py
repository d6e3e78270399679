"""Model selection: the best-performing model (BPM) is the candidate with the lowest validation loss."""
from __future__ import annotations

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
