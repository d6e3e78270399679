"""The step log: one typed record per observation a lab makes, and the table built from them."""
from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from typing import Any

import pandas as pd


@dataclass(frozen=True)
class Decision:
    """Why a material was measured: the BO lab's model selection at that action (empty otherwise).

    Attributes:
        bpm_source: the lab (own ensemble) or neighbour / ``pool:<name>#<i>`` whose candidate was the BPM.
        bpm_kind: "scratch", "transfer" (a neighbour's model) or "pool" (:attr:`Candidate.kind`).
        bpm_validation_loss: the BPM's validation MSE (standardized units).
        n_candidates: candidate models judged at the action.
        candidate_losses: candidate label -> validation MSE, in plan order.
        generalization_mse: the BPM's MSE on every unmeasured material (standardized units; retrospective,
            never used for decisions).
        neighbours_skipped: published neighbour models not tried (``neighbour_selection: scaling``).
    """

    bpm_source: str = ""
    bpm_kind: str = ""
    bpm_validation_loss: float = float("nan")
    n_candidates: int = 0
    candidate_losses: Mapping[str, float] = field(default_factory=dict)
    generalization_mse: float = float("nan")
    neighbours_skipped: int = 0


NO_DECISION = Decision()
"""The decision fields of an initial point or a random-search measurement."""


@dataclass(frozen=True)
class StepRecord:
    """One observation of one lab: a row of the step table (``steps.parquet``), fields in column order.

    Attributes:
        tick: the tick of the action (-1 for the initial points).
        lab, property, strategy: the lab, the property it optimizes, its strategy.
        phase: "initial" or "acquisition".
        n_obs: the lab's observations including this one.
        material_index, material_id: the material measured (row of the material space, its id).
        y_observed: the measured value; y_true: the ground truth (property units).
        best_so_far, best_true_so_far: the best observed / true value so far (by the lab's goal).
        bpm_source ... neighbours_skipped: the :class:`Decision` fields; ``candidate_losses`` as a
            JSON object string.
    """

    tick: int
    lab: str
    property: str
    strategy: str
    phase: str
    n_obs: int
    material_index: int
    material_id: str
    y_observed: float
    y_true: float
    best_so_far: float
    best_true_so_far: float
    bpm_source: str
    bpm_kind: str
    bpm_validation_loss: float
    n_candidates: int
    candidate_losses: str
    generalization_mse: float
    neighbours_skipped: int

    @classmethod
    def of(cls, decision: Decision, **measurement: Any) -> "StepRecord":
        """The record of a measurement (the fields ``tick`` ... ``best_true_so_far``) made for ``decision``."""
        return cls(
            **measurement,
            bpm_source=decision.bpm_source,
            bpm_kind=decision.bpm_kind,
            bpm_validation_loss=decision.bpm_validation_loss,
            n_candidates=decision.n_candidates,
            candidate_losses=json.dumps(dict(decision.candidate_losses)),
            generalization_mse=decision.generalization_mse,
            neighbours_skipped=decision.neighbours_skipped,
        )

    def as_dict(self) -> dict[str, Any]:
        """{column: value} in column order (a JSON stream line, a table row)."""
        return {name: getattr(self, name) for name in STEP_COLUMNS}


STEP_COLUMNS: tuple[str, ...] = tuple(f.name for f in fields(StepRecord))
"""Columns of the step table, in order."""


def step_frame(records: Sequence[StepRecord], lab_order: Sequence[str]) -> pd.DataFrame:
    """The step table from step records (any order): sorted by tick, lab order, then n_obs.

    Args:
        records: the labs' :class:`StepRecord` rows (``ExplorationLab.log``, or read back from a stream).
        lab_order: lab names in the network's order (ties within a tick follow it).

    The (tick, lab, n_obs) keys are unique, so the result does not depend on the order of
    ``records``: the runner rebuilds identical tables from its on-disk streams.
    """
    table = pd.DataFrame([record.as_dict() for record in records])
    if table.empty:
        return table
    order = {name: i for i, name in enumerate(lab_order)}
    table["_lab_order"] = table["lab"].map(order)
    table = table.sort_values(["tick", "_lab_order", "n_obs"], kind="stable").drop(columns="_lab_order")
    return table.reset_index(drop=True)
