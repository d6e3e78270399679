"""Scaling laws (models.scaling), the scaling experiment and its CLI (runs.scaling), the Sim2Real world."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import yaml

from labnet.environment import synthetic_world
from labnet.models.scaling import (
    ScalingFitError,
    fit_power_law,
    fit_power_law_2d,
    marginal_rate_ci,
    marginal_rate_of_substitution,
    power_law,
    power_law_2d,
)
from labnet.runs.cli import commands as cli
from labnet.runs.execution.runner import run_scenario
from labnet.runs.studies.scaling import RAW_CSV, ScalingDesign, ScalingError, repeat_split
from labnet.runs.config.scenario import load_builtin, load_scenario

N_GRID = np.array([20, 40, 80, 160, 320, 640, 1280, 2560], dtype=float)
M_GRID = np.array([10, 20, 40, 80, 160], dtype=float)


# --------------------------------------------------------------------------- fits


def test_fit_power_law_recovers_known_parameters_within_the_ci() -> None:
    rng = np.random.default_rng(3)
    truth = {"D": 3.0, "alpha": 0.6, "C": 0.12}
    R = power_law(N_GRID, **truth) * np.exp(rng.normal(0.0, 0.08, size=(20, N_GRID.size)))
    fit = fit_power_law(N_GRID, R, n_bootstrap=200, confidence=0.99, seed=1)
    for name, value in truth.items():
        assert fit.ci_low[name] <= value <= fit.ci_high[name], (name, fit.ci_low[name], value, fit.ci_high[name])
        assert fit.params[name] == pytest.approx(value, rel=0.25)
    assert fit.ci_low["C"] < fit.params["C"] < fit.ci_high["C"]
    assert fit.n_repeats == 20 and fit.samples.shape[1] == 3
    np.testing.assert_allclose(fit.predict(N_GRID), power_law(N_GRID, **fit.params))


def test_fit_power_law_2d_recovers_known_parameters_within_the_ci() -> None:
    rng = np.random.default_rng(4)
    truth = {"A": 2.0, "alpha": 0.5, "B": 0.3, "beta": 0.4, "eps": 0.05}
    clean = power_law_2d(N_GRID[:, None], M_GRID[None, :], **truth)
    R = clean * np.exp(rng.normal(0.0, 0.08, size=(20, N_GRID.size, M_GRID.size)))
    fit = fit_power_law_2d(N_GRID, M_GRID, R, n_bootstrap=100, confidence=0.99, seed=2)
    for name, value in truth.items():
        assert fit.ci_low[name] <= value <= fit.ci_high[name], (name, fit.ci_low[name], value, fit.ci_high[name])
    assert fit.rmse_log < 0.05
    assert float(fit.transfer_gap(160.0)) == pytest.approx(fit["B"] * 160.0 ** -fit["beta"] + fit["eps"])
    estimate, low, high = marginal_rate_ci(fit, 2560.0, 160.0)
    assert low <= float(marginal_rate_of_substitution(truth, 2560.0, 160.0)) <= high
    assert low <= estimate <= high


def test_noise_free_fits_are_exact() -> None:
    truth = {"D": 1.5, "alpha": 0.8, "C": 0.2}
    fit = fit_power_law(N_GRID, power_law(N_GRID, **truth), n_bootstrap=0)
    for name, value in truth.items():
        assert fit.params[name] == pytest.approx(value, rel=1e-4)
    assert np.isnan(fit.ci_low["D"])  # one repeat: no bootstrap, no CI


@pytest.mark.parametrize("n, m", [(100.0, 10.0), (2000.0, 50.0), (30.0, 200.0)])
def test_marginal_rate_of_substitution_matches_finite_differences(n: float, m: float) -> None:
    params = {"A": 2.0, "alpha": 0.5, "B": 0.3, "beta": 0.4, "eps": 0.05}
    h_n, h_m = 1e-4 * n, 1e-4 * m
    d_dn = (power_law_2d(n + h_n, m, **params) - power_law_2d(n - h_n, m, **params)) / (2 * h_n)
    d_dm = (power_law_2d(n, m + h_m, **params) - power_law_2d(n, m - h_m, **params)) / (2 * h_m)
    mrs = float(marginal_rate_of_substitution(params, n, m))
    assert mrs > 0
    assert mrs == pytest.approx(float(d_dm / d_dn), rel=1e-6)


def test_mrs_is_infinite_when_source_data_does_not_help() -> None:
    assert np.isinf(marginal_rate_of_substitution({"A": 0.0, "alpha": 0.5, "B": 0.3, "beta": 0.4}, 100.0, 10.0))


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: fit_power_law([10, 20], [1.0, 0.5]), ">= 3 distinct n"),
        (lambda: fit_power_law([10, 20, 40], [1.0, -0.5, 0.2]), "> 0"),
        (lambda: fit_power_law([10, 20, 40], np.ones((3, 4))), "shape"),
        (lambda: fit_power_law([0, 20, 40], [1.0, 0.5, 0.2]), "sample sizes"),
        (lambda: fit_power_law_2d([10, 20], [5], np.ones((2, 1))), ">= 2 distinct"),
        (lambda: fit_power_law([10, 20, 40], [1.0, 0.5, 0.2], confidence=1.5), "confidence"),
    ],
)
def test_fit_input_errors_are_clear(call, message: str) -> None:
    with pytest.raises(ScalingFitError, match=message):
        call()


# --------------------------------------------------------------------------- Sim2Real world


def test_simulated_twin_has_the_promised_correlation_and_bias() -> None:
    plain = synthetic_world(600, 6, n_properties=2, correlation=0.3, seed=3)
    world = synthetic_world(600, 6, n_properties=2, correlation=0.3, seed=3, sim_distortion=0.75, sim_bias=0.1)
    assert world.property_names == ("P0", "P1", "P0_sim", "P1_sim")
    np.testing.assert_array_equal(world.values("P0"), plain.values("P0"))
    np.testing.assert_array_equal(world.descriptors, plain.descriptors)
    for k in range(2):
        truth, sim = world.values(f"P{k}"), world.values(f"P{k}_sim")
        assert np.corrcoef(truth, sim)[0, 1] == pytest.approx(1 / np.sqrt(1 + 0.75**2), abs=1e-9)
        assert (sim - truth).mean() == pytest.approx(0.1, abs=1e-9)
    assert np.corrcoef(world.values("P0"), world.values("P1"))[0, 1] == pytest.approx(0.3, abs=1e-9)
    with pytest.raises(ValueError, match="sim_distortion"):
        synthetic_world(100, sim_distortion=-1.0)
    with pytest.raises(ValueError, match="sim_bias"):
        synthetic_world(100, sim_distortion=0.5, sim_bias=float("nan"))


def test_sim2real_scenario_validates_and_a_three_tick_run_works(tmp_path) -> None:
    scenario = load_builtin("sim2real")
    assert [lab.property for lab in scenario.labs] == ["P0_sim", "P0"]
    assert scenario.labs[0].period_ticks == 1 and scenario.labs[1].period_ticks > 1
    assert scenario.labs[0].noise_std > 0 and scenario.labs[1].noise_std == 0
    assert scenario.topology.kind == "complete" and scenario.baselines == ["isolated", "random"]
    small = scenario.to_dict()
    small.update(horizon_ticks=3, trials=1)
    small["dataset"].update(n_candidates=300)
    small["learner"].update(epochs=3, patience=3, n_members=3)
    result = run_scenario(load_scenario(small), tmp_path, progress=False)
    steps = pd.read_parquet(result.steps_path)
    acquisitions = steps[(steps.phase == "acquisition") & (steps.condition == "networked")]
    assert acquisitions.groupby("lab").size().to_dict() == {"robot": 1, "sim": 3}
    transfers = pd.read_parquet(result.transfers_path)
    # the robot acts at tick 0 only; the sim lab fine-tunes the robot's model from tick 1 on
    assert ((transfers.source == "robot") & (transfers.target == "sim")).any()
    assert len(pd.read_csv(result.summary_csv_path)) == 2 * 3


# --------------------------------------------------------------------------- the experiment


TINY_WORLD = {
    "name": "tiny-s2r",
    "dataset": {"kind": "synthetic", "n_candidates": 200, "n_descriptors": 5, "n_properties": 1, "seed": 2,
                "sim_distortion": 0.5, "sim_bias": 0.05},
    "labs": [{"name": "robot", "property": "P0"}],
}


@pytest.fixture(scope="module")
def tiny_scenario(tmp_path_factory):
    path = tmp_path_factory.mktemp("scenario") / "tiny.yaml"
    path.write_text(yaml.safe_dump(TINY_WORLD))
    return path


TINY_OPTIONS = {"--source": "P0_sim", "--target": "P0", "--n-grid": "8,16,32", "--m-grid": "6 12", "--repeats": "2",
                "--members": "2", "--epochs": "2", "--pretrain-epochs": "3", "--bootstrap": "20"}


def _args(scenario, out, **changes: str) -> list[str]:
    """CLI arguments of the tiny experiment; ``changes`` maps a flag without dashes (n_grid) to its new value."""
    options = dict(TINY_OPTIONS)
    options.update({"--" + key.replace("_", "-"): value for key, value in changes.items()})
    args = ["scaling", "--scenario", str(scenario), "--out", str(out), "--no-progress"]
    for flag, value in options.items():
        args += [flag, *value.split()]
    return args


def test_scaling_cli_runs_end_to_end_writes_every_file_and_resumes(tiny_scenario, tmp_path, capsys) -> None:
    out = tmp_path / "run"
    assert cli.main(_args(tiny_scenario, out)) == 0
    printed = capsys.readouterr().out
    assert "Marginal rate of substitution" in printed and "transfer gap" in printed
    for name in ("scaling_design.json", RAW_CSV, "scaling_fits.csv", "scaling_fits.md", "scaling_vs_n.png",
                 "scaling_vs_m.png"):
        assert (out / name).is_file() and (out / name).stat().st_size > 0, name
    raw = pd.read_csv(out / RAW_CSV)
    # 2 repeats x (3 n x 2 m transfer + 2 m direct)
    assert len(raw) == 2 * (3 * 2 + 2)
    assert set(raw.kind) == {"transfer", "direct"} and set(raw.step) == {"direct", "n=8", "n=16", "n=32"}
    assert (raw.test_mse > 0).all() and raw.test_mse.notna().all()
    fits = pd.read_csv(out / "scaling_fits.csv")
    assert {"D", "alpha", "C", "A", "B", "beta", "eps", "R_direct"} <= set(fits.param)
    assert fits.param.str.startswith("MRS").any()
    design = json.loads((out / "scaling_design.json").read_text())
    assert design["source"] == "P0_sim" and design["pretrain_epochs"] == 3 and design["epochs"] == 2
    # same command again: every step is already done, nothing retrains, same numbers
    assert cli.main(_args(tiny_scenario, out)) == 0
    pd.testing.assert_frame_equal(pd.read_csv(out / RAW_CSV), raw)
    assert "resumed" in (out / "scaling_fits.md").read_text()


def test_a_step_is_deterministic_and_independent_of_the_others(tiny_scenario) -> None:
    from labnet.runs.studies.scaling import ScalingExperiment, load_space

    space, _ = load_space(scenario=str(tiny_scenario))
    design = ScalingDesign("P0_sim", "P0", (8, 16), (6,), repeats=2, n_members=2, epochs=2)
    first = ScalingExperiment(space.descriptors, space.values("P0_sim"), space.values("P0"), design).run_step("n=16")
    again = ScalingExperiment(space.descriptors, space.values("P0_sim"), space.values("P0"), design)
    again.run_step("direct")
    assert pd.DataFrame(again.run_step("n=16")).equals(pd.DataFrame(first))
    split = repeat_split(len(space), design, 0)
    assert not set(split.test) & set(split.source_order) and not set(split.test) & set(split.target_order)
    assert len(split.test) == 40 and len(split.source_order) == 160


@pytest.mark.parametrize(
    "change, message",
    [
        ({"source": "P7"}, "--source: property 'P7' not in the dataset; available: P0, P0_sim"),
        ({"target": "P0_sim"}, "--source and --target are both 'P0_sim'"),
        ({"n_grid": "8 4000"}, "--n-grid: largest size 4000 exceeds the 160 materials"),
        ({"m_grid": "3"}, "--m-grid: every size must be >= 5"),
        ({"n_grid": "8 8"}, "--n-grid: sizes must be distinct"),
        ({"repeats": "0"}, "--repeats: expected an integer >= 1"),
        ({"test_fraction": "1.5"}, "--test-fraction"),
    ],
)
def test_bad_scaling_input_gives_a_clear_error(tiny_scenario, tmp_path, capsys, change, message) -> None:
    assert cli.main(_args(tiny_scenario, tmp_path / "bad", **change)) == 2
    assert message in capsys.readouterr().err


def test_unparsable_grid_and_another_design_in_the_same_directory(tiny_scenario, tmp_path, capsys) -> None:
    with pytest.raises(SystemExit):
        cli.main(_args(tiny_scenario, tmp_path / "x", n_grid="8,a"))
    assert "expected integers" in capsys.readouterr().err
    out = tmp_path / "taken"
    out.mkdir()
    (out / "scaling_design.json").write_text(json.dumps({"source": "something else"}))
    assert cli.main(_args(tiny_scenario, out)) == 2
    assert "already holds a scaling run of another design" in capsys.readouterr().err


def test_missing_data_file_is_reported(tmp_path, capsys) -> None:
    assert cli.main(["scaling", "--source", "M", "--target", "Tc", "--data", str(tmp_path / "none.csv")]) == 2
    assert "none.csv" in capsys.readouterr().err


def test_design_rejects_bad_values_directly() -> None:
    with pytest.raises(ScalingError, match="--members"):
        ScalingDesign("a", "b", (8, 16, 32), (6,), n_members=1)
    with pytest.raises(ScalingError, match="frozen_layers"):
        ScalingDesign("a", "b", (8, 16, 32), (6,), frozen_layers=7)
