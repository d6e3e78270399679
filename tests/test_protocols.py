"""The two learner protocols (docs/algorithm.md → The two protocols): ``paper_text`` and ``authors_code``.

Each rule of ``authors_code`` is tested where it acts, in a case where the two protocols differ:
the 64/16/20 split, selection by the last epoch's validation loss with the L2 term, the last
epoch's weights kept unless early stopping fires, two output neurons per member with predictions
read from the first, one ensemble in the isolated control, and event order within a tick. The
engines (numba, torch, the reference) agree under it. ``paper_text`` is covered by every other
test and by tests/test_identical_tables.py.
"""
from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

from labnet.agents import LabSpec
from labnet.environment import Topology, synthetic_world
from labnet.environment.broker import ModelBroker
from labnet.models import LearnerConfig, TrainJob, TrainResult, select_best, train_jobs
from labnet.models.candidate import EngineEnsemble, TrainingSplit
from labnet.models.choices import LEARNER_PROTOCOLS
from labnet.models.config import PROTOCOL_RULES
from labnet.models.grouping import EngineTask
from labnet.models.mlp import MLP, kernel_mask, layer_sizes_for, lecun_normal_params, predict_ensemble
from labnet.models.predictor import EnsemblePredictor
from labnet.models.reference import train_jobs_reference
from labnet.models.selection import keras_split
from labnet.models.torch_engine import train_jobs_torch
from labnet.simulation import ExplorationNetwork
from labnet.simulation.network import event_order
from scenarios import composition_world

N_ROWS, N_SLOTS = 300, 39
SIZES_1 = layer_sizes_for(N_SLOTS, (100, 100, 10))
SIZES_2 = layer_sizes_for(N_SLOTS, (100, 100, 10), 2)
AUTHORS = LearnerConfig(epochs=8, protocol="authors_code")
PAPER = LearnerConfig(epochs=8)


@pytest.fixture(scope="module")
def world() -> tuple[np.ndarray, np.ndarray]:
    """X float32 [300, 39] (3 non-zero fractions per row) and a noisy smooth y [300]."""
    return composition_world(7, N_ROWS, N_SLOTS)


def make_job(world, n_train: int, n_val: int, seed: int, sizes=SIZES_2, params=None, n_members: int = 4,
             frozen_layers: int = 0) -> TrainJob:
    X, y = world
    rng = np.random.default_rng(seed)
    rows = rng.permutation(N_ROWS)[: n_train + n_val]
    ys = ((y[rows] - y[rows].mean()) / y[rows].std()).astype(np.float32)
    if params is None:
        params = lecun_normal_params(sizes, n_members, rng)
    return TrainJob(params.copy(), rows[:n_train], ys[:n_train], rows[n_train:], ys[n_train:],
                    rng.integers(0, 2**63, size=params.shape[0]).astype(np.uint64), frozen_layers)


def l2_term(params: np.ndarray, sizes, l2: float) -> np.ndarray:
    """l2 * sum of squared kernel weights of each member, float64 [K]."""
    return l2 * ((params.astype(np.float64) ** 2) * kernel_mask(sizes)).sum(axis=1)


def outputs(params: np.ndarray, sizes, X: np.ndarray) -> np.ndarray:
    """Every output neuron of every member: float64 [K, N, n_outputs]."""
    import torch

    with torch.no_grad():
        return np.stack([MLP.from_flat(p, sizes).outputs(torch.from_numpy(X)).double().numpy() for p in params])


# --------------------------------------------------------------------------- the declaration


def test_every_protocol_name_has_rules_and_an_unknown_one_is_named():
    assert set(PROTOCOL_RULES) == set(LEARNER_PROTOCOLS) == {"paper_text", "authors_code"}
    assert LearnerConfig().protocol == "paper_text"
    with pytest.raises(ValueError, match=r"learner.protocol = 'keras': expected one of paper_text, authors_code"):
        LearnerConfig(protocol="keras")


# --------------------------------------------------------------------------- 1. the 64/16/20 split


