"""Transfer modes and pools as a lab's source: shotgun ranking, the three modes in a network,
negative transfer blocked by BPM selection, the random-forest head's uncertainty, scenario wiring."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import yaml

from labnet.agents import LabSpec
from labnet.environment import Topology, synthetic_world
from labnet.simulation import ExplorationNetwork
from labnet.models import LearnerConfig, TrainJob, lecun_normal_params, predict_ensemble, train_jobs
from labnet.models.grouping import EngineTask, train_grouped
from labnet.models.pool import load_pool
from labnet.models.pool_selection import score_sources, top_k
from labnet.models.pool_training import PoolArchitecture, PoolSettings, PoolTraining, build_pool
from labnet.models.candidate import TrainingSplit
from labnet.models.features import hidden_features
from labnet.models.pool_selection import POOL_SCORERS, POOL_SCORINGS
from labnet.models.predictor import EnsemblePredictor, Predictor
from labnet.models.choices import TRANSFER_MODES
from labnet.models.transfer import SourceNetwork
from labnet.models.transfer_modes import (
    TRANSFER_MODE_REGISTRY,
    FeaturizerForest,
    FinetuneMode,
    fit_featurizer_forest,
    get_transfer_mode,
)
from labnet.runs.studies.reproduce import draw_run
from labnet.runs.execution.tick_stream import TickStream
from labnet.runs.execution.runner import resume_run, run_scenario
from labnet.runs.config.scenario import ScenarioError, load_scenario

FAST = LearnerConfig(n_members=3, epochs=5, patience=5, rf_trees=12)
ARCHITECTURE = PoolArchitecture(min_depth=3, max_depth=4, min_width=24, max_width=40, smallest_width=6)


@pytest.fixture(scope="module")
def space():
    return synthetic_world(n_candidates=400, n_descriptors=6, n_properties=2, correlation=0.8, seed=4)


@pytest.fixture(scope="module")
def pools(space, tmp_path_factory):
    """Pools of 2 models each: "good" trained on the property P0, "noise" on pure noise labels (same
    architecture ranges), and "useless": pure noise labels through a 4-3-2 bottleneck."""
    root = tmp_path_factory.mktemp("pools")
    training = PoolTraining(epochs=40, batch_size=32, patience=40)
    noise = np.random.default_rng(0).standard_normal(len(space))
    bottleneck = PoolArchitecture(min_depth=3, max_depth=3, min_width=4, max_width=4, smallest_width=2)
    for name, prop, y, architecture in (("good", "P0", space.values("P0"), ARCHITECTURE),
                                        ("noise", "noise", noise, ARCHITECTURE),
                                        ("useless", "noise", noise, bottleneck)):
        build_pool(root / name, space.descriptors, y, space.descriptor_names,
                   PoolSettings(prop, seed=1, architecture=architecture, training=training), n_models=2,
                   progress=False)
    return {name: load_pool(root / name) for name in ("good", "noise", "useless")}


def lab_data(space, n, seed=0, prop="P0"):
    rows = np.random.default_rng(seed).choice(len(space), n, replace=False)
    y = space.values(prop)[rows]
    return rows, ((y - y.mean()) / y.std()).astype(np.float32)


@pytest.mark.parametrize("scoring", ["ridge_probe", "transfer_cv"])
def test_cv_ranks_a_source_of_the_targets_property_above_pure_noise(space, pools, scoring):
    sources = pools["noise"].sources() + pools["good"].sources()  # noise first: ties would favour it
    rows, y = lab_data(space, 30, seed=1)
    learner = LearnerConfig(n_members=3, epochs=20, patience=20)
    scores = score_sources(sources, space.descriptors, rows, y, "finetune_frozen", learner, scoring=scoring,
                           n_folds=5, rng=np.random.default_rng(0))
    assert scores.shape == (4,)
    assert max(scores[2:]) < min(scores[:2]), scores
    assert set(top_k(scores, 2)) == {2, 3}


def test_negative_transfer_is_blocked_a_noise_source_never_beats_a_better_local_model(space, pools):
    # constructed so that the local model is clearly better: 80 observations, 100 epochs, and sources
    # trained on pure noise whose fine-tuned part sees 3 frozen random features (a 4-3-2 bottleneck)
    learner = LearnerConfig(n_members=3, epochs=100, patience=100)
    useless = str(pools["useless"].path)
    lab = LabSpec("A", "P0", initial_points=80, pools=(useless,), pool_top_k=2)
    net = ExplorationNetwork(space, [lab], Topology.isolated(["A"]), learner, seed=0, pools={useless: pools["useless"]})
    net.run(3)
    events = net.transfer_table()
    assert len(events) == 3 * 2 and set(events.source) == {"pool:useless#0", "pool:useless#1"}
    assert (events.validation_loss > 2 * events.local_validation_loss).all()  # the local model is clearly better
    assert not events.selected.any()
    steps = net.step_table()
    assert set(steps[steps.phase == "acquisition"].bpm_source) == {"A"}


@pytest.mark.parametrize("mode", ["finetune_frozen", "finetune_full", "featurizer_rf"])
def test_each_transfer_mode_runs_in_a_network_with_neighbours_and_a_pool(space, pools, mode):
    good = str(pools["good"].path)
    labs = [LabSpec("A", "P1", initial_points=8, transfer_mode=mode, pools=(good,), pool_top_k=1),
            LabSpec("B", "P0", initial_points=8, transfer_mode=mode)]
    net = ExplorationNetwork(space, labs, Topology.complete(["A", "B"]), FAST, seed=2, pools={good: pools["good"]})
    net.run(3)
    events = net.transfer_table()
    pool_events = events[events.source.str.startswith("pool:good#")]
    assert len(pool_events) == 3 and set(pool_events.target) == {"A"} and set(pool_events.source_property) == {"P0"}
    assert {("B", "A"), ("A", "B")} <= set(zip(events.source, events.target))
    acts = net.step_table().query("phase == 'acquisition'")
    assert acts[acts.lab == "A"].n_candidates.tolist() == [2, 3, 3]  # own + pool, then + neighbour
    for _, row in acts.iterrows():
        losses = json.loads(row.candidate_losses)
        assert all(np.isfinite(v) for v in losses.values())
        assert row.bpm_validation_loss == pytest.approx(min(losses.values()))
    lab = next(a for a in net.agents if a.name == "A")
    assert lab.last_pool_scores is not None and lab.last_pool_scores.shape == (2,)
    again = ExplorationNetwork(space, labs, Topology.complete(["A", "B"]), FAST, seed=2, pools={good: pools["good"]})
    again.run(3)
    pd.testing.assert_frame_equal(net.step_table(), again.step_table())


def test_featurizer_rf_sigma_is_the_spread_over_the_trees(space, pools):
    source = pools["good"].sources()[0]
    rows, y = lab_data(space, 24, seed=3, prop="P1")
    forest = fit_featurizer_forest(source, space.descriptors, rows[:18], y[:18], rows[18:], y[18:], n_trees=15, seed=7)
    mu, sigma = forest.predict(space.descriptors)
    features = hidden_features(source, space.descriptors)
    assert features.shape == (len(space), source.layer_sizes[-2])
    trees = np.stack([tree.predict(features) for tree in forest.forest.estimators_])
    assert trees.shape == (15, len(space))
    np.testing.assert_allclose(mu, trees.mean(0))
    np.testing.assert_allclose(sigma, trees.std(0))
    assert (sigma > 0).mean() > 0.5
    val_pred = forest.forest.predict(features[rows[18:]])
    assert forest.validation_loss == pytest.approx(float(np.mean((val_pred - y[18:]) ** 2)))


def test_modes_decide_what_is_frozen_and_the_learning_rate(space, pools):
    paper = LearnerConfig()  # 3 hidden layers, 2 frozen: the last hidden layer and the output train
    pool_source = pools["good"].sources()[0]
    depth = pool_source.n_hidden
    frozen, full, featurizer = (get_transfer_mode(name) for name in ("finetune_frozen", "finetune_full", "featurizer_rf"))
    assert frozen.frozen_layers(pool_source, paper) == depth - 1
    assert full.frozen_layers(pool_source, paper) == 0
    assert featurizer.frozen_layers(pool_source, paper) == depth
    rows, y = lab_data(space, 12)
    seeds = np.arange(3, dtype=np.uint64)
    job, config = full.job(pool_source, FAST, rows[:9], y[:9], rows[9:], y[9:], seeds)
    assert job.frozen_layers == 0 and config.learning_rate == pytest.approx(FAST.learning_rate / 10)
    assert np.array_equal(job.params, np.repeat(pool_source.params, 3, axis=0))  # a single network: K copies
    frozen_job, frozen_config = frozen.job(pool_source, FAST, rows[:9], y[:9], rows[9:], y[9:], seeds)
    assert frozen_config is FAST
    result = train_grouped([EngineTask(frozen_job, pool_source.layer_sizes, frozen_config)], space.descriptors)[0]
    start = int(np.cumsum([0] + [a * b + b for a, b in zip(pool_source.layer_sizes[:-1], pool_source.layer_sizes[1:])])[depth - 1])
    assert np.array_equal(result.params[:, :start], frozen_job.params[:, :start])  # the frozen prefix is untouched
    assert not np.array_equal(result.params[:, start:], frozen_job.params[:, start:])
    # prediction computes the shared frozen prefix once: same numbers as every member in full
    predictor = EnsemblePredictor(result.params, pool_source.layer_sizes)
    assert predictor.shared_layers() == depth - 1
    full = predict_ensemble(result.params, pool_source.layer_sizes, space.descriptors)
    mu, sigma = predictor.predict(space.descriptors)
    np.testing.assert_allclose(mu, full.mean(0), atol=1e-5)
    np.testing.assert_allclose(sigma, full.std(0), atol=1e-5)
    # a neighbour's ensemble of the lab's own architecture: paper 1 exactly (members copied, 2 layers frozen)
    neighbour = SourceNetwork("B", "P1", lecun_normal_params((6, 100, 100, 10, 1), 3, np.random.default_rng(1)),
                              (6, 100, 100, 10, 1))
    job, config = frozen.job(neighbour, paper, rows[:9], y[:9], rows[9:], y[9:], seeds)
    assert job.frozen_layers == 2 and config is paper and np.array_equal(job.params, neighbour.params)


def test_the_registries_hold_every_named_mode_and_scorer_and_reject_unknown_names():
    assert tuple(TRANSFER_MODE_REGISTRY) == TRANSFER_MODES
    assert all(TRANSFER_MODE_REGISTRY[name].name == name for name in TRANSFER_MODES)
    assert get_transfer_mode(TRANSFER_MODE_REGISTRY["featurizer_rf"]) is TRANSFER_MODE_REGISTRY["featurizer_rf"]
    with pytest.raises(ValueError, match=r"transfer_mode = 'frozen': expected one of finetune_frozen, finetune_full, featurizer_rf"):
        get_transfer_mode("frozen")
    assert tuple(POOL_SCORERS) == POOL_SCORINGS
    with pytest.raises(ValueError, match=r"pool_scoring = 'best': expected one of ridge_probe, transfer_cv"):
        score_sources([], np.zeros((4, 2)), np.arange(4), np.zeros(4), "finetune_frozen", FAST, scoring="best")


@pytest.mark.parametrize("mode", TRANSFER_MODES)
def test_every_mode_builds_a_candidate_that_fits_to_a_predictor_of_mu_and_sigma(space, pools, mode):
    """One protocol: each mode's candidate (an engine task, or none) fits to a Predictor returning
    (mu, sigma) of shape (n,) in standardized units; random draws come only from the keyed streams."""
    transfer = get_transfer_mode(mode)
    source = pools["good"].sources()[0]
    rows, y = lab_data(space, 20, seed=5, prop="P1")
    split = TrainingSplit(rows[:16], y[:16], rows[16:], y[16:])
    streams = []

    def draws(*subkey):
        streams.append(subkey)
        return np.random.default_rng(np.random.SeedSequence([9, *subkey]))

    candidate = transfer.candidate_model(source, FAST, split, draws)
    again = transfer.candidate_model(source, FAST, split, draws)
    assert (candidate.engine_task is None) == (not isinstance(transfer, FinetuneMode))
    trained = None
    if candidate.engine_task is not None:
        task = candidate.engine_task
        assert task.job.n_members == FAST.n_members and task.layer_sizes == source.layer_sizes
        assert task.job.frozen_layers == transfer.frozen_layers(source, FAST)
        np.testing.assert_array_equal(task.job.seeds, again.engine_task.job.seeds)  # same draws, same candidate
        np.testing.assert_array_equal(task.job.train_rows, split.train_rows)
        trained = train_grouped([task], space.descriptors)[0]
    fitted = candidate.fit(trained, space.descriptors, split)
    assert isinstance(fitted.predictor, Predictor)
    assert isinstance(fitted.predictor, FeaturizerForest if candidate.engine_task is None else EnsemblePredictor)
    mu, sigma = fitted.predictor.predict(space.descriptors)
    assert mu.shape == sigma.shape == (len(space),) and (sigma >= 0).all() and np.isfinite(mu).all()
    X_val = space.descriptors[split.val_rows]
    if trained is None:  # the forest: MSE of its mean prediction
        expected = np.mean((fitted.predictor.predict(X_val)[0] - split.y_val) ** 2)
    else:  # an ensemble: mean over members of each member's MSE
        members = predict_ensemble(trained.params, task.layer_sizes, X_val, task.config.output_activation)
        expected = np.mean((members - split.y_val[None, :]) ** 2)
    assert fitted.validation_loss == pytest.approx(float(expected), rel=1e-3)
    assert streams == [() if candidate.engine_task is not None else (3,)] * 2


def test_grouped_training_equals_one_call_per_architecture(space):
    rows, y = lab_data(space, 10)
    def job(sizes, seed):
        return TrainJob(lecun_normal_params(sizes, 2, np.random.default_rng(seed)), rows[:8], y[:8], rows[8:], y[8:],
                        np.array([seed, seed + 1], dtype=np.uint64))
    a, b = (6, 8, 4, 1), (6, 5, 1)
    tasks = [EngineTask(job(a, 1), a, FAST), EngineTask(job(b, 2), b, FAST), EngineTask(job(a, 3), a, FAST)]
    grouped = train_grouped(tasks, space.descriptors)
    separate = train_jobs([tasks[0].job, tasks[2].job], space.descriptors, a, FAST) + train_jobs(
        [tasks[1].job], space.descriptors, b, FAST)
    for got, want in zip(grouped, [separate[0], separate[2], separate[1]]):
        np.testing.assert_array_equal(got.params, want.params)


def test_scenario_labs_take_pools_relative_to_the_file_and_bad_pools_are_named(space, pools, tmp_path):
    good_rel = str(pools["good"].path.relative_to(pools["good"].path.parent.parent))
    (pools["good"].path.parent.parent / "study.yaml").write_text(yaml.safe_dump({
        "name": "pooled",
        "dataset": {"kind": "synthetic", "n_candidates": 400, "n_descriptors": 6, "n_properties": 2,
                    "correlation": 0.8, "seed": 4},
        "labs": [{"name": "A", "property": "P1", "initial_points": 6, "pools": [good_rel], "pool_top_k": 2,
                  "transfer_mode": "finetune_full", "pool_every": 2}],
        "topology": {"kind": "isolated"},
        "learner": {"n_members": 2, "epochs": 2, "patience": 2},
        "horizon_ticks": 3, "trials": 1, "baselines": ["isolated"],
    }))
    scenario = load_scenario(pools["good"].path.parent.parent / "study.yaml")
    assert scenario.labs[0].pools == (str(pools["good"].path),)
    spec = scenario.lab_specs()[0]
    assert spec.transfer_mode == "finetune_full" and spec.pools == (str(pools["good"].path),) and spec.pool_top_k == 2
    result = run_scenario(scenario, tmp_path / "runs", progress=False)
    transfers = pd.read_parquet(result.transfers_path)
    assert set(transfers.condition) == {"networked", "isolated"}  # pools are the lab's own: used in both
    assert transfers.source.str.match(r"pool:good#[01]$").all() and len(transfers) == 2 * 3 * 2
    resolved = yaml.safe_load(result.scenario_path.read_text())
    assert resolved["labs"][0]["pools"] == [str(pools["good"].path)]
    files = draw_run(result.run_dir)  # figures of a run whose transfers come from pool models
    assert files["transfer_graph.png"].stat().st_size > 0
    assert pd.read_csv(files["transfer_counts.csv"]).source.str.startswith("pool:good#").all()

    def lab_issue(**lab):
        data = {"name": "bad", "dataset": {"kind": "synthetic", "n_candidates": 50, "n_descriptors": 8},
                "labs": [{"name": "A", "property": "P0", "initial_points": 6, **lab}], "horizon_ticks": 1}
        with pytest.raises(ScenarioError) as info:
            run_scenario(load_scenario(data), tmp_path / "bad", progress=False)
        return str(info.value)

    assert "labs[0].pool_top_k: only used when 'pools' lists" in lab_issue(pool_top_k=3)
    assert "labs[0].transfer_mode: unexpected value 'frozen'" in lab_issue(transfer_mode="frozen")
    assert "labs[0].pools[0]: pool directory not found" in lab_issue(pools=[str(tmp_path / "nowhere")])
    message = lab_issue(pools=[str(pools["good"].path)])
    assert "labs[0].pools[0]" in message and "take 6 descriptors" in message and "has 8" in message
    data = {"name": "bad", "dataset": {"kind": "synthetic", "n_candidates": 50, "n_descriptors": 6},
            "labs": [{"name": "A", "property": "P0", "initial_points": 6, "pools": [str(pools["good"].path)],
                      "pool_top_k": 5}], "horizon_ticks": 1}
    with pytest.raises(ScenarioError, match=r"labs\[0\]\.pool_top_k = 5: more than the 2 models"):
        run_scenario(load_scenario(data), tmp_path / "bad", progress=False)


def test_generated_labs_take_transfer_modes_and_pools_by_rule(pools, tmp_path):
    """``labs: {count: ...}`` sets transfer_mode and pools by rule; pools stay relative to the file,
    also in what the scenario writes back, and a pool setting without pools is named."""
    study = pools["good"].path.parent.parent / "generated.yaml"
    good_rel = str(pools["good"].path.relative_to(study.parent))
    study.write_text(yaml.safe_dump({
        "name": "generated-pools",
        "dataset": {"kind": "synthetic", "n_candidates": 400, "n_descriptors": 6, "n_properties": 2, "seed": 4},
        "labs": {"count": 3, "property": "P1", "initial_points": 6,
                 "transfer_mode": {"rule": "round_robin", "values": ["finetune_frozen", "featurizer_rf"]},
                 "pools": {"rule": "round_robin", "values": [[good_rel], []]}},
        "horizon_ticks": 2,
    }))
    scenario = load_scenario(study)
    assert [lab.transfer_mode for lab in scenario.labs] == ["finetune_frozen", "featurizer_rf", "finetune_frozen"]
    assert [lab.pools for lab in scenario.labs] == [(str(pools["good"].path),), (), (str(pools["good"].path),)]
    assert scenario.to_dict()["labs"]["pools"]["values"] == [[str(pools["good"].path)], []]

    data = {"name": "bad", "dataset": {"kind": "synthetic", "n_candidates": 50, "n_descriptors": 6},
            "labs": {"count": 2, "property": "P0", "pool_top_k": 2}, "horizon_ticks": 1}
    with pytest.raises(ScenarioError, match=r"labs\.pool_top_k: only used when 'pools' lists"):
        load_scenario(data)


def test_a_run_with_pools_and_every_mode_resumes_exactly_in_worker_processes(pools, tmp_path, monkeypatch):
    """Checkpoints carry the pools' state; a run interrupted mid-way and finished by 2 worker
    processes (each loading the pools once) gives the uninterrupted run's tables."""
    scenario = load_scenario({
        "name": "pooled-resume",
        "dataset": {"kind": "synthetic", "n_candidates": 400, "n_descriptors": 6, "n_properties": 2, "seed": 4},
        "labs": [{"name": "A", "property": "P1", "initial_points": 6, "pools": [str(pools["good"].path)]},
                 {"name": "B", "property": "P0", "initial_points": 6, "transfer_mode": "featurizer_rf",
                  "pools": [str(pools["noise"].path)], "pool_every": 2},
                 {"name": "C", "property": "P1", "initial_points": 6, "transfer_mode": "finetune_full"}],
        "learner": {"n_members": 2, "epochs": 2, "patience": 2, "rf_trees": 8},
        "horizon_ticks": 4, "trials": 1, "baselines": ["isolated"],
    })
    reference = run_scenario(scenario, tmp_path / "reference", progress=False)

    append_new = TickStream.append_new

    def interrupt_at_tick_2(self, network):
        written = append_new(self, network)
        if "_networked." in self.steps_path.name and network.tick == 3:
            raise KeyboardInterrupt
        return written

    monkeypatch.setattr(TickStream, "append_new", interrupt_at_tick_2)
    with pytest.raises(KeyboardInterrupt):
        run_scenario(scenario, tmp_path / "interrupted", progress=False)
    monkeypatch.undo()
    (run_dir,) = (tmp_path / "interrupted").iterdir()
    resumed = resume_run(run_dir, progress=False, workers=2)
    for table in ("steps.parquet", "transfers.parquet"):
        pd.testing.assert_frame_equal(pd.read_parquet(run_dir / table), pd.read_parquet(reference.run_dir / table))
    pd.testing.assert_frame_equal(resumed.summary, reference.summary)
