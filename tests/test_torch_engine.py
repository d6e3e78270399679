"""The torch engine against the numba engine and the faithful reference, and how an engine is chosen.

Tolerances (float32 everywhere, same initial weights, data, shuffle seeds): parameters
``atol = 1e-5``, validation MSE ``rtol = 1e-5``; best and stopping epochs exactly. Observed
differences are ~1e-6 and below (summation order, FMA contraction). Runs on the CPU (CI has no
GPU); ``benchmarks/bench_gpu.py`` repeats the comparison on CUDA where a GPU is present.

The data is a small synthetic composition-like world (300 rows x 39 slots); the B2 file is not read.
"""
from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
import torch
import yaml

from labnet.models.config import LearnerConfig
from labnet.models.engine import TrainJob, TrainResult, train_jobs
from labnet.models.engines import ENGINE_REGISTRY, TorchTrainer, resolve_engine, trainer_for, with_engine
from labnet.models.mlp import layer_offsets, layer_sizes_for, lecun_normal_params, predict_ensemble
from labnet.models.reference import train_jobs_reference
from labnet.models.torch_engine import predict_members, train_jobs_torch
from labnet.runs.cli import commands as cli
from labnet.runs.config.scenario import ScenarioError, load_scenario
from labnet.runs.execution.runner import resume_run, run_scenario
from labnet.runs.execution.tick_stream import TickStream
from scenarios import composition_world, three_labs

N_ROWS, N_SLOTS = 300, 39
PARAM_ATOL = 1e-5
VAL_MSE_RTOL = 1e-5
SIZES = layer_sizes_for(N_SLOTS, (100, 100, 10))


@pytest.fixture(scope="module")
def world() -> tuple[np.ndarray, np.ndarray]:
    """X float32 [300, 39] (3 non-zero fractions per row, rows sum to 1) and a noisy smooth y [300]."""
    return composition_world(2024, N_ROWS, N_SLOTS)


def make_job(world, n_train: int, n_val: int, seed: int, params: np.ndarray | None = None, n_members: int = 4,
             frozen_layers: int = 0, sizes=SIZES) -> TrainJob:
    """A candidate ensemble on ``n_train + n_val`` random rows, targets standardized on those rows."""
    X, y = world
    rng = np.random.default_rng(seed)
    rows = rng.permutation(N_ROWS)[: n_train + n_val]
    ys = ((y[rows] - y[rows].mean()) / y[rows].std()).astype(np.float32)
    if params is None:
        params = lecun_normal_params(sizes, n_members, rng)
    return TrainJob(params.copy(), rows[:n_train], ys[:n_train], rows[n_train:], ys[n_train:],
                    rng.integers(0, 2**63, size=params.shape[0]).astype(np.uint64), frozen_layers)


def assert_equivalent(a: list[TrainResult], b: list[TrainResult]) -> None:
    assert len(a) == len(b)
    for ra, rb in zip(a, b):
        np.testing.assert_array_equal(ra.best_epoch, rb.best_epoch)
        np.testing.assert_array_equal(ra.epochs_run, rb.epochs_run)
        np.testing.assert_allclose(ra.params, rb.params, rtol=0, atol=PARAM_ATOL)
        np.testing.assert_allclose(ra.val_mse, rb.val_mse, rtol=VAL_MSE_RTOL, atol=0)
        assert ra.params.dtype == rb.params.dtype == np.float32


@pytest.fixture(scope="module")
def source_params(world) -> np.ndarray:
    """A neighbour's published ensemble: the start of transferred (fine-tuned) jobs."""
    return train_jobs([make_job(world, 40, 10, seed=11, n_members=4)], world[0], SIZES, LearnerConfig(epochs=6))[0].params


@pytest.fixture(scope="module")
def tick_jobs(world, source_params) -> list[TrainJob]:
    """One tick of several labs: different data sizes (partial last minibatches), from-scratch and
    transferred candidates (two frozen layers), in one call."""
    return [
        make_job(world, 32, 8, seed=3, n_members=6),
        make_job(world, 27, 7, seed=4, params=source_params, frozen_layers=2),
        make_job(world, 61, 15, seed=5, n_members=3),
        make_job(world, 9, 3, seed=6, params=source_params, frozen_layers=2),
        make_job(world, 17, 5, seed=7, n_members=2),
    ]


EARLY = LearnerConfig(epochs=25, patience=2)


