"""Neighbour selection from the fitted scaling of transfer benefit: the selector's rule, its fit,
and a network where a lab learns to try only the neighbour that helps (real training)."""
from __future__ import annotations

import pickle

import numpy as np
import pandas as pd
import pytest

from labnet.agents.neighbour_selection import (
    NEIGHBOUR_SELECTIONS,
    NEIGHBOUR_SELECTORS,
    AllNeighbours,
    ScalingNeighbourSelector,
    neighbour_selector,
)
from labnet.runs.execution.runner import run_scenario
from labnet.runs.config.scenario import ScenarioError, load_scenario


def test_each_selection_name_has_its_selector_and_all_tries_every_neighbour():
    assert tuple(NEIGHBOUR_SELECTORS) == NEIGHBOUR_SELECTIONS
    every = neighbour_selector("all", budget=1, retry_every=1)
    assert isinstance(every, AllNeighbours)
    assert every.choose({"b": 5, "a": 7, "c": 9}, action=3) == ["b", "a", "c"]  # all, in topology order
    scaling = neighbour_selector("scaling", budget=2, retry_every=4)
    assert isinstance(scaling, ScalingNeighbourSelector) and (scaling.budget, scaling.retry_every) == (2, 4)
    with pytest.raises(ValueError, match=r"neighbour_selection = 'some': expected one of all, scaling"):
        neighbour_selector("some", budget=1, retry_every=1)


def test_few_neighbours_are_all_tried_and_untried_ones_come_before_known_ones():
    selector = ScalingNeighbourSelector(budget=2, retry_every=50)
    assert selector.choose({"a": 10, "b": 10}, action=0) == ["a", "b"]
    available = {"a": 10, "b": 10, "c": 10, "d": 10}
    assert selector.choose(available, action=0) == ["a", "b"]  # nothing known: topology order
    selector.record("a", 10, 0.5, action=0)
    selector.record("b", 10, 3.0, action=0)
    assert selector.choose(available, action=1) == ["c", "d"]  # the untried ones next
    selector.record("c", 10, 2.0, action=1)
    selector.record("d", 10, 0.8, action=1)
    assert selector.choose(available, action=2) == ["a", "d"]  # all known, as often: the two lowest ratios

    one = ScalingNeighbourSelector(budget=1, retry_every=50)
    one.record("a", 10, 0.5, action=0)
    assert one.choose(available, action=1) == ["b"]
    for name in "bcd":
        one.record(name, 10, 2.0, action=1)
    assert one.choose(available, action=2) == ["a"]


def test_rarely_tried_neighbours_get_a_wider_bound_and_stale_ones_are_retried():
    selector = ScalingNeighbourSelector(budget=1, retry_every=100)
    for action in range(6):
        selector.record("often", 10, 0.9, action)
    selector.record("once", 10, 1.2, action=0)
    # once: log 1.2 - 0.5 / 1 = -0.32 < often: log 0.9 - 0.5 / sqrt(6) = -0.31: worth another try
    assert selector.choose({"often": 10, "once": 10}, action=6) == ["once"]

    stale = ScalingNeighbourSelector(budget=2, retry_every=3)
    for name, ratio in (("a", 0.5), ("b", 0.6), ("c", 4.0)):
        stale.record(name, 10, ratio, action=0)
    available = {"a": 10, "b": 10, "c": 10}
    assert stale.choose(available, action=1) == ["a", "b"]
    stale.record("a", 11, 0.5, action=1)
    stale.record("b", 11, 0.6, action=1)
    assert stale.choose(available, action=3) == ["a", "c"]  # c last tried at 0: stale at 3


def test_the_power_law_fit_predicts_a_neighbour_that_improves_with_its_data():
    """A neighbour whose ratio falls as its model's data grows (r = 4 n^-0.5 + 0.3) overtakes one
    that was better at small n but does not improve (r = 0.8): the fit extrapolates, the mean does not."""
    selector = ScalingNeighbourSelector(budget=1, retry_every=100)
    for action, n in enumerate((10, 20, 40, 80)):
        selector.record("improving", n, 4.0 * n ** -0.5 + 0.3, action)
        selector.record("flat", n, 0.8, action)
    assert selector.predicted_ratio("improving", 400) == pytest.approx(4.0 * 400 ** -0.5 + 0.3, rel=0.02)
    assert np.exp(np.mean(selector.history["improving"].log_ratio)) > 0.8  # the mean alone would rank it second
    assert selector.choose({"flat": 400, "improving": 400}, action=4) == ["improving"]
    assert selector.predicted_ratio("flat", 400) == pytest.approx(0.8, rel=1e-3)
    assert selector.predicted_ratio("never", 10) is None
    again = pickle.loads(pickle.dumps(selector))  # it travels in checkpoints
    assert again.choose({"flat": 400, "improving": 400}, action=4) == ["improving"]


