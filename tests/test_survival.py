"""Time to threshold as survival data, paired comparisons, power, degenerate-study checks, and
until-decided studies on a tiny real scenario (real Mesa, real training)."""
from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from labnet.runs.cli import commands as cli
from labnet.runs.config.scenario import load_scenario
from labnet.runs.execution.run_state import ConditionRun, RunState
from labnet.runs.execution.runner import KM_PNG, run_scenario
from labnet.runs.execution.until_decided import (
    UNTIL_DECIDED_FILE, Plan, StoppingRule, continue_until_decided, look_alphas, planned_looks, run_until_decided,
    simulate_coverage, spent_alpha, start_plan,
)
from labnet.runs.reports.degenerate import degenerate_warnings, threshold_checks, threshold_rule
from labnet.runs.reports.power import power_table
from labnet.runs.reports.survival import (
    km_median, km_steps, paired_mean_difference, paired_rmst_difference, pairs_needed, power_at, rmst, rmst_with_ci,
    stratified_logrank, survival_data,
)

# --------------------------------------------------------------------------- Kaplan-Meier and RMST


def test_rmst_of_a_hand_computed_case():
    # S = 1 on [0, 2), 0.75 on [2, 3) (1 of 4 reached at 2), 0.5 from 3 (1 of the 3 at risk; the run censored
    # at 3 still counts as at risk at 3); tau = 4: 2 * 1 + 1 * 0.75 + 1 * 0.5
    time, event = [2, 3, 3, 5], [True, False, True, True]
    times, surv = km_steps(time, event)
    assert times.tolist() == [2, 3, 5] and surv.tolist() == pytest.approx([0.75, 0.5, 0.0])
    assert rmst(time, event, 4) == pytest.approx(3.25)
    assert rmst([4, 6], [False, False], 4) == 4.0  # nobody reached: tau
    assert rmst(time, [True] * 4, 100) == pytest.approx(np.mean(time))  # no censoring: the plain mean


def test_km_and_rmst_agree_with_lifelines():
    from lifelines import KaplanMeierFitter
    from lifelines.utils import restricted_mean_survival_time

    rng = np.random.default_rng(4)
    time = rng.integers(1, 60, size=40).astype(float)
    event = rng.random(40) < 0.7
    fitter = KaplanMeierFitter().fit(time, event)
    times, surv = km_steps(time, event)
    reference = fitter.survival_function_.iloc[:, 0]
    assert surv == pytest.approx(reference.loc[times].to_numpy())
    for tau in (10.0, 33.5, 59.0):
        assert rmst(time, event, tau) == pytest.approx(restricted_mean_survival_time(fitter, t=tau), rel=1e-9)
    assert km_median(time, event).median == fitter.median_survival_time_


def test_censoring_uses_the_last_observation():
    obs = pd.DataFrame({"n_obs_to_threshold": [5.0, np.nan], "reached": [True, False], "n_obs_total": [30, 30]})
    data = survival_data(obs)
    assert data["time"].tolist() == [5.0, 30.0] and data["event"].tolist() == [True, False]
    with pytest.raises(ValueError, match="n_obs_total"):
        survival_data(obs.drop(columns="n_obs_total"))


def test_paired_bootstrap_recovers_a_known_shift_that_unpaired_cannot_see():
    rng = np.random.default_rng(0)
    base = rng.uniform(10, 90, size=30)  # trials differ a lot (shared seed, initial points) ...
    a, b = base - 3.0 + rng.normal(0, 0.5, size=30), base  # ... a is 3 observations faster in each
    paired = paired_rmst_difference(a, np.ones(30, bool), b, np.ones(30, bool), tau=100, seed=1)
    assert paired.difference == pytest.approx(np.mean(a - b))
    assert paired.ci_low < -3.0 + 0.5 and paired.ci_high > -3.0 - 0.5 and paired.ci_high < 0
    assert paired.n == 30 and paired.effect_size < -3
    unpaired = rmst_with_ci(a, np.ones(30, bool), 100), rmst_with_ci(b, np.ones(30, bool), 100)
    assert unpaired[0].ci_high > unpaired[1].ci_low  # separate CIs overlap widely
    constant = paired_mean_difference(np.arange(8.0) + 2, np.arange(8.0))
    assert (constant.difference, constant.ci_low, constant.ci_high) == (2.0, 2.0, 2.0)


def test_stratified_logrank_with_one_stratum_is_the_logrank_test():
    from lifelines.statistics import logrank_test

    rng = np.random.default_rng(2)
    ta, tb = rng.integers(1, 40, 15).astype(float), rng.integers(5, 50, 15).astype(float)
    ea, eb = rng.random(15) < 0.8, rng.random(15) < 0.8
    p = stratified_logrank(np.r_[ta, tb], np.r_[ea, eb], np.array(["a"] * 15 + ["b"] * 15), np.zeros(30))
    assert p == pytest.approx(logrank_test(ta, tb, ea, eb).p_value, rel=1e-9)
    # paired strata: a reaches first in every one of 12 trials -> significant
    trials = np.arange(12)
    p = stratified_logrank(np.r_[trials + 1.0, trials + 5.0], np.ones(24, bool), np.array(["a"] * 12 + ["b"] * 12),
                           np.r_[trials, trials])
    assert p < 0.01