@pytest.fixture(scope="module")
def tick_results(world, tick_jobs):
    X = world[0]
    return {"numba": train_jobs(tick_jobs, X, SIZES, EARLY), "torch": train_jobs_torch(tick_jobs, X, SIZES, EARLY, "cpu"),
            "reference": train_jobs_reference(tick_jobs, X, SIZES, EARLY)}


# --------------------------------------------------------------------------- torch == numba == reference


def test_one_call_of_mixed_jobs_matches_the_numba_engine_and_the_reference(tick_results):
    assert_equivalent(tick_results["torch"], tick_results["numba"])
    assert_equivalent(tick_results["torch"], tick_results["reference"])


def test_members_stop_early_at_different_epochs_and_restore_their_best(tick_results):
    stopped = np.concatenate([r.epochs_run for r in tick_results["torch"]])
    assert len(set(stopped.tolist())) >= 3, f"members should stop at different epochs, got {stopped}"
    assert (stopped < EARLY.epochs).sum() >= 3
    for result in tick_results["torch"]:
        early = result.epochs_run < EARLY.epochs
        np.testing.assert_array_equal(result.epochs_run[early], result.best_epoch[early] + 1 + EARLY.patience)


def test_frozen_layers_of_transferred_candidates_stay_exactly_as_they_were(tick_jobs, tick_results, source_params):
    frozen = slice(0, int(layer_offsets(SIZES)[2]))
    for job, result in zip(tick_jobs, tick_results["torch"]):
        if job.frozen_layers:
            assert result.params[:, frozen].tobytes() == source_params[:, frozen].tobytes()
            assert not np.array_equal(result.params, source_params)


def test_a_job_trained_alone_equals_the_same_job_trained_with_others(world, tick_jobs, tick_results):
    """Masking: other members' sizes and stopping epochs never leak into a member's result."""
    for i in (0, 3):
        alone = train_jobs_torch([tick_jobs[i]], world[0], SIZES, EARLY, "cpu")[0]
        together = tick_results["torch"][i]
        np.testing.assert_array_equal(alone.best_epoch, together.best_epoch)
        np.testing.assert_array_equal(alone.epochs_run, together.epochs_run)
        np.testing.assert_allclose(alone.params, together.params, rtol=0, atol=1e-6)


@pytest.mark.parametrize("output_activation, frozen, l2, lr", [(False, 1, 0.0, 5e-4), (True, 3, 1e-2, 5e-3)])
def test_other_settings_match_the_numba_engine(world, source_params, output_activation, frozen, l2, lr):
    config = LearnerConfig(epochs=6, patience=3, output_activation=output_activation, l2=l2, learning_rate=lr,
                           batch_size=5)
    jobs = [make_job(world, 23, 6, seed=21, n_members=3),
            make_job(world, 14, 4, seed=22, params=source_params, frozen_layers=frozen)]
    assert_equivalent(train_jobs_torch(jobs, world[0], SIZES, config, "cpu"), train_jobs(jobs, world[0], SIZES, config))


def test_inputs_are_left_alone_and_repeated_calls_are_identical(world, tick_jobs):
    before = [job.params.copy() for job in tick_jobs]
    first = train_jobs_torch(tick_jobs[:2], world[0], SIZES, LearnerConfig(epochs=3), "cpu")
    second = train_jobs_torch(tick_jobs[:2], world[0], SIZES, LearnerConfig(epochs=3), "cpu")
    for a, b in zip(first, second):
        assert a.params.tobytes() == b.params.tobytes() and a.val_mse.tobytes() == b.val_mse.tobytes()
    for job, params in zip(tick_jobs, before):
        assert job.params.tobytes() == params.tobytes()


def test_bad_input_is_rejected_like_the_numba_engine(world):
    job = make_job(world, 20, 5, seed=13, n_members=2)
    with pytest.raises(ValueError, match="columns"):
        train_jobs_torch([dataclasses.replace(job, params=job.params[:, :-1])], world[0], SIZES, LearnerConfig(epochs=1))
    with pytest.raises(ValueError, match="validation"):
        train_jobs_torch([dataclasses.replace(job, val_rows=job.val_rows[:0], y_val=job.y_val[:0])], world[0], SIZES,
                         LearnerConfig(epochs=1))
    with pytest.raises(ValueError, match="descriptor width"):
        train_jobs_torch([job], world[0][:, :-1], SIZES, LearnerConfig(epochs=1))
    with pytest.raises(ValueError, match="mode"):
        train_jobs_torch([job], world[0], SIZES, LearnerConfig(epochs=1), mode="fast")
    assert train_jobs_torch([], world[0], SIZES, LearnerConfig()) == []


