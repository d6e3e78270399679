"""Durable runs: kill a real ``labnet run`` process, resume it, get exactly the uninterrupted result."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml

from labnet.runs.cli import commands as cli
from labnet.runs.execution.run_state import RUN_STATE_FILE, RunDirError, run_lock
from labnet.runs.execution.runner import CHECKPOINT_DIR, resume_run, run_scenario
from labnet.runs.config.scenario import load_scenario
from labnet.runs.execution.tick_stream import STREAM_DIR, TickStream, read_records, stream_paths
from scenarios import three_labs

REPO_ROOT = Path(__file__).resolve().parents[1]

SCENARIO = three_labs("durable")  # one trial, networked then isolated, 8 ticks per condition
TABLES = ("steps.parquet", "transfers.parquet")
TEXT_OUTPUTS = ("observations_to_threshold.csv", "summary.csv", "summary.md")


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The uninterrupted run."""
    return run_scenario(load_scenario(SCENARIO), tmp_path_factory.mktemp("reference"), progress=False)


def run_state(run_dir: Path) -> dict:
    return json.loads((run_dir / RUN_STATE_FILE).read_text())


def assert_same_outputs(run_dir: Path, reference_dir: Path) -> None:
    for name in TABLES:
        pd.testing.assert_frame_equal(pd.read_parquet(run_dir / name), pd.read_parquet(reference_dir / name))
    for name in TEXT_OUTPUTS:
        assert (run_dir / name).read_text() == (reference_dir / name).read_text(), name
    for stream in sorted((reference_dir / STREAM_DIR).iterdir()):
        assert (run_dir / STREAM_DIR / stream.name).read_bytes() == stream.read_bytes(), stream.name
    assert (run_dir / "best_so_far.png").stat().st_size > 0
    assert run_state(run_dir)["status"] == "finished"
    assert not (run_dir / CHECKPOINT_DIR).exists()