def test_power_is_monotone_in_effect_and_trials():
    needed = [pairs_needed(effect, sd_paired=10.0) for effect in (1, 2, 4, 8)]
    assert needed == sorted(needed, reverse=True) and needed[0] > 100
    assert pairs_needed(4.0, 10.0) == pytest.approx(52, abs=1)  # ((1.96 + 0.84) * 10 / 4)^2 + 1.96^2 / 2
    powers = [power_at(n, 4.0, 10.0) for n in (5, 20, 50, 200)]
    assert powers == sorted(powers) and powers[-1] > 0.99
    assert pairs_needed(0.0, 10.0) == float("inf")


# --------------------------------------------------------------------------- stopping rule


def test_alpha_spending_sums_to_alpha_and_keeps_coverage_under_the_null():
    rule = StoppingRule(max_trials=30, spending="obrien-fleming")
    looks = planned_looks(6, rule)
    assert looks == [6, 12, 18, 24, 30]
    assert sum(look_alphas(looks, rule)) == pytest.approx(0.05)
    assert spent_alpha(1.0, 0.05, "pocock") == pytest.approx(0.05)
    for spending in ("obrien-fleming", "pocock"):
        miss = simulate_coverage(1500, StoppingRule(max_trials=30, spending=spending), first=6, seed=3)
        assert miss <= 0.05 + 0.02  # simulation noise of 1500 studies: sd ~ 0.006
    with pytest.raises(ValueError, match="max_trials"):
        StoppingRule(max_trials=3).check(5)
    with pytest.raises(ValueError, match="precision"):
        StoppingRule(max_trials=9, precision=-1).check(3)


# --------------------------------------------------------------------------- degenerate studies


def test_degenerate_study_warnings_and_threshold_wording():
    space = SimpleNamespace(values=lambda prop: np.linspace(-10, -1, 100), minimum=lambda prop: -10.0,
                            maximum=lambda prop: -1.0)
    labs = [SimpleNamespace(name="A", property="E", goal="minimize", initial_points=5)]
    obs = pd.DataFrame({"lab": ["A"] * 4, "reached": [True, True, True, False],
                        "n_obs_to_threshold": [2.0, 5.0, 9.0, np.nan]})
    checks = threshold_checks(labs, {"A": -9.0}, space, 0.9, obs)
    row = checks.iloc[0]
    assert row["n_past"] == 12 and row["n_reached_in_initial"] == 2  # values <= -9; runs reached by point 5
    assert "<= max - 90 % of the range" in row["rule"] and "fraction of the best" not in row["rule"]
    warnings = degenerate_warnings(checks)
    assert len(warnings) == 2 and "12.0% of the candidates" in warnings[0] and "2 of 4 runs" in warnings[1]
    assert threshold_rule("maximize", 0.9, 0.0, 10.0).startswith(">= 90 % of the dataset maximum")
    assert "min + 90 % of the range" in threshold_rule("maximize", 0.9, -3.0, 10.0)
    assert degenerate_warnings(threshold_checks(labs, {"A": -9.9}, space, 0.9)) == []


# --------------------------------------------------------------------------- a tiny real until-decided study

TINY = {
    "name": "tiny",
    "dataset": {"kind": "synthetic", "n_candidates": 120, "n_descriptors": 4, "n_properties": 2,
                "correlation": 0.7, "seed": 3},
    "labs": [{"name": "A", "property": "P0", "period_ticks": 1, "initial_points": 5},
             {"name": "B", "property": "P1", "period_ticks": 1, "initial_points": 5}],
    "topology": {"kind": "complete"},
    "learner": {"n_members": 2, "epochs": 3, "patience": 3},
    "horizon_ticks": 3,
    "trials": 2,
    "seed": 0,
    "baselines": ["random"],
}
RULE = StoppingRule(max_trials=4, batch=2)


@pytest.fixture(scope="module")
def decided(tmp_path_factory):
    return run_until_decided(load_scenario(TINY), tmp_path_factory.mktemp("decided"), RULE, progress=False)


