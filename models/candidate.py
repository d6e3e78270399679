"""A candidate model of a lab's action, before and after it is fitted.

An action's candidates (the lab's own ensemble, transferred neighbour and pool models) are all
judged on one :class:`TrainingSplit`. Each is a :class:`CandidateModel`: it names the engine task
it needs (an MLP ensemble to train, or None for a model fitted without the engine, such as a
``featurizer_rf`` forest), so that the network can train every lab's tasks in one batched
call, and it turns the engine's result into a :class:`FittedModel`: a
:class:`~labnet.models.predictor.Predictor` and its validation loss.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

from .engine import TrainResult
from .grouping import EngineTask
from .predictor import EnsemblePredictor, Predictor


@dataclass(frozen=True, eq=False)
class TrainingSplit:
    """One action's training / validation split of a lab's observations.

    Attributes:
        train_rows, val_rows: material indices, int64 [n_train], [n_val].
        y_train, y_val: their targets in the lab's standardized units, float32 [n_train], [n_val].
    """

    train_rows: np.ndarray
    y_train: np.ndarray
    val_rows: np.ndarray
    y_val: np.ndarray


@dataclass(frozen=True, eq=False)
class FittedModel:
    """A fitted candidate: its predictor and its validation loss (standardized units): the mean
    validation MSE (``paper_text``), or the mean last-epoch validation MSE + L2 (``authors_code``)."""

    predictor: Predictor
    validation_loss: float


class CandidateModel(Protocol):
    """A candidate model before fitting."""

    @property
    def engine_task(self) -> EngineTask | None:
        """The ensemble the engine must train for it, or None when it is fitted without the engine."""
        ...

    def fit(self, trained: TrainResult | None, X: np.ndarray, split: TrainingSplit) -> FittedModel:
        """The fitted model from the engine's result for :attr:`engine_task` (None when there is none);
        X [N, d] are the descriptors the split's rows index."""
        ...


@dataclass(frozen=True, eq=False)
class EngineEnsemble:
    """A candidate trained by the engine (from scratch or fine-tuned): an MLP ensemble."""

    task: EngineTask

    @property
    def engine_task(self) -> EngineTask:
        return self.task

    def fit(self, trained: TrainResult | None, X: np.ndarray, split: TrainingSplit) -> FittedModel:
        if trained is None:
            raise ValueError("an engine-trained candidate needs its engine result")
        predictor = EnsemblePredictor(trained.params, self.task.layer_sizes, self.task.config.output_activation)
        return FittedModel(predictor, trained.selection_loss(self.task.config))
