"""The exploration systems: Mesa agents that measure materials at their own clock speed.

A lab's action is split in two so that a whole tick can be trained in one batched pass:
``plan_training(tick)`` returns the candidate models (a list of :class:`Candidate`; those with an
engine task are ensembles to train), the model trains every acting lab's tasks together, then
``complete_action(tick, results)`` fits the candidates that need no engine (``featurizer_rf``),
selects the best model, acquires, measures and publishes. Labs reach the broker only through
``ModelExchange``.
"""
from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

import mesa
import numpy as np

from labnet.models import (
    LearnerConfig,
    ModelSnapshot,
    TrainJob,
    TrainResult,
    UpperConfidenceBound,
    argmax_unmeasured,
    lecun_normal_params,
    select_best,
    train_jobs,
    validation_split,
)
from labnet.models.grouping import EngineTask, Trainer
from labnet.models.pool_selection import score_sources, top_k
from labnet.models.transfer import EnsemblePredictor, SourceNetwork, finetune_job, fit_featurizer_forest

from .neighbour_selection import ScalingNeighbourSelector
from .spec import LabSpec

if TYPE_CHECKING:
    from labnet.environment.material_space import MaterialSpace
    from labnet.environment.oracle import Oracle
    from labnet.models.pool import SourcePool

# independent random streams of a lab, each keyed by (seed, lab index, stream, ...)
STREAM_INITIAL, STREAM_TRAINING, STREAM_RANDOM_SEARCH, STREAM_POOL, STREAM_POOL_RANKING = 0, 1, 2, 4, 5
# (3 is the network's oracle stream)


class ModelExchange(Protocol):
    """What a lab needs of the broker."""

    def publish(self, lab: str, snapshot: ModelSnapshot) -> None: ...

    def available_for(self, lab: str, tick: int) -> dict[str, ModelSnapshot]: ...


class TransferRecorder(Protocol):
    def record(self, tick, source, target, validation_loss, local_validation_loss, selected,
               source_property=None, target_property=None) -> None: ...


@dataclass(frozen=True, eq=False)
class Candidate:
    """One candidate model of an action: its label, where it comes from, and how it is trained.

    Attributes:
        label: key in the step log's ``candidate_losses``.
        source: the lab whose weights it starts from (the lab itself for from-scratch models), or
            ``pool:<name>#<index>`` for a pool model.
        kind: "scratch", "transfer" (a neighbour's model) or "pool".
        source_property: the property the source model predicts.
        task: the engine job with its architecture and settings (None for featurizer_rf candidates).
        source_network: the frozen featurizer of a featurizer_rf candidate (None otherwise).
        forest_seed: random_state of that candidate's forest.
    """

    label: str
    source: str
    kind: str
    source_property: str
    task: EngineTask | None = None
    source_network: SourceNetwork | None = None
    forest_seed: int = 0

    @property
    def job(self) -> TrainJob | None:
        return None if self.task is None else self.task.job


