"""A material space from any CSV file with a header row, checked before anything runs.

What a row becomes: its property columns are the hidden truth; its descriptor (what the labs'
models see) is the element fractions of its formula column (if given) followed by its numeric
feature columns (if given). With neither, the features are chosen automatically: every numeric
column that is not a property, the id column or index-like (:func:`index_like_reason`); the
choice is reported (:class:`CsvReport`) so it can be printed and recorded.

Checks, each naming the file, the column and the rows (0-based data rows; every bad row is
counted, the first few are listed):

- duplicate column names in the header;
- missing values (empty / NaN) in a used column: an error (``missing="error"``) or the rows are
  dropped and counted per column (``missing="drop"``); non-numeric and infinite values are
  always errors;
- index-like columns (``Unnamed: 0``, a column named id / index, an integer column
  ``0..N-1`` or ``1..N`` of at least :data:`INDEX_MIN_ROWS` rows) are never features: left out of the automatic choice, refused when listed;
- a feature that nearly copies a property (absolute Pearson or Spearman correlation
  >= :data:`LEAK_CORRELATION` over the candidates) is refused unless allowed by name
  (``allow_correlated``); checked from :data:`LEAK_MIN_ROWS` rows on;
- repeated inputs (rows with the same descriptor) whose properties differ: an error
  (``duplicates="error"``), or each repeated input becomes one candidate with the mean of its
  rows' properties (``duplicates="mean"``).
"""
from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from .data_files import SHOWN_ROWS, check_exists, column_list, column_problems, plain, row_list
from .errors import DataError
from .formula import FormulaError, composition_matrix
from .material_space import MaterialSpace

MissingPolicy = Literal["error", "drop"]
MISSING_POLICIES = ("error", "drop")
DuplicatePolicy = Literal["error", "mean"]
DUPLICATE_POLICIES = ("error", "mean")
LEAK_CORRELATION = 0.98
"""A feature whose |Pearson| or |Spearman| correlation with a property reaches this copies it."""
LEAK_MIN_ROWS = 10
"""Fewest candidates for the leakage check (with fewer, any two columns may correlate by chance)."""
INDEX_NAMES = ("id", "index", "idx", "row", "row_id", "rowid", "row_number")
"""Column names (any case) that label rows rather than describe materials."""
INDEX_MIN_ROWS = 10
"""Fewest rows for calling an integer column 0..N-1 / 1..N an index by its values alone."""
_UNNAMED = re.compile(r"^Unnamed: \d+$")


@dataclass(frozen=True)
class CsvReport:
    """What :func:`read_csv_space` chose and changed, for the user to see.

    Attributes:
        features: the numeric feature columns used, in descriptor order (after the element
            fractions when there is a formula column).
        automatic: True when ``features`` were chosen automatically.
        index_like: column -> why it was left out of the automatic features.
        rows_read: data rows in the file.
        dropped_by_column: column label -> rows with a missing value there (``missing="drop"``).
        rows_dropped: rows dropped in all (a row missing several values counts once).
        repeated_inputs: inputs that occur on more than one row.
        rows_merged: rows merged into the first row of their input (``duplicates="mean"``).
    """

    features: tuple[str, ...]
    automatic: bool
    index_like: dict[str, str] = field(default_factory=dict)
    rows_read: int = 0
    dropped_by_column: dict[str, int] = field(default_factory=dict)
    rows_dropped: int = 0
    repeated_inputs: int = 0
    rows_merged: int = 0

    def notices(self) -> list[str]:
        """One line per thing the user should know (automatic features, dropped or merged rows)."""
        lines = []
        if self.automatic:
            left_out = "; ".join(f"{name!r} ({why})" for name, why in self.index_like.items())
            lines.append(
                f"features chosen automatically: {', '.join(self.features)} (set dataset.feature_columns to choose)"
                + (f"; left out as index-like: {left_out}" if left_out else "")
            )
        if self.rows_dropped:
            per_column = ", ".join(f"{label}: {n}" for label, n in self.dropped_by_column.items())
            lines.append(f"missing: drop: dropped {self.rows_dropped} of {self.rows_read} rows with missing values "
                         f"({per_column}); {self.rows_read - self.rows_dropped} rows remain")
        inputs = _plural(self.repeated_inputs, "input occurs", "inputs occur")
        if self.rows_merged:
            lines.append(f"duplicates: mean: {inputs} on several rows; their properties were averaged "
                         f"({_plural(self.rows_merged, 'row', 'rows')} merged into the first row of its input)")
        elif self.repeated_inputs:
            lines.append(f"{inputs} on several rows with identical properties; they stay separate candidates "
                         f"(duplicates: mean merges them)")
        return lines


