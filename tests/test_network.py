"""Behaviour of the lab network: clocks, timing of transfers, selection, acquisition, determinism."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from typing import get_args

from labnet.agents import LabSpec
from labnet.agents.candidates import NeighbourCandidate, ScratchCandidate
from labnet.agents.lab import BayesianOptimizationLab, RandomSearchLab
from labnet.agents.plan import ActionPlan
from labnet.agents.spec import Strategy
from labnet.agents.step_record import StepRecord
from labnet.agents.strategies import LAB_STRATEGIES, lab_class
from labnet.environment import Topology, synthetic_world
from labnet.simulation import ExplorationNetwork, tick_frame
from labnet.models import LearnerConfig, UpperConfidenceBound, argmax_unmeasured, predict_ensemble, select_best, train_jobs

FAST = LearnerConfig(n_members=4, epochs=4, patience=4)
NAMES = ["A", "B", "C"]


@pytest.fixture(scope="module")
def space():
    return synthetic_world(n_candidates=300, n_descriptors=8, n_properties=3, correlation=0.6, seed=3)


def three_labs(periods=(1, 1, 1)) -> list[LabSpec]:
    return [LabSpec(name, f"P{i}", period_ticks=p, initial_points=6) for i, (name, p) in enumerate(zip(NAMES, periods))]


def run(space, topology, ticks=4, labs=None, seed=0, **kwargs) -> ExplorationNetwork:
    net = ExplorationNetwork(space, labs or three_labs(), topology, FAST, seed=seed, **kwargs)
    net.run(ticks)
    return net


def acquisitions(net: ExplorationNetwork) -> pd.DataFrame:
    steps = net.step_table()
    return steps[steps.phase == "acquisition"]


def test_a_lab_with_period_3_acts_at_ticks_0_3_6(space):
    net = run(space, Topology.complete(NAMES), ticks=8, labs=three_labs(periods=(1, 3, 2)))
    acts = acquisitions(net)
    assert acts[acts.lab == "B"].tick.tolist() == [0, 3, 6]
    assert acts[acts.lab == "C"].tick.tolist() == [0, 2, 4, 6]
    assert acts[acts.lab == "A"].tick.tolist() == list(range(8))


def test_snapshot_published_at_t_is_first_used_at_t_plus_1(space):
    net = run(space, Topology.complete(NAMES), ticks=3)
    acts = acquisitions(net)
    assert (acts[acts.tick == 0].n_candidates == 1).all()  # nothing published before tick 0
    assert (acts[acts.tick >= 1].n_candidates == 3).all()
    transfers = net.transfer_table()
    assert transfers.tick.min() == 1


def test_edge_latency_delays_the_first_transfer(space):
    topology = Topology.from_edges(NAMES, [("A", "B", 2), ("C", "B", 0)])
    transfers = run(space, topology, ticks=5).transfer_table()
    first_use = transfers.groupby("source").tick.min()
    assert first_use["A"] == 0 + 1 + 2
    assert first_use["C"] == 1


def test_broker_respects_edge_direction(space):
    net = run(space, Topology.from_edges(NAMES, [("A", "B")]), ticks=3)
    transfers = net.transfer_table()
    assert set(zip(transfers.source, transfers.target)) == {("A", "B")}
    assert set(zip(transfers.source_property, transfers.target_property)) == {("P0", "P1")}
    acts = acquisitions(net)
    assert (acts[acts.lab != "B"].n_candidates == 1).all()


def test_bpm_is_the_argmin_of_validation_loss(space):
    acts = acquisitions(run(space, Topology.complete(NAMES), ticks=4))
    for _, row in acts.iterrows():
        losses = json.loads(row.candidate_losses)
        labels = list(losses)
        best = labels[select_best(list(losses.values()))]
        assert row.bpm_validation_loss == pytest.approx(min(losses.values()))
        assert row.bpm_source == (row.lab if best.split("#")[0] == row.lab else best)
    assert set(acts.bpm_kind) == {"scratch", "transfer"}  # both kinds actually win sometimes


def test_isolated_mode_builds_as_many_candidates_as_the_networked_lab(space):
    topology = Topology.complete(NAMES)
    isolated = {name: 1 + topology.in_degree(name) for name in NAMES}
    net = run(space, Topology.isolated(NAMES), ticks=3, isolated_candidates=isolated)
    acts = acquisitions(net)
    assert (acts.n_candidates == 3).all()
    assert len(net.transfer_table()) == 0
    assert set(acts.bpm_kind) == {"scratch"}


def test_ucb_picks_the_argmax_of_mu_plus_3_sigma_among_unmeasured(space):
    calls = []

    def recording_trainer(jobs, X, sizes, config):
        results = train_jobs(jobs, X, sizes, config)
        calls.append(results)
        return results

    labs = [LabSpec("A", "P0", initial_points=6)]
    net = ExplorationNetwork(space, labs, Topology.isolated(["A"]), FAST, seed=5,
                             isolated_candidates={"A": 2}, trainer=recording_trainer)
    lab = next(iter(net.agents))
    for _ in range(3):
        measured_before = lab.measured.copy()
        net.step()
        results = calls[-1]
        bpm = results[select_best([r.validation_loss for r in results])]
        preds = predict_ensemble(bpm.params, net.layer_sizes, space.descriptors)
        scores = preds.mean(0) + 3.0 * preds.std(0)
        expected = int(np.argmax(np.where(measured_before, -np.inf, scores)))
        assert lab.rows[-1] == expected
        assert not measured_before[expected]


def test_ucb_for_minimization_prefers_low_mean():
    mu, sigma = np.array([1.0, -2.0, 0.5]), np.array([0.1, 0.1, 0.1])
    assert argmax_unmeasured(UpperConfidenceBound(3.0, maximize=True)(mu, sigma), np.zeros(3, bool)) == 0
    assert argmax_unmeasured(UpperConfidenceBound(3.0, maximize=False)(mu, sigma), np.zeros(3, bool)) == 1
    assert argmax_unmeasured(np.array([5.0, 1.0, 0.0]), np.array([True, False, False])) == 1
    # twins (candidates 1 and 3 share descriptors) score alike: the first unmeasured twin wins,
    # whichever of them rounding favoured
    twins = np.array([0, 1, 2, 1])
    assert argmax_unmeasured(np.array([0.0, 2.0, 1.0, 2.0 + 1e-12]), np.zeros(4, bool), twins) == 1
    assert argmax_unmeasured(np.array([0.0, 2.0, 1.0, 2.0 + 1e-12]), np.array([False, True, False, False]), twins) == 3


def test_no_lab_measures_a_material_twice(space):
    labs = three_labs() + [LabSpec("R", "P0", strategy="random", initial_points=6)]
    steps = run(space, Topology.complete(NAMES + ["R"]), ticks=6, labs=labs).step_table()
    assert not steps.duplicated(["lab", "material_index"]).any()
    assert len(steps) == 4 * 6 + 4 * 6


def test_same_seed_same_table_other_seed_different(space):
    a = run(space, Topology.complete(NAMES), ticks=3, seed=11).step_table()
    b = run(space, Topology.complete(NAMES), ticks=3, seed=11).step_table()
    c = run(space, Topology.complete(NAMES), ticks=3, seed=12).step_table()
    pd.testing.assert_frame_equal(a, b)
    assert not a.material_index.equals(c.material_index)


def test_initial_points_are_shared_across_conditions(space):
    networked = run(space, Topology.complete(NAMES), ticks=1, seed=4).step_table()
    random_labs = [LabSpec(n, f"P{i}", strategy="random", initial_points=6) for i, n in enumerate(NAMES)]
    random = run(space, Topology.isolated(NAMES), ticks=1, seed=4, labs=random_labs).step_table()
    pick = lambda t: t[t.phase == "initial"][["lab", "material_index"]].reset_index(drop=True)  # noqa: E731
    pd.testing.assert_frame_equal(pick(networked), pick(random))


def test_the_tick_table_reports_each_tick_as_the_labs_saw_it(space):
    """tick_table() is derived from the step and transfer tables; checked against the labs' own state
    read after every tick (a period-2 lab and a random lab starting at tick 1 keep their best in between)."""
    labs = three_labs(periods=(1, 2, 1)) + [LabSpec("R", "P0", strategy="random", initial_points=6, phase_ticks=1)]
    net = ExplorationNetwork(space, labs, Topology.complete(NAMES + ["R"]), FAST, seed=1)
    seen = []

    def read_labs(tick):
        events = net.transfer_log.events()
        seen.append((tick, sum(lab.n_obs for lab in net.agents), np.mean([lab.best_true_so_far for lab in net.agents]),
                     len(events), sum(e.selected for e in events)))

    net.run(4, progress=read_labs)
    table = net.tick_table()
    assert list(table.columns) == ["tick", "acquisitions", "n_obs", "mean_best_true_so_far", "transfers_built",
                                   "transfers_selected"]
    assert table.acquisitions.tolist() == [3, 3, 4, 3]  # B acts at 0 and 2, R from tick 1
    for row, (tick, n_obs, best, built, selected) in zip(table.itertuples(), seen):
        assert (row.tick, row.n_obs, row.transfers_built, row.transfers_selected) == (tick, n_obs, built, selected)
        assert row.mean_best_true_so_far == pytest.approx(best)
    assert table.transfers_built.iloc[-1] == len(net.transfer_table()) > 0
    pd.testing.assert_frame_equal(tick_frame(net.step_table(), net.transfer_table(), 4), table)  # same from the tables
    assert len(tick_frame(net.step_table(), net.transfer_table(), 0)) == 0


def test_every_strategy_is_registered_and_an_unknown_one_is_named():
    assert set(LAB_STRATEGIES) == set(get_args(Strategy))
    assert lab_class("bo") is BayesianOptimizationLab and lab_class("random") is RandomSearchLab
    with pytest.raises(ValueError, match=r"strategy = 'grid': expected one of bo, random"):
        lab_class("grid")


def test_a_lab_stepping_alone_acts_exactly_as_in_the_batched_network(space):
    """Mesa's agent step (plan, train its own tasks, complete) gives the network's results, which
    train every acting lab's plan in one engine call."""
    batched = run(space, Topology.complete(NAMES), ticks=3, labs=three_labs(periods=(1, 2, 1)), seed=7)
    alone = ExplorationNetwork(space, three_labs(periods=(1, 2, 1)), Topology.complete(NAMES), FAST, seed=7)
    for tick in range(3):
        for lab in alone.agents:
            lab.step()
        alone.tick += 1
    pd.testing.assert_frame_equal(alone.step_table(), batched.step_table())
    pd.testing.assert_frame_equal(alone.transfer_table(), batched.transfer_table())


