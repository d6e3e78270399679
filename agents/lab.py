"""The exploration systems: Mesa agents that measure materials at their own clock speed.

A lab's action is split in two so that a whole tick can be trained in one batched pass:
``plan_training(tick)`` returns the candidate ensembles to train (a list of ``TrainJob``), the
model trains every acting lab's jobs together, then ``complete_action(tick, results)`` selects the
best model, acquires, measures and publishes. Labs reach the broker only through ``ModelExchange``.
"""
from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

import mesa
import numpy as np

from models import (
    LearnerConfig,
    ModelSnapshot,
    TrainJob,
    TrainResult,
    UpperConfidenceBound,
    argmax_unmeasured,
    lecun_normal_params,
    predict_ensemble,
    select_best,
    validation_split,
)

from .spec import LabSpec

if TYPE_CHECKING:
    from environment.material_space import MaterialSpace
    from environment.oracle import Oracle

# independent random streams of a lab, each keyed by (seed, lab index, stream, ...)
STREAM_INITIAL, STREAM_TRAINING, STREAM_RANDOM_SEARCH = 0, 1, 2


class ModelExchange(Protocol):
    """What a lab needs of the broker."""

    def publish(self, lab: str, snapshot: ModelSnapshot) -> None: ...

    def available_for(self, lab: str, tick: int) -> dict[str, ModelSnapshot]: ...


class TransferRecorder(Protocol):
    def record(self, tick, source, target, validation_loss, local_validation_loss, selected,
               source_property=None, target_property=None) -> None: ...


@dataclass(frozen=True)
class Candidate:
    """One candidate model of an action: its label, where it comes from, and its training job."""

    label: str
    source: str  # the lab whose weights it starts from (the lab itself for from-scratch models)
    kind: str  # "scratch" | "transfer"
    job: TrainJob
    source_property: str  # the property the source lab's model predicts


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

    Args:
        exchange: the broker (publish / available_for).
        transfers: the transfer-event log.
        learner: hyperparameters.
        layer_sizes: (d, *hidden, 1).
        isolated_candidates: when set, the lab ignores neighbours and trains this many
            from-scratch ensembles per action (the isolated baseline).
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
    ) -> None:
        super().__init__(model, spec, lab_index, space, oracle, seed)
        if isolated_candidates is not None and isolated_candidates < 1:
            raise ValueError(f"lab {spec.name!r}: isolated_candidates = {isolated_candidates}: expected >= 1")
        self.exchange = exchange
        self.transfers = transfers
        self.learner = learner
        self.layer_sizes = tuple(layer_sizes)
        self.isolated_candidates = isolated_candidates
        self.acquisition = UpperConfidenceBound(alpha=learner.ucb_alpha, maximize=self.maximize)
        self._planned: list[Candidate] = []
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
        k = self.learner.n_members

        def job(slot: int, params: np.ndarray, frozen: int) -> TrainJob:
            seeds = self.rng(STREAM_TRAINING, tick, slot).integers(0, 2**63, size=k, dtype=np.uint64)
            return TrainJob(params, rows[train], y_std[train], rows[val], y_std[val], seeds, frozen)

        def fresh(slot: int) -> np.ndarray:
            return lecun_normal_params(self.layer_sizes, k, self.rng(STREAM_TRAINING, tick, slot, 1))

        own = self.spec.property
        candidates = [Candidate(self.name, self.name, "scratch", job(0, fresh(0), 0), own)]
        if self.isolated_candidates is not None:
            for slot in range(1, self.isolated_candidates):
                label = f"{self.name}#{slot + 1}"
                candidates.append(Candidate(label, self.name, "scratch", job(slot, fresh(slot), 0), own))
        else:
            for slot, (source, snapshot) in enumerate(self.exchange.available_for(self.name, tick).items(), 1):
                if snapshot.layer_sizes != self.layer_sizes:
                    raise ValueError(
                        f"lab {self.name!r} cannot transfer from {source!r}: architecture "
                        f"{snapshot.layer_sizes} differs from {self.layer_sizes}"
                    )
                transferred = job(slot, snapshot.params.copy(), self.learner.frozen_layers)
                candidates.append(Candidate(source, source, "transfer", transferred, snapshot.property))
        self._planned = candidates
        return candidates

    def complete_action(self, tick: int, results: Sequence[TrainResult]) -> None:
        candidates, self._planned = self._planned, []
        if len(results) != len(candidates):
            raise RuntimeError(f"lab {self.name!r}: {len(candidates)} candidates planned, {len(results)} trained")
        losses = [r.validation_loss for r in results]
        best = select_best(losses)
        chosen, chosen_result = candidates[best], results[best]
        local_loss = losses[0]
        for cand, loss in zip(candidates, losses):
            if cand.kind == "transfer":
                self.transfers.record(
                    tick, cand.source, self.name, loss, local_loss, cand is chosen,
                    source_property=cand.source_property, target_property=self.spec.property,
                )
        mean, std = self._standardization
        preds = predict_ensemble(chosen_result.params, self.layer_sizes, self.space.descriptors, self.learner.output_activation)
        mu, sigma = preds.mean(axis=0), preds.std(axis=0)
        unmeasured = ~self.measured
        truth_std = (self._truth - mean) / std
        generalization = float(np.mean((mu[unmeasured] - truth_std[unmeasured]) ** 2))
        index = argmax_unmeasured(self.acquisition(mu, sigma), self.measured)
        self.last_bpm_source = chosen.source
        self._measure(
            index, tick=tick, phase="acquisition",
            bpm_source=chosen.source, bpm_kind=chosen.kind, bpm_validation_loss=losses[best],
            n_candidates=len(candidates), candidate_losses={c.label: l for c, l in zip(candidates, losses)},
            generalization_mse=generalization,
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
