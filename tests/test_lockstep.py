"""Lockstep runs: every (trial, condition) network stepped together, one engine call per round,
and a run directory identical to a serial run's; an interrupted lockstep run resumes to it."""
from __future__ import annotations

import json
import pickle

import pandas as pd
import pytest

from labnet.models.engine import train_jobs
from labnet.runs.cli import commands as cli
from labnet.runs.config.scenario import load_scenario
from labnet.runs.execution import lockstep
from labnet.runs.execution.runner import CHECKPOINT_DIR, resume_run, run_scenario
from labnet.runs.execution.tick_stream import STREAM_DIR, TickStream
from scenarios import three_labs

SCENARIO = three_labs("lockstep", learner={"hidden_layers": [16, 16, 4], "engine": "numba"}, horizon_ticks=6,
                      trials=2, baselines=["isolated", "random"])
FILES = ("steps.parquet", "transfers.parquet", "observations_to_threshold.csv", "summary.csv", "summary.md",
         "labs.csv", "scenario.yaml")


@pytest.fixture(scope="module")
def serial(tmp_path_factory):
    return run_scenario(load_scenario(SCENARIO), tmp_path_factory.mktemp("serial"), progress=False)


def assert_same_directory(run_dir, reference_dir) -> None:
    for name in FILES:
        if name.endswith(".parquet"):
            pd.testing.assert_frame_equal(pd.read_parquet(run_dir / name), pd.read_parquet(reference_dir / name))
        else:
            assert (run_dir / name).read_text() == (reference_dir / name).read_text(), name
    streams = sorted(p.name for p in (reference_dir / STREAM_DIR).iterdir())
    assert sorted(p.name for p in (run_dir / STREAM_DIR).iterdir()) == streams and len(streams) == 12
    for name in streams:
        assert (run_dir / STREAM_DIR / name).read_bytes() == (reference_dir / STREAM_DIR / name).read_bytes(), name
    state, expected = ({k: v for k, v in json.loads((d / "run_state.json").read_text()).items() if k != "updated"}
                       for d in (run_dir, reference_dir))  # all but the time it was written
    assert state == expected and state["status"] == "finished"
    assert not (run_dir / CHECKPOINT_DIR).exists()


def test_a_lockstep_run_writes_the_serial_run_directory_in_merged_engine_calls(serial, tmp_path, monkeypatch):
    batches = []
    train = lockstep.Coordinator._train
    monkeypatch.setattr(lockstep.Coordinator, "_train", lambda self, batch: batches.append(len(batch)) or train(self, batch))
    result = run_scenario(load_scenario(SCENARIO), tmp_path, progress=False, lockstep=True)
    assert_same_directory(result.run_dir, serial.run_dir)
    # 4 training networks (2 trials x networked, isolated); random search never trains
    assert max(batches) == 4 and sum(batches) > 2 * len(batches)


def test_an_interrupted_lockstep_run_resumes_to_the_serial_result(serial, tmp_path, monkeypatch):
    append_new = TickStream.append_new

    def interrupt(self, network):
        written = append_new(self, network)
        if "trial-1_isolated." in self.steps_path.name and network.tick == 3:
            raise KeyboardInterrupt
        return written

    monkeypatch.setattr(TickStream, "append_new", interrupt)
    with pytest.raises(KeyboardInterrupt):
        run_scenario(load_scenario(SCENARIO), tmp_path, progress=False, lockstep=True)
    monkeypatch.undo()
    (run_dir,) = tmp_path.iterdir()
    state = json.loads((run_dir / "run_state.json").read_text())
    assert state["status"] == "running" and any(r["status"] != "done" for r in state["runs"])
    assert any((run_dir / CHECKPOINT_DIR).iterdir())
    resume_run(run_dir, progress=False, lockstep=True)
    assert_same_directory(run_dir, serial.run_dir)


def test_a_batching_trainer_pickles_as_the_engine_it_wraps():
    wrapped = lockstep.Coordinator(n_live=1).wrap(train_jobs)
    assert pickle.loads(pickle.dumps(wrapped)) is train_jobs


def test_lockstep_on_the_command_line(tmp_path, capsys):
    import yaml

    scenario_file = tmp_path / "lockstep.yaml"
    scenario_file.write_text(yaml.safe_dump({**SCENARIO, "trials": 1, "horizon_ticks": 2}))
    assert cli.main(["run", str(scenario_file), "--out", str(tmp_path / "runs"), "--no-progress", "--lockstep"]) == 0
    assert cli.main(["run", str(scenario_file), "--lockstep", "--workers", "2"]) == 2
    assert "--lockstep steps every network in one process" in capsys.readouterr().err


def test_an_authors_code_run_in_lockstep_matches_its_serial_run(tmp_path):
    # authors_code steps each network's labs one after another (event order), so one network makes
    # several engine calls per tick and the rounds of the lockstep coordinator no longer line up
    # with ticks; the tables must not notice
    scenario = three_labs("lockstep_authors", learner={"hidden_layers": [16, 16, 4], "engine": "numba",
                                                       "protocol": "authors_code"},
                          horizon_ticks=6, trials=2, baselines=["isolated", "random"])
    serial_run = run_scenario(load_scenario(scenario), tmp_path / "serial", progress=False)
    merged = run_scenario(load_scenario(scenario), tmp_path / "lockstep", progress=False, lockstep=True)
    assert_same_directory(merged.run_dir, serial_run.run_dir)