def test_the_authors_split_is_64_16_20_of_100_and_6_2_2_of_10():
    for n, sizes in ((100, (64, 16, 20)), (10, (6, 2, 2)), (37, (24, 6, 7)), (6, (4, 1, 1))):
        train, val, test = keras_split(n, 0.2, 0.2, np.random.default_rng(n))
        assert (len(train), len(val), len(test)) == sizes
        assert sorted(np.concatenate([train, val, test]).tolist()) == list(range(n))  # disjoint, complete
    with pytest.raises(ValueError, match="1 observations are too few for a 20% test"):
        keras_split(1, 0.2, 0.2, np.random.default_rng(0))


@pytest.fixture(scope="module")
def space():
    return synthetic_world(n_candidates=200, n_descriptors=8, n_properties=3, correlation=0.6, seed=5)


def labs(periods=(1, 3, 9), initial_points=10) -> list[LabSpec]:
    return [LabSpec(name, f"P{i}", period_ticks=p, initial_points=initial_points)
            for i, (name, p) in enumerate(zip(("M", "Tc", "Sp"), periods))]


FAST_AUTHORS = LearnerConfig(n_members=3, epochs=3, patience=3, protocol="authors_code")
FAST_PAPER = dataclasses.replace(FAST_AUTHORS, protocol="paper_text")


def test_an_authors_code_action_trains_on_6_validates_on_2_and_leaves_2_of_10_unused(space):
    for learner, expected in ((FAST_AUTHORS, (6, 2)), (FAST_PAPER, (8, 2))):
        net = ExplorationNetwork(space, labs(), Topology.complete(["M", "Tc", "Sp"]), learner, seed=1)
        lab = next(lab for lab in net.agents if lab.name == "M")
        split = lab.plan_action(0).split
        assert (len(split.train_rows), len(split.val_rows)) == expected
        assert set(split.train_rows).isdisjoint(split.val_rows)
        assert set(split.train_rows) | set(split.val_rows) <= set(lab.rows)


# --------------------------------------------------------------------------- 2-3. selection loss, kept weights


def test_authors_code_keeps_the_last_epochs_weights_and_reports_its_loss_with_l2(world):
    X = world[0]
    job = make_job(world, 24, 8, seed=3, sizes=SIZES_1, n_members=4)
    config = dataclasses.replace(AUTHORS, epochs=30)  # patience 100 > 30 epochs: early stopping never fires
    last = train_jobs([job], X, SIZES_1, config)[0]
    best = train_jobs([job], X, SIZES_1, dataclasses.replace(config, protocol="paper_text"))[0]
    assert (last.epochs_run == 30).all()
    assert (best.best_epoch < 29).any(), "some member's best epoch must not be its last for the rules to differ"
    # the kept weights are those the last epoch's loss was measured at ...
    np.testing.assert_allclose(last.last_loss, last.val_mse + l2_term(last.params, SIZES_1, config.l2), rtol=1e-5)
    # ... while paper_text restores the best epoch's, whose loss is lower than the last one
    differs = best.best_epoch < 29
    assert not np.allclose(last.params[differs], best.params[differs])
    monitor_at_best = best.val_mse + l2_term(best.params, SIZES_1, config.l2)
    assert (monitor_at_best[differs] < last.last_loss[differs]).all()
    np.testing.assert_allclose(best.last_loss, last.last_loss, rtol=0)  # same training up to the end


def test_authors_code_restores_the_best_weights_when_early_stopping_fires(world):
    X = world[0]
    job = make_job(world, 24, 8, seed=4, sizes=SIZES_1, n_members=6)
    config = LearnerConfig(epochs=17, patience=2, protocol="authors_code")
    authors = train_jobs([job], X, SIZES_1, config)[0]
    paper = train_jobs([job], X, SIZES_1, dataclasses.replace(config, protocol="paper_text"))[0]
    stopped = authors.epochs_run < config.epochs
    ran_on = ~stopped & (authors.best_epoch < config.epochs - 1)  # ran to the end, best epoch not the last
    assert stopped.any() and ran_on.any(), f"want both kinds of member: {authors.epochs_run}, {authors.best_epoch}"
    assert authors.params[stopped].tobytes() == paper.params[stopped].tobytes()  # restored, as Keras does
    for m in np.flatnonzero(ran_on):  # the last epoch's kept
        assert not np.allclose(authors.params[m], paper.params[m])


