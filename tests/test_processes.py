"""Worker processes never outlive a killed ``labnet run``; SIGTERM stops a run like Ctrl-C.

Every test starts a real ``python -m labnet.runs run`` process, waits until it is training
(each (trial, condition) has written a checkpoint), sends it a real signal and watches the
processes it had started (psutil).
"""
from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import psutil
import pytest
import yaml

from test_resume import SCENARIO, assert_same_outputs

from labnet.runs.config.scenario import load_scenario
from labnet.runs.execution.run_state import RUN_STATE_FILE
from labnet.runs.execution.runner import CHECKPOINT_DIR, resume_run, run_scenario

REPO_ROOT = Path(__file__).resolve().parents[1]
CHILDREN_GONE_WITHIN = 5.0
"""s after the signal by which no process started by the run may remain."""

# SCENARIO (networked and isolated) with 4 trials: 8 runs that train, so 2 workers are used
# (MIN_TRAINING_RUNS_PER_PROCESS), each long enough to be killed mid-run
LONG = {**SCENARIO, "name": "long", "trials": 4, "horizon_ticks": 24}


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The uninterrupted run of LONG (in this process)."""
    return run_scenario(load_scenario(LONG), tmp_path_factory.mktemp("reference"), progress=False)


def start_run(tmp_path: Path, workers: int, new_session: bool = False) -> tuple[subprocess.Popen, Path, Path]:
    """Start ``labnet run LONG --workers N``; returns (process, parent of the run directory, stderr file)."""
    scenario_file = tmp_path / "long.yaml"
    scenario_file.write_text(yaml.safe_dump(LONG))
    out, stderr_path = tmp_path / "runs", tmp_path / "stderr.txt"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO_ROOT), os.environ.get("PYTHONPATH", "")])}
    with stderr_path.open("w") as stderr:  # a file, not a pipe: an orphaned worker would hold a pipe open
        process = subprocess.Popen(
            [sys.executable, "-m", "labnet.runs", "run", str(scenario_file), "--workers", str(workers),
             "--out", str(out), "--no-progress"],
            cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=stderr, start_new_session=new_session,
        )
    return process, out, stderr_path


def wait_until_training(process: subprocess.Popen, out: Path, stderr: Path, timeout: float = 180) -> Path:
    """The run directory, once two (trial, condition) runs are checkpointed at once (two workers
    are training)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, f"the run ended before it was killed:\n{stderr.read_text()}"
        for run_dir in out.glob("long-*"):
            if len(list((run_dir / CHECKPOINT_DIR).glob("*.pkl"))) >= 2:
                return run_dir
        time.sleep(0.01)
    raise AssertionError(f"no two runs checkpointed at once within {timeout} s:\n{stderr.read_text()}")


def workers_of(process: subprocess.Popen) -> list[psutil.Process]:
    """The run's spawned worker processes (not its multiprocessing resource tracker)."""
    return [child for child in psutil.Process(process.pid).children(recursive=True)
            if "spawn_main" in " ".join(child.cmdline())]


