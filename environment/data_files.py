"""Checks shared by the dataset readers: the file exists, a column holds finite numbers.

Messages name the file, the column and the rows (0-based data rows); every bad row of a
column is counted and the first :data:`SHOWN_ROWS` are listed. Values print as the user
wrote them (``inf``, not ``np.float64(inf)``).
"""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .errors import DataError

SHOWN_ROWS = 5
"""Bad rows listed in a message (all are counted)."""


def plain(value: Any) -> str:
    """``repr`` with numpy scalars as plain Python numbers (``inf``, ``2.5``, ``'x'``)."""
    if isinstance(value, np.generic):
        value = value.item()
    return repr(value)


def check_exists(path: Path, hint: str = "") -> None:
    """``DataError`` unless ``path`` is a file."""
    if not path.is_file():
        what = "data file not found" if not path.exists() else "data path is not a file"
        raise DataError(f"{what}: {path}{hint}")


def column_list(columns: object) -> str:
    """Column names for a message (the first 30, then a count)."""
    names = [str(column) for column in columns]  # type: ignore[attr-defined]
    shown = ", ".join(names[:30])
    return shown + (f", … ({len(names)} in all)" if len(names) > 30 else "")


def row_list(rows: Sequence[int], values: Sequence[Any] | None = None) -> str:
    """``1, 5, 9`` or ``1 ('warm'), 4 ('hot')``, the first :data:`SHOWN_ROWS`, then ``, …``."""
    shown = [f"{row} ({plain(values[i])})" if values is not None else str(row)
             for i, row in enumerate(rows[:SHOWN_ROWS])]
    return ", ".join(shown) + (", …" if len(rows) > SHOWN_ROWS else "")


def column_problems(raw: pd.Series, label: str, row_numbers: Sequence[int] | None = None,
                    skip_missing: bool = False) -> str | None:
    """What is wrong with a column that must hold finite numbers, or None.

    Missing (NaN / empty), non-numeric and infinite values are each counted, with their first
    rows: ``property column 'Tc' has 3 missing (NaN) values at rows 1, 5, 9``; a single one
    reads ``has a missing (NaN) value at row 1``.

    Args:
        row_numbers: the file's row number of each entry (default 0..N-1).
        skip_missing: leave missing values out (they are reported elsewhere, e.g. dropped).
    """
    rows = np.arange(len(raw)) if row_numbers is None else np.asarray(row_numbers)
    numeric = pd.to_numeric(raw, errors="coerce").to_numpy(dtype=np.float64)
    missing = raw.isna().to_numpy()
    non_numeric = np.isnan(numeric) & ~missing
    infinite = np.isinf(numeric)
    parts = []
    for mask, singular, plural, show_values in (
        (missing if not skip_missing else np.zeros_like(missing), "missing (NaN) value", "missing (NaN) values", False),
        (non_numeric, "non-numeric value", "non-numeric values", True),
        (infinite, "infinite value", "infinite values", True),
    ):
        where = np.flatnonzero(mask)
        if len(where) == 0:
            continue
        values = raw.to_numpy()[where] if show_values else None
        if len(where) == 1:
            value = f" {plain(values[0])}" if values is not None else ""
            article = "an" if singular[0] in "aeiou" else "a"
            parts.append(f"{article} {singular}{value} at row {rows[where[0]]}")
        else:
            parts.append(f"{len(where)} {plural} at rows {row_list(rows[where].tolist(), values)}")
    if not parts:
        return None
    return f"{label} has " + ", ".join(parts)


def numeric_column(frame: pd.DataFrame, column: object, file: Path, label: str, hint: str = "") -> np.ndarray:
    """Column as float64 [N]; ``DataError`` naming the file, column and its bad rows otherwise."""
    problem = column_problems(frame[column], label)
    if problem is not None:
        raise DataError(f"{file}: {problem} (0-based data rows); expected finite numbers{hint}")
    return pd.to_numeric(frame[column], errors="coerce").to_numpy(dtype=np.float64)