def wait_for_checkpointed_isolated_ticks(process: subprocess.Popen, out: Path, ticks: int, timeout: float) -> Path:
    """Poll ``out`` until the networked condition is done and the isolated one has ``ticks`` ticks checkpointed."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, f"the run ended before it could be killed:\n{process.stderr.read()}"
        for state_file in out.glob(f"*/{RUN_STATE_FILE}"):
            try:
                runs = {r["condition"]: r for r in json.loads(state_file.read_text())["runs"]}
            except (json.JSONDecodeError, OSError):
                continue
            if runs["networked"]["status"] == "done" and runs["isolated"]["last_tick"] >= ticks - 1:
                return state_file.parent
        time.sleep(0.02)
    raise AssertionError(f"no checkpointed isolated tick within {timeout} s")


def test_a_killed_run_resumes_to_the_uninterrupted_result(reference, tmp_path, capsys):
    scenario_file = tmp_path / "durable.yaml"
    scenario_file.write_text(yaml.safe_dump(SCENARIO))
    out = tmp_path / "runs"
    process = subprocess.Popen(
        [sys.executable, "-m", "runs", "run", str(scenario_file), "--out", str(out), "--no-progress"],
        cwd=REPO_ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )
    try:
        run_dir = wait_for_checkpointed_isolated_ticks(process, out, ticks=3, timeout=240)
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()

    state = {r["condition"]: r for r in run_state(run_dir)["runs"]}
    assert state["networked"]["status"] == "done" and state["isolated"]["status"] == "in_progress"
    assert run_state(run_dir)["status"] == "running"
    # the finished condition is in the tables; the one in progress is streamed and checkpointed
    steps = pd.read_parquet(run_dir / "steps.parquet")
    assert set(steps.condition) == {"networked"} and steps.tick.max() == SCENARIO["horizon_ticks"] - 1
    isolated_rows = read_records(stream_paths(run_dir, 0, "isolated")[0], complete=False)
    assert max(row["tick"] for row in isolated_rows) >= 2
    assert (run_dir / CHECKPOINT_DIR / "trial-0_isolated.pkl").is_file()

    assert cli.main(["resume", str(run_dir), "--no-progress"]) == 0
    assert "networked" in capsys.readouterr().out
    assert_same_outputs(run_dir, reference.run_dir)


def interrupted_run(tmp_path: Path, monkeypatch, condition: str, checkpoint_every: int) -> Path:
    """Run SCENARIO in this process, stopped by Ctrl-C once tick 4 of ``condition`` is streamed."""
    append_new = TickStream.append_new

    def interrupt_after_tick_4(self, network):
        written = append_new(self, network)
        if f"_{condition}." in self.steps_path.name and network.tick == 5:
            raise KeyboardInterrupt
        return written

    monkeypatch.setattr(TickStream, "append_new", interrupt_after_tick_4)
    with pytest.raises(KeyboardInterrupt):
        run_scenario(load_scenario(SCENARIO), tmp_path, progress=False, checkpoint_every=checkpoint_every)
    monkeypatch.undo()
    (run_dir,) = tmp_path.iterdir()
    return run_dir


def test_an_interrupted_in_process_run_with_sparse_checkpoints_resumes_exactly(reference, tmp_path, monkeypatch):
    """checkpoint_every=3: the stream runs ahead of the checkpoint when interrupted; resume rewinds it."""
    run_dir = interrupted_run(tmp_path, monkeypatch, "isolated", checkpoint_every=3)
    state = {r["condition"]: r for r in run_state(run_dir)["runs"]}
    assert state["isolated"] == {"trial": 0, "condition": "isolated", "status": "in_progress", "last_tick": 2}
    assert max(r["tick"] for r in read_records(stream_paths(run_dir, 0, "isolated")[0])) == 4  # ahead of tick 2

    result = resume_run(run_dir, progress=False)
    assert not result.already_finished
    pd.testing.assert_frame_equal(result.summary, reference.summary)
    pd.testing.assert_frame_equal(result.observations, reference.observations)
    assert_same_outputs(run_dir, reference.run_dir)


def test_worker_processes_resume_an_interrupted_run_exactly(reference, tmp_path, monkeypatch):
    """Interrupted mid-condition in this process, finished by 2 worker processes from the checkpoint."""
    run_dir = interrupted_run(tmp_path, monkeypatch, "networked", checkpoint_every=2)
    assert [r["status"] for r in run_state(run_dir)["runs"]][:2] == ["in_progress", "pending"]

    result = resume_run(run_dir, progress=False, workers=2)
    assert run_state(run_dir)["status"] == "finished"
    pd.testing.assert_frame_equal(result.summary, reference.summary)
    assert_same_outputs(run_dir, reference.run_dir)


def test_resuming_a_finished_run_says_so_and_changes_nothing(reference, capsys):
    before = {p.name: p.stat().st_mtime_ns for p in reference.run_dir.iterdir() if p.is_file()}
    assert cli.main(["resume", str(reference.run_dir), "--no-progress"]) == 0
    assert "already finished" in capsys.readouterr().out
    after = {p.name: p.stat().st_mtime_ns for p in reference.run_dir.iterdir() if p.is_file()}
    assert after == before
    result = resume_run(reference.run_dir, progress=False)
    assert result.already_finished
    pd.testing.assert_frame_equal(result.summary, reference.summary)


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda d: d / "missing", "run directory not found"),
        (lambda d: d, "not a resumable labnet run directory"),
        (lambda d: (d / RUN_STATE_FILE).write_text("{not json") and d, "damaged run state"),
        (lambda d: (d / RUN_STATE_FILE).write_text('{"format": 99}') and d, "format 99"),
    ],
)
def test_resume_rejects_what_is_not_a_resumable_run_directory(tmp_path, capsys, make, message):
    run_dir = make(tmp_path)
    assert cli.main(["resume", str(run_dir), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("labnet: error:") and message in err and "Traceback" not in err
    with pytest.raises(RunDirError, match=message):
        resume_run(run_dir, progress=False)


def test_resume_refuses_a_run_directory_whose_state_does_not_match_its_scenario(reference, tmp_path):
    copy = tmp_path / "copy"
    copy.mkdir()
    for name in ("scenario.yaml", RUN_STATE_FILE):
        (copy / name).write_bytes((reference.run_dir / name).read_bytes())
    state = run_state(copy)
    state["status"], state["runs"] = "running", state["runs"][:1]
    (copy / RUN_STATE_FILE).write_text(json.dumps(state))
    with pytest.raises(RunDirError, match="does not match"):
        resume_run(copy, progress=False)


def test_run_rejects_a_bad_checkpoint_interval(tmp_path):
    with pytest.raises(ValueError, match="checkpoint_every"):
        run_scenario(load_scenario(SCENARIO), tmp_path, progress=False, checkpoint_every=0)
    assert not any(tmp_path.iterdir())


def test_a_run_directory_in_use_cannot_be_written_by_a_second_process(tmp_path):
    with run_lock(tmp_path):
        with pytest.raises(RunDirError, match=f"in use by another labnet process \\(pid {os.getpid()}\\)"):
            with run_lock(tmp_path):
                pass
    with run_lock(tmp_path):  # released when the holder is done
        pass