def test_until_decided_stops_and_writes_its_plan(decided):
    plan = json.loads((decided.run_dir / UNTIL_DECIDED_FILE).read_text())
    assert plan["status"] in ("decided", "max_trials") and plan["looks"] == [2, 4]
    obs = decided.run.observations
    trials = obs["trial"].nunique()
    assert trials == plan["target_trials"] and trials in (2, 4)
    assert len(decided.intervals) == 2 and set(decided.intervals["comparison"]) == {"networked - random"}
    assert (decided.run_dir / KM_PNG).read_bytes().startswith(b"\x89PNG")
    assert "Stopping rule" in (decided.run_dir / "until_decided.md").read_text()
    summary = (decided.run_dir / "summary.md").read_text()
    assert "Paired comparisons (headline)" in summary and "Targets and threshold checks" in summary


def test_a_killed_until_decided_study_resumes_to_the_same_result(decided, tmp_path, capsys):
    # first batch, then a kill in the middle of the extension to 4 trials: the plan names the new
    # target and run_state.json has the new runs, but scenario.yaml still says 2 trials
    scenario = load_scenario(TINY)
    first = run_scenario(scenario, tmp_path, progress=False, on_created=lambda d: start_plan(d, 2, RULE))
    run_dir = first.run_dir
    plan = Plan.read(run_dir)
    plan.target_trials = 4
    plan.save(run_dir)
    state = RunState.read(run_dir)
    state.runs += [ConditionRun(t, c) for t in (2, 3) for c in ("networked", "random")]
    state.status = "running"
    state.save()
    status = cli.main(["resume", str(run_dir), "--no-progress"])
    assert status == 0 and "Stopping rule" in capsys.readouterr().out
    resumed = continue_until_decided(run_dir, progress=False)  # again: finished, nothing changes
    assert resumed.plan.status in ("decided", "max_trials")
    if decided.plan.target_trials == 4:  # the uninterrupted study went on to 4 trials too: same tables
        pd.testing.assert_frame_equal(resumed.run.observations, decided.run.observations)
        assert (run_dir / "comparisons.csv").read_text() == (decided.run_dir / "comparisons.csv").read_text()
    assert resumed.run.observations["trial"].nunique() == 4


def test_power_command_on_a_real_run(decided, capsys):
    status = cli.main(["power", str(decided.run_dir), "--effect", "2"])
    out = capsys.readouterr().out
    assert status == 0 and "trials for 80%" in out and (decided.run_dir / "power.csv").is_file()
    small, large = (power_table(decided.run.observations, effect=e) for e in (0.5, 5.0))
    finite = np.isfinite(small["trials_needed"]) & np.isfinite(large["trials_needed"])
    assert (small.loc[finite, "trials_needed"] >= large.loc[finite, "trials_needed"]).all()
    assert cli.main(["power", str(decided.run_dir), "--power", "2"]) == 2


def test_cli_run_and_sweep_until_decided(tmp_path, capsys):
    import yaml

    scenario = tmp_path / "tiny.yaml"
    scenario.write_text(yaml.safe_dump(TINY))
    status = cli.main(["run", str(scenario), "--until-decided", "--max-trials", "4", "--precision", "1000",
                       "--out", str(tmp_path / "runs"), "--no-progress"])
    out = capsys.readouterr().out
    # tau is 8 observations: a half-width of at most 1000 decides every comparison at the first look
    assert status == 0 and "Status: decided after 2 trials" in out and "no difference detected (half-width <= 1000)" in out
    assert cli.main(["run", str(scenario), "--until-decided", "--trials", "3", "--max-trials", "2", "--out",
                     str(tmp_path), "--no-progress"]) == 2
    assert "max_trials" in capsys.readouterr().err
    assert cli.main(["run", str(scenario), "--until-decided", "--lockstep", "--out", str(tmp_path),
                     "--no-progress"]) == 2
    assert "--lockstep: not available for an until-decided study" in capsys.readouterr().err
    base = {k: v for k, v in TINY.items() if k != "name"}
    sweep = tmp_path / "sweep.yaml"
    sweep.write_text(yaml.safe_dump({"name": "tiny_sweep", "base": base,
                                     "axes": {"topology": [{"kind": "complete"}, {"kind": "ring"}]}}))
    status = cli.main(["sweep", str(sweep), "--until-decided", "--max-trials", "4", "--out", str(tmp_path / "sweeps"),
                       "--no-progress"])
    assert status == 0 and "rmst" in capsys.readouterr().out
    results = pd.read_csv(tmp_path / "sweeps" / "tiny_sweep" / "sweep_results.csv")
    plans = list((tmp_path / "sweeps" / "tiny_sweep").glob(f"p*/*/{UNTIL_DECIDED_FILE}"))
    assert len(plans) == 2
    for plan in plans:  # each point's trials in the tidy table = its study's final look
        point = plan.parent.parent.name
        target = json.loads(plan.read_text())["target_trials"]
        assert results.loc[results["point"] == point, "trial"].nunique() == target
    comparison = pd.read_csv(tmp_path / "sweeps" / "tiny_sweep" / "topology_comparison.csv")
    assert {"rmst", "rmst_ci_low", "reached_share", "diff_vs_isolated"} <= set(comparison.columns)