def network_scenario(selection: dict) -> dict:
    """Lab A (P0) with one useful neighbour (B, also P0) and three that measure unrelated properties."""
    return {
        "name": f"select-{selection.get('neighbour_selection', 'all')}",
        "dataset": {"kind": "synthetic", "n_candidates": 400, "n_descriptors": 6, "n_properties": 4,
                    "correlation": 0.0, "seed": 2},
        "labs": [{"name": "A", "property": "P0", "period_ticks": 1, "initial_points": 8, **selection},
                 {"name": "B", "property": "P0", "period_ticks": 1, "initial_points": 30},
                 {"name": "C", "property": "P1", "period_ticks": 1, "initial_points": 30},
                 {"name": "D", "property": "P2", "period_ticks": 1, "initial_points": 30},
                 {"name": "E", "property": "P3", "period_ticks": 1, "initial_points": 30}],
        "topology": {"kind": "edges", "edges": [{"source": s, "target": "A"} for s in "BCDE"]},
        "learner": {"n_members": 3, "epochs": 20, "patience": 20},
        "horizon_ticks": 14, "trials": 1, "baselines": [],
    }


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    out = tmp_path_factory.mktemp("selection")
    return {name: run_scenario(load_scenario(network_scenario(selection)), out, progress=False)
            for name, selection in (("all", {}),
                                    ("scaling", {"neighbour_selection": "scaling", "neighbour_budget": 1,
                                                 "neighbour_retry_every": 6}))}


def test_a_lab_learns_to_try_the_neighbour_that_helps(runs):
    transfers = {name: pd.read_parquet(result.transfers_path) for name, result in runs.items()}
    steps = {name: pd.read_parquet(result.steps_path) for name, result in runs.items()}
    every = transfers["all"][transfers["all"].target == "A"]
    chosen = transfers["scaling"][transfers["scaling"].target == "A"]
    assert every.groupby("tick").size().eq(4).all()  # "all": every neighbour at every action
    assert chosen.groupby("tick").size().eq(1).all()  # budget 1
    acted = steps["scaling"][(steps["scaling"].lab == "A") & (steps["scaling"].phase == "acquisition")]
    acted = acted[acted.tick >= 1]  # at tick 0 no neighbour has published yet
    assert acted.neighbours_skipped.eq(3).all() and acted.n_candidates.eq(2).all()
    assert steps["all"].loc[steps["all"].lab == "A", "neighbours_skipped"].eq(0).all()
    # every neighbour is explored (ticks 1-4), stale ones are retried (every 6 actions), and the
    # same-property neighbour, which helps, is the one tried otherwise
    assert list(chosen.source[:4]) == ["B", "C", "D", "E"]
    assert set(chosen.source[chosen.tick > 6]) == {"B", "C", "D", "E"}
    assert chosen.source.value_counts().idxmax() == "B"
    # a neighbour's candidate is built the same way whichever others are tried (same seeds; at the first
    # tick with neighbours, lab A holds the same data in both runs)
    assert chosen.tick.iloc[0] == every.tick.iloc[0] == 1
    first = every[(every.tick == 1) & (every.source == chosen.source.iloc[0])]
    assert first.validation_loss.iloc[0] == pytest.approx(chosen.validation_loss.iloc[0])


def test_selection_settings_without_scaling_are_named():
    data = network_scenario({"neighbour_budget": 3})
    with pytest.raises(ScenarioError, match=r"labs\[0\]\.neighbour_budget: only used when neighbour_selection is 'scaling'"):
        load_scenario(data)
    with pytest.raises(ScenarioError, match=r"labs\[0\]\.neighbour_selection: unexpected value 'some'"):
        load_scenario(network_scenario({"neighbour_selection": "some"}))
