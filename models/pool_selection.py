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
  training part and scores it on the held-out part. Fine-tuning modes train one member per
  fold through the engine (grouped by architecture); ``featurizer_rf`` fits one forest per fold.
  The engine's early stopping watches the held-out part (as the lab's BPM does with its
  validation split), so this CV error is slightly optimistic.

The lab scores on the *training part* of its current split only, so its validation split stays
untouched by the ranking and BPM selection against the local model remains a fair test.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Literal, get_args

import numpy as np

from .config import LearnerConfig
from .engine import train_jobs
from .grouping import EngineTask, Trainer, train_grouped
from .transfer import (
    SourceNetwork,
    TransferMode,
    check_transfer_mode,
    finetune_job,
    fit_featurizer_forest,
    hidden_features,
    one_torch_thread,
)

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


def score_sources(
    sources: Sequence[SourceNetwork],
    X: np.ndarray,
    rows: np.ndarray,
    y: np.ndarray,
    mode: TransferMode,
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
        mode: the lab's transfer mode (``transfer_cv`` cross-validates exactly that mode).
        rng: draws the folds (and, for transfer_cv, the members' shuffle seeds and forest seeds).
    """
    if scoring not in POOL_SCORINGS:
        raise ValueError(f"pool_scoring = {scoring!r}: expected one of {', '.join(POOL_SCORINGS)}")
    check_transfer_mode(mode)
    rng = rng if rng is not None else np.random.default_rng(0)
    rows = np.asarray(rows, np.int64)
    y = np.asarray(y, np.float32)
    folds = fold_ids(len(rows), n_folds, rng)
    if scoring == "ridge_probe":
        with one_torch_thread():
            scores = [ridge_cv_mse(hidden_features(s, np.asarray(X)[rows]), y, folds) for s in sources]
    elif mode == "featurizer_rf":
        scores = [_forest_cv_mse(s, X, rows, y, folds, learner, rng) for s in sources]
    else:
        scores = _finetune_cv_mse(sources, X, rows, y, folds, mode, learner, rng, trainer)
    scores = np.asarray(scores, np.float64)
    return np.where(np.isfinite(scores), scores, np.inf)


def top_k(scores: np.ndarray, k: int) -> list[int]:
    """Indices of the k lowest scores, best first (ties: the lower index)."""
    return [int(i) for i in np.argsort(np.asarray(scores, np.float64), kind="stable")[: max(0, int(k))]]


def _forest_cv_mse(source, X, rows, y, folds, learner, rng) -> float:
    squared = 0.0
    for fold in np.unique(folds):
        test = folds == fold
        seed = int(rng.integers(0, 2**32))
        forest = fit_featurizer_forest(source, X, rows[~test], y[~test], rows[test], y[test], learner.rf_trees, seed)
        squared += forest.validation_loss * int(test.sum())
    return squared / len(rows)


def _finetune_cv_mse(sources, X, rows, y, folds, mode, learner, rng, trainer) -> list[float]:
    tasks: list[EngineTask] = []
    for source in sources:
        for fold in np.unique(folds):
            test = folds == fold
            seeds = rng.integers(0, 2**63, size=1, dtype=np.uint64)
            job, config = finetune_job(source, mode, learner, rows[~test], y[~test], rows[test], y[test], seeds)
            tasks.append(EngineTask(job, source.layer_sizes, config))
    results = train_grouped(tasks, X, trainer)
    n_folds = len(np.unique(folds))
    sizes = np.array([int((folds == f).sum()) for f in np.unique(folds)], dtype=np.float64)
    return [
        float(np.dot([results[i * n_folds + j].val_mse[0] for j in range(n_folds)], sizes) / len(rows))
        for i in range(len(sources))
    ]

