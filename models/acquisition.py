"""Acquisition functions: score candidates from an ensemble's predictive mean and spread.

BoTorch-style split: models predict (mu, sigma), an acquisition turns them into scores, and the
optimizer here is exhaustive: argmax over the lab's unmeasured candidates.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np


class Acquisition(Protocol):
    """Maps predictive mean and standard deviation (both [N]) to scores [N]; higher is better."""

    def __call__(self, mu: np.ndarray, sigma: np.ndarray) -> np.ndarray: ...


@dataclass(frozen=True)
class UpperConfidenceBound:
    """UCB = mu + alpha·sigma for maximization; -mu + alpha·sigma for minimization (paper: alpha = 3)."""

    alpha: float = 3.0
    maximize: bool = True

    def __call__(self, mu: np.ndarray, sigma: np.ndarray) -> np.ndarray:
        sign = 1.0 if self.maximize else -1.0
        return sign * np.asarray(mu, np.float64) + self.alpha * np.asarray(sigma, np.float64)


def argmax_unmeasured(scores: np.ndarray, measured: np.ndarray) -> int:
    """Index of the best-scoring candidate not yet measured (first one on ties).

    scores: [N]; measured: bool [N]. Raises ValueError when every candidate is measured.
    """
    masked = np.where(measured, -np.inf, scores)
    if not np.isfinite(masked).any() and measured.all():
        raise ValueError("every candidate has been measured: nothing left to acquire")
    return int(np.argmax(masked))