def test_batched_prediction_of_many_ensembles_equals_predict_ensemble(world):
    X = np.tile(world[0], (15, 1))  # 4500 rows: two blocks, the last one partial
    ensembles = [lecun_normal_params(SIZES, k, np.random.default_rng(k)) for k in (3, 5)]
    for output_activation in (True, False):
        stacked = predict_members(np.concatenate(ensembles), SIZES, X, output_activation, "cpu")
        expected = np.concatenate([predict_ensemble(p, SIZES, X, output_activation) for p in ensembles])
        assert stacked.shape == (8, len(X)) and stacked.dtype == np.float32
        np.testing.assert_allclose(stacked, expected, rtol=0, atol=1e-5)


CUDA = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA GPU here (CI); benchmarks/gpu/run_on_h200.sh runs it")


@CUDA
@pytest.mark.parametrize("mode", ["eager", "graph"])
def test_on_cuda_the_engine_matches_the_numba_engine(world, tick_jobs, tick_results, mode):
    assert_equivalent(train_jobs_torch(tick_jobs, world[0], SIZES, EARLY, "cuda", mode=mode), tick_results["numba"])


@CUDA
def test_on_cuda_batched_prediction_equals_predict_ensemble(world):
    params = lecun_normal_params(SIZES, 6, np.random.default_rng(3))
    np.testing.assert_allclose(predict_members(params, SIZES, world[0], True, "cuda"),
                               predict_ensemble(params, SIZES, world[0]), rtol=0, atol=1e-5)


# --------------------------------------------------------------------------- choosing the engine


def test_auto_is_numba_on_the_cpu_and_torch_on_cuda():
    assert resolve_engine("auto", "cpu") == ("numba", "cpu")
    assert resolve_engine("auto", "cuda") == ("torch", "cuda")
    assert resolve_engine("torch", "cpu") == ("torch", "cpu")
    assert resolve_engine("numba", "auto") == ("numba", "cpu")
    assert set(ENGINE_REGISTRY) == {"numba", "torch"}


def test_learner_config_records_the_resolved_engine_and_names_bad_fields():
    import torch

    config = LearnerConfig()
    assert config.engine in ("numba", "torch") and config.device in ("cpu", "cuda")
    if not torch.cuda.is_available():  # CI: the default is exactly the numba engine
        assert (config.engine, config.device) == ("numba", "cpu")
        assert trainer_for(config) is train_jobs
        with pytest.raises(ValueError, match="learner.device = 'cuda'.*no CUDA GPU"):
            trainer_for(LearnerConfig(engine="torch", device="cuda"))
    assert trainer_for(LearnerConfig(engine="torch", device="cpu")) == TorchTrainer("cpu")
    with pytest.raises(ValueError, match=r"learner.engine = 'jax': expected one of auto, numba, torch"):
        LearnerConfig(engine="jax")
    with pytest.raises(ValueError, match=r"learner.device = 'tpu': expected one of auto, cpu, cuda"):
        LearnerConfig(device="tpu")
    with pytest.raises(ValueError, match=r"learner.device = 'cuda'.*numba.*CPU only"):
        LearnerConfig(engine="numba", device="cuda")


def test_command_line_rules_for_engine_and_device():
    numba_cpu = LearnerConfig(engine="numba", device="cpu")
    assert with_engine(numba_cpu) is numba_cpu
    assert (with_engine(numba_cpu, engine="torch").engine, with_engine(numba_cpu, device="cuda").engine) == ("torch", "torch")
    torch_cpu = with_engine(numba_cpu, "torch", "cpu")
    assert (torch_cpu.engine, torch_cpu.device) == ("torch", "cpu")
    assert with_engine(torch_cpu, device="cpu").engine == "torch"  # --device alone keeps torch
    assert with_engine(torch_cpu, engine="numba").device == "cpu"
    with pytest.raises(ValueError, match="learner.device"):
        with_engine(numba_cpu, engine="numba", device="cuda")