def alive_after(processes: list[psutil.Process], timeout: float) -> list[psutil.Process]:
    """Those of ``processes`` still running (zombies count as gone) after waiting up to ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while True:
        alive = []
        for proc in processes:
            try:
                if proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE:
                    alive.append(proc)
            except psutil.NoSuchProcess:
                pass
        if not alive or time.monotonic() > deadline:
            return alive
        time.sleep(0.05)


def kill_all(processes: list[psutil.Process]) -> None:
    for proc in processes:
        try:
            proc.kill()
        except psutil.NoSuchProcess:
            pass


def snapshot(run_dir: Path) -> dict[str, int]:
    return {str(p.relative_to(run_dir)): p.stat().st_mtime_ns for p in run_dir.rglob("*") if p.is_file()}


def test_workers_die_within_seconds_of_a_sigkilled_parent(tmp_path):
    process, out, stderr = start_run(tmp_path, workers=2)
    children = []
    try:
        run_dir = wait_until_training(process, out, stderr)
        workers = workers_of(process)
        children = psutil.Process(process.pid).children(recursive=True)
        assert len(workers) == 2, [w.cmdline() for w in workers]
        process.send_signal(signal.SIGKILL)
        process.wait(10)
        alive = alive_after(children, CHILDREN_GONE_WITHIN)
        assert not alive, f"still running {CHILDREN_GONE_WITHIN} s after the parent's SIGKILL: {alive}"
    finally:
        kill_all(children)
        if process.poll() is None:
            process.kill()
    # nobody writes into the run directory any more
    before = snapshot(run_dir)
    time.sleep(0.5)
    assert snapshot(run_dir) == before
    assert json.loads((run_dir / RUN_STATE_FILE).read_text())["status"] == "running"


def test_sigterm_stops_a_run_with_workers_cleanly_and_it_resumes_exactly(reference, tmp_path):
    process, out, stderr = start_run(tmp_path, workers=2)
    children = []
    try:
        run_dir = wait_until_training(process, out, stderr)
        assert len(workers_of(process)) == 2
        children = psutil.Process(process.pid).children(recursive=True)
        process.send_signal(signal.SIGTERM)
        assert process.wait(CHILDREN_GONE_WITHIN + 5) == 128 + signal.SIGTERM
        assert not alive_after(children, CHILDREN_GONE_WITHIN)
    finally:
        kill_all(children)
        if process.poll() is None:
            process.kill()
    err = stderr.read_text()
    assert "labnet: stopped by SIGTERM" in err
    assert f"labnet: to continue this run: labnet resume {run_dir}" in err
    assert re.search(r"keeps [0-7] of 8 \(trial, condition\) runs finished and [12] in progress up to (its|their) last checkpoint", err), err
    assert "Traceback" not in err and "leaked" not in err, err
    # what was computed is kept: each condition resumes from its checkpoint, to the uninterrupted result
    assert json.loads((run_dir / RUN_STATE_FILE).read_text())["status"] == "running"
    assert len(list((run_dir / CHECKPOINT_DIR).glob("*.pkl"))) >= 1
    result = resume_run(run_dir, progress=False, workers=2)  # finished by worker processes too
    pd.testing.assert_frame_equal(result.summary, reference.summary)
    assert_same_outputs(run_dir, reference.run_dir)


def test_ctrl_c_in_a_terminal_stops_the_workers_without_tracebacks(tmp_path):
    """Ctrl-C reaches the whole foreground process group: the parent and its workers."""
    process, out, stderr = start_run(tmp_path, workers=2, new_session=True)
    children = []
    try:
        wait_until_training(process, out, stderr)
        children = psutil.Process(process.pid).children(recursive=True)
        assert len(workers_of(process)) == 2
        os.killpg(process.pid, signal.SIGINT)
        assert process.wait(CHILDREN_GONE_WITHIN + 5) == 128 + signal.SIGINT
        assert not alive_after(children, CHILDREN_GONE_WITHIN)
    finally:
        kill_all(children)
        if process.poll() is None:
            process.kill()
    err = stderr.read_text()
    assert "labnet: stopped by SIGINT (Ctrl-C)" in err and "labnet resume" in err
    assert "Traceback" not in err and "KeyboardInterrupt" not in err and "leaked" not in err, err


def test_sigterm_of_a_serial_run_says_how_to_resume_and_leaks_nothing(tmp_path):
    process, out, stderr = start_run(tmp_path, workers=1)
    try:
        deadline = time.monotonic() + 120
        while not list(out.glob(f"long-*/{CHECKPOINT_DIR}/trial-0_networked.pkl")):
            assert process.poll() is None and time.monotonic() < deadline, stderr.read_text()
            time.sleep(0.02)
        process.send_signal(signal.SIGTERM)
        assert process.wait(10) == 128 + signal.SIGTERM
    finally:
        if process.poll() is None:
            process.kill()
    (run_dir,) = out.glob("long-*")
    time.sleep(0.5)  # a resource tracker would print its leak warning as it exits
    err = stderr.read_text()
    assert "labnet: stopped by SIGTERM" in err
    assert f"labnet: to continue this run: labnet resume {run_dir}" in err
    assert "Traceback" not in err and "leaked" not in err, err


POOL_SCRIPT = """
import sys, time
from labnet.runs.execution.processes import submit_all, worker_pool
if __name__ == "__main__":
    with worker_pool(2) as pool:
        futures = submit_all(pool, time.sleep, [(120,), (120,)])
        print("submitted", flush=True)
        futures[0].result()
