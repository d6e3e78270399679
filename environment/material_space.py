"""The candidate materials of a study: descriptors plus the hidden ground truth."""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Literal

import numpy as np
import pandas as pd

from .errors import UnknownPropertyError

Goal = Literal["maximize", "minimize"]


@dataclass(frozen=True, eq=False)
class MaterialSpace:
    """N candidate materials with their descriptors and hidden property values.

    Labs see ``ids`` and ``descriptors``; ``properties`` is the ground truth that only the
    oracles read. Fields cannot be reassigned and the arrays are read-only; the
    ``properties`` frame is a private copy (do not mutate it; use :meth:`values`).

    Attributes:
        name: label of the space (e.g. ``"B2"``, ``"synthetic"``).
        ids: candidate labels, shape [N], str or int, unique.
        descriptors: model inputs, float32, shape [N, d], C-contiguous, finite.
        descriptor_names: the d column names (e.g. element symbols).
        properties: ground truth, N rows (index 0..N-1), one float64 column per property,
            finite values, in each property's own units.
    """

    name: str
    ids: np.ndarray
    descriptors: np.ndarray
    descriptor_names: tuple[str, ...]
    properties: pd.DataFrame
    _values: dict[str, np.ndarray] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        where = f"material space {self.name!r}"
        ids = np.asarray(self.ids)
        if ids.ndim != 1:
            raise ValueError(f"{where}: ids must have shape [N], got shape {ids.shape}")
        n = ids.shape[0]
        if not (ids.dtype.kind in "iu" or ids.dtype.kind in "UO"):
            raise ValueError(f"{where}: ids must be strings or integers, got dtype {ids.dtype}")
        if not pd.Index(ids).is_unique:
            duplicated = pd.Index(ids)[pd.Index(ids).duplicated()][0]
            raise ValueError(f"{where}: ids must be unique, {duplicated!r} occurs more than once")
        ids = ids.copy()
        ids.setflags(write=False)

        descriptors = np.ascontiguousarray(self.descriptors, dtype=np.float32)
        if descriptors.ndim != 2 or descriptors.shape[0] != n:
            raise ValueError(
                f"{where}: descriptors must have shape [N={n}, d], got shape {descriptors.shape}"
            )
        if not np.isfinite(descriptors).all():
            row = int(np.argwhere(~np.isfinite(descriptors))[0, 0])
            raise ValueError(f"{where}: descriptors must be finite; row {row} has NaN or inf")
        if descriptors is self.descriptors:
            descriptors = descriptors.copy()
        descriptors.setflags(write=False)

        names = tuple(str(name) for name in self.descriptor_names)
        if len(names) != descriptors.shape[1]:
            raise ValueError(
                f"{where}: descriptor_names has {len(names)} names for {descriptors.shape[1]} descriptor columns"
            )

        if not isinstance(self.properties, pd.DataFrame):
            raise ValueError(f"{where}: properties must be a pandas DataFrame, got {type(self.properties).__name__}")
        if len(self.properties) != n:
            raise ValueError(f"{where}: properties has {len(self.properties)} rows, expected N={n}")
        if self.properties.shape[1] == 0:
            raise ValueError(f"{where}: properties has no columns; expected at least one property")
        if not self.properties.columns.is_unique:
            raise ValueError(f"{where}: property names must be unique, got {list(self.properties.columns)}")
        columns: dict[str, np.ndarray] = {}
        for column in self.properties.columns:
            if not isinstance(column, str):
                raise ValueError(f"{where}: property names must be strings, got {column!r}")
            try:
                values = self.properties[column].to_numpy(dtype=np.float64, copy=True)
            except (TypeError, ValueError):
                raise ValueError(f"{where}: property {column!r} must be numeric") from None
            if not np.isfinite(values).all():
                row = int(np.argwhere(~np.isfinite(values))[0, 0])
                raise ValueError(f"{where}: property {column!r} must be finite; row {row} is {values[row]}")
            values.setflags(write=False)
            columns[column] = values
        properties = pd.DataFrame({column: np.array(values) for column, values in columns.items()})

        object.__setattr__(self, "ids", ids)
        object.__setattr__(self, "descriptors", descriptors)
        object.__setattr__(self, "descriptor_names", names)
        object.__setattr__(self, "properties", properties)
        object.__setattr__(self, "_values", columns)

    def __len__(self) -> int:
        """Number of candidates N."""
        return int(self.ids.shape[0])

    def __repr__(self) -> str:
        return (
            f"MaterialSpace(name={self.name!r}, n_candidates={len(self)}, "
            f"n_descriptors={self.n_descriptors}, properties={list(self.property_names)})"
        )

    @cached_property
    def first_twin(self) -> np.ndarray:
        """For every candidate, the index of the first candidate with the same descriptor row: int [N], read-only.

        ``first_twin[i] == i`` for a candidate whose descriptors are unique. Candidates with
        identical descriptors ("twins"; the B2 file holds 102 pairs) are indistinguishable to
        every model, yet a BLAS gives them predictions that differ in the last bit depending on
        where their rows sit in a block, which differs between CPUs. Scores are read through this
        map so that twins score identically and the acquisition takes the first unmeasured twin
        on every machine (docs/algorithm.md, "One action of a BO lab").
        """
        _, first, inverse = np.unique(self.descriptors, axis=0, return_index=True, return_inverse=True)
        out = first[inverse.reshape(-1)].astype(np.int64)
        out.setflags(write=False)
        return out

    @property
    def n_descriptors(self) -> int:
        """Descriptor length d."""
        return int(self.descriptors.shape[1])

    @property
    def property_names(self) -> tuple[str, ...]:
        """Names of the hidden properties, in column order."""
        return tuple(self._values)

    def values(self, prop: str) -> np.ndarray:
        """Ground-truth values of one property: read-only float64 array of shape [N].

        Raises:
            UnknownPropertyError: (a ``KeyError`` and ``ValueError``) naming the unknown
                property and listing the available ones.
        """
        try:
            return self._values[prop]
        except (KeyError, TypeError):
            raise UnknownPropertyError(
                f"material space {self.name!r} has no property {prop!r}; "
                f"available: {', '.join(self.property_names)}"
            ) from None

    def maximum(self, prop: str) -> float:
        """Largest value of ``prop`` over all candidates (property units)."""
        return float(self.values(prop).max())

    def minimum(self, prop: str) -> float:
        """Smallest value of ``prop`` over all candidates (property units)."""
        return float(self.values(prop).min())

    def threshold(self, prop: str, fraction: float = 0.9, goal: Goal = "maximize") -> float:
        """Success threshold for a search on ``prop`` (property units).

        ``maximize``: ``min + fraction * (max - min)``; ``minimize``: ``max - fraction * (max - min)``.
        When the property's minimum is 0 (M, Sp, Tc of B2; the synthetic world) the
        maximize threshold equals the paper's "fraction of the maximum", e.g. 90 % of
        max Tc = 843.9 K.

        Raises:
            UnknownPropertyError: unknown property.
            ValueError: ``fraction`` outside [0, 1] or ``goal`` not "maximize"/"minimize".
        """
        if not 0.0 <= fraction <= 1.0:
            raise ValueError(f"fraction = {fraction!r}: expected a number in [0, 1]")
        low, high = self.minimum(prop), self.maximum(prop)
        if goal == "maximize":
            return low + fraction * (high - low)
        if goal == "minimize":
            return high - fraction * (high - low)
        raise ValueError(f"goal = {goal!r}: expected 'maximize' or 'minimize'")