def test_selection_follows_the_last_epoch_loss_with_l2_where_the_rules_disagree(world):
    """A has the lower validation MSE at its kept weights, B the lower last-epoch loss with L2."""
    X = world[0]
    split = TrainingSplit(np.arange(4), np.zeros(4, np.float32), np.arange(4, 6), np.zeros(2, np.float32))
    k, p = 2, SIZES_1
    job = make_job(world, 4, 2, seed=0, sizes=p, n_members=k)
    a = TrainResult(job.params, np.array([0.10, 0.12]), np.zeros(k, int), np.full(k, 8), np.array([0.50, 0.52]))
    b = TrainResult(job.params, np.array([0.20, 0.22]), np.zeros(k, int), np.full(k, 8), np.array([0.40, 0.42]))
    for config, winner in ((PAPER, 0), (AUTHORS, 1)):
        fitted = [EngineEnsemble(EngineTask(job, p, config)).fit(r, X, split) for r in (a, b)]
        assert select_best([f.validation_loss for f in fitted]) == winner
    assert a.selection_loss(AUTHORS) == pytest.approx(0.51) and a.selection_loss(PAPER) == pytest.approx(0.11)


def test_a_lab_logs_and_publishes_its_candidates_last_epoch_losses(space):
    net = ExplorationNetwork(space, labs(), Topology.complete(["M", "Tc", "Sp"]), FAST_AUTHORS, seed=2)
    lab = next(lab for lab in net.agents if lab.name == "M")
    plan = lab.plan_action(0)
    trained = net.train([plan])[0]
    lab.complete_action(plan, trained)
    record = lab.log[-1]
    assert json.loads(record.candidate_losses) == {"M": pytest.approx(float(np.mean(trained[0].last_loss)))}
    assert net.broker.latest("M").validation_loss == pytest.approx(float(np.mean(trained[0].last_loss)))
    # the L2 term is in it: the last-epoch loss exceeds the validation MSE at the same (last) weights
    assert trained[0].last_epoch_loss > trained[0].validation_loss


# --------------------------------------------------------------------------- 4. two outputs


def test_two_output_members_train_both_neurons_on_the_target_and_the_mse_averages_them(world):
    X = world[0]
    job = make_job(world, 20, 6, seed=5, sizes=SIZES_2, n_members=3)
    result = train_jobs([job], X, SIZES_2, AUTHORS)[0]
    out = outputs(result.params, SIZES_2, X[job.val_rows])  # [K, n_val, 2]
    mse = ((out - job.y_val.astype(np.float64)[None, :, None]) ** 2).mean(axis=(1, 2))
    np.testing.assert_allclose(result.val_mse, mse, rtol=1e-5)
    assert not np.allclose(out[:, :, 0], out[:, :, 1])  # two neurons, two different internal expressions


def test_sigma_is_the_spread_of_the_members_first_outputs_as_the_authors_bo_script_reads_it(world):
    X = world[0]
    job = make_job(world, 20, 6, seed=6, sizes=SIZES_2, n_members=4)
    params = train_jobs([job], X, SIZES_2, AUTHORS)[0].params
    mu, sigma = EnsemblePredictor(params, SIZES_2).predict(X)
    out = outputs(params, SIZES_2, X)  # [K, N, 2]
    np.testing.assert_allclose(mu, out[:, :, 0].mean(axis=0), atol=1e-5)
    np.testing.assert_allclose(sigma, out[:, :, 0].std(axis=0), atol=1e-5)
    all_outputs = out.transpose(1, 0, 2).reshape(N_ROWS, -1)  # the K*2 outputs of each row
    assert np.abs(sigma - all_outputs.std(axis=1)).max() > 1e-3  # which is not what is used
    np.testing.assert_allclose(predict_ensemble(params, SIZES_2, X), out[:, :, 0], atol=1e-5)


# --------------------------------------------------------------------------- the engines agree


@pytest.fixture(scope="module")
def authors_jobs(world) -> list[TrainJob]:
    source = train_jobs([make_job(world, 40, 10, seed=11, n_members=4)], world[0], SIZES_2, AUTHORS)[0].params
    return [
        make_job(world, 32, 8, seed=3, n_members=6),
        make_job(world, 27, 7, seed=4, params=source, frozen_layers=2),  # a 2-output source into a 2-output target
        make_job(world, 9, 3, seed=6, params=source, frozen_layers=2),
    ]