def test_a_scenario_names_its_engine_and_old_scenarios_still_load():
    old = {"name": "old", "dataset": {"kind": "synthetic", "n_candidates": 50, "n_descriptors": 4}, "labs": [
        {"name": "A", "property": "P0"}], "topology": {"kind": "isolated"}, "learner": {"epochs": 3}}
    scenario = load_scenario(old)  # written before learner.engine existed
    assert scenario.learner == LearnerConfig(epochs=3)
    assert scenario.to_dict()["learner"]["engine"] == scenario.learner.engine != "auto"
    with pytest.raises(ScenarioError, match="learner.engine"):
        load_scenario({**old, "learner": {"engine": "jax"}})
    with pytest.raises(ScenarioError, match="learner.device"):
        load_scenario({**old, "learner": {"engine": "numba", "device": "cuda"}})


# --------------------------------------------------------------------------- whole runs

TINY = three_labs("tiny", learner={"hidden_layers": [16, 16, 4], "epochs": 5, "patience": 2, "engine": "numba"},
                  horizon_ticks=6)


@pytest.fixture(scope="module")
def numba_run(tmp_path_factory):
    return run_scenario(load_scenario(TINY), tmp_path_factory.mktemp("numba"), progress=False)


def test_runs_with_either_engine_choose_the_same_materials(numba_run, tmp_path, capsys):
    scenario_file = tmp_path / "tiny.yaml"
    scenario_file.write_text(yaml.safe_dump(TINY))
    assert cli.main(["run", str(scenario_file), "--out", str(tmp_path / "runs"), "--no-progress",
                     "--engine", "torch", "--device", "cpu"]) == 0
    (run_dir,) = (tmp_path / "runs").iterdir()
    learner = yaml.safe_load((run_dir / "scenario.yaml").read_text())["learner"]
    assert (learner["engine"], learner["device"]) == ("torch", "cpu")  # what ran
    assert yaml.safe_load((numba_run.run_dir / "scenario.yaml").read_text())["learner"]["engine"] == "numba"
    numba_steps, torch_steps = pd.read_parquet(numba_run.steps_path), pd.read_parquet(run_dir / "steps.parquet")
    assert (numba_steps.phase == "acquisition").sum() > 20
    keys = ["trial", "condition", "lab", "tick", "n_obs"]
    pd.testing.assert_frame_equal(numba_steps[keys + ["material_index"]], torch_steps[keys + ["material_index"]])
    np.testing.assert_allclose(torch_steps.bpm_validation_loss, numba_steps.bpm_validation_loss, rtol=1e-4)


def test_an_unrunnable_engine_choice_is_a_clear_command_line_error(tmp_path, capsys):
    scenario_file = tmp_path / "tiny.yaml"
    scenario_file.write_text(yaml.safe_dump(TINY))
    assert cli.main(["run", str(scenario_file), "--out", str(tmp_path), "--engine", "numba", "--device", "cuda"]) == 2
    assert "learner.device = 'cuda'" in capsys.readouterr().err
    if not torch.cuda.is_available():
        assert cli.main(["run", str(scenario_file), "--out", str(tmp_path), "--device", "cuda"]) == 2
        assert "sees no CUDA GPU" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cli.main(["run", str(scenario_file), "--engine", "jax"])


def test_resume_can_switch_the_engine_and_records_it(numba_run, tmp_path, monkeypatch):
    append_new = TickStream.append_new

    def interrupt_after_tick_3(self, network):
        written = append_new(self, network)
        if "_networked." in self.steps_path.name and network.tick == 4:
            raise KeyboardInterrupt
        return written

    monkeypatch.setattr(TickStream, "append_new", interrupt_after_tick_3)
    with pytest.raises(KeyboardInterrupt):
        run_scenario(load_scenario(TINY), tmp_path, progress=False)
    monkeypatch.undo()
    (run_dir,) = tmp_path.iterdir()
    calls = []
    trainer_call = TorchTrainer.__call__
    monkeypatch.setattr(TorchTrainer, "__call__", lambda self, *a: calls.append(1) or trainer_call(self, *a))
    result = resume_run(run_dir, progress=False, engine="torch", device="cpu")
    assert len(calls) >= 2  # the checkpointed network went on with the torch engine
    assert yaml.safe_load((run_dir / "scenario.yaml").read_text())["learner"]["engine"] == "torch"
    keys = ["condition", "lab", "tick", "n_obs", "material_index"]
    pd.testing.assert_frame_equal(pd.read_parquet(result.steps_path)[keys], pd.read_parquet(numba_run.steps_path)[keys])
