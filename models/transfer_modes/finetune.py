"""The fine-tuning transfer modes: copy the source's weights and train some of its layers with the engine.

* :class:`FinetuneFrozen` (``finetune_frozen``, paper 1, default): the lab's number of
  *trainable* hidden layers, ``len(hidden_layers) - frozen_layers`` (paper: the last hidden
  layer), counted from the top, plus the output layer train at the lab's learning rate; the
  source's lower hidden layers stay fixed (a 5-layer pool model freezes its first 4).
* :class:`FinetuneFull` (``finetune_full``): every layer trains, at
  ``LearnerConfig.full_finetune_learning_rate`` (default ``learning_rate / 10``).

Both start a K-member candidate from :meth:`SourceNetwork.initial_members
<labnet.models.transfer.SourceNetwork.initial_members>` and train it as one engine job.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np

from labnet.models.candidate import EngineEnsemble, TrainingSplit
from labnet.models.config import LearnerConfig
from labnet.models.engine import TrainJob
from labnet.models.grouping import EngineTask, Trainer, train_grouped
from labnet.models.transfer import SourceNetwork

from .base import BaseTransferMode, DrawStream


class FinetuneMode(BaseTransferMode):
    """A mode that fine-tunes the source through the engine; subclasses choose what is frozen and the learning rate."""

    def learning_rate(self, learner: LearnerConfig) -> float | None:
        """The learning rate fine-tuning runs at; None keeps the lab's."""
        return None

    def config(self, source: SourceNetwork, learner: LearnerConfig) -> LearnerConfig:
        """The settings a fine-tuning job of ``source`` trains with: the lab's, with the source's
        output activation and this mode's learning rate (``learner`` itself when nothing changes)."""
        changes: dict[str, object] = {}
        if source.output_activation != learner.output_activation:
            changes["output_activation"] = source.output_activation
        rate = self.learning_rate(learner)
        if rate is not None:
            changes["learning_rate"] = rate
        return dataclasses.replace(learner, **changes) if changes else learner

    def job(
        self,
        source: SourceNetwork,
        learner: LearnerConfig,
        train_rows: np.ndarray,
        y_train: np.ndarray,
        val_rows: np.ndarray,
        y_val: np.ndarray,
        seeds: np.ndarray,
    ) -> tuple[TrainJob, LearnerConfig]:
        """The engine job that fine-tunes ``source`` on a lab's data, and the settings to train it with.

        Args:
            train_rows, val_rows: material indices (int [n]); y_train, y_val: standardized targets.
            seeds: per-member shuffle seeds, uint64 [K]; K = len(seeds) members are trained.
        """
        params = source.initial_members(len(seeds))
        job = TrainJob(params, train_rows, y_train, val_rows, y_val, seeds, self.frozen_layers(source, learner))
        return job, self.config(source, learner)

    def candidate_model(
        self, source: SourceNetwork, learner: LearnerConfig, split: TrainingSplit, draws: DrawStream
    ) -> EngineEnsemble:
        """K = ``learner.n_members`` members, shuffle seeds from ``draws()``."""
        seeds = draws().integers(0, 2**63, size=learner.n_members, dtype=np.uint64)
        job, config = self.job(source, learner, split.train_rows, split.y_train, split.val_rows, split.y_val, seeds)
        return EngineEnsemble(EngineTask(job, source.layer_sizes, config))

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
        """One member per (source, fold), all trained in one grouped engine pass. The engine's
        early stopping watches the held-out fold, so this CV error is slightly optimistic."""
        fold_values = np.unique(folds)
        tasks: list[EngineTask] = []
        for source in sources:
            for fold in fold_values:
                test = folds == fold
                seeds = rng.integers(0, 2**63, size=1, dtype=np.uint64)
                job, config = self.job(source, learner, rows[~test], y[~test], rows[test], y[test], seeds)
                tasks.append(EngineTask(job, source.layer_sizes, config))
        results = train_grouped(tasks, X, trainer)
        n_folds = len(fold_values)
        sizes = np.array([int((folds == f).sum()) for f in fold_values], dtype=np.float64)
        return [
            float(np.dot([results[i * n_folds + j].val_mse[0] for j in range(n_folds)], sizes) / len(rows))
            for i in range(len(sources))
        ]


class FinetuneFrozen(FinetuneMode):
    """``finetune_frozen``: the top ``len(hidden_layers) - frozen_layers`` hidden layers and the output train."""

    name = "finetune_frozen"

    def frozen_layers(self, source: SourceNetwork, learner: LearnerConfig) -> int:
        trainable_hidden = len(learner.hidden_layers) - learner.frozen_layers
        return max(0, source.n_hidden - trainable_hidden)


class FinetuneFull(FinetuneMode):
    """``finetune_full``: every layer trains, at the smaller full-fine-tuning learning rate."""

    name = "finetune_full"

    def frozen_layers(self, source: SourceNetwork, learner: LearnerConfig) -> int:
        return 0

    def learning_rate(self, learner: LearnerConfig) -> float:
        return learner.full_finetune_learning_rate
