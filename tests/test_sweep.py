"""Sweeps: points from axes, errors naming the axis and field, resumption, and the same tidy
table from the serial, processes and Ray backends (real training, tiny settings)."""
from __future__ import annotations

import copy
import io
import json
import os
import shutil

import pandas as pd
import pytest
import yaml

from labnet.runs.cli import commands as cli
from labnet.runs.config.scenario import ScenarioError
from labnet.runs.execution.sweep import load_sweep, run_sweep, set_field
from labnet.runs.execution.sweep_backends import POINT_MARKER, PointTask, SweepError, run_point

BASE = {
    "dataset": {"kind": "synthetic", "n_candidates": 200, "n_descriptors": 6, "n_properties": 3,
                "correlation": 0.7, "seed": 1},
    "labs": [
        {"name": "A", "property": "P0", "period_ticks": 1, "initial_points": 5},
        {"name": "B", "property": "P1", "period_ticks": 2, "initial_points": 5},
        {"name": "C", "property": "P2", "period_ticks": 3, "initial_points": 5},
    ],
    "learner": {"n_members": 2, "epochs": 3, "patience": 3},
    "horizon_ticks": 6,
    "trials": 1,
    "baselines": ["isolated"],
}

TINY = {
    "name": "tiny",
    "base": BASE,
    "axes": {"topology": [{"kind": "complete"}, {"kind": "ring", "bidirectional": False}], "seed": [3]},
    "labels": {"topology": ["complete", "one-way ring"]},
}

VARYING = ["run_dir"]  # differs between runs by construction (time-stamped directory names)


def comparable(table: pd.DataFrame) -> pd.DataFrame:
    return table.drop(columns=VARYING).reset_index(drop=True)


@pytest.fixture(scope="module")
def serial(tmp_path_factory):
    """The tiny sweep run serially (first, so the engine's compiled kernel is cached for the workers)."""
    out = tmp_path_factory.mktemp("serial")
    return run_sweep(load_sweep(TINY), out, backend="serial", progress=False)


# --------------------------------------------------------------------------- points and tables


def test_points_are_the_cartesian_product_first_axis_slowest():
    sweep = load_sweep({**TINY, "axes": {"topology": [{"kind": "complete"}, {"kind": "ring"}],
                                         "learner.epochs": [2, 4], "labs[1].period_ticks": [3]}, "labels": {}})
    assert [p.point_id for p in sweep.points] == ["p000", "p001", "p002", "p003"]
    assert [(p.topology, p.scenario.learner.epochs) for p in sweep.points] == [
        ("complete", 2), ("complete", 4), ("ring", 2), ("ring", 4)]
    assert all(p.scenario.labs[1].period_ticks == 3 and p.scenario.learner.n_members == 2 for p in sweep.points)
    assert sweep.points[0].scenario.name == "tiny-p000"


def test_a_mapping_value_replaces_the_whole_field():
    data = {"topology": {"kind": "star", "hub": "B"}}
    set_field(data, "topology", {"kind": "ring"})
    set_field(data, "learner.epochs", 7)
    assert data == {"topology": {"kind": "ring"}, "learner": {"epochs": 7}}


def test_tidy_table_has_one_row_per_point_trial_condition_lab(serial):
    table = serial.results
    assert list(table.columns[:6]) == ["point", "seed", "topology", "n_labs", "trial", "condition"]
    assert {"lab", "property", "goal", "threshold", "n_obs_to_threshold", "reached", "n_obs_total",
            "run_dir"} <= set(table.columns)
    assert len(table) == 2 * 1 * 2 * 3  # points x trials x conditions x labs
    assert list(dict.fromkeys(table["topology"])) == ["complete", "one-way ring"]
    assert set(table["n_labs"]) == {3} and set(table["seed"]) == {3}
    assert table["n_obs_total"].gt(5).all()  # every lab measured beyond its initial points
    on_disk = pd.read_parquet(serial.results_parquet_path)
    pd.testing.assert_frame_equal(on_disk, table)
    assert len(pd.read_csv(serial.results_csv_path)) == len(table)
    points = pd.read_csv(serial.points_csv_path)
    assert list(points["status"]) == ["finished", "finished"] and points["wall_seconds"].gt(0).all()
    for run_dir in table["run_dir"].unique():
        assert (serial.sweep_dir / run_dir / "steps.parquet").is_file()


