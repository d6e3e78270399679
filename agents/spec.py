"""What a lab is, as data: the scenario's description of one exploration system.

Every lab field is declared once, here, with its constraints (:func:`lab_field`). The
dataclass checks them in ``__post_init__``; the scenario schema
(:mod:`labnet.runs.config.labs`) derives from the same declaration the pydantic fields of a
lab, the fields of a lab generator (``labs: {count: ...}``) and which generator rules fit each
field (``uniform_int`` for integer fields, ``uniform`` for number fields). Adding a lab field
is one edit: a new attribute of :class:`LabSpec` (or of a subclass, see
:func:`labnet.runs.config.scenario.scenario_model`).
"""
from __future__ import annotations

import dataclasses
import numbers
import typing
from dataclasses import dataclass
from typing import Any

from labnet.models.choices import (
    DEFAULT_NEIGHBOUR_SELECTION,
    DEFAULT_POOL_SCORING,
    DEFAULT_TRANSFER_MODE,
    Goal,
    NeighbourSelection,
    PoolScoring,
    Strategy,
    TransferMode,
)

__all__ = ["Goal", "LabSpec", "MIN_INITIAL_POINTS", "FieldConstraint", "Strategy", "lab_field", "lab_fields"]

MIN_INITIAL_POINTS = 5
"""Fewest initial points: an 80/20 split then leaves >= 4 training and >= 1 validation points."""


@dataclass(frozen=True)
class FieldConstraint:
    """Bounds of a numeric lab field and a non-empty rule for strings (all optional).

    Attributes:
        ge, gt, le, lt: inclusive / exclusive bounds.
        min_length: fewest characters of a string field.
        why: appended to the message of a violated bound (e.g. why the minimum is what it is).
    """

    ge: float | None = None
    gt: float | None = None
    le: float | None = None
    lt: float | None = None
    min_length: int | None = None
    why: str = ""

    def bounds(self) -> dict[str, float]:
        """The set bounds as keyword arguments of ``pydantic.Field`` (``{"ge": 1}``)."""
        return {key: getattr(self, key) for key in ("ge", "gt", "le", "lt", "min_length")
                if getattr(self, key) is not None}


_CONSTRAINT = "labnet.constraint"


def lab_field(default: Any = dataclasses.MISSING, *, ge: float | None = None, gt: float | None = None,
              le: float | None = None, lt: float | None = None, min_length: int | None = None,
              why: str = "") -> Any:
    """A :class:`LabSpec` attribute with its constraints (the one declaration of a lab field).

    Example: ``batch_size: int = lab_field(1, ge=1, le=8)``. The field's type (``int``,
    ``float``, ``str``, ``tuple[str, ...]`` or a ``Literal`` of choices) is its annotation.
    """
    constraint = FieldConstraint(ge=ge, gt=gt, le=le, lt=lt, min_length=min_length, why=why)
    if default is dataclasses.MISSING:
        return dataclasses.field(metadata={_CONSTRAINT: constraint})
    return dataclasses.field(default=default, metadata={_CONSTRAINT: constraint})


@dataclass(frozen=True)
class LabFieldInfo:
    """One lab field as declared: its name, resolved type, default (MISSING if required) and constraint."""

    name: str
    type: Any
    default: Any
    constraint: FieldConstraint

    @property
    def required(self) -> bool:
        return self.default is dataclasses.MISSING

    @property
    def choices(self) -> tuple[Any, ...] | None:
        """The allowed values of a ``Literal`` field, else None."""
        return typing.get_args(self.type) if typing.get_origin(self.type) is typing.Literal else None

    @property
    def kind(self) -> str:
        """"integer", "number", "string", "strings" (a tuple of str) or "choice"."""
        if self.choices is not None:
            return "choice"
        if self.type is int:
            return "integer"
        if self.type is float:
            return "number"
        if self.type is str:
            return "string"
        return "strings"

    def problem(self, value: Any) -> str | None:
        """What is wrong with ``value`` for this field (None: nothing)."""
        c = self.constraint
        if self.kind == "choice":
            if value not in self.choices:
                return "expected " + (" or ".join(repr(v) for v in self.choices) if len(self.choices) == 2
                                      else "one of " + ", ".join(str(v) for v in self.choices))
            return None
        if self.kind == "string":
            if not isinstance(value, str) or len(value) < (c.min_length or 0):
                return "expected a non-empty string" if c.min_length else "expected a string"
            return None
        if self.kind == "strings":
            return None if all(isinstance(v, str) for v in value) else "expected a list of strings"
        integer = self.kind == "integer"
        what = "an integer" if integer else "a number"
        if isinstance(value, bool) or not isinstance(value, numbers.Real) or (integer and int(value) != value):
            return f"expected {what}"
        for key, symbol in (("ge", ">="), ("gt", ">"), ("le", "<="), ("lt", "<")):
            bound = getattr(c, key)
            if bound is not None and not {"ge": value >= bound, "gt": value > bound,
                                          "le": value <= bound, "lt": value < bound}[key]:
                return f"expected {what} {symbol} {bound:g}" + (f" {c.why}" if c.why else "")
        return None


