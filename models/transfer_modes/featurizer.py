"""The ``featurizer_rf`` transfer mode: the source's hidden layers frozen as a featurizer, a random forest on top.

Every hidden layer of the source is frozen; its last hidden layer activations (concatenated over
its members, :func:`~labnet.models.features.hidden_features`) are the features of a
scikit-learn ``RandomForestRegressor`` with ``LearnerConfig.rf_trees`` trees. The forest's
prediction is the mean over the trees and its uncertainty σ the spread (population std) over
the trees; its validation loss is the MSE of the forest's prediction on the lab's validation
split. No engine task: the forest is fitted when the lab completes its action.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from labnet.models.candidate import FittedModel, TrainingSplit
from labnet.models.config import LearnerConfig
from labnet.models.engine import TrainResult
from labnet.models.features import hidden_features
from labnet.models.grouping import Trainer
from labnet.models.transfer import SourceNetwork

from .base import BaseTransferMode, DrawStream

FOREST_DRAW = 3
"""Subkey of the candidate's generator that draws its forest's random_state."""


@dataclass(frozen=True, eq=False)
class FeaturizerForest:
    """A fitted ``featurizer_rf`` candidate: a source's frozen hidden layers + a random forest.

    Attributes:
        source: the frozen featurizer.
        forest: the fitted ``sklearn.ensemble.RandomForestRegressor`` (standardized target units).
        validation_loss: MSE of the forest's mean prediction on the validation rows (standardized units).
    """

    source: SourceNetwork
    forest: object
    validation_loss: float

    def tree_predictions(self, X: np.ndarray) -> np.ndarray:
        """Every tree's prediction on every row: X [N, d] -> float64 [n_trees, N]."""
        features = hidden_features(self.source, X)
        return np.stack([tree.predict(features) for tree in self.forest.estimators_])

    def predict(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(mu, sigma) over X [N, d]: mean and population std over the trees, each [N]."""
        trees = self.tree_predictions(X)
        return trees.mean(axis=0), trees.std(axis=0)


def fit_featurizer_forest(
    source: SourceNetwork,
    X: np.ndarray,
    train_rows: np.ndarray,
    y_train: np.ndarray,
    val_rows: np.ndarray,
    y_val: np.ndarray,
    n_trees: int,
    seed: int,
) -> FeaturizerForest:
    """Fit the featurizer_rf candidate of ``source`` on a lab's rows of X [N, d] (standardized targets)."""
    from sklearn.ensemble import RandomForestRegressor

    rows = np.concatenate([np.asarray(train_rows, np.int64), np.asarray(val_rows, np.int64)])
    features = hidden_features(source, np.asarray(X)[rows])
    n_train = len(train_rows)
    forest = RandomForestRegressor(n_estimators=int(n_trees), random_state=int(seed) % 2**32, n_jobs=1)
    forest.fit(features[:n_train], np.asarray(y_train, np.float64))
    prediction = forest.predict(features[n_train:])
    loss = float(np.mean((prediction - np.asarray(y_val, np.float64)) ** 2))
    return FeaturizerForest(source, forest, loss)


@dataclass(frozen=True, eq=False)
class ForestCandidate:
    """A ``featurizer_rf`` candidate before fitting: no engine task; the forest is fitted in :meth:`fit`."""

    source: SourceNetwork
    n_trees: int
    seed: int

    @property
    def engine_task(self) -> None:
        return None

    def fit(self, trained: TrainResult | None, X: np.ndarray, split: TrainingSplit) -> FittedModel:
        forest = fit_featurizer_forest(self.source, X, split.train_rows, split.y_train, split.val_rows, split.y_val,
                                       self.n_trees, self.seed)
        return FittedModel(forest, forest.validation_loss)


class FeaturizerRF(BaseTransferMode):
    """``featurizer_rf``: every hidden layer frozen, a random forest on the last one's activations."""

    name = "featurizer_rf"

    def frozen_layers(self, source: SourceNetwork, learner: LearnerConfig) -> int:
        return source.n_hidden

    def candidate_model(
        self, source: SourceNetwork, learner: LearnerConfig, split: TrainingSplit, draws: DrawStream
    ) -> ForestCandidate:
        """``learner.rf_trees`` trees; the forest's seed from ``draws(FOREST_DRAW)``."""
        return ForestCandidate(source, learner.rf_trees, int(draws(FOREST_DRAW).integers(0, 2**32)))

    def cross_validated_mse(
        self,
        sources: Sequence[SourceNetwork],
        X: np.ndarray,
        rows: np.ndarray,
        y: np.ndarray,
        folds: np.ndarray,
        learner: LearnerConfig,
        rng: np.random.Generator,
        trainer: Trainer,
    ) -> list[float]:
        """One forest per (source, fold), each seeded from ``rng`` in turn."""
        return [self._cv_mse(source, X, rows, y, folds, learner, rng) for source in sources]

    @staticmethod
    def _cv_mse(source, X, rows, y, folds, learner, rng) -> float:
        squared = 0.0
        for fold in np.unique(folds):
            test = folds == fold
            seed = int(rng.integers(0, 2**32))
            forest = fit_featurizer_forest(source, X, rows[~test], y[~test], rows[test], y[test], learner.rf_trees, seed)
            squared += forest.validation_loss * int(test.sum())
        return squared / len(rows)
