"""Headline metric, summary statistics, formatting and the best-so-far plot on hand-made tables."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from labnet.runs.reports.analysis import (
    best_at_budgets,
    bootstrap_mean_ci,
    compare_conditions,
    format_comparisons,
    format_summary,
    observations_to_threshold,
    summarize,
    summary_markdown,
)
from labnet.runs.reports.plots import plot_best_so_far


def lab_rows(trial, condition, lab, best_true, prop="P", n_initial=3):
    """Rows of a step table for one lab and run: ``best_true[i]`` is best_true_so_far at n_obs i + 1."""
    return [
        {
            "trial": trial,
            "condition": condition,
            "tick": -1 if i < n_initial else i - n_initial,
            "lab": lab,
            "property": prop,
            "phase": "initial" if i < n_initial else "acquisition",
            "n_obs": i + 1,
            "best_true_so_far": value,
        }
        for i, value in enumerate(best_true)
    ]


@pytest.fixture
def steps():
    rows = []
    # A maximizes P0 with threshold 0.9; B minimizes P1 with threshold 0.2.
    rows += lab_rows(0, "networked", "A", [0.1, 0.5, 0.5, 0.7, 0.95, 0.99], prop="P0")  # reached at n_obs 5
    rows += lab_rows(0, "networked", "B", [0.9, 0.1, 0.1, 0.1, 0.1, 0.1], prop="P1")  # initial point 2 reaches
    rows += lab_rows(0, "isolated", "A", [0.1, 0.2, 0.3, 0.4, 0.5, 0.6], prop="P0")  # never
    rows += lab_rows(0, "isolated", "B", [0.9, 0.8, 0.5, 0.3, 0.2, 0.2], prop="P1")  # at n_obs 5 (equality)
    rows += lab_rows(1, "networked", "A", [0.9, 0.9, 0.9, 0.9, 0.9, 0.9], prop="P0")  # first initial point, equality
    rows += lab_rows(1, "networked", "B", [0.5, 0.5, 0.5, 0.5, 0.5, 0.25], prop="P1")  # never
    return pd.DataFrame(rows)


THRESHOLDS = {"A": 0.9, "B": 0.2}
GOALS = {"A": "maximize", "B": "minimize"}


def test_observations_to_threshold_known_answer(steps):
    obs = observations_to_threshold(steps, THRESHOLDS, GOALS)
    got = {(r.trial, r.condition, r.lab): r.n_obs_to_threshold for r in obs.itertuples()}
    assert got[(0, "networked", "A")] == 5
    assert got[(0, "networked", "B")] == 2  # reached by an initial point: initial points are counted
    assert np.isnan(got[(0, "isolated", "A")])
    assert got[(0, "isolated", "B")] == 5
    assert got[(1, "networked", "A")] == 1
    assert np.isnan(got[(1, "networked", "B")])
    assert obs["reached"].tolist() == [True, True, False, True, True, False]
    assert (obs["n_obs_total"] == 6).all()
    assert obs.loc[obs["lab"] == "B", "property"].eq("P1").all()
    assert list(obs.columns[:3]) == ["trial", "condition", "lab"]


def test_observations_to_threshold_needs_every_threshold(steps):
    with pytest.raises(ValueError, match="no threshold for lab"):
        observations_to_threshold(steps, {"A": 0.9}, GOALS)


def separated_obs():
    """10 trials per condition; networked clearly faster than isolated; random never reaches in trial 9."""
    rows = []
    for trial in range(10):
        rows.append({"trial": trial, "condition": "networked", "lab": "A", "n_obs_to_threshold": 10.0 + trial % 3})
        rows.append({"trial": trial, "condition": "isolated", "lab": "A", "n_obs_to_threshold": 30.0 + trial % 4})
        rows.append({"trial": trial, "condition": "random", "lab": "A", "n_obs_to_threshold": np.nan if trial == 9 else 50.0})
    obs = pd.DataFrame(rows)
    obs["property"], obs["goal"], obs["threshold"] = "P0", "maximize", 0.9
    obs["reached"] = obs["n_obs_to_threshold"].notna()
    obs["n_obs_total"] = 60
    return obs


def test_summarize_ci_contains_mean_and_separated_groups_are_significant():
    summary = summarize(separated_obs(), seed=0)
    assert summary["condition"].tolist() == ["networked", "isolated", "random"]
    for row in summary.itertuples():
        assert row.mean_reached_ci_low <= row.mean_reached <= row.mean_reached_ci_high
        assert row.rmst_ci_low <= row.rmst <= row.rmst_ci_high
    networked = summary.set_index("condition").loc["networked"]
    assert networked["mean_reached"] == pytest.approx(np.mean([10 + t % 3 for t in range(10)]))
    assert networked["rmst"] == pytest.approx(networked["mean_reached"])  # every trial reached: RMST = mean
    assert networked["mean_reached_ci_low"] < networked["mean_reached_ci_high"]
    assert networked["p_mwu_reached"] < 0.001
    random = summary.set_index("condition").loc["random"]
    assert random["reached"] == "9/10" and random["mean_reached"] == 50.0
    # the unreached trial counts as tau = 60 in the RMST: (9 * 50 + 60) / 10, not the reached-only 50
    assert random["tau"] == 60 and random["rmst"] == pytest.approx(51.0)
    assert random["median"] == 50.0


def test_summarize_is_seeded_and_handles_small_groups():
    obs = separated_obs()
    assert summarize(obs, seed=3).equals(summarize(obs, seed=3))
    few = obs[(obs["trial"] < 1) | (obs["condition"] != "isolated")]  # one isolated value: no test
    summary = summarize(few)
    assert summary["p_mwu_reached"].isna().all()
    none_reached = obs.assign(n_obs_to_threshold=np.nan, reached=False)
    row = summarize(none_reached).iloc[0]
    assert row["reached"] == "0/10" and np.isnan(row["mean_reached"]) and np.isnan(row["mean_reached_ci_low"])
    assert row["rmst"] == 60 and np.isinf(row["median"])  # nobody reached: every trial counts tau


def test_bootstrap_ci_of_a_constant_is_the_constant():
    assert bootstrap_mean_ci([4.0, 4.0, 4.0]) == (4.0, 4.0)
    assert all(np.isnan(bootstrap_mean_ci([])))


def test_format_summary_text_and_markdown():
    summary = summarize(separated_obs())
    text = format_summary(summary)
    lines = text.splitlines()
    assert lines[0].split()[:4] == ["lab", "property", "target", "condition"]
    assert len(lines) == 2 + 3
    assert "9/10" in text and ">= 0.9" in text and "RMST" in lines[0]
    markdown = format_summary(summary, markdown=True)
    assert markdown.splitlines()[0].startswith("| lab |") and markdown.count("\n") == 4
    comparisons = compare_conditions(separated_obs())
    report = summary_markdown(summary, title="demo", details=["3 labs"], comparisons=comparisons)
    assert report.startswith("# demo") and "initial random points are counted" in report
    assert "Paired comparisons (headline)" in report and "networked faster" in report
    assert "networked faster" in format_comparisons(comparisons)


def test_comparisons_are_paired_and_name_ci_test_and_n():
    comparisons = compare_conditions(separated_obs(), seed=0).set_index("comparison")
    iso = comparisons.loc["networked - isolated"]
    # RMST difference: mean(10 + t % 3) - mean(30 + t % 4) over the 10 paired trials
    expected = np.mean([10 + t % 3 for t in range(10)]) - np.mean([30 + t % 4 for t in range(10)])
    assert iso["difference"] == pytest.approx(expected)
    assert iso["ci_low"] <= iso["difference"] <= iso["ci_high"] < 0
    assert iso["n_pairs"] == 10 and "paired bootstrap" in iso["test"] and iso["verdict"] == "networked faster"
    assert iso["p_logrank_stratified"] < 0.01
    few = separated_obs()[separated_obs()["trial"] < 4]  # 4 pairs: no verdict, whatever the CI
    assert compare_conditions(few).iloc[0]["verdict"].startswith("undecided")


def test_best_at_budgets_takes_the_value_at_the_budget(steps):
    budgets = best_at_budgets(steps, budgets=(2, 5, 100))
    assert set(budgets["budget"]) == {2, 5}  # no run has 100 observations
    row = budgets[(budgets.trial == 0) & (budgets.condition == "networked") & (budgets.lab == "A") & (budgets.budget == 5)]
    assert row["best"].item() == 0.95


def test_best_so_far_plot_writes_a_png(steps, tmp_path):
    path = plot_best_so_far(steps, THRESHOLDS, tmp_path / "best.png", title="demo")
    data = path.read_bytes()
    assert data.startswith(b"\x89PNG") and len(data) > 10_000
