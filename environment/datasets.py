"""Material spaces from files (B2 CSV, any CSV) and the built-in synthetic world.

The reader of any CSV (:func:`load_csv`, with its missing-value, duplicate and leakage checks)
is :mod:`labnet.environment.csv_dataset`; it is re-exported here.
"""
from __future__ import annotations

import numbers
from pathlib import Path

import numpy as np
import pandas as pd

from .csv_dataset import load_csv, read_csv_space
from .data_files import check_exists, numeric_column
from .errors import DataError
from .material_space import MaterialSpace


# --------------------------------------------------------------------------- B2

B2_N_COLUMNS = 60
"""Columns of the B2 file (no header)."""

B2_PROPERTY_COLUMNS: dict[str, int] = {
    "M": 0,  # magnetic moment per formula unit, mu_B
    "Sp": 2,  # spin polarization at the Fermi level, 0..1
    "Tc": 6,  # Curie temperature, K
    "gap": 3,  # small gap-like quantity
    "electronic": 4,  # positive electronic quantity
    "lattice_constant": 5,  # bohr
}
"""Property name → 0-based column of the B2 file."""

B2_ELEMENTS: tuple[str, ...] = (
    "Li", "Be", "B", "Mg", "Al", "Si", "Sc", "Ti", "V", "Cr", "Mn", "Fe", "Co", "Ni", "Cu",
    "Zn", "Ga", "Ge", "As", "Y", "Zr", "Nb", "Mo", "Ru", "Rh", "Pd", "Ag", "Cd", "In", "Sn",
    "Sb", "Hf", "Ta", "W", "Ir", "Pt", "Au", "Pb", "empty",
)
"""Names of the 39 composition slots (columns 19–57); the last slot is always empty."""

B2_DESCRIPTOR_COLUMNS = range(19, 58)
B2_COUNT_TOTAL = 200.0
"""The composition counts of every B2 row sum to this."""

_B2_FORMULA_ELEMENT_COLUMNS = (7, 9, 11)
_B2_FORMULA_PERCENT_COLUMNS = (8, 10, 12)


def load_b2(path: str | Path) -> MaterialSpace:
    """The B2 ternary-alloy dataset (``B2_20220520_full.csv``: no header, 60 columns).

    Properties: ``M`` (col 0, mu_B), ``Sp`` (col 2), ``Tc`` (col 6, K), ``gap`` (col 3),
    ``electronic`` (col 4), ``lattice_constant`` (col 5, bohr). Descriptor: the 39
    composition counts (cols 19–57) divided by 200, float32 [N, 39], rows sum to 1;
    names :data:`B2_ELEMENTS`. ids: formula strings ``"(Li0.2Mg0.8)Fe"`` from cols 7–12
    (the mixed-site fractions are percent / 100; zero fractions are kept, so ids are
    unique; should a file contain duplicates they get the row id of col 17 appended as
    ``"#<id>"``).

    Raises:
        DataError: missing file, wrong number of columns, non-numeric / NaN values in a
            used column, or composition counts not summing to 200; the message names the
            file and the column.
    """
    file = Path(path)
    check_exists(file, "; pass --data PATH to the B2 CSV")
    try:
        frame = pd.read_csv(file, header=None, low_memory=False)
    except pd.errors.EmptyDataError:
        raise DataError(f"{file}: the file is empty; expected the B2 CSV with {B2_N_COLUMNS} columns") from None
    except (pd.errors.ParserError, UnicodeDecodeError) as error:
        raise DataError(
            f"{file}: cannot be read as the B2 CSV ({B2_N_COLUMNS} comma-separated columns per row): {error}"
        ) from None
    if frame.shape[1] != B2_N_COLUMNS:
        raise DataError(
            f"{file}: has {frame.shape[1]} columns, expected {B2_N_COLUMNS} (B2 CSV without header)"
        )

    properties = pd.DataFrame(
        {
            name: numeric_column(frame, column, file, f"column {column} ({name})")
            for name, column in B2_PROPERTY_COLUMNS.items()
        }
    )
    counts = np.stack(
        [
            numeric_column(frame, column, file, f"column {column} (composition count of {element})")
            for column, element in zip(B2_DESCRIPTOR_COLUMNS, B2_ELEMENTS)
        ],
        axis=1,
    )
    if (counts < 0).any():
        row, slot = (int(i) for i in np.argwhere(counts < 0)[0])
        raise DataError(
            f"{file}: column {B2_DESCRIPTOR_COLUMNS[slot]} (composition count of {B2_ELEMENTS[slot]}) "
            f"is negative at row {row}; expected counts >= 0"
        )
    totals = counts.sum(axis=1)
    off = np.abs(totals - B2_COUNT_TOTAL) > 1e-6 * B2_COUNT_TOTAL
    if off.any():
        row = int(np.flatnonzero(off)[0])
        raise DataError(
            f"{file}: composition counts (columns 19-57) of row {row} sum to {totals[row]:g}, "
            f"expected {B2_COUNT_TOTAL:g}"
        )
    descriptors = (counts / B2_COUNT_TOTAL).astype(np.float32)

    ids = _b2_formulas(frame, file)
    return MaterialSpace(
        name="B2",
        ids=ids,
        descriptors=descriptors,
        descriptor_names=B2_ELEMENTS,
        properties=properties,
    )