def test_the_topology_axis_changes_the_runs(serial):
    networked = serial.results[serial.results["condition"] == "networked"]
    steps = [pd.read_parquet(serial.sweep_dir / d / "transfers.parquet") for d in networked["run_dir"].unique()]
    assert len(steps[0]) > len(steps[1]) > 0  # complete graph: 2 in-neighbours per lab; one-way ring: 1


# --------------------------------------------------------------------------- backends agree


def test_processes_backend_gives_the_serial_table(serial, tmp_path):
    result = run_sweep(load_sweep(TINY), tmp_path, backend="processes", workers=2, progress=False)
    pd.testing.assert_frame_equal(comparable(result.results), comparable(serial.results))


def _ray():
    try:
        import ray
    except ImportError:
        if os.environ.get("CI"):
            pytest.fail("ray is not importable, but CI installs the 'ray' extra (.ci/run): the Ray backend must be tested")
        pytest.skip("ray is not installed (pip install -e '.[ray]')")
    return ray


def test_ray_backend_on_a_local_cluster_gives_the_serial_table(serial, tmp_path):
    ray = _ray()
    assert not ray.is_initialized()
    progress = io.StringIO()
    result = run_sweep(load_sweep(TINY), tmp_path, backend="ray", workers=2, stream=progress)  # ray.init(num_cpus=2)
    assert not ray.is_initialized()  # the sweep shut down the local cluster it started
    assert not result.failed, result.failed
    pd.testing.assert_frame_equal(comparable(result.results), comparable(serial.results))
    assert "[2/2]" in progress.getvalue()


# --------------------------------------------------------------------------- resumption


def test_rerunning_skips_finished_points_and_redoes_unfinished_ones(serial, tmp_path):
    shutil.copytree(serial.sweep_dir, tmp_path / "tiny")
    (tmp_path / "tiny" / "p001" / POINT_MARKER).unlink()  # as if p001 had been interrupted
    progress = io.StringIO()
    again = run_sweep(load_sweep(TINY), tmp_path, backend="serial", stream=progress)
    text = progress.getvalue()
    assert "skipping 1 point(s) finished by an earlier run: p000" in text
    assert "p001: discarding an unfinished earlier attempt" in text and "[1/1] p001" in text
    assert again.skipped == ["p000"]
    pd.testing.assert_frame_equal(comparable(again.results), comparable(serial.results))
    assert list(pd.read_csv(again.points_csv_path)["resumed"]) == [True, False]

    quiet = io.StringIO()
    third = run_sweep(load_sweep(TINY), tmp_path, backend="serial", stream=quiet)
    assert third.skipped == ["p000", "p001"] and "on backend" not in quiet.getvalue()


def test_a_sweep_directory_of_another_sweep_is_refused(serial, tmp_path):
    shutil.copytree(serial.sweep_dir, tmp_path / "tiny")
    changed = copy.deepcopy(TINY)
    changed["base"]["learner"]["epochs"] = 4
    with pytest.raises(SweepError, match=r"p000 ran a different scenario \(differs in learner.epochs\)"):
        run_sweep(load_sweep(changed), tmp_path, backend="serial", progress=False)


def test_points_recorded_before_a_field_was_added_still_resume(serial, tmp_path):
    """A point finished by an older labnet lacks fields added since; at their defaults it is the same point."""
    shutil.copytree(serial.sweep_dir, tmp_path / "tiny")
    marker_path = tmp_path / "tiny" / "p000" / POINT_MARKER
    marker = json.loads(marker_path.read_text())
    assert "sim_bias" in marker["scenario"]["dataset"]
    del marker["scenario"]["dataset"]["sim_bias"]  # as written before sim_bias existed
    marker_path.write_text(json.dumps(marker))
    again = run_sweep(load_sweep(TINY), tmp_path, backend="serial", progress=False)
    assert again.skipped == ["p000", "p001"]


