"""Shotgun selection (paper 2): rank every source of a pool by k-fold cross-validation on a lab's data.

Two scorers, both returning a CV mean squared error per source (the lab's standardized units,
pooled over every held-out point; lower is better):

* ``ridge_probe`` (default, a cheap proxy): the source's last hidden layer activations on the
  lab's rows are the features of a ridge regression (features standardized on each fold's
  training part, ``alpha = RIDGE_ALPHA``, intercept = the fold's mean target). It measures how
  well the source's frozen representation fits the lab's target: one forward pass per source
  and a few small linear solves, no training. It is the linear analogue of the transfer modes
  (a frozen featurizer plus a trained head).
* ``transfer_cv``: the real thing: each fold trains the lab's transfer mode on the fold's
  training part and scores it on the held-out part
  (:meth:`~labnet.models.transfer_modes.base.BaseTransferMode.cross_validated_mse`). Fine-tuning
  modes train one member per fold through the engine (grouped by architecture);
  ``featurizer_rf`` fits one forest per fold. The engine's early stopping watches the held-out
  part (as the lab's BPM does with its validation split), so this CV error is slightly optimistic.

Each scorer is a function in :data:`POOL_SCORERS`, looked up by the lab's ``pool_scoring``.

The lab scores on the *training part* of its current split only, so its validation split stays
untouched by the ranking and BPM selection against the local model remains a fair test.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from types import MappingProxyType
from typing import Literal, get_args

import numpy as np

from .config import LearnerConfig
from .engine import train_jobs
from .features import hidden_features, one_torch_thread
from .grouping import Trainer
from .choices import TransferMode
from .transfer import SourceNetwork
from .transfer_modes.base import BaseTransferMode
from .transfer_modes.registry import get_transfer_mode

from .choices import POOL_SCORINGS, PoolScoring  # noqa: E402  (names declared once, light)
RIDGE_ALPHA = 1.0


def fold_ids(n: int, n_folds: int, rng: np.random.Generator) -> np.ndarray:
    """Seeded fold of each of n positions, int [n]: min(n_folds, n) folds of near-equal size."""
    if n < 2:
        raise ValueError(f"cross-validation needs at least 2 points, got {n}")
    if n_folds < 2:
        raise ValueError(f"n_folds = {n_folds}: expected >= 2")
    k = min(int(n_folds), n)
    ids = np.empty(n, dtype=np.int64)
    ids[rng.permutation(n)] = np.arange(n) % k
    return ids


def ridge_cv_mse(features: np.ndarray, y: np.ndarray, folds: np.ndarray, alpha: float = RIDGE_ALPHA) -> float:
    """k-fold CV MSE of ridge regression on ``features`` [n, f] for targets ``y`` [n] (see module doc)."""
    F = np.asarray(features, np.float64)
    y = np.asarray(y, np.float64)
    squared = 0.0
    for fold in np.unique(folds):
        test = folds == fold
        train = ~test
        mean, std = F[train].mean(axis=0), F[train].std(axis=0)
        std[std < 1e-8] = 1.0
        A, B = (F[train] - mean) / std, (F[test] - mean) / std
        y_mean = y[train].mean()
        t = y[train] - y_mean
        if A.shape[1] <= A.shape[0]:  # primal: (A'A + aI) w = A't
            w = np.linalg.solve(A.T @ A + alpha * np.eye(A.shape[1]), A.T @ t)
        else:  # dual, fewer rows than features: w = A' (AA' + aI)^-1 t
            w = A.T @ np.linalg.solve(A @ A.T + alpha * np.eye(A.shape[0]), t)
        squared += float(np.sum((B @ w + y_mean - y[test]) ** 2))
    return squared / len(y)


def ridge_probe_scores(
    sources: Sequence[SourceNetwork],
    X: np.ndarray,
    rows: np.ndarray,
    y: np.ndarray,
    folds: np.ndarray,
    mode: BaseTransferMode,
    learner: LearnerConfig,
    rng: np.random.Generator,
    trainer: Trainer,
) -> list[float]:
    """``ridge_probe``: CV MSE of a ridge regression on each source's last hidden layer (mode-independent)."""
    with one_torch_thread():
        return [ridge_cv_mse(hidden_features(s, np.asarray(X)[rows]), y, folds) for s in sources]


def transfer_cv_scores(
    sources: Sequence[SourceNetwork],
    X: np.ndarray,
    rows: np.ndarray,
    y: np.ndarray,
    folds: np.ndarray,
    mode: BaseTransferMode,
    learner: LearnerConfig,
    rng: np.random.Generator,
    trainer: Trainer,
) -> list[float]:
    """``transfer_cv``: CV MSE of each source transferred in the lab's own mode."""
    return mode.cross_validated_mse(sources, X, rows, y, folds, learner, rng, trainer)


PoolScorer = Callable[..., list[float]]
POOL_SCORERS: Mapping[str, PoolScorer] = MappingProxyType(
    {"ridge_probe": ridge_probe_scores, "transfer_cv": transfer_cv_scores}
)
"""Every pool scorer by name, in the order of :data:`POOL_SCORINGS`; arguments as :func:`ridge_probe_scores`."""


def score_sources(
    sources: Sequence[SourceNetwork],
    X: np.ndarray,
    rows: np.ndarray,
    y: np.ndarray,
    mode: TransferMode | BaseTransferMode,
    learner: LearnerConfig,
    scoring: PoolScoring = "ridge_probe",
    n_folds: int = 5,
    rng: np.random.Generator | None = None,
    trainer: Trainer = train_jobs,
) -> np.ndarray:
    """CV MSE of every source on a lab's data: float64 [n_sources], lower is better (NaN -> inf).

    Args:
        X: descriptors of all materials [N, d]; rows: the lab's material indices [n]; y: their
            standardized targets [n].
        mode: the lab's transfer mode, a name or its object (``transfer_cv`` cross-validates exactly that mode).
        rng: draws the folds (and, for transfer_cv, the members' shuffle seeds and forest seeds).
    """
    scorer = POOL_SCORERS.get(scoring)
    if scorer is None:
        raise ValueError(f"pool_scoring = {scoring!r}: expected one of {', '.join(POOL_SCORINGS)}")
    transfer = get_transfer_mode(mode)
    rng = rng if rng is not None else np.random.default_rng(0)
    rows = np.asarray(rows, np.int64)
    y = np.asarray(y, np.float32)
    folds = fold_ids(len(rows), n_folds, rng)
    scores = np.asarray(scorer(sources, X, rows, y, folds, transfer, learner, rng, trainer), np.float64)
    return np.where(np.isfinite(scores), scores, np.inf)


def top_k(scores: np.ndarray, k: int) -> list[int]:
    """Indices of the k lowest scores, best first (ties: the lower index)."""
    return [int(i) for i in np.argsort(np.asarray(scores, np.float64), kind="stable")[: max(0, int(k))]]
