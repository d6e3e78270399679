"""Topologies ranked with simultaneous paired intervals (runs.reports.topology_ranking) and the
paired t-test's exact power (runs.reports.survival): numbers on hand-made sweep tables."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from labnet.runs.reports.survival import detectable_difference, pairs_needed, paired_t_interval, power_at
from labnet.runs.reports.topology_ranking import format_level, network_rmst_table, rank_topologies


def _sweep(shifts: dict[str, float], seeds: int, labs: int = 6, noise: float = 2.0, seed: int = 0) -> pd.DataFrame:
    """A tidy sweep table: per seed a network effect shared by every topology (what pairing removes),
    per topology a shift, per row noise; every lab followed to 40 observations, slow labs to 14."""
    rng = np.random.default_rng(seed)
    rows = []
    for s in range(seeds):
        network = rng.normal(0, 5)
        for topology, shift in shifts.items():
            for lab in range(labs):
                time = 15 + network + shift + rng.normal(0, noise)
                total = 14 if lab % 3 == 0 else 40
                reached = time <= total
                rows.append({"point": f"{topology}-{s}", "seed": s, "topology": topology, "n_labs": labs, "trial": 0,
                             "condition": "networked", "lab": f"lab{lab}", "n_obs_to_threshold": time if reached else np.nan,
                             "reached": reached, "n_obs_total": total})
    return pd.DataFrame(rows)


def test_paired_t_interval_and_exact_power():
    d = np.array([1.0, 2.0, 3.0, 4.0])
    interval = paired_t_interval(d, 0.05)
    assert interval.difference == 2.5 and interval.half_width == pytest.approx(3.182446 * d.std(ddof=1) / 2, rel=1e-6)
    assert interval.verdict("a", "b") == "b faster" and paired_t_interval(-d).verdict("a", "b") == "a faster"
    assert paired_t_interval(d - 2.5).verdict("a", "b", precision=3.0) == "no difference detected (half-width <= 3)"
    assert paired_t_interval([1.0]).half_width == np.inf
    # the noncentral t: 52 pairs detect 4 at sd 10 with 80 % power (textbook value), and the
    # detectable difference inverts the power
    assert pairs_needed(4.0, 10.0) == 52 and 0.80 <= power_at(52, 4.0, 10.0) < power_at(53, 4.0, 10.0)
    assert power_at(51, 4.0, 10.0) < 0.80
    assert power_at(3, detectable_difference(3, 1.0, 0.01), 1.0, 0.01) == pytest.approx(0.8, abs=1e-6)
    # a simulated paired t-test at n = 8 rejects as often as power_at says
    rng = np.random.default_rng(1)
    rejects = [paired_t_interval(rng.normal(1.0, 1.5, 8)).excludes_zero for _ in range(4000)]
    assert np.mean(rejects) == pytest.approx(power_at(8, 1.0, 1.5), abs=0.025)


def test_a_real_shift_is_ranked_and_equal_topologies_are_not():
    table = _sweep({"ring": 0.0, "complete": -3.0, "grid": 3.0}, seeds=12)
    ranking = rank_topologies(table)
    assert ranking.order == ["complete", "ring", "grid"]
    assert ranking.verdict == "ranking decided: complete < ring < grid"
    pairs = ranking.pairs.set_index(["topology_a", "topology_b"])
    assert pairs.loc[("ring", "complete"), "verdict"] == "complete faster"
    assert np.allclose(pairs["alpha_pair"], 0.05 / 3) and (pairs["networks"] == 12).all()
    assert ranking.friedman_p < 0.001
    same = rank_topologies(_sweep({"ring": 0.0, "complete": 0.0, "grid": 0.0}, seeds=12), precision=3.0)
    assert same.verdict == ("indistinguishable at +-3 observations: every pair's interval contains 0 and "
                             "is at most +-3 wide")
    partly = rank_topologies(_sweep({"ring": 0.0, "complete": 0.0, "grid": 3.0}, seeds=12), precision=5.0)
    assert partly.verdict == ("partly ranked: every pair's interval is at most +-5 observations wide and 2 of 3 "
                              "pairs are decided by sign")
    undecided = rank_topologies(_sweep({"ring": 0.0, "complete": 0.0}, seeds=3))
    assert undecided.verdict.startswith("undecided at 3 networks (0 of 1 pairs decided")
    assert "| ring | complete |" in undecided.text()


def test_pairs_share_a_horizon_and_only_complete_networks_count():
    table = _sweep({"ring": 0.0, "complete": 0.0}, seeds=4)
    # a lab followed to 14 under one topology and to 40 under the other counts both up to 14
    lab0 = (table["lab"] == "lab1") & (table["seed"] == 0)
    table.loc[lab0, "n_obs_to_threshold"] = np.where(table.loc[lab0, "topology"] == "ring", 30.0, 12.0)
    table.loc[lab0, "reached"] = True
    table.loc[lab0 & (table["topology"] == "ring"), "n_obs_total"] = 14
    wide = network_rmst_table(table)
    rows = table[(table["seed"] == 0)].copy()
    rows["r"] = np.minimum(rows["n_obs_to_threshold"].where(rows["reached"], np.inf), 40)
    rows.loc[rows["lab"] == "lab1", "r"] = np.minimum(rows.loc[rows["lab"] == "lab1", "n_obs_to_threshold"], 14)
    rows.loc[rows["lab"].isin(["lab0", "lab3"]), "r"] = np.minimum(
        rows.loc[rows["lab"].isin(["lab0", "lab3"]), "n_obs_to_threshold"].fillna(np.inf), 14)
    expected = rows.groupby("topology")["r"].mean()
    assert wide.loc[(0, 6, 0), "ring"] == pytest.approx(expected["ring"])
    assert wide.loc[(0, 6, 0), "complete"] == pytest.approx(expected["complete"])
    # a network missing under one topology is left out of every pair
    ranking = rank_topologies(table[~((table["seed"] == 3) & (table["topology"] == "ring"))])
    assert len(ranking.network_rmst) == 3 and (ranking.pairs["networks"] == 3).all()


def test_bad_tables_name_what_is_missing():
    table = _sweep({"ring": 0.0, "complete": 0.0}, seeds=3)
    with pytest.raises(ValueError, match="n_obs_total"):
        rank_topologies(table.drop(columns="n_obs_total"))
    with pytest.raises(ValueError, match="no row has condition 'isolated'"):
        rank_topologies(table, condition="isolated")
    with pytest.raises(ValueError, match="at least 2 topologies"):
        rank_topologies(table[table["topology"] == "ring"])


# --------------------------------------------------------------------------- a real sweep ranked until decided

def _tiny_sweep(tmp_path):
    import yaml

    labs = [{"name": f"L{i}", "property": f"P{i % 2}", "period_ticks": 1, "initial_points": 5} for i in range(4)]
    base = {"dataset": {"kind": "synthetic", "n_candidates": 120, "n_descriptors": 4, "n_properties": 2,
                        "correlation": 0.7, "seed": 3},
            "labs": labs, "topology": {"kind": "complete"}, "learner": {"n_members": 2, "epochs": 3, "patience": 3},
            "horizon_ticks": 3, "trials": 1, "baselines": ["random"]}
    path = tmp_path / "sweep.yaml"
    path.write_text(yaml.safe_dump({"name": "ranked", "base": base, "backend": "serial",
                                    "axes": {"topology": [{"kind": "complete"}, {"kind": "ring"}], "seed": [0, 1]}}))
    return path


def test_a_sweep_ranked_until_decided_extends_every_point_and_resumes(tmp_path, capsys):
    import json

    from labnet.runs.cli import commands as cli
    from labnet.runs.execution.sweep import load_sweep, run_sweep
    from labnet.runs.execution.until_decided import Plan, StoppingRule, start_plan
    from labnet.runs.execution.until_ranked import UNTIL_RANKED_FILE, sweep_until_ranked

    sweep_file = _tiny_sweep(tmp_path)
    status = cli.main(["sweep", str(sweep_file), "--until-decided", "--decide", "topologies", "--max-trials", "2",
                       "--out", str(tmp_path / "whole"), "--no-progress"])
    out = capsys.readouterr().out
    whole = tmp_path / "whole" / "ranked"
    plan = json.loads((whole / UNTIL_RANKED_FILE).read_text())
    assert status == 0 and plan["looks"] == [1, 2] and "topologies ranked (topology_ranking.md)" in out
    results = pd.read_csv(whole / "sweep_results.csv")
    if plan["status"] == "max_trials":  # undecided at 2 networks: every point went on to 2 trials (4 networks)
        assert (results.groupby("point")["trial"].nunique() == 2).all() and len(plan["history"]) == 2
        assert plan["history"][-1]["networks"] == 4
    report = (whole / "topology_ranking.md").read_text()
    assert "## Stopping rule" in report and f"Status: {plan['status']}" in report
    # the files and the printed verdict are the final look's, at that look's level (not 95 %)
    final_look = plan["history"][-1]
    assert f"this look's level {format_level(final_look['alpha_k'])}" in report
    assert f"topologies ranked (topology_ranking.md): {final_look['verdict']}" in out
    assert (whole / "topology_ranking.png").read_bytes().startswith(b"\x89PNG")
    # killed after the plan named the next look and before any point was extended: the same call
    # continues it, to the same table as the uninterrupted study
    rule = StoppingRule(max_trials=2)
    first = run_sweep(load_sweep(sweep_file), tmp_path / "killed", progress=False)
    saved = start_plan(first.sweep_dir, 1, rule, UNTIL_RANKED_FILE, replicates=2)
    saved.target_trials = 2
    saved.save(first.sweep_dir, UNTIL_RANKED_FILE)
    capsys.readouterr()
    resumed = sweep_until_ranked(sweep_file, tmp_path / "killed", rule, progress=True)
    progress = capsys.readouterr().err  # one line per point raised, as for points run
    assert "raising 4 point(s) to 2 trials" in progress
    assert progress.count("raised to 2 trials: ") == 4 and "[4/4]" in progress
    resumed_plan = Plan.read(resumed.sweep_dir, UNTIL_RANKED_FILE)
    assert resumed_plan.status in ("decided", "max_trials")
    assert resumed.ranking is not None and resumed.ranking.alpha == pytest.approx(resumed_plan.history[-1]["alpha_k"])
    columns = [c for c in results.columns if c != "run_dir"]
    again = pd.read_csv(resumed.sweep_dir / "sweep_results.csv")
    assert (again.groupby("point")["trial"].nunique() == 2).all()
    if plan["status"] == "max_trials":
        pd.testing.assert_frame_equal(again[columns], results[columns])


def test_ranking_until_decided_needs_a_topology_axis(tmp_path):
    import yaml

    from labnet.runs.execution.sweep_backends import SweepError
    from labnet.runs.execution.until_decided import StoppingRule
    from labnet.runs.execution.until_ranked import sweep_until_ranked

    data = yaml.safe_load(_tiny_sweep(tmp_path).read_text())
    data["axes"].pop("topology")
    with pytest.raises(SweepError, match="needs a 'topology' axis"):
        sweep_until_ranked(data, tmp_path, StoppingRule(max_trials=2), progress=False)


def test_the_comparison_counts_each_lab_to_its_own_horizon_and_needs_six_networks():
    from labnet.runs.reports.topology_comparison import topology_comparison_table

    few = _sweep({"ring": 0.0, "complete": 0.0}, seeds=3)
    few = pd.concat([few, few.assign(condition="isolated", n_obs_to_threshold=few["n_obs_to_threshold"] + 30,
                                     reached=few["reached"] & (few["n_obs_to_threshold"] + 30 <= few["n_obs_total"]))])
    table = topology_comparison_table(few).set_index(["topology", "condition"])
    ring = few[(few["topology"] == "ring") & (few["condition"] == "networked")]
    expected = np.minimum(ring["n_obs_to_threshold"].where(ring["reached"], np.inf), ring["n_obs_total"]).mean()
    assert table.loc[("ring", "networked"), "rmst"] == pytest.approx(expected)
    assert (table.loc[("ring", "networked"), "tau_min"], table.loc[("ring", "networked"), "tau_max"]) == (14, 40)
    assert table.loc[("ring", "networked"), "verdict"] == "undecided (N < 6 networks)"
    many = _sweep({"ring": 0.0, "complete": 0.0}, seeds=8)
    many = pd.concat([many, many.assign(condition="isolated", n_obs_to_threshold=np.nan, reached=False)])
    assert topology_comparison_table(many).set_index(["topology", "condition"]).loc[
        ("ring", "networked"), "verdict"] == "networked faster"



def test_levels_keep_their_digits_at_tiny_alpha():
    assert format_level(0.05) == "0.9500"
    assert format_level(0.05 / 15) == "0.9967"
    assert format_level(1.5794e-06 / 15) == "1 - 1.1e-07"  # look 1 of 6 under O'Brien-Fleming


def test_extensions_run_with_the_sweep_files_backend_and_workers(tmp_path):
    import yaml

    from labnet.runs.execution.sweep import load_sweep, sweep_backend

    path = _tiny_sweep(tmp_path)
    data = yaml.safe_load(path.read_text())
    path.write_text(yaml.safe_dump({**data, "backend": "processes", "workers": 1}))
    sweep = load_sweep(path)
    # the CLI passes None for options not given: the sweep file's then, for the first look and every extension
    assert sweep_backend(sweep, None, None) == ("processes", 1)
    assert sweep_backend(sweep, "serial", 2) == ("serial", 2)