@pytest.mark.parametrize("patience", [2, 100])
def test_numba_torch_and_the_reference_agree_under_authors_code(world, authors_jobs, patience):
    X = world[0]
    config = LearnerConfig(epochs=20, patience=patience, protocol="authors_code")
    results = {"numba": train_jobs(authors_jobs, X, SIZES_2, config),
               "torch": train_jobs_torch(authors_jobs, X, SIZES_2, config, "cpu"),
               "reference": train_jobs_reference(authors_jobs, X, SIZES_2, config)}
    stopped = np.concatenate([r.epochs_run for r in results["numba"]]) < config.epochs
    if patience == 2:
        assert stopped.any() and (~stopped).any(), "both branches of the kept-weights rule must occur"
    else:
        assert not stopped.any()
    for other in ("torch", "reference"):
        for a, b in zip(results["numba"], results[other]):
            np.testing.assert_array_equal(a.best_epoch, b.best_epoch)
            np.testing.assert_array_equal(a.epochs_run, b.epochs_run)
            np.testing.assert_allclose(a.params, b.params, rtol=0, atol=1e-5)
            np.testing.assert_allclose(a.val_mse, b.val_mse, rtol=1e-4)
            np.testing.assert_allclose(a.last_loss, b.last_loss, rtol=1e-5)


# --------------------------------------------------------------------------- 5. the isolated control


def test_the_isolated_control_trains_one_ensemble_under_authors_code():
    from labnet.runs.config.build import make_conditions
    from labnet.runs.config.scenario import validate_scenario

    raw = {"name": "t", "labs": [{"name": "A", "property": "P0"}, {"name": "B", "property": "P1"},
                                 {"name": "C", "property": "P2"}], "topology": {"kind": "complete"}}
    for protocol, expected in (("paper_text", 3), ("authors_code", 1)):
        scenario = validate_scenario({**raw, "learner": {"protocol": protocol}})
        assert scenario.learner.protocol == protocol
        isolated = next(c for c in make_conditions(scenario, Topology.complete(["A", "B", "C"]))
                        if c.name == "isolated")
        assert isolated.isolated_candidates == {"A": expected, "B": expected, "C": expected}


# --------------------------------------------------------------------------- 6. event order within a tick


def test_the_event_order_is_the_authors_heap_order_faster_labs_first():
    specs = [LabSpec("Sp", "P2", period_ticks=9), LabSpec("Tc", "P1", period_ticks=3),
             LabSpec("M", "P0", period_ticks=1), LabSpec("B", "P0", period_ticks=3)]
    assert event_order(specs) == ["M", "B", "Tc", "Sp"]


def test_the_broker_delivers_same_tick_models_of_labs_earlier_in_the_event_order():
    from types import SimpleNamespace

    def snap(owner, tick):
        return SimpleNamespace(owner=owner, tick=tick)

    topology = Topology.from_edges(("fast", "slow"), [("fast", "slow", 0), ("slow", "fast", 0)])
    ordered, synchronous = ModelBroker(topology, ["fast", "slow"]), ModelBroker(topology)
    for broker in (ordered, synchronous):
        broker.publish("fast", snap("fast", 3))
        broker.publish("slow", snap("slow", 3))
    assert ordered.available_for("slow", 3)["fast"].tick == 3
    assert "slow" not in ordered.available_for("fast", 3)  # slow acts after fast
    assert synchronous.available_for("slow", 3) == {}
    delayed = ModelBroker(Topology.from_edges(("fast", "slow"), [("fast", "slow", 2)]), ["fast", "slow"])
    delayed.publish("fast", snap("fast", 1))
    assert delayed.available_for("slow", 2) == {} and delayed.available_for("slow", 3)["fast"].tick == 1
    with pytest.raises(ValueError, match="must list every lab of the topology once"):
        ModelBroker(topology, ["fast"])


def spy_candidates(net: ExplorationNetwork) -> list[tuple[int, str, dict[str, int]]]:
    """Record (tick, lab, {source: snapshot tick}) of every neighbour query the labs make."""
    seen: list[tuple[int, str, dict[str, int]]] = []
    available_for = net.broker.available_for

    def spy(lab, tick):
        answer = available_for(lab, tick)
        seen.append((tick, lab, {source: s.tick for source, s in answer.items()}))
        return answer

    net.broker.available_for = spy
    return seen