def _b2_formulas(frame: pd.DataFrame, file: Path) -> np.ndarray:
    """``"(A{x}B{1-x})C"`` strings from cols 7–12, shape [N]."""
    parts: list[pd.Series] = []
    for element_column, percent_column in zip(_B2_FORMULA_ELEMENT_COLUMNS, _B2_FORMULA_PERCENT_COLUMNS):
        elements = frame[element_column]
        missing = elements.isna() | (elements.astype(str).str.strip() == "")
        if missing.any():
            row = int(np.flatnonzero(missing.to_numpy())[0])
            raise DataError(f"{file}: column {element_column} (element symbol) is empty at row {row}")
        percent = numeric_column(frame, percent_column, file, f"column {percent_column} (percent)")
        fractions = pd.Series([f"{value / 100:g}" for value in percent], index=frame.index)
        parts.append(elements.astype(str).str.strip() + fractions)
    a, b, c = parts
    # The C site is always fully occupied: drop its "1".
    c_element = frame[_B2_FORMULA_ELEMENT_COLUMNS[2]].astype(str).str.strip()
    c_percent = numeric_column(frame, 12, file, "column 12 (percent)")
    c = c.where(c_percent != 100.0, c_element)
    formulas = ("(" + a + b + ")" + c).to_numpy(dtype=object)
    index = pd.Index(formulas)
    if not index.is_unique:
        duplicated = index.duplicated(keep=False)
        row_ids = frame[17].astype(str).to_numpy(dtype=object)
        formulas = np.where(duplicated, formulas + "#" + row_ids, formulas)
    return formulas.astype(str)


# --------------------------------------------------------------------------- synthetic world

SYNTHETIC_LENGTHSCALE = 0.35
"""Lengthscale of the random Fourier features, in composition-fraction units."""
SYNTHETIC_N_FEATURES = 256
"""Random Fourier features per latent function."""