def _plural(n: int, one: str, many: str) -> str:
    return f"{n} {one if n == 1 else many}"


def index_like_reason(column: pd.Series, name: object) -> str | None:
    """Why a column labels rows rather than describes them (None: it does not).

    Index-like: an unnamed pandas index column (``Unnamed: 0``), a name in :data:`INDEX_NAMES`
    (any case), or an integer column holding exactly ``0..N-1`` or ``1..N`` in order (from
    :data:`INDEX_MIN_ROWS` rows on: in a tiny file a short count is as likely a real feature).
    """
    text = str(name).strip()
    if _UNNAMED.match(text) or text == "":
        return "an unnamed column, as written by a saved DataFrame index"
    if text.lower() in INDEX_NAMES:
        return f"named {text!r}"
    if pd.api.types.is_integer_dtype(column) and len(column) >= INDEX_MIN_ROWS:
        values = column.to_numpy()
        for start in (0, 1):
            if np.array_equal(values, np.arange(start, start + len(values))):
                return f"the row numbers {start}..{start + len(values) - 1}"
    return None


def load_csv(
    path: str | Path,
    properties: Sequence[str] | str,
    formula_column: str | None = None,
    feature_columns: Sequence[str] | None = None,
    id_column: str | None = None,
    name: str | None = None,
    missing: MissingPolicy = "error",
    duplicates: DuplicatePolicy = "error",
    allow_correlated: Sequence[str] = (),
) -> MaterialSpace:
    """A material space from any CSV file with a header row (see :func:`read_csv_space`)."""
    return read_csv_space(path, properties, formula_column, feature_columns, id_column, name,
                          missing, duplicates, allow_correlated)[0]