def test_a_slower_lab_uses_a_faster_labs_model_of_the_same_tick_under_authors_code(space):
    names = ["M", "Tc", "Sp"]
    for learner, tc_at_3 in ((FAST_AUTHORS, {"M": 3, "Sp": 0}), (FAST_PAPER, {"M": 2, "Sp": 0})):
        net = ExplorationNetwork(space, labs(), Topology.complete(names), learner, seed=3)
        seen = spy_candidates(net)
        net.run(4)
        queries = {(tick, lab): sources for tick, lab, sources in seen}
        assert queries[(3, "Tc")] == tc_at_3
        steps = net.step_table()
        tc = steps[(steps.lab == "Tc") & (steps.tick == 3)].iloc[0]
        assert tc.n_candidates == 3 and set(json.loads(tc.candidate_losses)) == {"Tc", "M", "Sp"}
        first = steps[(steps.phase == "acquisition") & (steps.tick == 0)]
        if learner is FAST_AUTHORS:
            # a lab's first action trains its own model only (the authors' transfer_interval head 1)
            assert (first.n_candidates == 1).all() and (0, "Tc") not in queries
            assert net.layer_sizes[-1] == 2
            tlm = net.transfer_table()
            assert ((tlm.tick == 3) & (tlm.source == "M") & (tlm.target == "Tc")).any()
        else:
            assert (first.n_candidates == 1).all()  # nothing is published before tick 0
            assert net.layer_sizes[-1] == 1


def test_authors_code_runs_the_same_on_the_torch_engine(space):
    from labnet.models.engines import TorchTrainer

    names = ["M", "Tc", "Sp"]
    tables = []
    for trainer in (None, TorchTrainer("cpu")):
        net = ExplorationNetwork(space, labs(), Topology.complete(names), FAST_AUTHORS, seed=4, trainer=trainer)
        net.run(4)
        tables.append(net.step_table())
    numba, torch_table = tables
    assert numba.material_index.tolist() == torch_table.material_index.tolist()
    assert numba.bpm_source.tolist() == torch_table.bpm_source.tolist()
    np.testing.assert_allclose(numba.bpm_validation_loss.to_numpy(float), torch_table.bpm_validation_loss.to_numpy(float),
                               rtol=1e-4, equal_nan=True)


# --------------------------------------------------------------------------- scenario and command line


def test_a_scenario_names_its_protocol_and_a_bad_one_is_refused_naming_the_field():
    from labnet.runs.config.scenario import ScenarioError, validate_scenario

    raw = {"name": "t", "labs": {"count": 3, "property": "P0"}, "topology": {"kind": "complete"}}
    assert validate_scenario(raw).learner.protocol == "paper_text"
    assert validate_scenario({**raw, "learner": {"protocol": "authors_code"}}).learner.rules.output_width == 2
    with pytest.raises(ScenarioError, match=r"learner.protocol = 'keras': expected one of paper_text, authors_code"):
        validate_scenario({**raw, "learner": {"protocol": "keras"}})


def test_the_protocol_option_of_run_and_reproduce_overrides_the_scenarios():
    from labnet.runs.cli import engine_options
    from labnet.runs.cli.commands import build_parser
    from labnet.runs.config.scenario import validate_scenario

    parser = build_parser()
    reproduce = parser.parse_args(["reproduce", "paper1", "--protocol", "authors_code"])
    assert engine_options.learner_overrides(reproduce) == {"protocol": "authors_code"}
    assert engine_options.learner_overrides(parser.parse_args(["reproduce", "paper1"])) == {}
    assert engine_options.learner_overrides(parser.parse_args(["reproduce", "paper1", "--engine", "numba", "--protocol",
                                                               "paper_text"])) == {
        "engine": "numba", "device": "auto", "protocol": "paper_text"}
    scenario = validate_scenario({"name": "t", "labs": {"count": 3, "property": "P0"}, "topology": {"kind": "complete"}})
    run = parser.parse_args(["run", "t", "--protocol", "authors_code"])
    assert engine_options.with_learner_options(scenario, run).learner.protocol == "authors_code"
    assert engine_options.with_learner_options(scenario, parser.parse_args(["run", "t"])) is scenario
    with pytest.raises(SystemExit):
        parser.parse_args(["run", "t", "--protocol", "keras"])