class ExplorationLab(mesa.Agent):
    """Shared state of every lab: its spec, its oracle, what it has measured, and its log."""

    def __init__(
        self,
        model: mesa.Model,
        spec: LabSpec,
        lab_index: int,
        space: "MaterialSpace",
        oracle: "Oracle",
        seed: int,
    ) -> None:
        super().__init__(model)
        self.spec = spec
        self.lab_index = lab_index
        self.space = space
        self.oracle = oracle
        self.seed = int(seed)
        self.maximize = spec.goal == "maximize"
        self.measured = np.zeros(len(space), dtype=bool)
        self.rows: list[int] = []
        self.y_observed: list[float] = []
        self.y_true: list[float] = []
        self.log: list[dict] = []
        self._truth = space.values(spec.property)

    # ------------------------------------------------------------------ helpers
    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def n_obs(self) -> int:
        return len(self.rows)

    def rng(self, *key: int) -> np.random.Generator:
        """A generator for one purpose, independent of the condition and of other labs."""
        return np.random.default_rng(np.random.SeedSequence([self.seed, self.lab_index, *key]))

    def _best(self, values: Sequence[float]) -> float:
        return float(max(values) if self.maximize else min(values))

    @property
    def best_true_so_far(self) -> float:
        return self._best(self.y_true) if self.y_true else float("nan")

    def acts_at(self, tick: int) -> bool:
        return self.spec.acts_at(tick)

    def _measure(self, index: int, tick: int, phase: str, **decision) -> None:
        if self.measured[index]:
            raise RuntimeError(f"lab {self.name!r} tried to measure material {index} twice")
        y = float(self.oracle.measure(np.array([index]))[0])
        self.measured[index] = True
        self.rows.append(int(index))
        self.y_observed.append(y)
        self.y_true.append(float(self._truth[index]))
        self.log.append(
            {
                "tick": tick,
                "lab": self.name,
                "property": self.spec.property,
                "strategy": self.spec.strategy,
                "phase": phase,
                "n_obs": self.n_obs,
                "material_index": int(index),
                "material_id": str(self.space.ids[index]),
                "y_observed": y,
                "y_true": self.y_true[-1],
                "best_so_far": self._best(self.y_observed),
                "best_true_so_far": self._best(self.y_true),
                "bpm_source": decision.get("bpm_source", ""),
                "bpm_kind": decision.get("bpm_kind", ""),
                "bpm_validation_loss": decision.get("bpm_validation_loss", float("nan")),
                "n_candidates": decision.get("n_candidates", 0),
                "candidate_losses": json.dumps(decision.get("candidate_losses", {})),
                "generalization_mse": decision.get("generalization_mse", float("nan")),
                "neighbours_skipped": decision.get("neighbours_skipped", 0),
            }
        )

    def measure_initial_points(self) -> None:
        """The seeded random start (same for every condition of a trial): logged at tick -1."""
        n = self.spec.initial_points
        if n > len(self.space):
            raise ValueError(f"lab {self.name!r}: initial_points = {n} exceeds the {len(self.space)} candidates")
        for index in self.rng(STREAM_INITIAL).choice(len(self.space), size=n, replace=False):
            self._measure(int(index), tick=-1, phase="initial")

    # ------------------------------------------------------------------ the action
    def plan_training(self, tick: int) -> list[Candidate]:
        return []

    def complete_action(self, tick: int, results: Sequence[TrainResult]) -> None:
        raise NotImplementedError


class RandomSearchLab(ExplorationLab):
    """Baseline: measures a uniformly random unmeasured candidate at each action."""

    def complete_action(self, tick: int, results: Sequence[TrainResult]) -> None:
        unmeasured = np.flatnonzero(~self.measured)
        index = int(self.rng(STREAM_RANDOM_SEARCH, tick).choice(unmeasured))
        self._measure(index, tick=tick, phase="acquisition")