def read_csv_space(
    path: str | Path,
    properties: Sequence[str] | str,
    formula_column: str | None = None,
    feature_columns: Sequence[str] | None = None,
    id_column: str | None = None,
    name: str | None = None,
    missing: MissingPolicy = "error",
    duplicates: DuplicatePolicy = "error",
    allow_correlated: Sequence[str] = (),
) -> tuple[MaterialSpace, CsvReport]:
    """A material space from any CSV file with a header row, and what was chosen on the way.

    Args:
        path: the CSV file.
        properties: names of the property columns (the hidden ground truth); a single
            string means one property.
        formula_column: column of chemical formulas; the descriptor then starts with the element
            fractions (rows sum to 1) over every element in the file, by atomic number
            (:mod:`labnet.environment.formula`).
        feature_columns: numeric columns appended to the descriptor, in the given order (with
            or without a formula column). Default when neither this nor ``formula_column`` is
            given: every numeric column that is not a property, the id column or index-like.
        id_column: column of unique candidate labels; default: the file's 0-based data row numbers.
        name: name of the space; default: the file name without extension.
        missing: ``"error"``: a missing value in a used column is an error; ``"drop"``: such
            rows are dropped (counted per column in the report).
        duplicates: ``"error"``: an input on several rows with different properties is an error;
            ``"mean"``: such rows become one candidate with the mean properties (first row's id).
        allow_correlated: feature columns allowed to nearly copy a property.

    Returns:
        (space, report): float32 descriptors [N, d] and float64 properties; :class:`CsvReport`.

    Raises:
        DataError: any problem listed in the module docstring, a missing file or column
            (named, with the available columns), an unparsable formula, duplicate ids.
        ValueError: no properties, or an unknown ``missing`` / ``duplicates`` policy.
    """
    file = Path(path)
    check_exists(file)
    property_names = [properties] if isinstance(properties, str) else list(properties)
    if not property_names:
        raise ValueError("properties: expected at least one property column name")
    if len(set(property_names)) != len(property_names):
        raise ValueError(f"properties: duplicate names in {property_names}")
    if missing not in MISSING_POLICIES:
        raise ValueError(f"missing = {missing!r}: expected one of {', '.join(MISSING_POLICIES)}")
    if duplicates not in DUPLICATE_POLICIES:
        raise ValueError(f"duplicates = {duplicates!r}: expected one of {', '.join(DUPLICATE_POLICIES)}")
    frame = _read(file)

    def require(column: str, role: str) -> None:
        if column not in frame.columns:
            raise DataError(f"{file}: {role} column {column!r} not found; available columns: {column_list(frame.columns)}")

    for prop in property_names:
        require(prop, "property")
    if id_column is not None:
        require(id_column, "id")
    if formula_column is not None:
        require(formula_column, "formula")
    if feature_columns is not None:
        feature_columns = list(feature_columns)
        if not feature_columns and formula_column is None:
            raise DataError(f"{file}: feature_columns is empty; list at least one column (or leave it unset)")
        for column in feature_columns:
            require(column, "feature")
        repeated = sorted({c for c in feature_columns if feature_columns.count(c) > 1})
        if repeated:
            raise DataError(f"{file}: feature_columns lists {', '.join(map(repr, repeated))} more than once")
    if len(frame) == 0:
        raise DataError(f"{file}: has a header but no data rows")

    features, index_like = _features(frame, file, property_names, formula_column, feature_columns, id_column)
    allowed = list(allow_correlated)
    unknown = [c for c in allowed if c not in features]
    if unknown:
        raise DataError(f"{file}: allow_correlated_features names {', '.join(map(repr, unknown))}, which "
                        f"{'is not a feature column' if len(unknown) == 1 else 'are not feature columns'}; "
                        f"features: {', '.join(features) or '(none)'}")

    # ---- values: missing (drop or error), non-numeric and infinite (error)
    used = [(prop, f"property column {prop!r}", True) for prop in property_names]
    used += [(column, f"feature column {column!r}", True) for column in features]
    if formula_column is not None:
        used.append((formula_column, f"formula column {formula_column!r}", False))
    if id_column is not None:
        used.append((id_column, f"id column {id_column!r}", False))
    rows_read = len(frame)
    dropped_by_column: dict[str, int] = {}
    keep = np.ones(rows_read, dtype=bool)
    if missing == "drop":
        for column, label, _ in used:
            empty = _empty(frame[column])
            if empty.any():
                dropped_by_column[label] = int(empty.sum())
                keep &= ~empty
        if not keep.any():
            raise DataError(f"{file}: every row misses a value in a used column "
                            f"({', '.join(f'{k}: {v}' for k, v in dropped_by_column.items())}); nothing is left")
    problems = []
    for column, label, numeric in used:
        if numeric:
            problem = column_problems(frame[column], label, skip_missing=missing == "drop")
        else:
            empty = np.flatnonzero(_empty(frame[column]))
            problem = None
            if len(empty) and missing == "error":
                problem = (f"{label} is empty at row {empty[0]}" if len(empty) == 1
                           else f"{label} is empty at {len(empty)} rows: {row_list(empty.tolist())}")
        if problem is not None:
            problems.append(problem)
    if problems:
        hint = "" if missing == "drop" else "; set dataset.missing: drop to drop rows with missing values"
        if len(problems) == 1:
            raise DataError(f"{file}: {problems[0]} (0-based data rows); expected finite numbers{hint}")
        raise DataError(f"{file}: {len(problems)} columns have unusable values (0-based data rows):\n"
                        + "\n".join(f"  - {p}" for p in problems) + f"\nexpected finite numbers{hint}")
    rows = np.flatnonzero(keep)
    frame = frame.iloc[rows].reset_index(drop=True)

    # ---- descriptors: element fractions, then numeric features
    blocks, names = [], []
    if formula_column is not None:
        try:
            fractions, elements = composition_matrix([str(f) for f in frame[formula_column]], row_numbers=rows)
        except FormulaError as error:
            raise DataError(f"{file}: formula column {formula_column!r}: {error}") from None
        clash = sorted(set(elements) & set(features))
        if clash:
            raise DataError(f"{file}: feature column(s) {', '.join(map(repr, clash))} have the name of an element "
                            f"of formula column {formula_column!r}; rename them")
        blocks.append(fractions)
        names += list(elements)
    if features:
        blocks.append(np.stack([pd.to_numeric(frame[c]).to_numpy(np.float64) for c in features], axis=1))
        names += [str(c) for c in features]
    descriptors = np.concatenate(blocks, axis=1).astype(np.float32)
    table = pd.DataFrame({prop: pd.to_numeric(frame[prop]).to_numpy(np.float64) for prop in property_names})
    ids = _ids(frame, file, id_column, rows)

    # ---- repeated inputs
    descriptors, table, ids, repeated_inputs, rows_merged = _repeated_inputs(
        file, descriptors, table, ids, rows, duplicates, frame[formula_column] if formula_column else None)

    _check_leakage(file, descriptors[:, len(names) - len(features):], features, table, allowed)
    space = MaterialSpace(
        name=name if name is not None else file.stem,
        ids=ids,
        descriptors=descriptors,
        descriptor_names=tuple(names),
        properties=table,
    )
    report = CsvReport(
        features=tuple(str(c) for c in features),
        automatic=feature_columns is None and formula_column is None,
        index_like=index_like,
        rows_read=rows_read,
        dropped_by_column=dropped_by_column,
        rows_dropped=int(rows_read - keep.sum()),
        repeated_inputs=repeated_inputs,
        rows_merged=rows_merged,
    )
    return space, report


