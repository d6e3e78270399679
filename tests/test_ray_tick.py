"""One network's tick on a local Ray instance: the same tables as in this process, even when a worker dies.

The Ray tests start one local instance (``ray.init(num_cpus=2)``) for the module. Under CI they
fail, not skip, when Ray is missing (``.ci/run`` installs the ``ray`` extra), as in tests/test_sweep.py.
"""
from __future__ import annotations

import os
import pickle
from pathlib import Path

import pandas as pd
import pytest
import yaml

from labnet.runs.cli import commands as cli
from labnet.runs.config.build import build_space, build_topology, make_conditions
from labnet.runs.config.scenario import ScenarioError, load_builtin, validate_scenario
from labnet.runs.execution.ray_tick import balance, job_cost
from labnet.runs.execution.runner import build_network, resume_run, run_scenario
from labnet.simulation.tick_executor import InProcessExecutor

TICKS = 4


def tiny_scenario(**execution):
    """The built-in default world (3 labs, complete graph), 4 ticks of 10-epoch training, networked only."""
    data = load_builtin("default").to_dict()
    data.update(horizon_ticks=TICKS, trials=1, baselines=[], learner={"epochs": 10})
    if execution:
        data["execution"] = execution
    return validate_scenario(data, label="tiny ray scenario")


def _ray():
    try:
        import ray
    except ImportError:
        if os.environ.get("CI"):
            pytest.fail("ray is not importable, but CI installs the 'ray' extra (.ci/run): the Ray tick backend must be tested")
        pytest.skip("ray is not installed (pip install -e '.[ray]')")
    return ray


@pytest.fixture(scope="module")
def world():
    scenario = tiny_scenario()
    space = build_space(scenario)
    return scenario, space, make_conditions(scenario, build_topology(scenario))[0]


@pytest.fixture(scope="module")
def in_process(world):
    scenario, space, condition = world
    network = build_network(scenario, space, condition, scenario.seed)
    network.run(TICKS)
    return network


@pytest.fixture(scope="module")
def ray_executor():
    _ray()
    from labnet.runs.execution.ray_tick import ray_session

    with ray_session(workers=2) as executor:  # ray.init(num_cpus=2), shut down after the module
        yield executor


@pytest.fixture(scope="module")
def local_run(tmp_path_factory):
    """The tiny scenario's run directory, run locally."""
    return run_scenario(tiny_scenario(), tmp_path_factory.mktemp("local"), progress=False).run_dir


def assert_same_tables(a, b) -> None:
    pd.testing.assert_frame_equal(a.step_table(), b.step_table())
    pd.testing.assert_frame_equal(a.transfer_table(), b.transfer_table())


def test_ray_ticks_give_the_in_process_tables(world, in_process, ray_executor):
    scenario, space, condition = world
    network = build_network(scenario, space, condition, scenario.seed)
    network.executor = ray_executor
    start = len(ray_executor.history)
    network.run(TICKS)
    assert_same_tables(network, in_process)
    ticks = ray_executor.history[start:]
    assert len(ticks) == TICKS and all(t.jobs >= 1 and len(t.train_busy_s) >= 1 for t in ticks)
    assert max(len(t.train_busy_s) for t in ticks) == 2  # both workers got a shard
    assert all(t.bytes_sent > 0 and t.bytes_received > 0 for t in ticks)
    # a neighbour's snapshot used by two labs at one tick travelled once
    assert any(t.shared_uses > t.shared_arrays > 0 for t in ticks)
    # a checkpoint holds no cluster handle
    assert isinstance(pickle.loads(pickle.dumps(network)).executor, InProcessExecutor)


def test_the_authors_event_order_on_ray_gives_the_in_process_tables(ray_executor):
    """Under ``learner.protocol: authors_code`` the labs of a tick act one after another: each lab's
    training and prediction go to Ray on their own, with the same results."""
    data = tiny_scenario().to_dict()
    data["learner"]["protocol"] = "authors_code"
    scenario = validate_scenario(data, label="tiny authors_code scenario")
    space = build_space(scenario)
    condition = make_conditions(scenario, build_topology(scenario))[0]
    here, remote = (build_network(scenario, space, condition, scenario.seed) for _ in range(2))
    remote.executor = ray_executor
    assert here.event_order is not None  # the event-order path runs
    here.run(TICKS)
    remote.run(TICKS)
    assert_same_tables(here, remote)


def test_a_worker_killed_mid_tick_is_retried_and_changes_nothing(world, in_process, ray_executor, tmp_path):
    scenario, space, condition = world
    network = build_network(scenario, space, condition, scenario.seed)
    network.executor = ray_executor
    network.run(2)
    marker = tmp_path / "killed"
    ray_executor.crash_once = str(marker)  # the first shard of tick 2 ends its worker process on its first try
    network.run(TICKS)
    assert marker.is_file(), "no worker was killed: the test would prove nothing"
    assert int(marker.read_text()) != os.getpid()  # it was a worker process, not this one
    assert_same_tables(network, in_process)


