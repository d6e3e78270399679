"""An action as a value: what a lab planned at a tick, handed back to it to complete.

A lab's ``plan_action(tick)`` returns a :class:`Plan`; the network trains the engine tasks of
every acting lab's plan in one batched call, then hands each lab its plan and its share of the
results (``complete_action(plan, trained)``). Nothing of an action is kept on the lab between
the two calls.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from labnet.models.candidate import FittedModel, TrainingSplit
from labnet.models.grouping import EngineTask

from .candidates import Candidate


@dataclass(frozen=True)
class Standardization:
    """A lab's target standardization at one action: ``z = (y - mean) / std`` (property units)."""

    mean: float
    std: float

    @classmethod
    def of(cls, observed: Sequence[float]) -> tuple["Standardization", np.ndarray]:
        """The lab's own observed mean and std (std 1 when every observation is equal: centre only),
        and the observations standardized, float32 [n]."""
        y = np.asarray(observed, dtype=np.float64)
        mean, std = float(y.mean()), float(y.std())
        if not np.isfinite(std) or std < 1e-12:
            std = 1.0
        return cls(mean, std), ((y - mean) / std).astype(np.float32)

    def apply(self, values: np.ndarray) -> np.ndarray:
        """``values`` (property units) in standardized units."""
        return (values - self.mean) / self.std


@dataclass(frozen=True, eq=False)
class Plan:
    """An action planned for ``tick`` that trains nothing (a random-search lab's)."""

    tick: int

    @property
    def engine_tasks(self) -> tuple[EngineTask, ...]:
        """The ensembles the engine must train for this action, in plan order."""
        return ()


@dataclass(frozen=True, eq=False)
class ActionPlan(Plan):
    """A BO lab's action at ``tick``, as planned.

    Attributes:
        action: the lab's action number (0 for its first).
        split: the training / validation split every candidate is judged on.
        standardization: the target standardization of the split.
        candidates: the lab's own ensemble first, then neighbour, then pool candidates.
        neighbours_skipped: published neighbour models not tried (``neighbour_selection: scaling``).
    """

    action: int
    split: TrainingSplit
    standardization: Standardization
    candidates: tuple[Candidate, ...]
    neighbours_skipped: int = 0

    @property
    def engine_tasks(self) -> tuple[EngineTask, ...]:
        return tuple(c.engine_task for c in self.candidates if c.engine_task is not None)

    @property
    def own(self) -> Candidate:
        """The lab's own from-scratch ensemble (the ENM it publishes)."""
        return self.candidates[0]


@dataclass(frozen=True, eq=False)
class Evaluated:
    """A candidate with its fitted model (predictor and validation loss)."""

    candidate: Candidate
    fitted: FittedModel

    @property
    def validation_loss(self) -> float:
        return self.fitted.validation_loss


@dataclass(frozen=True, eq=False)
class Selection:
    """What a BO lab chose after evaluating its candidates: every candidate fitted, and the BPM.

    The network predicts with ``best``'s predictor over every material (the tick's predict
    phase) before the lab acquires with that prediction.
    """

    evaluated: tuple[Evaluated, ...]
    best: Evaluated

    @property
    def predictor(self):
        """The BPM's :class:`~labnet.models.predictor.Predictor`."""
        return self.best.fitted.predictor
