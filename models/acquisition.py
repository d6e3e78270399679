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


def argmax_unmeasured(scores: np.ndarray, measured: np.ndarray, first_twin: np.ndarray | None = None) -> int:
    """Index of the best-scoring candidate not yet measured (first one on ties).

    scores: [N]; measured: bool [N]; first_twin: None or int [N]
    (:attr:`labnet.environment.MaterialSpace.first_twin`): every candidate then takes its first
    twin's score, so that candidates with identical descriptors tie exactly and the first
    unmeasured one wins whatever rounding their own scores carry. Raises ValueError when every
    candidate is measured.
    """
    if first_twin is not None:
        scores = np.asarray(scores)[first_twin]
    masked = np.where(measured, -np.inf, scores)
    if not np.isfinite(masked).any() and measured.all():
        raise ValueError("every candidate has been measured: nothing left to acquire")
    return int(np.argmax(masked))
