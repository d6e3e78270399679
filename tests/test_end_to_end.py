"""End to end: a small scenario through the runner and the CLI, with real training."""
from __future__ import annotations

import pandas as pd
import pytest
import yaml

from labnet.runs.cli import commands as cli
from labnet.runs.execution.runner import run_scenario
from labnet.runs.config.scenario import load_scenario
from scenarios import three_labs

SMALL = three_labs("e2e", periods=(1, 2, 3), learner={"n_members": 4, "epochs": 5, "patience": 5}, horizon_ticks=6,
                   trials=2, baselines=["isolated", "random"])


@pytest.fixture(scope="module")
def result(tmp_path_factory):
    return run_scenario(load_scenario(SMALL), tmp_path_factory.mktemp("runs"), progress=False)


def test_every_output_exists(result):
    for path in (result.scenario_path, result.steps_path, result.transfers_path, result.observations_path,
                 result.summary_csv_path, result.summary_md_path, result.plot_path):
        assert path.exists() and path.stat().st_size > 0, path


def test_transfers_are_built_and_some_are_selected(result):
    transfers = pd.read_parquet(result.transfers_path)
    networked = transfers[transfers.condition == "networked"]
    assert len(networked) > 0
    assert networked.selected.any()
    assert set(transfers.condition) == {"networked"}  # isolated and random labs never transfer


def test_steps_cover_every_trial_condition_and_lab(result):
    steps = pd.read_parquet(result.steps_path)
    assert set(steps.condition) == {"networked", "isolated", "random"}
    assert set(steps.trial) == {0, 1}
    counts = steps[steps.phase == "acquisition"].groupby(["trial", "condition", "lab"]).size()
    assert counts.xs("A", level="lab").eq(6).all() and counts.xs("C", level="lab").eq(2).all()


def test_summary_has_a_row_per_lab_and_condition(result):
    summary = pd.read_csv(result.summary_csv_path)
    assert len(summary) == 3 * 3
    resolved = yaml.safe_load(result.scenario_path.read_text())
    assert resolved["learner"]["epochs"] == 5 and resolved["horizon_ticks"] == 6


def test_cli_runs_a_scenario_file_and_prints_the_summary(tmp_path, capsys):
    scenario = tmp_path / "small.yaml"
    scenario.write_text(yaml.safe_dump({**SMALL, "baselines": []}))
    status = cli.main(["run", str(scenario), "--trials", "1", "--ticks", "2", "--out", str(tmp_path), "--no-progress"])
    out = capsys.readouterr().out
    assert status == 0
    assert "networked" in out and "run directory" in out


@pytest.mark.parametrize(
    "change, message",
    [
        ({"topology": {"kind": "moebius"}}, "topology"),
        ({"labs": [{"name": "A", "property": "P9", "initial_points": 6}]}, "P9"),
        ({"labs": [{"name": "A", "property": "P0", "period_ticks": 0}]}, "period_ticks"),
        ({"labs": [{"name": "A", "property": "P0", "initial_points": 2}]}, "initial_points"),
        ({"colour": "blue"}, "colour"),
    ],
)
def test_cli_rejects_bad_scenarios_with_a_message_naming_the_field(tmp_path, capsys, change, message):
    scenario = tmp_path / "bad.yaml"
    scenario.write_text(yaml.safe_dump({**SMALL, **change}))
    status = cli.main(["run", str(scenario), "--out", str(tmp_path), "--no-progress"])
    err = capsys.readouterr().err
    assert status == 2
    assert err.startswith("labnet: error:") and message in err and "Traceback" not in err


def test_cli_rejects_a_missing_data_path(tmp_path, capsys):
    status = cli.main(["run", "paper_b2", "--data", str(tmp_path / "nope.csv"), "--out", str(tmp_path)])
    err = capsys.readouterr().err
    assert status == 2 and "nope.csv" in err


def test_worker_processes_give_the_serial_run_directory(result, tmp_path):
    parallel = run_scenario(load_scenario(SMALL), tmp_path, progress=False, workers=2)
    for name in ("steps_path", "transfers_path"):
        pd.testing.assert_frame_equal(pd.read_parquet(getattr(parallel, name)), pd.read_parquet(getattr(result, name)))
    for name in ("observations_path", "summary_csv_path"):
        assert getattr(parallel, name).read_text() == getattr(result, name).read_text()


@pytest.mark.parametrize("workers", [0, -1, 1.5, True])
def test_bad_worker_counts_are_rejected(tmp_path, workers):
    with pytest.raises(ValueError, match="workers"):
        run_scenario(load_scenario(SMALL), tmp_path, progress=False, workers=workers)