def _read(file: Path) -> pd.DataFrame:
    """The table, after checking that its header names every column once."""
    try:
        header = pd.read_csv(file, header=None, nrows=1, dtype=str, keep_default_na=False)
        frame = pd.read_csv(file, low_memory=False)
    except pd.errors.EmptyDataError:
        raise DataError(f"{file}: the file is empty; expected a CSV with a header row") from None
    except (pd.errors.ParserError, UnicodeDecodeError) as error:
        raise DataError(f"{file}: cannot be read as CSV with a header row: {error}") from None
    names = [str(v).strip() for v in header.iloc[0].tolist()]
    seen: dict[str, list[int]] = {}
    for position, column in enumerate(names):
        seen.setdefault(column, []).append(position)
    repeated = {column: positions for column, positions in seen.items() if len(positions) > 1 and column}
    if repeated:
        listed = "; ".join(f"{column!r} at positions {', '.join(str(p + 1) for p in positions)}"
                           for column, positions in repeated.items())
        raise DataError(f"{file}: duplicate column names in the header: {listed} (1-based); "
                        "every column needs its own name")
    return frame


def _empty(column: pd.Series) -> np.ndarray:
    """Missing cells: NaN / empty, or only spaces in a text column."""
    empty = column.isna().to_numpy()
    if column.dtype == object:
        empty |= column.astype(str).str.strip().eq("").to_numpy()
    return empty


def _features(frame: pd.DataFrame, file: Path, property_names: list[str], formula_column: str | None,
              feature_columns: list[str] | None, id_column: str | None) -> tuple[list[str], dict[str, str]]:
    """The numeric feature columns (given or automatic) and the index-like columns left out."""
    if feature_columns is not None:
        overlap = [c for c in feature_columns if c in property_names]
        if overlap:
            raise DataError(f"{file}: feature_columns {overlap} are also properties (that would leak the truth)")
        for role, column in (("formula", formula_column), ("id", id_column)):
            if column is not None and column in feature_columns:
                raise DataError(f"{file}: feature_columns lists the {role} column {column!r}")
        for column in feature_columns:
            why = index_like_reason(frame[column], column)
            if why is not None:
                raise DataError(f"{file}: feature column {column!r} looks like a row index ({why}); an index "
                                "says nothing about a material, so it is never a feature: remove it from "
                                "feature_columns (or use it as id_column)")
        return feature_columns, {}
    if formula_column is not None:
        return [], {}
    excluded = set(property_names) | {id_column}
    numeric = [c for c in frame.columns if c not in excluded and pd.api.types.is_numeric_dtype(frame[c])]
    index_like = {str(c): why for c in numeric if (why := index_like_reason(frame[c], c)) is not None}
    features = [c for c in numeric if str(c) not in index_like]
    if not features:
        left_out = f" (left out as index-like: {', '.join(map(repr, index_like))})" if index_like else ""
        raise DataError(f"{file}: no numeric descriptor columns besides the properties{left_out}; pass "
                        f"formula_column or feature_columns; available columns: {column_list(frame.columns)}")
    return features, index_like


