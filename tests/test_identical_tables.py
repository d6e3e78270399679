"""Refactors change no result: the tables of two fixed runs match digests recorded before the change.

``tests/data/golden_tables.json`` holds, per table and column, a digest of the values (floats
to 6 significant digits, everything else exactly) of the default scenario and of a 20-tick,
2-trial ``paper_b2`` run, written by the code before the architecture change (issue 11). Only
digests are stored: nothing of the B2 dataset is in the repository. A failure names the
tables and columns that changed.

The validation losses and the generalization error (:data:`TRAINING_LOSS_COLUMNS`) are the
one exception: they carry the float32 rounding of 100 epochs of training, which the faster
numba kernel (issue 14) changes by up to ~2e-3 relative without changing any decision. They
are compared by their mean (relative 1e-2) against the same runs of the old code; every
other column, including every chosen material, measured value and transfer decision, must
still match exactly. (Before that kernel landed, the whole-table digests matched, the
architecture change of issue 11 included.)

Re-recorded once, by design: the ``material_index`` and ``material_id`` digests of the paper_b2
run, when the faster prediction kernel (issue 14 item 4) landed. The B2 file holds 102 pairs of
materials with identical descriptors and identical values; a BLAS gives the two rows of such a
pair predictions that differ in the last bit depending on where they sit in a block (so does
the torch code before it), and the UCB argmax then takes one or the other. The run picked the
other twin of a pair; every measured value, best-so-far and transfer decision is unchanged.
Which twin depended on the CPU too (CI's machine picked differently from the one that recorded
them), so twins now score alike (``MaterialSpace.first_twin``) and the first unmeasured twin
wins everywhere; the two digests were recorded again from that rule (every chosen material the
same up to its twin, every other column unchanged).
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from labnet import load_builtin, resolve, run_scenario

GOLDEN = Path(__file__).parent / "data" / "golden_tables.json"
#: columns that carry training's float rounding: compared by their mean, not their digest
TRAINING_LOSS_COLUMNS = {
    "steps.parquet": ("bpm_validation_loss", "generalization_mse", "candidate_losses"),
    "transfers.parquet": ("validation_loss", "local_validation_loss"),
}
TABLES = ("steps.parquet", "transfers.parquet", "observations_to_threshold.csv")
"""summary.csv is not compared: its headline changed by design (issue 15: survival statistics)."""



def column_digest(values: pd.Series) -> str:
    """16 hex digits of SHA-256 over the column's values, floats written with 6 significant digits."""
    if pd.api.types.is_float_dtype(values):
        text = "\n".join("nan" if not np.isfinite(v) else f"{v:.6g}" for v in values.to_numpy(dtype=float))
    else:
        text = "\n".join(map(str, values.tolist()))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def table_digests(run_dir: Path) -> dict[str, dict]:
    out = {}
    for name in TABLES:
        path = Path(run_dir) / name
        frame = pd.read_parquet(path) if name.endswith(".parquet") else pd.read_csv(path)
        out[name] = {"rows": len(frame), "columns": {c: column_digest(frame[c]) for c in frame.columns}}
    return out


def differences(expected: dict, actual: dict, run_dir: Path) -> list[str]:
    found = []
    for table, means in expected["training_losses"].items():
        frame = pd.read_parquet(Path(run_dir) / table)
        for column, mean in means.items():
            if abs(frame[column].mean() - mean) > 1e-2 * abs(mean):
                found.append(f"{table}: mean of {column!r} is {frame[column].mean():.6g}, expected {mean:.6g}")
    for table, want in ((t, w) for t, w in expected.items() if t in TABLES):
        got = actual[table]
        if got["rows"] != want["rows"]:
            found.append(f"{table}: {got['rows']} rows, expected {want['rows']}")
        for column, digest in want["columns"].items():
            if column in TRAINING_LOSS_COLUMNS.get(table, ()):
                continue
            if column not in got["columns"]:
                found.append(f"{table}: column {column!r} missing")
            elif got["columns"][column] != digest:
                found.append(f"{table}: column {column!r} differs")
        found += [f"{table}: new column {c!r}" for c in got["columns"] if c not in want["columns"]]
    return found


@pytest.mark.slow
def test_default_scenario_tables_are_unchanged(tmp_path):
    result = run_scenario(resolve(load_builtin("default")), tmp_path, progress=False)
    expected = json.loads(GOLDEN.read_text())["default"]
    assert differences(expected, table_digests(result.run_dir), result.run_dir) == []


@pytest.mark.slow
def test_paper_b2_tables_are_unchanged(tmp_path, b2_path):
    result = run_scenario(resolve(load_builtin("paper_b2"), data=str(b2_path), ticks=20, trials=2), tmp_path, progress=False)
    expected = json.loads(GOLDEN.read_text())["paper_b2_20ticks_2trials"]
    assert differences(expected, table_digests(result.run_dir), result.run_dir) == []