"""


@pytest.mark.parametrize("parent_signal", [signal.SIGKILL, signal.SIGTERM], ids=lambda s: s.name)
def test_a_worker_pool_never_outlives_its_parent(tmp_path, parent_signal):
    """The pool of the runner and of the sweep's processes backend, with idle-looking busy workers
    (sleeping in a task): the parent dies of a signal no Python code sees (SIGKILL) or of one with
    no handler (SIGTERM outside the labnet command)."""
    script = tmp_path / "pool.py"
    script.write_text(POOL_SCRIPT)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO_ROOT), os.environ.get("PYTHONPATH", "")])}
    process = subprocess.Popen([sys.executable, str(script)], env=env, stdout=subprocess.PIPE, text=True)
    children = []
    try:
        assert process.stdout.readline().strip() == "submitted"
        deadline = time.monotonic() + 60
        while len(workers_of(process)) < 2 or any(w.cpu_percent(0.05) > 0 for w in workers_of(process)):
            assert time.monotonic() < deadline, "the workers did not start and settle within 60 s"
        children = psutil.Process(process.pid).children(recursive=True)
        process.send_signal(parent_signal)
        process.wait(10)
        alive = alive_after(children, CHILDREN_GONE_WITHIN)
        assert not alive, f"still running {CHILDREN_GONE_WITHIN} s after the parent's {parent_signal.name}: {alive}"
    finally:
        kill_all(children)
        if process.poll() is None:
            process.kill()
        process.stdout.close()


@pytest.mark.parametrize("trials, baselines, workers, expected", [
    (4, ["isolated"], 2, 2),              # 8 runs that train: 2 processes
    (1, ["isolated"], 2, 1),              # 2: serially, with every core's threads
    (4, ["random"], 2, 1),                # 4 that train (random search does not): serially
    (10, ["isolated", "random"], 64, 5),  # 20 that train: 5 processes of 4
])
def test_processes_are_chosen_from_the_work(trials, baselines, workers, expected, monkeypatch):
    from labnet.runs.execution import runner
    from labnet.runs.execution.run_state import ConditionRun

    monkeypatch.setattr(runner, "usable_cores", lambda: 64)
    setup = runner._Setup.of(load_scenario({**SCENARIO, "trials": trials, "baselines": baselines}))
    todo = [ConditionRun(t, c.name) for t in range(trials) for c in setup.conditions]
    assert runner._processes_for(setup, todo, workers) == expected
    monkeypatch.setattr(runner, "usable_cores", lambda: 2)  # never more processes than cores
    assert runner._processes_for(setup, todo, 64) == min(2, expected)


def test_worker_processes_take_the_longest_runs_first():
    from labnet.runs.execution import runner
    from labnet.runs.execution.run_state import ConditionRun

    setup = runner._Setup.of(load_scenario({**SCENARIO, "trials": 2, "baselines": ["isolated", "random"]}))
    by_name = {c.name: c for c in setup.conditions}
    horizon = setup.scenario.horizon_ticks
    weight = {name: runner.training_weight(condition, horizon) for name, condition in by_name.items()}
    # isolated: 1 + in-degree from-scratch ensembles per action; networked: 1 from scratch plus
    # cheaper transferred ones; random search trains nothing
    assert weight["isolated"] > weight["networked"] > weight["random"] == 0
    todo = [ConditionRun(t, c.name) for t in range(2) for c in setup.conditions]
    order = runner.longest_first(setup, todo)
    assert [run.condition for run in order] == ["isolated"] * 2 + ["networked"] * 2 + ["random"] * 2
    assert [run.trial for run in order] == [0, 1] * 3  # ties keep their order
