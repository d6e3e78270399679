"""A newcomer's own dataset, safely (issue 12): every bad case is named before anything trains.

The CSV files are made here from synthetic numbers (never from B2): formulas of two of five
elements, two numeric features, two properties that depend on both, plus whatever each test
breaks (NaNs, repeats, an index column, a leaking copy of a property, ...).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from labnet.environment import DataError
from labnet.environment.csv_dataset import read_csv_space
from labnet.runs.cli import commands as cli
from labnet.runs.config.scenario import ScenarioError, load_scenario, resolve
from labnet.runs.config.build import build_space
from labnet.runs.execution.runner import make_run_dir, resume_run, run_scenario
from labnet.runs.execution.tick_stream import TickStream

ELEMENTS = ("Fe", "Co", "Ni", "Cu", "Al")
TINY_LEARNER = {"n_members": 2, "epochs": 3, "patience": 3}


def materials(n: int = 120, seed: int = 0) -> pd.DataFrame:
    """n distinct made-up alloys A_x B_(1-x) with two features and two properties."""
    rng = np.random.default_rng(seed)
    rows, seen = [], set()
    while len(rows) < n:
        a, b = rng.choice(len(ELEMENTS), size=2, replace=False)
        x = round(float(rng.uniform(0.05, 0.95)), 3)
        formula = f"{ELEMENTS[a]}{x:g}{ELEMENTS[b]}{1 - x:.3g}"
        if formula in seen:
            continue
        seen.add(formula)
        hardness, density = float(rng.normal(5, 1)), float(rng.uniform(2, 9))
        rows.append({
            "formula": formula,
            "hardness": round(hardness, 4),
            "density": round(density, 4),
            "gap": round(np.sin(3 * x + a) + 0.2 * density + 0.1 * rng.normal(), 5),
            "moment": round(np.cos(2 * x * (b + 1)) * hardness + 0.1 * rng.normal(), 5),
        })
    return pd.DataFrame(rows)


def write(frame: pd.DataFrame, path: Path, index: bool = False) -> Path:
    frame.to_csv(path, index=index)
    return path


def scenario(path: Path, horizon: int = 2, **dataset) -> dict:
    return {
        "name": "mine",
        "dataset": {"kind": "csv", "path": str(path), "properties": ["gap", "moment"], **dataset},
        "labs": [{"name": "A", "property": "gap", "initial_points": 6},
                 {"name": "B", "property": "moment", "initial_points": 6, "period_ticks": 2}],
        "topology": {"kind": "complete"},
        "learner": TINY_LEARNER,
        "horizon_ticks": horizon,
        "trials": 1,
        "baselines": [],
    }


def data_error(path: Path, **options) -> str:
    with pytest.raises(DataError) as caught:
        read_csv_space(path, ["gap", "moment"], **options)
    return str(caught.value)


# --------------------------------------------------------------------------- checked at load


def test_a_horizon_longer_than_the_candidates_is_refused_naming_the_lab_and_the_numbers(tmp_path):
    path = write(materials(), tmp_path / "alloys.csv")
    study = load_scenario(scenario(path, horizon=200, formula_column="formula"))
    with pytest.raises(ScenarioError) as caught:
        run_scenario(study, tmp_path / "runs", progress=False)
    message = str(caught.value)
    assert ("labs[0]: lab 'A' needs 206 candidates (6 initial points + 200 actions over horizon_ticks = 200 at "
            "period_ticks = 1), but the dataset has 120; use horizon_ticks <= 114") in message
    assert "lab 'B' needs 106" not in message  # B acts every other tick: 6 + 100 fits
    assert not (tmp_path / "runs").exists()  # refused before a run directory or any training


def test_a_constant_property_is_refused(tmp_path):
    frame = materials().assign(moment=2.5)
    study = load_scenario(scenario(write(frame, tmp_path / "flat.csv"), formula_column="formula"))
    with pytest.raises(ScenarioError, match=r"labs\[1\]\.property 'moment': every one of the 120 candidates has "
                                            r"the value 2\.5"):
        build_space(study)


def test_duplicate_column_names_are_refused(tmp_path):
    path = tmp_path / "twice.csv"
    frame = materials(20)
    path.write_text("formula,gap,moment,density,density\n" + "\n".join(
        f"{r.formula},{r.gap},{r.moment},{r.density},{r.hardness}" for r in frame.itertuples()) + "\n")
    assert "duplicate column names in the header: 'density' at positions 4, 5" in data_error(
        path, formula_column="formula")


def test_an_out_folder_that_is_a_file_is_named(tmp_path, capsys):
    taken = tmp_path / "results.txt"
    taken.write_text("not a folder")
    with pytest.raises(ScenarioError, match=r"--out .*results\.txt.*is a file, not a folder"):
        make_run_dir(taken, "mine")
    with pytest.raises(ScenarioError, match=r"results\.txt is a file, not a folder"):
        make_run_dir(taken / "deeper", "mine")
    study = tmp_path / "study.yaml"
    study.write_text(yaml.safe_dump(scenario(write(materials(), tmp_path / "a.csv"), formula_column="formula")))
    assert cli.main(["run", str(study), "--out", str(taken), "--no-progress"]) != 0
    err = capsys.readouterr().err
    assert "results.txt is a file, not a folder" in err and "Traceback" not in err


# --------------------------------------------------------------------------- CSV hygiene


def test_missing_values_are_counted_per_column_or_dropped_and_reported(tmp_path):
    frame = materials()
    frame.loc[[3, 8, 15, 21, 40, 77], "gap"] = np.nan
    frame.loc[[8, 90], "density"] = np.nan
    path = write(frame, tmp_path / "holes.csv")
    message = data_error(path, formula_column="formula", feature_columns=["density"])
    assert "2 columns have unusable values" in message
    assert "property column 'gap' has 6 missing (NaN) values at rows 3, 8, 15, 21, 40, …" in message
    assert "feature column 'density' has 2 missing (NaN) values at rows 8, 90" in message
    assert "set dataset.missing: drop" in message

    space, report = read_csv_space(path, ["gap", "moment"], formula_column="formula", feature_columns=["density"],
                                   missing="drop")
    assert len(space) == 120 - 7 and report.rows_dropped == 7
    assert report.dropped_by_column == {"property column 'gap'": 6, "feature column 'density'": 2}
    assert 8 not in space.ids and 9 in space.ids  # ids default to the file's row numbers
    (notice,) = report.notices()
    assert "dropped 7 of 120 rows with missing values (property column 'gap': 6, feature column 'density': 2)" in notice


def test_every_bad_value_is_counted_and_the_first_few_listed(tmp_path):
    frame = materials().astype({"hardness": object})
    for row in (2, 5, 9, 11, 30, 31, 50):
        frame.loc[row, "hardness"] = "soft"
    frame.loc[60, "hardness"] = "inf"
    message = data_error(write(frame, tmp_path / "words.csv"), feature_columns=["hardness"], formula_column="formula")
    assert ("feature column 'hardness' has 7 non-numeric values at rows 2 ('soft'), 5 ('soft'), 9 ('soft'), "
            "11 ('soft'), 30 ('soft'), …, an infinite value 'inf' at row 60 (0-based data rows)") in message
    numbers = materials().assign(density=lambda f: f.density.where(f.index != 7, np.inf))
    message = data_error(write(numbers, tmp_path / "inf.csv"), feature_columns=["density"], formula_column="formula")
    assert "feature column 'density' has an infinite value inf at row 7" in message  # a plain number
    assert "np.float64" not in message


def test_formula_and_numeric_feature_columns_work_together(tmp_path):
    path = write(materials(), tmp_path / "both.csv")
    space, report = read_csv_space(path, ["gap", "moment"], formula_column="formula",
                                   feature_columns=["hardness", "density"])
    assert space.descriptor_names == ("Al", "Fe", "Co", "Ni", "Cu", "hardness", "density")
    np.testing.assert_allclose(space.descriptors[:, :5].sum(axis=1), 1.0, atol=1e-5)
    assert report.features == ("hardness", "density") and not report.automatic


def test_automatic_features_leave_out_index_like_columns_and_are_printed_and_recorded(tmp_path, capsys):
    frame = materials().drop(columns="formula")
    frame.insert(0, "id", np.arange(1000, 1120))
    frame["sample"] = np.arange(1, 121)  # a 1..N counter
    path = write(frame, tmp_path / "auto.csv", index=True)  # the index as an unnamed first column
    assert pd.read_csv(path).columns[0] == "Unnamed: 0"
    study = resolve(load_scenario(scenario(path)))
    space = build_space(study)
    assert space.descriptor_names == ("hardness", "density")
    err = capsys.readouterr().err
    assert "labnet: dataset: features chosen automatically: hardness, density" in err
    assert "'Unnamed: 0' (an unnamed column" in err and "'id' (named 'id')" in err
    assert "'sample' (the row numbers 1..120)" in err
    written = yaml.safe_load(study.to_yaml())["dataset"]
    assert written["feature_columns"] == ["hardness", "density"] and written["name"] == "auto"
    with pytest.raises(DataError, match=r"feature column 'Unnamed: 0' looks like a row index"):
        read_csv_space(path, ["gap", "moment"], feature_columns=["Unnamed: 0", "density"])


def test_a_feature_that_nearly_copies_a_property_is_refused_unless_allowed_by_name(tmp_path):
    frame = materials()
    frame["gap_ev"] = frame.gap * 1.602 + 0.01  # a rescaled copy of the property 'gap'
    path = write(frame, tmp_path / "leak.csv")
    message = data_error(path, formula_column="formula", feature_columns=["density", "gap_ev"])
    assert "'gap_ev' ~ property 'gap' (Pearson +1.000, Spearman +1.000)" in message
    assert "allow_correlated_features: [gap_ev]" in message and "'density'" not in message
    automatic = data_error(path.with_name("leak.csv"))
    assert "'gap_ev' ~ property 'gap'" in automatic  # the automatic choice is checked as well
    space = read_csv_space(path, ["gap", "moment"], formula_column="formula", feature_columns=["density", "gap_ev"],
                           allow_correlated=["gap_ev"])[0]
    assert "gap_ev" in space.descriptor_names
    assert "allow_correlated_features names 'hardness', which is not a feature column" in data_error(
        path, formula_column="formula", feature_columns=["density"], allow_correlated=["hardness"])


def test_repeated_inputs_with_different_properties_are_an_error_or_averaged(tmp_path):
    frame = materials()
    repeats = frame.iloc[[4, 7]].assign(gap=lambda f: f.gap + 1.0)
    frame = pd.concat([frame, repeats, frame.iloc[[9]]], ignore_index=True)  # rows 120, 121 differ; 122 identical
    path = write(frame, tmp_path / "repeats.csv")
    message = data_error(path, formula_column="formula")
    assert "2 inputs occur on several rows with different property values" in message
    assert f"rows 4, 120 (formula {frame.formula[4]!r}): gap " in message and "set dataset.duplicates: mean" in message

    space, report = read_csv_space(path, ["gap", "moment"], formula_column="formula", duplicates="mean")
    assert len(space) == 120 and report.repeated_inputs == 3 and report.rows_merged == 3
    np.testing.assert_allclose(space.values("gap")[4], frame.gap[4] + 0.5)  # mean of gap and gap + 1
    assert "duplicates: mean: 3 inputs occur on several rows" in report.notices()[0]


def test_scenario_fields_of_the_csv_kind_are_checked(tmp_path):
    path = write(materials(), tmp_path / "a.csv")
    with pytest.raises(ScenarioError, match=r"dataset\.missing: unexpected value 'skip'; expected one of 'error' or "
                                            r"'drop'"):
        load_scenario(scenario(path, missing="skip"))
    with pytest.raises(ScenarioError, match=r"dataset\.duplicates: unexpected value 'first'"):
        load_scenario(scenario(path, duplicates="first"))


# --------------------------------------------------------------------------- end to end, and resume


def test_a_messy_csv_runs_end_to_end_and_resumes_from_a_renamed_copy(tmp_path, monkeypatch, capsys):
    """NaNs, repeated formulas and an index column: dropped, averaged, left out; the run is
    interrupted, the file renamed and moved, and ``resume --data`` finishes it."""
    frame = materials()
    frame.loc[[5, 17], "hardness"] = np.nan
    frame = pd.concat([frame, frame.iloc[[3]].assign(moment=lambda f: f.moment - 1)], ignore_index=True)
    path = write(frame, tmp_path / "messy.csv", index=True)
    study = load_scenario(scenario(path, horizon=4, formula_column="formula", feature_columns=["hardness", "density"],
                                   missing="drop", duplicates="mean"))

    append_new = TickStream.append_new

    def interrupt_after_tick_2(self, network):
        written = append_new(self, network)
        if network.tick == 3:
            raise KeyboardInterrupt
        return written

    monkeypatch.setattr(TickStream, "append_new", interrupt_after_tick_2)
    with pytest.raises(KeyboardInterrupt):
        run_scenario(study, tmp_path / "runs", progress=False)
    monkeypatch.undo()
    err = capsys.readouterr().err
    assert "dropped 2 of 121 rows" in err and "duplicates: mean: 1 input occurs on several rows" in err
    (run_dir,) = (tmp_path / "runs").iterdir()
    assert yaml.safe_load((run_dir / "scenario.yaml").read_text())["dataset"]["name"] == "messy"

    moved = tmp_path / "elsewhere" / "renamed.csv"
    moved.parent.mkdir()
    path.rename(moved)
    result = resume_run(run_dir, progress=False, data=moved)
    steps = pd.read_parquet(result.run_dir / "steps.parquet")
    assert set(steps.lab) == {"A", "B"} and steps.tick.max() == 3
    assert len(result.summary) == 2


def test_yaml_syntax_errors_name_the_file_line_and_column(tmp_path):
    study = tmp_path / "broken.yaml"
    study.write_text("name: t\nlabs:\n  - name: A\n    property: [P0\n")
    with pytest.raises(ScenarioError) as caught:
        load_scenario(study)
    message = str(caught.value)
    assert str(study) in message and "<unicode string>" not in message
    assert "line 5, column 1: not valid YAML" in message and "that starts at line 4, column 15" in message


def test_sweep_files_locate_syntax_errors_and_values_print_as_plain_numbers(tmp_path):
    from labnet.runs.config.scenario import validate_scenario
    from labnet.runs.config.sweep_spec import load_sweep

    sweep = tmp_path / "grid.yaml"
    sweep.write_text("base: default\naxes:\n  seed: [0, 1\n")
    with pytest.raises(ScenarioError) as caught:
        load_sweep(sweep)
    assert str(sweep) in str(caught.value) and "line 4, column 1: not valid YAML" in str(caught.value)

    with pytest.raises(ScenarioError) as caught:
        validate_scenario({"name": "t", "labs": [{"name": "A", "property": "P0", "noise_std": np.float64(-np.inf)}]})
    assert str(caught.value) == "labs[0].noise_std: must be >= 0.0 (got -inf)"