def _check_int(value: object, parameter: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or int(value) < minimum:
        raise ValueError(f"{parameter} = {value!r}: expected an integer >= {minimum}")
    return int(value)


def _composition_candidates(rng: np.random.Generator, n: int, d: int) -> np.ndarray:
    """n distinct composition vectors [n, d]: each mixes 2 or 3 of the d elements (rows sum to 1)."""
    rows: list[np.ndarray] = []
    seen: set[bytes] = set()
    max_mixed = min(3, d)
    while len(rows) < n:
        n_mixed = int(rng.integers(2, max_mixed + 1))
        elements = rng.choice(d, size=n_mixed, replace=False)
        row = np.zeros(d, dtype=np.float32)
        row[elements] = rng.dirichlet(np.ones(n_mixed))
        key = row.tobytes()
        if key not in seen:
            seen.add(key)
            rows.append(row)
    return np.stack(rows)


def _random_fourier_function(rng: np.random.Generator, x: np.ndarray) -> np.ndarray:
    """One smooth random function g(x) = Σ_j a_j cos(w_j·x + b_j) evaluated at x [n, d] → [n]."""
    d = x.shape[1]
    w = rng.normal(0.0, 1.0 / SYNTHETIC_LENGTHSCALE, size=(d, SYNTHETIC_N_FEATURES))
    b = rng.uniform(0.0, 2.0 * np.pi, size=SYNTHETIC_N_FEATURES)
    a = rng.normal(0.0, np.sqrt(2.0 / SYNTHETIC_N_FEATURES), size=SYNTHETIC_N_FEATURES)
    return np.cos(x.astype(np.float64) @ w + b) @ a


def synthetic_world(
    n_candidates: int = 2000,
    n_descriptors: int = 16,
    n_properties: int = 3,
    correlation: float = 0.5,
    seed: int = 0,
    name: str = "synthetic",
    sim_distortion: float | None = None,
    sim_bias: float = 0.0,
) -> MaterialSpace:
    """The built-in default world: composition-like candidates with smooth, correlated properties.

    Candidates mix 2 or 3 of ``n_descriptors`` "elements" ``E0, E1, …`` with Dirichlet(1)
    fractions (rows sum to 1, no duplicate rows). Properties ``P0, P1, …`` are built from
    ``n_properties`` independent smooth random functions (random Fourier features,
    lengthscale :data:`SYNTHETIC_LENGTHSCALE`) evaluated on the candidates, standardized
    and orthonormalized over the candidates, then mixed with the symmetric square root of
    the target correlation matrix (1 on the diagonal, ``correlation`` elsewhere). For
    ``correlation >= 0`` this is "shared component + own component" per property.
    Each property is finally rescaled to [0, 1] (min 0, max 1, so "90 % of the maximum" is
    meaningful); the rescaling is affine, so the pairwise Pearson correlation over the
    candidates equals ``correlation`` up to float rounding.

    **Simulated twins (Sim2Real).** With ``sim_distortion`` set, every property ``Pk`` gets a
    twin ``Pk_sim``, what a fast but imperfect simulation would report::

        Pk_sim = Pk + sim_distortion * std(Pk) * e_k(x) + sim_bias

    ``e_k`` is the simulation's systematic error: one more smooth random function (same
    lengthscale), centred, scaled to unit std over the candidates and orthogonal to every
    true property and to the other errors. Hence ``corr(Pk, Pk_sim) = 1 / sqrt(1 +
    sim_distortion**2)`` exactly (0.5 → 0.894, 1 → 0.707) and ``mean(Pk_sim - Pk) =
    sim_bias``. The error functions are drawn after everything else, so adding twins leaves
    ``P0, P1, …`` and the descriptors unchanged for a given seed. Random (per-measurement)
    noise and a further constant offset belong to the oracle (``LabSpec.noise_std``/``bias``).

    Args:
        n_candidates: N >= n_properties + 2.
        n_descriptors: d >= 2.
        n_properties: >= 1.
        correlation: pairwise Pearson correlation, in [-1/(n_properties-1), 1] (the range in
            which equal pairwise correlations are possible; [-1, 1] for two properties).
        seed: integer >= 0; equal seeds give identical worlds.
        name: name of the space.
        sim_distortion: None (no twins) or a number >= 0: amplitude of the simulation's
            smooth error, in units of the true property's std over the candidates.
        sim_bias: constant offset of every twin, in the property's units (which are [0, 1]).

    Raises:
        ValueError: a parameter is out of range (the message names it).
    """
    n_properties = _check_int(n_properties, "n_properties", 1)
    with_twins = sim_distortion is not None
    n_candidates = _check_int(n_candidates, "n_candidates", (2 * n_properties if with_twins else n_properties) + 2)
    if with_twins and (
        isinstance(sim_distortion, bool) or not isinstance(sim_distortion, numbers.Real)
        or not np.isfinite(sim_distortion) or sim_distortion < 0
    ):
        raise ValueError(f"sim_distortion = {sim_distortion!r}: expected None or a finite number >= 0")
    if isinstance(sim_bias, bool) or not isinstance(sim_bias, numbers.Real) or not np.isfinite(sim_bias):
        raise ValueError(f"sim_bias = {sim_bias!r}: expected a finite number")
    n_descriptors = _check_int(n_descriptors, "n_descriptors", 2)
    seed = _check_int(seed, "seed", 0)
    if isinstance(correlation, bool) or not isinstance(correlation, numbers.Real) or not np.isfinite(correlation):
        raise ValueError(f"correlation = {correlation!r}: expected a number in [-1, 1]")
    lowest = -1.0 / (n_properties - 1) if n_properties > 1 else -1.0
    if not lowest - 1e-12 <= correlation <= 1.0:
        raise ValueError(
            f"correlation = {correlation!r}: expected a number in [{lowest:g}, 1] for "
            f"n_properties = {n_properties} (equal pairwise correlations below {lowest:g} are impossible)"
        )

    rng = np.random.default_rng(seed)
    descriptors = _composition_candidates(rng, n_candidates, n_descriptors)
    latent = np.stack([_random_fourier_function(rng, descriptors) for _ in range(n_properties)], axis=1)
    latent -= latent.mean(axis=0)
    # Orthonormal columns over the candidates: empirical correlation exactly the identity.
    orthonormal, _ = np.linalg.qr(latent)
    orthonormal *= np.sqrt(n_candidates)
    target = np.full((n_properties, n_properties), float(correlation))
    np.fill_diagonal(target, 1.0)
    eigenvalues, eigenvectors = np.linalg.eigh(target)
    mixing = eigenvectors @ np.diag(np.sqrt(np.clip(eigenvalues, 0.0, None))) @ eigenvectors.T
    values = orthonormal @ mixing
    values = (values - values.min(axis=0)) / (values.max(axis=0) - values.min(axis=0))
    columns = {f"P{k}": values[:, k] for k in range(n_properties)}
    if with_twins:
        errors = _simulation_errors(rng, descriptors, orthonormal)
        for k in range(n_properties):
            columns[f"P{k}_sim"] = values[:, k] + float(sim_distortion) * values[:, k].std() * errors[:, k] + float(sim_bias)

    return MaterialSpace(
        name=name,
        ids=np.arange(n_candidates),
        descriptors=descriptors,
        descriptor_names=tuple(f"E{j}" for j in range(n_descriptors)),
        properties=pd.DataFrame(columns),
    )


def _simulation_errors(rng: np.random.Generator, descriptors: np.ndarray, truth_basis: np.ndarray) -> np.ndarray:
    """Smooth error functions [N, p]: centred, unit std, orthogonal to ``truth_basis`` [N, p] and each other."""
    n, p = truth_basis.shape
    raw = np.stack([_random_fourier_function(rng, descriptors) for _ in range(p)], axis=1)
    raw -= raw.mean(axis=0)
    basis, _ = np.linalg.qr(np.concatenate([truth_basis, raw], axis=1))
    errors = basis[:, p:]
    return errors / errors.std(axis=0)