class BayesianOptimizationLab(ExplorationLab):
    """The paper's closed loop (DESIGN.md → core loop): candidates, BPM, UCB, measure, publish.

    Candidates: the lab's own from-scratch ensemble (always first), one transferred model per
    in-neighbour that has published, and the ``pool_top_k`` best models of its source-model pools
    (paper 2's shotgun selection, re-ranked every ``spec.pool_every`` actions on the training part
    of the action's split). Neighbour and pool models are transferred in ``spec.transfer_mode``.

    Args:
        exchange: the broker (publish / available_for).
        transfers: the transfer-event log.
        learner: hyperparameters.
        layer_sizes: (d, *hidden, 1).
        isolated_candidates: when set, the lab ignores neighbours and trains this many
            from-scratch ensembles per action (the isolated baseline). Pools are the lab's own
            and are used in both conditions.
        pools: the loaded pools named by ``spec.pools`` (checked against the material space).
        trainer: trains the ``transfer_cv`` ranking's fold models (the network's trainer).
    """

    def __init__(
        self,
        model: mesa.Model,
        spec: LabSpec,
        lab_index: int,
        space: "MaterialSpace",
        oracle: "Oracle",
        seed: int,
        exchange: ModelExchange,
        transfers: TransferRecorder,
        learner: LearnerConfig,
        layer_sizes: tuple[int, ...],
        isolated_candidates: int | None = None,
        pools: Sequence["SourcePool"] = (),
        trainer: Trainer = train_jobs,
    ) -> None:
        super().__init__(model, spec, lab_index, space, oracle, seed)
        if isolated_candidates is not None and isolated_candidates < 1:
            raise ValueError(f"lab {spec.name!r}: isolated_candidates = {isolated_candidates}: expected >= 1")
        self.exchange = exchange
        self.transfers = transfers
        self.learner = learner
        self.layer_sizes = tuple(layer_sizes)
        self.isolated_candidates = isolated_candidates
        self.trainer = trainer
        self.acquisition = UpperConfidenceBound(alpha=learner.ucb_alpha, maximize=self.maximize)
        self.pool_sources: list[SourceNetwork] = [source for pool in pools for source in pool.sources()]
        if self.pool_sources and spec.pool_top_k > len(self.pool_sources):
            raise ValueError(
                f"lab {spec.name!r}: pool_top_k = {spec.pool_top_k} exceeds the {len(self.pool_sources)} pool models"
            )
        self.neighbour_selector = (
            ScalingNeighbourSelector(spec.neighbour_budget, spec.neighbour_retry_every)
            if spec.neighbour_selection == "scaling" and isolated_candidates is None else None
        )
        self._neighbour_rows: dict[str, int] = {}  # neighbour -> training rows of the model planned from it
        self._neighbours_skipped = 0
        self.pool_choice: list[int] = []  # indices into pool_sources, best first
        self.last_pool_scores: np.ndarray | None = None  # CV MSE of every pool source at the last ranking
        self._actions = 0
        self._planned: list[Candidate] = []
        self._split: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None = None
        self._standardization = (0.0, 1.0)
        self.last_bpm_source = ""

    def _standardize(self) -> tuple[np.ndarray, float, float]:
        y = np.asarray(self.y_observed, dtype=np.float64)
        mean, std = float(y.mean()), float(y.std())
        if not np.isfinite(std) or std < 1e-12:
            std = 1.0  # all observations equal: centre only
        return ((y - mean) / std).astype(np.float32), mean, std

    def plan_training(self, tick: int) -> list[Candidate]:
        y_std, mean, std = self._standardize()
        self._standardization = (mean, std)
        rows = np.asarray(self.rows, dtype=np.int64)
        train, val = validation_split(len(rows), self.learner.validation_fraction, self.rng(STREAM_TRAINING, tick))
        split = (rows[train], y_std[train], rows[val], y_std[val])
        self._split = split
        k = self.learner.n_members

        def seeds(*key: int) -> np.ndarray:
            return self.rng(*key).integers(0, 2**63, size=k, dtype=np.uint64)

        def scratch(slot: int, label: str) -> Candidate:
            params = lecun_normal_params(self.layer_sizes, k, self.rng(STREAM_TRAINING, tick, slot, 1))
            job = TrainJob(params, *split, seeds(STREAM_TRAINING, tick, slot), 0)
            return Candidate(label, self.name, "scratch", self.spec.property,
                             task=EngineTask(job, self.layer_sizes, self.learner))

        candidates = [scratch(0, self.name)]
        if self.isolated_candidates is not None:
            candidates += [scratch(slot, f"{self.name}#{slot + 1}") for slot in range(1, self.isolated_candidates)]
        else:
            available = self.exchange.available_for(self.name, tick)
            rows_of = {source: snapshot.n_train for source, snapshot in available.items()}
            tried = set(rows_of if self.neighbour_selector is None else self.neighbour_selector.choose(rows_of, self._actions))
            self._neighbour_rows = {source: rows_of[source] for source in tried}
            self._neighbours_skipped = len(available) - len(tried)
            # slots count every available neighbour, so a neighbour's candidate does not depend on which others are tried
            for slot, (source, snapshot) in enumerate(available.items(), 1):
                if source not in tried:
                    continue
                network = SourceNetwork(source, snapshot.property, snapshot.params, snapshot.layer_sizes,
                                        self.learner.output_activation)
                candidates.append(self._transferred(network, "transfer", (STREAM_TRAINING, tick, slot), split))
        if self.pool_sources:
            if self._actions % self.spec.pool_every == 0:
                self._rank_pool(tick, split)
            for i in self.pool_choice:
                candidates.append(self._transferred(self.pool_sources[i], "pool", (STREAM_POOL, tick, i), split))
        self._actions += 1
        self._planned = candidates
        return candidates

    def _transferred(self, source: SourceNetwork, kind: str, key: tuple[int, ...], split) -> Candidate:
        """The candidate built from ``source`` in the lab's transfer mode; random draws keyed by ``key``."""
        mode = self.spec.transfer_mode
        if mode == "featurizer_rf":
            forest_seed = int(self.rng(*key, 3).integers(0, 2**32))
            return Candidate(source.label, source.label, kind, source.property, source_network=source,
                             forest_seed=forest_seed)
        seeds = self.rng(*key).integers(0, 2**63, size=self.learner.n_members, dtype=np.uint64)
        job, config = finetune_job(source, mode, self.learner, *split, seeds)
        return Candidate(source.label, source.label, kind, source.property,
                         task=EngineTask(job, source.layer_sizes, config))

    def _rank_pool(self, tick: int, split) -> None:
        """Shotgun selection: CV-score every pool model on the training part of this action's split."""
        train_rows, y_train, _, _ = split
        scores = score_sources(
            self.pool_sources, self.space.descriptors, train_rows, y_train, self.spec.transfer_mode, self.learner,
            scoring=self.spec.pool_scoring, n_folds=self.spec.pool_cv_folds,
            rng=self.rng(STREAM_POOL_RANKING, tick), trainer=self.trainer,
        )
        self.last_pool_scores = scores
        self.pool_choice = top_k(scores, self.spec.pool_top_k)

    def complete_action(self, tick: int, results: Sequence[TrainResult]) -> None:
        """Finish the action; ``results`` are the engine results of the planned candidates that
        have an engine task, in plan order."""
        candidates, self._planned = self._planned, []
        n_tasks = sum(c.task is not None for c in candidates)
        if len(results) != n_tasks:
            raise RuntimeError(f"lab {self.name!r}: {n_tasks} candidate ensembles planned, {len(results)} trained")
        assert self._split is not None
        trained = iter(results)
        losses, predictors = [], []
        for cand in candidates:
            if cand.task is not None:
                result = next(trained)
                losses.append(result.validation_loss)
                predictors.append(EnsemblePredictor(result.params, cand.task.layer_sizes, cand.task.config.output_activation))
            else:
                forest = fit_featurizer_forest(cand.source_network, self.space.descriptors, *self._split,
                                               self.learner.rf_trees, cand.forest_seed)
                losses.append(forest.validation_loss)
                predictors.append(forest)
        best = select_best(losses)
        chosen = candidates[best]
        local_loss = losses[0]
        if self.neighbour_selector is not None:
            for cand, loss in zip(candidates, losses):
                if cand.kind == "transfer":
                    self.neighbour_selector.record(cand.source, self._neighbour_rows[cand.source],
                                                   loss / max(local_loss, 1e-12), self._actions - 1)
        for cand, loss in zip(candidates, losses):
            if cand.kind in ("transfer", "pool"):
                self.transfers.record(
                    tick, cand.source, self.name, loss, local_loss, cand is chosen,
                    source_property=cand.source_property, target_property=self.spec.property,
                )
        mean, std = self._standardization
        mu, sigma = predictors[best].predict(self.space.descriptors)
        unmeasured = ~self.measured
        truth_std = (self._truth - mean) / std
        generalization = float(np.mean((mu[unmeasured] - truth_std[unmeasured]) ** 2))
        index = argmax_unmeasured(self.acquisition(mu, sigma), self.measured)
        self.last_bpm_source = chosen.source
        self._measure(
            index, tick=tick, phase="acquisition",
            bpm_source=chosen.source, bpm_kind=chosen.kind, bpm_validation_loss=losses[best],
            n_candidates=len(candidates), candidate_losses={c.label: l for c, l in zip(candidates, losses)},
            generalization_mse=generalization, neighbours_skipped=self._neighbours_skipped,
        )
        # publish the from-scratch ENM (not the BPM), trained on the data before this measurement
        enm = results[0]
        self.exchange.publish(
            self.name,
            ModelSnapshot(
                owner=self.name, property=self.spec.property, tick=tick, n_train=len(candidates[0].job.train_rows),
                validation_loss=enm.validation_loss, params=enm.params, layer_sizes=self.layer_sizes,
                y_mean=mean, y_std=std,
            ),
        )