def test_a_point_that_fails_is_reported_and_not_marked_finished(tmp_path):
    outcome = run_point(PointTask("p007", {"name": "broken", "labs": []}, str(tmp_path / "p007")))
    assert outcome.status == "failed" and "labs" in outcome.error and outcome.run_dir is None
    assert not (tmp_path / "p007" / POINT_MARKER).exists()


# --------------------------------------------------------------------------- bad sweep files


def _with(**changes):
    sweep = copy.deepcopy(TINY)
    sweep.update(changes)
    return sweep


@pytest.mark.parametrize(
    "sweep, expected",
    [
        (_with(axes={"topology": [{"kind": "ring"}, {"kind": "moebius"}]}, labels={}),
         ["axes.topology = {kind: moebius}: topology.kind: unknown kind 'moebius'"]),
        (_with(axes={"learner.epochs": [3, 0]}, labels={}), ["axes.learner.epochs = 0: learner.epochs = 0"]),
        (_with(axes={"labs[0].property": ["P0", "P7"]}, labels={}),
         ["axes.labs[0].property = P7: labs[0].property 'P7' not in dataset"]),
        (_with(axes={"labs.count": [10, 30]}, labels={}), ["axes.labs.count: cannot set 'labs.count'", "labs is a list"]),
        (_with(axes={"seed": [0, 0]}, labels={}), ["axes.seed: duplicate value 0"]),
        (_with(axes={"seed": []}, labels={}), ["axes.seed: needs at least one value"]),
        (_with(axes={"name": ["x"]}, labels={}), ["axes.name: the sweep names its points"]),
        (_with(labels={"topology": ["only one"]}), ["labels.topology: needs one label per value: 2 (got 1)"]),
        (_with(labels={"colour": ["a"]}), ["labels.colour: no axis 'colour'"]),
        (_with(base="no_such_scenario"), ["base: 'no_such_scenario' is neither a scenario file"]),
        (_with(base={**BASE, "horizon_ticks": 0}), ["base: horizon_ticks: must be > 0"]),
        (_with(backend="gpu"), ["backend: input should be 'serial', 'processes' or 'ray'"]),
        (_with(colour="blue"), ["colour: unknown key; allowed keys: name, base, axes"]),
    ],
)
def test_bad_sweeps_name_the_axis_value_and_field(sweep, expected):
    with pytest.raises(ScenarioError) as caught:
        load_sweep(sweep)
    for text in expected:
        assert text in str(caught.value)


def test_cli_runs_a_sweep_file_and_reports_bad_ones(serial, tmp_path, capsys):
    good = tmp_path / "tiny.yaml"
    good.write_text(yaml.safe_dump(TINY))
    shutil.copytree(serial.sweep_dir, tmp_path / "out" / "tiny")  # finished: the CLI only tabulates
    assert cli.main(["sweep", str(good), "--out", str(tmp_path / "out"), "--backend", "processes"]) == 0
    captured = capsys.readouterr()
    assert "skipping 2 point(s)" in captured.err and "sweep_results.parquet" in captured.out
    assert "one-way ring" in captured.out and "networked" in captured.out

    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(_with(axes={"learner.epochs": [0]}, labels={})))
    assert cli.main(["sweep", str(bad), "--out", str(tmp_path)]) == cli.EXIT_USAGE
    assert "axes.learner.epochs = 0" in capsys.readouterr().err
    assert cli.main(["sweep", str(good), "--out", str(tmp_path), "--ray-address", "auto"]) == cli.EXIT_USAGE
    assert "only used with the ray backend" in capsys.readouterr().err


@pytest.mark.parametrize("name", ["topology_comparison.yaml", "size_scaling.yaml"])
def test_the_example_sweeps_load_with_every_point_a_valid_scenario(name):
    """The shipped examples stay in step with the scenario schema (running them is a study, not a test)."""
    from pathlib import Path

    sweep = load_sweep(Path(__file__).resolve().parents[1] / "examples" / "sweeps" / name)
    assert len(sweep.points) == {"topology_comparison.yaml": 18, "size_scaling.yaml": 9}[name]
    assert all(point.scenario.labs for point in sweep.points)