def test_labnet_run_with_backend_ray_writes_the_local_run_directory(tmp_path, local_run, ray_executor, monkeypatch):
    from labnet.runs.execution.ray_tick import RayTickExecutor

    executors = []
    train = RayTickExecutor.train

    def recorded(self, tasks, X, trainer):
        executors.append(self)
        return train(self, tasks, X, trainer)

    monkeypatch.setattr(RayTickExecutor, "train", recorded)
    scenario_file = tmp_path / "tiny.yaml"
    tiny_scenario().to_yaml(scenario_file)
    assert cli.main(["run", str(scenario_file), "--backend", "ray", "--out", str(tmp_path / "ray"), "--no-progress"]) == 0
    assert len(executors) == TICKS and ray_executor not in executors  # the run's own executor, on the running Ray
    (remote,) = (tmp_path / "ray").iterdir()
    for name in ("steps.parquet", "transfers.parquet"):
        pd.testing.assert_frame_equal(pd.read_parquet(local_run / name), pd.read_parquet(remote / name))
    assert "backend: ray" in (remote / "scenario.yaml").read_text()  # the run directory records where it ran


def test_an_interrupted_local_run_resumes_on_ray_to_the_same_tables(tmp_path, monkeypatch, local_run, ray_executor):
    from labnet.runs.execution.tick_stream import TickStream

    append_new = TickStream.append_new

    def interrupt_after_tick_1(self, network):  # Ctrl-C once tick 1 is streamed, before its checkpoint
        written = append_new(self, network)
        if network.tick == 2:
            raise KeyboardInterrupt
        return written

    monkeypatch.setattr(TickStream, "append_new", interrupt_after_tick_1)
    with pytest.raises(KeyboardInterrupt):
        run_scenario(tiny_scenario(), tmp_path / "stopped", progress=False)
    monkeypatch.undo()
    (run_dir,) = (tmp_path / "stopped").iterdir()
    from labnet.runs.execution.ray_tick import RayTickExecutor

    ticks = []
    train = RayTickExecutor.train
    monkeypatch.setattr(RayTickExecutor, "train", lambda self, *a: ticks.append(1) or train(self, *a))
    resumed = resume_run(run_dir, progress=False, execution={"backend": "ray"})
    assert len(ticks) == TICKS - 1  # from the checkpoint after tick 0 (tick 1's was not written): ticks 1-3 on Ray
    assert "backend: ray" in (run_dir / "scenario.yaml").read_text()  # the switch is recorded
    for name in ("steps.parquet", "transfers.parquet"):
        pd.testing.assert_frame_equal(pd.read_parquet(resumed.run_dir / name), pd.read_parquet(local_run / name))


# --------------------------------------------------------------------------- without Ray


def test_shards_are_balanced_by_cost_and_cover_every_job():
    costs = [90, 10, 10, 40, 50, 30, 30]
    shards = balance(costs, 3)
    assert sorted(i for shard in shards for i in shard) == list(range(len(costs)))
    loads = sorted(sum(costs[i] for i in shard) for shard in shards)
    assert loads == [80, 90, 90]
    assert balance([5.0], 4) == [[0]]


def test_job_cost_counts_member_optimizer_steps(world, in_process):
    scenario, space, condition = world
    network = build_network(scenario, space, condition, scenario.seed)
    lab = next(iter(network.agents))
    task = lab.plan_action(0).engine_tasks[0]
    n_train = len(task.job.train_rows)
    assert job_cost(task) == scenario.learner.n_members * scenario.learner.epochs * -(-n_train // scenario.learner.batch_size)


def test_ray_backend_refuses_local_worker_processes_and_lockstep(tmp_path):
    with pytest.raises(ScenarioError, match="drop --workers"):
        run_scenario(tiny_scenario(backend="ray"), tmp_path, progress=False, workers=2)
    with pytest.raises(ScenarioError, match="drop --lockstep"):
        run_scenario(tiny_scenario(backend="ray"), tmp_path, progress=False, lockstep=True)
    assert not any(Path(tmp_path).iterdir())  # refused before a run directory was made


def test_the_command_line_backend_options_name_what_is_wrong(tmp_path, capsys):
    scenario_file = tmp_path / "tiny.yaml"
    tiny_scenario().to_yaml(scenario_file)
    assert cli.main(["run", str(scenario_file), "--backend", "local", "--ray-workers", "2", "--out", str(tmp_path)]) == 2
    assert "ray_workers is only used with backend 'ray'" in capsys.readouterr().err
    sweep_file = tmp_path / "sweep.yaml"
    sweep_file.write_text(yaml.safe_dump({"name": "s", "base": tiny_scenario().to_dict(), "axes": {"seed": [1, 2]}}))
    assert cli.main(["sweep", str(sweep_file), "--backend", "processes", "--tick-backend", "ray",
                     "--out", str(tmp_path)]) == 2
    assert "use --backend serial" in capsys.readouterr().err


def test_ray_fields_without_the_ray_backend_are_errors():
    with pytest.raises(ScenarioError, match="execution.*ray_address is only used with backend 'ray'"):
        tiny_scenario(backend="local", ray_address="auto")
    with pytest.raises(ScenarioError, match="execution.backend"):
        tiny_scenario(backend="gpu")