def test_a_plan_is_a_value_the_lab_keeps_nothing_of_between_plan_and_complete(space):
    net = ExplorationNetwork(space, three_labs(), Topology.complete(NAMES), FAST, seed=2)
    net.run(1)
    lab = next(iter(net.agents))
    state = set(vars(lab))
    plan = lab.plan_action(1)
    assert set(vars(lab)) == state
    assert isinstance(plan, ActionPlan) and plan.tick == 1 and plan.action == 1
    assert [type(c) for c in plan.candidates] == [ScratchCandidate, NeighbourCandidate, NeighbourCandidate]
    assert [c.kind for c in plan.candidates] == ["scratch", "transfer", "transfer"]
    assert len(plan.engine_tasks) == 3 and plan.own.source == "A"
    assert len(plan.split.train_rows) + len(plan.split.val_rows) == lab.n_obs
    with pytest.raises(RuntimeError, match="3 candidate ensembles planned, 1 trained"):
        lab.complete_action(plan, lab.train(plan)[:1])
    lab.complete_action(plan, lab.train(plan))
    record = lab.log[-1]
    assert isinstance(record, StepRecord) and record.tick == 1 and record.n_candidates == 3
    assert list(record.as_dict()) == list(net.step_table().columns)


def test_the_agents_reach_the_world_through_protocols_only():
    """agents/lab.py never imports labnet.environment (not even for typing); no agent module
    imports the floors above (simulation, runs)."""
    import ast
    from pathlib import Path

    folder = Path(__file__).resolve().parents[1] / "agents"
    for path in folder.glob("*.py"):
        tree = ast.parse(path.read_text())
        parents = ["labnet.agents", "labnet"]  # what a relative import of level 1, 2 starts from
        imported = [node.module or "" if not node.level else ".".join(filter(None, [parents[node.level - 1], node.module]))
                    for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)]
        imported += [alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names]
        assert not [m for m in imported if m.startswith(("labnet.simulation", "labnet.runs"))], path.name
        if path.name == "lab.py":
            assert not [m for m in imported if m.startswith("labnet.environment")]


def test_network_rejects_labs_that_are_not_topology_nodes(space):
    with pytest.raises(ValueError, match="labs and topology nodes differ"):
        ExplorationNetwork(space, three_labs(), Topology.complete(["A", "B"]), FAST)
