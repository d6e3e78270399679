"""Where the expensive phases of a tick run: the training of every engine task and the predictions
of the selected models over every material.

:meth:`labnet.simulation.network.ExplorationNetwork.step` hands these two phases to its
executor (``network.executor``); everything else of the tick (planning, evaluation, selection,
acquisition, measurement, publication) runs in the network's own process. An executor has two
methods:

* ``train(tasks, X, trainer) -> list[TrainResult]``: the results of ``tasks`` in task order,
  exactly those of :func:`labnet.models.grouping.train_grouped` (``trainer`` is the network's);
* ``predict(predictors, X) -> list[(mu, sigma)]``: each predictor's ``predict(X)``, in order.

:class:`InProcessExecutor` (the default) does both here. The Ray executor
(:mod:`labnet.runs.execution.ray_tick`) shards them over a Ray cluster with the same results.
An executor is not part of a network's state: it pickles as :class:`InProcessExecutor`, so a
checkpoint holds no cluster handle, and whoever restores the network gives it the executor
the resumed run asks for.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import numpy as np

from labnet.models import TrainResult
from labnet.models.grouping import EngineTask, Trainer, train_grouped
from labnet.models.predictor import Predictor

Prediction = tuple[np.ndarray, np.ndarray]
"""(mu [N], sigma [N]) of one predictor over the N materials, standardized target units."""


class TickExecutor(Protocol):
    """Runs a tick's training and prediction phases (see the module docstring)."""

    def train(self, tasks: Sequence[EngineTask], X: np.ndarray, trainer: Trainer) -> list[TrainResult]:
        """The engine results of ``tasks`` in task order; X: float32 [N, d], the rows the jobs index."""
        ...

    def predict(self, predictors: Sequence[Predictor], X: np.ndarray) -> list[Prediction]:
        """``[p.predict(X) for p in predictors]``; X: float32 [N, d]."""
        ...


class InProcessExecutor:
    """Both phases in this process: one grouped engine call, then one prediction after another."""

    def train(self, tasks: Sequence[EngineTask], X: np.ndarray, trainer: Trainer) -> list[TrainResult]:
        return train_grouped(tasks, X, trainer) if tasks else []

    def predict(self, predictors: Sequence[Predictor], X: np.ndarray) -> list[Prediction]:
        return [predictor.predict(X) for predictor in predictors]

    def __eq__(self, other: object) -> bool:
        return type(other) is InProcessExecutor

    __hash__ = object.__hash__

    def __repr__(self) -> str:
        return "InProcessExecutor()"


def in_process_executor() -> InProcessExecutor:
    """What every executor pickles as (``__reduce__``): a checkpoint never holds a cluster handle."""
    return InProcessExecutor()