def _ids(frame: pd.DataFrame, file: Path, id_column: str | None, rows: np.ndarray) -> np.ndarray:
    if id_column is None:
        return rows.copy()
    series = frame[id_column]
    duplicated = series.duplicated()
    if duplicated.any():
        where = np.flatnonzero(duplicated.to_numpy())
        first = int(where[0])
        more = f" ({len(where)} repeated ids in all, at rows {row_list(rows[where].tolist())})" if len(where) > 1 else ""
        raise DataError(f"{file}: id column {id_column!r} has duplicate value {plain(series.iloc[first])} at row "
                        f"{rows[first]}{more}; expected unique ids")
    ids = series.to_numpy()
    return ids if ids.dtype.kind in "iu" else series.astype(str).to_numpy(dtype=str)


def _repeated_inputs(file: Path, descriptors: np.ndarray, table: pd.DataFrame, ids: np.ndarray, rows: np.ndarray,
                     policy: str, formulas: pd.Series | None
                     ) -> tuple[np.ndarray, pd.DataFrame, np.ndarray, int, int]:
    """Find rows with the same descriptor; refuse differing properties or merge them by the mean."""
    _, first, inverse, counts = np.unique(descriptors, axis=0, return_index=True, return_inverse=True,
                                          return_counts=True)
    inverse = inverse.reshape(-1)
    repeated_groups = np.flatnonzero(counts > 1)
    if len(repeated_groups) == 0:
        return descriptors, table, ids, 0, 0
    values = table.to_numpy()
    differing = []
    for group in repeated_groups:
        members = np.flatnonzero(inverse == group)
        if not (values[members] == values[members[0]]).all():
            differing.append(members)
    if policy == "error" and differing:
        examples = []
        for members in differing[:SHOWN_ROWS]:
            label = f" (formula {formulas.iloc[members[0]]!r})" if formulas is not None else ""
            spread = ", ".join(f"{prop} {' vs '.join(f'{v:g}' for v in values[members, j])}"
                               for j, prop in enumerate(table.columns) if len(set(values[members, j])) > 1)
            examples.append(f"rows {', '.join(str(rows[m]) for m in members)}{label}: {spread}")
        more = "; …" if len(differing) > SHOWN_ROWS else ""
        raise DataError(
            f"{file}: {_plural(len(differing), 'input occurs', 'inputs occur')} on several rows with different property values "
            f"(the labs could not tell them apart): {'; '.join(examples)}{more} (0-based data rows); "
            "set dataset.duplicates: mean to average them, or remove the repeats")
    if policy == "error":
        return descriptors, table, ids, len(repeated_groups), 0
    order = np.sort(first)  # one candidate per input, at its first row, in file order
    group_of_kept = inverse[order]
    sums = np.zeros((len(counts), values.shape[1]))
    np.add.at(sums, inverse, values)
    means = sums / counts[:, None]
    merged_table = pd.DataFrame(means[group_of_kept], columns=table.columns)
    return descriptors[order], merged_table, ids[order], len(repeated_groups), int(len(descriptors) - len(order))


def _check_leakage(file: Path, features: np.ndarray, names: list[str], table: pd.DataFrame,
                   allowed: Sequence[str]) -> None:
    """Refuse a feature that nearly copies a property (unless allowed by name)."""
    n = len(table)
    if n < LEAK_MIN_ROWS or not names:
        return
    leaks = []
    for j, feature in enumerate(names):
        if feature in allowed:
            continue
        x = features[:, j].astype(np.float64)
        if np.ptp(x) == 0:
            continue
        for prop in table.columns:
            y = table[prop].to_numpy()
            if np.ptp(y) == 0:
                continue
            pearson = float(np.corrcoef(x, y)[0, 1])
            spearman = float(np.corrcoef(pd.Series(x).rank().to_numpy(), pd.Series(y).rank().to_numpy())[0, 1])
            if max(abs(pearson), abs(spearman)) >= LEAK_CORRELATION:
                leaks.append((feature, prop, pearson, spearman))
    if leaks:
        listed = "; ".join(f"{f!r} ~ property {p!r} (Pearson {r:+.3f}, Spearman {s:+.3f})" for f, p, r, s in leaks)
        names_ = ", ".join(dict.fromkeys(f for f, *_ in leaks))
        raise DataError(
            f"{file}: feature column(s) nearly copy a property (|correlation| >= {LEAK_CORRELATION:g} over "
            f"N = {n} candidates): {listed}; a lab would read the answer from its inputs. Remove them from the "
            f"features, or allow them by name: allow_correlated_features: [{names_}]")