def lab_fields(spec_class: type[LabSpec] | None = None) -> tuple[LabFieldInfo, ...]:
    """The declared fields of ``spec_class`` (default :class:`LabSpec`), in declaration order."""
    spec_class = LabSpec if spec_class is None else spec_class
    cached = _FIELDS.get(spec_class)
    if cached is None:
        hints = typing.get_type_hints(spec_class)
        cached = tuple(
            LabFieldInfo(f.name, hints[f.name], f.default, f.metadata.get(_CONSTRAINT, FieldConstraint()))
            for f in dataclasses.fields(spec_class)
        )
        _FIELDS[spec_class] = cached
    return cached


_FIELDS: dict[type, tuple[LabFieldInfo, ...]] = {}


@dataclass(frozen=True)
class LabSpec:
    """One lab of the network.

    Attributes:
        name: unique lab name (node of the topology).
        property: the material property the lab optimizes (a column of the material space).
        goal: "maximize" or "minimize".
        period_ticks: the lab acts at ticks phase_ticks, phase_ticks + period, ... (paper: M 1, Tc 3, Sp 9).
        initial_points: random candidates measured before the first action (seeded per lab).
        strategy: "bo" (the paper's closed loop) or "random" (random-search baseline).
        noise_std: standard deviation of Gaussian measurement noise, in the property's units.
        bias: constant offset added to every measurement, in the property's units.
        phase_ticks: offset of the lab's first action.
        transfer_mode: how a source model becomes a candidate: "finetune_frozen" (paper 1),
            "finetune_full" or "featurizer_rf" (models/transfer.py).
        pools: directories of source-model pools the lab draws candidates from (may be empty).
        pool_top_k: pool models transferred per action: the k best by cross-validation.
        pool_every: re-rank the pool every this many actions (the top k are kept in between).
        pool_scoring: "ridge_probe" (cheap proxy, default) or "transfer_cv" (models/pool_selection.py).
        pool_cv_folds: folds of the cross-validation (fewer when the lab has fewer training points).
        neighbour_selection: "all" (paper 1: fine-tune every in-neighbour's model at every action)
            or "scaling": at most ``neighbour_budget`` neighbours per action, chosen from the fitted
            scaling of each one's transfer benefit (agents/neighbour_selection.py).
        neighbour_budget: neighbours tried per action under "scaling".
        neighbour_retry_every: under "scaling", a neighbour not tried for this many actions is tried again.
    """

    name: str = lab_field(min_length=1)
    property: str = lab_field(min_length=1)
    goal: Goal = lab_field("maximize")
    period_ticks: int = lab_field(1, gt=0)
    initial_points: int = lab_field(
        10, ge=MIN_INITIAL_POINTS, why="so that an 80/20 split leaves >= 4 training and >= 1 validation points")
    strategy: Strategy = lab_field("bo")
    noise_std: float = lab_field(0.0, ge=0.0)
    bias: float = lab_field(0.0)
    phase_ticks: int = lab_field(0, ge=0)
    transfer_mode: TransferMode = lab_field(DEFAULT_TRANSFER_MODE)
    pools: tuple[str, ...] = lab_field(())
    pool_top_k: int = lab_field(1, ge=1)
    pool_every: int = lab_field(1, ge=1)
    pool_scoring: PoolScoring = lab_field(DEFAULT_POOL_SCORING)
    pool_cv_folds: int = lab_field(5, ge=2)
    neighbour_selection: NeighbourSelection = lab_field(DEFAULT_NEIGHBOUR_SELECTION)
    neighbour_budget: int = lab_field(2, ge=1)
    neighbour_retry_every: int = lab_field(10, ge=1)

    def __post_init__(self) -> None:
        object.__setattr__(self, "pools", tuple(str(p) for p in self.pools))
        for info in lab_fields(type(self)):
            value = getattr(self, info.name)
            problem = info.problem(value)
            if problem is not None:
                if info.name == "name":
                    raise ValueError(f"lab.name: {problem}")
                shown = value.item() if hasattr(value, "item") and hasattr(value, "dtype") else value  # numpy: plain
                raise ValueError(f"lab {self.name!r}: {info.name} = {shown!r}: {problem}")

    def acts_at(self, tick: int) -> bool:
        """True when the lab's clock fires at ``tick``."""
        return tick >= self.phase_ticks and (tick - self.phase_ticks) % self.period_ticks == 0

    def actions_within(self, horizon_ticks: int) -> int:
        """Number of ticks in ``0 .. horizon_ticks - 1`` at which the lab acts (one acquisition each)."""
        if horizon_ticks <= self.phase_ticks:
            return 0
        return -(-(horizon_ticks - self.phase_ticks) // self.period_ticks)
