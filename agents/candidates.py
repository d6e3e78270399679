"""The candidate models of a BO lab's action: a small typed family.

Every candidate pairs where it comes from (its type) with how it is fitted (its
:class:`~labnet.models.candidate.CandidateModel`: an engine-trained ensemble, or a model fitted
without the engine such as a ``featurizer_rf`` forest, built by the lab's transfer mode):

* :class:`ScratchCandidate`: the lab's own from-scratch ensemble (the ENM, always first; the
  isolated baseline adds more);
* :class:`NeighbourCandidate`: a neighbour's published ensemble, transferred;
* :class:`PoolCandidate`: a model of one of the lab's source-model pools, transferred.

Neighbour and pool candidates are :class:`TransferCandidate` s: each one built is a row of
the transfer log.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from labnet.models.candidate import CandidateModel
from labnet.models.grouping import EngineTask


@dataclass(frozen=True, eq=False)
class Candidate:
    """One candidate model of an action.

    Attributes:
        label: its key in the step log's ``candidate_losses``.
        source: who its weights come from (``bpm_source`` when it wins): the lab itself, a
            neighbour lab, or ``pool:<name>#<index>``.
        source_property: the property its source predicts.
        model: how it is trained and fitted.
    """

    kind: ClassVar[str]
    """Its value in the step log's ``bpm_kind`` column."""

    label: str
    source: str
    source_property: str
    model: CandidateModel

    @property
    def engine_task(self) -> EngineTask | None:
        """The ensemble the engine trains for it (None: fitted without the engine)."""
        return self.model.engine_task


@dataclass(frozen=True, eq=False)
class ScratchCandidate(Candidate):
    """The lab's own from-scratch ensemble (LeCun-normal start, every layer trained)."""

    kind: ClassVar[str] = "scratch"


@dataclass(frozen=True, eq=False)
class TransferCandidate(Candidate):
    """A candidate transferred from another lab's or a pool's model (a transfer-log row)."""


@dataclass(frozen=True, eq=False)
class NeighbourCandidate(TransferCandidate):
    """A neighbour's published ensemble, transferred.

    Attributes:
        source_rows: training rows of the neighbour's model (the size the neighbour scaling is fitted against).
    """

    kind: ClassVar[str] = "transfer"
    source_rows: int = 0


@dataclass(frozen=True, eq=False)
class PoolCandidate(TransferCandidate):
    """A model of one of the lab's source-model pools, transferred."""

    kind: ClassVar[str] = "pool"
