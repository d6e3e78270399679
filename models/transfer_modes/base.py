"""The interface every transfer mode implements.

A transfer mode is an object (one instance per mode, in :data:`~labnet.models.transfer_modes.registry.TRANSFER_MODE_REGISTRY`)
that knows three things about turning a :class:`~labnet.models.transfer.SourceNetwork` into a
candidate model of a lab:

* :meth:`BaseTransferMode.frozen_layers`: how many leading layers of the source stay fixed;
* :meth:`BaseTransferMode.candidate_model`: the candidate built from the source on one action's
  split (a :class:`~labnet.models.candidate.CandidateModel`: an engine task or a model fitted
  without the engine), with its random draws taken from the generators it is given;
* :meth:`BaseTransferMode.cross_validated_mse`: the ``transfer_cv`` pool score of sources in this
  mode (k-fold CV of exactly this mode on a lab's data).
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from typing import ClassVar

import numpy as np

from labnet.models.candidate import CandidateModel, TrainingSplit
from labnet.models.config import LearnerConfig
from labnet.models.grouping import Trainer
from labnet.models.transfer import SourceNetwork

DrawStream = Callable[..., np.random.Generator]
"""``draws(*subkey)`` -> the generator of one purpose of one candidate (the lab's keyed streams)."""


class BaseTransferMode(ABC):
    """How a source network becomes a candidate model of a lab (see the module docstring)."""

    name: ClassVar[str]
    """The mode's name in a scenario (``LabSpec.transfer_mode``): a key of the registry."""

    @abstractmethod
    def frozen_layers(self, source: SourceNetwork, learner: LearnerConfig) -> int:
        """How many leading layers of ``source`` stay fixed in this mode."""

    @abstractmethod
    def candidate_model(
        self, source: SourceNetwork, learner: LearnerConfig, split: TrainingSplit, draws: DrawStream
    ) -> CandidateModel:
        """The candidate built from ``source`` for a lab with settings ``learner`` on ``split``.

        ``draws(*subkey)`` gives the candidate's random generators; which subkeys a mode uses is
        part of its definition (so that a candidate does not depend on which others are built).
        """

    @abstractmethod
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
        """k-fold CV MSE of each source transferred in this mode, pooled over held-out points.

        Args:
            X: descriptors of all materials [N, d]; rows: the lab's material indices [n];
                y: their standardized targets [n]; folds: fold id of each row, int [n].
            rng: draws the members' shuffle seeds or the forests' seeds, in source and fold order.
            trainer: the engine function the fine-tuning folds are trained with.
        """

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"
