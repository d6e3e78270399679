"""The exploration systems: Mesa agents that measure materials at their own clock speed.

One action of a lab is a sequence of named steps, with the plan passed as a value
(docs/algorithm.md, "One action of a BO lab")::

    plan = lab.plan_action(tick)            # plan: split, standardization, candidate models
    trained = lab.train(plan)               # train: the plan's engine tasks
    lab.complete_action(plan, trained)      # evaluate, select, acquire (measure + log), publish

:meth:`ExplorationLab.step` runs exactly this for one lab. ``complete_action`` is itself
``select_model`` (evaluate, select), the BPM's prediction over every material, and
``finish_action`` (acquire, measure, publish). The network
(:class:`labnet.simulation.network.ExplorationNetwork`) instead plans every acting lab, trains
all their plans' engine tasks in ONE batched call (members are independent in the engine, so
the results are the same), lets every lab select, predicts with all selected models in one
pass, then finishes each lab's action; its executor decides where the two passes run.

A lab reaches the world only through the protocols of :mod:`labnet.agents.protocols` (material
space, oracle, broker, transfer log).
"""
from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

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
from labnet.models.selection import keras_split
from labnet.models.candidate import CandidateModel, EngineEnsemble, TrainingSplit
from labnet.models.grouping import EngineTask, Trainer, train_grouped
from labnet.models.pool_selection import score_sources, top_k
from labnet.models.transfer import SourceNetwork
from labnet.models.transfer_modes.registry import get_transfer_mode

from .candidates import Candidate, NeighbourCandidate, PoolCandidate, ScratchCandidate, TransferCandidate
from .neighbour_selection import neighbour_selector
from .plan import ActionPlan, Evaluated, Plan, Selection, Standardization
from .protocols import MaterialView, Measurer, ModelExchange, TransferRecorder
from .spec import LabSpec
from .step_record import NO_DECISION, Decision, StepRecord

if TYPE_CHECKING:
    from labnet.models.pool import SourcePool

# independent random streams of a lab, each keyed by (seed, lab index, stream, ...)
STREAM_INITIAL, STREAM_TRAINING, STREAM_RANDOM_SEARCH, STREAM_POOL, STREAM_POOL_RANKING = 0, 1, 2, 4, 5
# (3 is the network's oracle stream)
SCRATCH_INIT = 1
"""Subkey of a from-scratch candidate's training stream that draws its initial weights."""


@dataclass(frozen=True, eq=False)
class LabContext:
    """What a network gives every lab it builds (a strategy's lab class takes what it needs).

    Attributes:
        space: the candidate materials.
        seed: the trial seed.
        exchange: the broker (publish / available_for).
        transfers: the transfer-event log.
        learner: hyperparameters shared by all labs.
        layer_sizes: (d, *hidden, n_outputs) of the labs' own ensembles (n_outputs: 1, or 2 under authors_code).
        trainer: the engine function (the ``transfer_cv`` pool ranking trains through it).
        isolated_candidates: lab name -> from-scratch ensembles per action (the isolated
            baseline), or None for the networked condition.
        load_pool: the loaded, checked source-model pool at a path of ``LabSpec.pools``.
    """

    space: MaterialView
    seed: int
    exchange: ModelExchange
    transfers: TransferRecorder
    learner: LearnerConfig
    layer_sizes: tuple[int, ...]
    trainer: Trainer
    isolated_candidates: Mapping[str, int] | None
    load_pool: Callable[[str], "SourcePool"]


class ExplorationLab(mesa.Agent):
    """Shared state of every lab: its spec, its oracle, what it has measured, and its log.

    Attributes:
        measured: bool [N], materials measured so far.
        rows, y_observed, y_true: the measured materials in order, their measured and true values.
        log: one :class:`~labnet.agents.step_record.StepRecord` per observation.
    """

    def __init__(
        self,
        model: mesa.Model,
        spec: LabSpec,
        lab_index: int,
        space: MaterialView,
        oracle: Measurer,
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
        self.log: list[StepRecord] = []
        self._truth = space.values(spec.property)

    @classmethod
    def create(cls, model: mesa.Model, spec: LabSpec, lab_index: int, oracle: Measurer,
               context: LabContext) -> "ExplorationLab":
        """The lab of ``spec`` in ``model``, from what the network provides (the strategy registry's constructor)."""
        return cls(model, spec, lab_index, context.space, oracle, context.seed)

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

    def measure(self, index: int, tick: int, phase: str, decision: Decision = NO_DECISION) -> None:
        """Measure material ``index`` with the lab's oracle and log it (one :class:`StepRecord`)."""
        if self.measured[index]:
            raise RuntimeError(f"lab {self.name!r} tried to measure material {index} twice")
        y = float(self.oracle.measure(np.array([index]))[0])
        self.measured[index] = True
        self.rows.append(int(index))
        self.y_observed.append(y)
        self.y_true.append(float(self._truth[index]))
        self.log.append(StepRecord.of(
            decision,
            tick=tick, lab=self.name, property=self.spec.property, strategy=self.spec.strategy, phase=phase,
            n_obs=self.n_obs, material_index=int(index), material_id=str(self.space.ids[index]),
            y_observed=y, y_true=self.y_true[-1],
            best_so_far=self._best(self.y_observed), best_true_so_far=self._best(self.y_true),
        ))

    def measure_initial_points(self) -> None:
        """The seeded random start (same for every condition of a trial): logged at tick -1."""
        n = self.spec.initial_points
        if n > len(self.space):
            raise ValueError(f"lab {self.name!r}: initial_points = {n} exceeds the {len(self.space)} candidates")
        for index in self.rng(STREAM_INITIAL).choice(len(self.space), size=n, replace=False):
            self.measure(int(index), tick=-1, phase="initial")

    # ------------------------------------------------------------------ the action
    def step(self) -> None:
        """Mesa's step: the lab's action at the model's current tick, if its clock fires, trained alone."""
        tick = self.model.tick
        if self.acts_at(tick):
            plan = self.plan_action(tick)
            self.complete_action(plan, self.train(plan))

    def plan_action(self, tick: int) -> Plan:
        """Plan the action at ``tick`` (nothing to train by default)."""
        return Plan(tick)

    def train(self, plan: Plan) -> list[TrainResult]:
        """Train the plan's engine tasks on their own (the network batches every lab's instead)."""
        return []

    def complete_action(self, plan: Plan, trained: Sequence[TrainResult]) -> None:
        """Finish the planned action; ``trained`` are the engine results of ``plan.engine_tasks``, in order."""
        raise NotImplementedError

    def select_model(self, plan: Plan, trained: Sequence[TrainResult]) -> Selection | None:
        """The network's evaluate-and-select phase: the model whose prediction the lab acquires with,
        or None when it predicts nothing (then :meth:`finish_action` gets no prediction)."""
        return None

    def finish_action(self, plan: Plan, trained: Sequence[TrainResult], selection: Selection | None,
                      prediction: tuple[np.ndarray, np.ndarray] | None) -> None:
        """The network's last phase: finish the action with the selection's prediction (mu, sigma [N]).
        By default (a lab that selects nothing) this is :meth:`complete_action`."""
        self.complete_action(plan, trained)


class RandomSearchLab(ExplorationLab):
    """Baseline: measures a uniformly random unmeasured candidate at each action."""

    def complete_action(self, plan: Plan, trained: Sequence[TrainResult]) -> None:
        unmeasured = np.flatnonzero(~self.measured)
        index = int(self.rng(STREAM_RANDOM_SEARCH, plan.tick).choice(unmeasured))
        self.measure(index, tick=plan.tick, phase="acquisition")


class BayesianOptimizationLab(ExplorationLab):
    """The paper's closed loop (docs/algorithm.md): plan, train, evaluate, select, acquire, publish.

    Candidates: the lab's own from-scratch ensemble (always first), one transferred model per
    in-neighbour that has published, and the ``pool_top_k`` best models of its source-model pools
    (paper 2's shotgun selection, re-ranked every ``spec.pool_every`` actions on the training part
    of the action's split). Neighbour and pool models are transferred in ``spec.transfer_mode``
    (an object of :mod:`labnet.models.transfer_modes`).

    Args:
        exchange: the broker (publish / available_for).
        transfers: the transfer-event log.
        learner: hyperparameters.
        layer_sizes: (d, *hidden, n_outputs).
        isolated_candidates: when set, the lab ignores neighbours and trains this many
            from-scratch ensembles per action (the isolated baseline). Pools are the lab's own
            and are used in both conditions.
        pools: the loaded pools named by ``spec.pools`` (checked against the material space).
        trainer: trains the lab's tasks in :meth:`train` and the ``transfer_cv`` ranking's fold
            models (the network's trainer).
    """

    def __init__(
        self,
        model: mesa.Model,
        spec: LabSpec,
        lab_index: int,
        space: MaterialView,
        oracle: Measurer,
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
        self.transfer_mode = get_transfer_mode(spec.transfer_mode)
        self.acquisition = UpperConfidenceBound(alpha=learner.ucb_alpha, maximize=self.maximize)
        self.pool_sources: list[SourceNetwork] = [source for pool in pools for source in pool.sources()]
        if self.pool_sources and spec.pool_top_k > len(self.pool_sources):
            raise ValueError(
                f"lab {spec.name!r}: pool_top_k = {spec.pool_top_k} exceeds the {len(self.pool_sources)} pool models"
            )
        self.neighbour_selector = neighbour_selector(spec.neighbour_selection, spec.neighbour_budget,
                                                     spec.neighbour_retry_every)
        self.pool_choice: list[int] = []  # indices into pool_sources, best first
        self.last_pool_scores: np.ndarray | None = None  # CV MSE of every pool source at the last ranking
        self.actions_taken = 0

    @classmethod
    def create(cls, model: mesa.Model, spec: LabSpec, lab_index: int, oracle: Measurer,
               context: LabContext) -> "BayesianOptimizationLab":
        isolated = None if context.isolated_candidates is None else context.isolated_candidates.get(spec.name)
        return cls(
            model, spec, lab_index, context.space, oracle, context.seed,
            exchange=context.exchange, transfers=context.transfers, learner=context.learner,
            layer_sizes=context.layer_sizes, isolated_candidates=isolated,
            pools=[context.load_pool(path) for path in spec.pools], trainer=context.trainer,
        )

    # ------------------------------------------------------------------ plan
    def plan_action(self, tick: int) -> ActionPlan:
        """Standardize, split, and build the action's candidates (ranking the pool when it is due)."""
        standardization, y = Standardization.of(self.y_observed)
        split = self._split(tick, y)
        candidates: list[Candidate] = [self._scratch(tick, 0, self.name, split)]
        skipped = 0
        if self.isolated_candidates is not None:
            candidates += [self._scratch(tick, slot, f"{self.name}#{slot + 1}", split)
                           for slot in range(1, self.isolated_candidates)]
        elif not (self.learner.rules.event_order and self.actions_taken == 0):
            # (authors_code: a lab's first action trains its own model only, docs/algorithm.md → The two protocols)
            neighbours, skipped = self._neighbour_candidates(tick, split)
            candidates += neighbours
        candidates += self._pool_candidates(tick, split)
        plan = ActionPlan(tick, self.actions_taken, split, standardization, tuple(candidates), skipped)
        self.actions_taken += 1
        return plan

    def _split(self, tick: int, y: np.ndarray) -> TrainingSplit:
        """The action's split of the observations (``y``: standardized, float32 [n]), drawn from the
        (tick) training stream: 80/20 (``paper_text``), or the authors' 64/16/20 whose test part is
        unused (``authors_code``, :func:`labnet.models.selection.keras_split`)."""
        rows = np.asarray(self.rows, dtype=np.int64)
        rules, rng = self.learner.rules, self.rng(STREAM_TRAINING, tick)
        if rules.keras_validation_split:
            train, val, _test = keras_split(len(rows), rules.test_fraction, self.learner.validation_fraction, rng)
        else:
            train, val = validation_split(len(rows), self.learner.validation_fraction, rng)
        return TrainingSplit(rows[train], y[train], rows[val], y[val])

    def _scratch(self, tick: int, slot: int, label: str, split: TrainingSplit) -> ScratchCandidate:
        """A from-scratch ensemble; its weights and shuffle seeds keyed by (tick, slot)."""
        k = self.learner.n_members
        params = lecun_normal_params(self.layer_sizes, k, self.rng(STREAM_TRAINING, tick, slot, SCRATCH_INIT))
        seeds = self.rng(STREAM_TRAINING, tick, slot).integers(0, 2**63, size=k, dtype=np.uint64)
        job = TrainJob(params, split.train_rows, split.y_train, split.val_rows, split.y_val, seeds, 0)
        model = EngineEnsemble(EngineTask(job, self.layer_sizes, self.learner))
        return ScratchCandidate(label, self.name, self.spec.property, model)

    def _neighbour_candidates(self, tick: int, split: TrainingSplit) -> tuple[list[NeighbourCandidate], int]:
        """One candidate per published neighbour model the selector tries, and how many were skipped.

        Slots count every available neighbour, so a neighbour's candidate does not depend on which
        others are tried.
        """
        available = self.exchange.available_for(self.name, tick)
        rows_of = {source: snapshot.n_train for source, snapshot in available.items()}
        tried = set(self.neighbour_selector.choose(rows_of, self.actions_taken))
        candidates = []
        for slot, (source, snapshot) in enumerate(available.items(), 1):
            if source in tried:
                network = SourceNetwork(source, snapshot.property, snapshot.params, snapshot.layer_sizes,
                                        self.learner.output_activation)
                model = self._transferred(network, split, (STREAM_TRAINING, tick, slot))
                candidates.append(NeighbourCandidate(source, source, snapshot.property, model, rows_of[source]))
        return candidates, len(available) - len(tried)

    def _pool_candidates(self, tick: int, split: TrainingSplit) -> list[PoolCandidate]:
        """The ``pool_top_k`` best pool models, re-ranked every ``pool_every`` actions."""
        if not self.pool_sources:
            return []
        if self.actions_taken % self.spec.pool_every == 0:
            self._rank_pool(tick, split)
        candidates = []
        for i in self.pool_choice:
            source = self.pool_sources[i]
            model = self._transferred(source, split, (STREAM_POOL, tick, i))
            candidates.append(PoolCandidate(source.label, source.label, source.property, model))
        return candidates

    def _transferred(self, source: SourceNetwork, split: TrainingSplit, key: tuple[int, ...]) -> CandidateModel:
        """The candidate model built from ``source`` in the lab's transfer mode; random draws keyed by ``key``."""
        return self.transfer_mode.candidate_model(source, self.learner, split, lambda *sub: self.rng(*key, *sub))

    def _rank_pool(self, tick: int, split: TrainingSplit) -> None:
        """Shotgun selection: CV-score every pool model on the training part of this action's split."""
        scores = score_sources(
            self.pool_sources, self.space.descriptors, split.train_rows, split.y_train, self.transfer_mode,
            self.learner, scoring=self.spec.pool_scoring, n_folds=self.spec.pool_cv_folds,
            rng=self.rng(STREAM_POOL_RANKING, tick), trainer=self.trainer,
        )
        self.last_pool_scores = scores
        self.pool_choice = top_k(scores, self.spec.pool_top_k)

    # ------------------------------------------------------------------ train
    def train(self, plan: ActionPlan) -> list[TrainResult]:
        tasks = plan.engine_tasks
        return train_grouped(tasks, self.space.descriptors, self.trainer) if tasks else []

    # ------------------------------------------------------------------ complete
    def complete_action(self, plan: ActionPlan, trained: Sequence[TrainResult]) -> None:
        """Evaluate every candidate, select the BPM, acquire by UCB (measure and log), publish the ENM."""
        selection = self.select_model(plan, trained)
        self.finish_action(plan, trained, selection, selection.predictor.predict(self.space.descriptors))

    def select_model(self, plan: ActionPlan, trained: Sequence[TrainResult]) -> Selection:
        """Evaluate every candidate and select the BPM."""
        evaluated = self.evaluate(plan, trained)
        return Selection(tuple(evaluated), self.select(plan, evaluated))

    def finish_action(self, plan: ActionPlan, trained: Sequence[TrainResult], selection: Selection | None,
                      prediction: tuple[np.ndarray, np.ndarray] | None) -> None:
        """Acquire by UCB with the BPM's ``prediction`` (mu, sigma [N]), measure and log, publish the ENM."""
        if selection is None or prediction is None:
            raise RuntimeError(f"lab {self.name!r}: finishing an action needs the selected model and its prediction")
        index, decision = self.acquire(plan, selection.evaluated, selection.best, prediction)
        self.measure(index, tick=plan.tick, phase="acquisition", decision=decision)
        self.publish(plan, trained[0])

    def evaluate(self, plan: ActionPlan, trained: Sequence[TrainResult]) -> list[Evaluated]:
        """Fit every candidate (engine results in plan order; other models fitted here) and score it
        on the plan's validation split."""
        n_tasks = len(plan.engine_tasks)
        if len(trained) != n_tasks:
            raise RuntimeError(f"lab {self.name!r}: {n_tasks} candidate ensembles planned, {len(trained)} trained")
        results = iter(trained)
        return [
            Evaluated(c, c.model.fit(next(results) if c.engine_task is not None else None,
                                     self.space.descriptors, plan.split))
            for c in plan.candidates
        ]

    def select(self, plan: ActionPlan, evaluated: Sequence[Evaluated]) -> Evaluated:
        """The BPM (lowest validation loss; ties to the lab's own ENM). Every transferred candidate
        goes to the transfer log, and neighbour tries to the neighbour selector."""
        best = evaluated[select_best([e.validation_loss for e in evaluated])]
        local_loss = evaluated[0].validation_loss
        for e in evaluated:
            if isinstance(e.candidate, NeighbourCandidate):
                self.neighbour_selector.record(e.candidate.source, e.candidate.source_rows,
                                               e.validation_loss / max(local_loss, 1e-12), plan.action)
        for e in evaluated:
            if isinstance(e.candidate, TransferCandidate):
                self.transfers.record(
                    plan.tick, e.candidate.source, self.name, e.validation_loss, local_loss, e is best,
                    source_property=e.candidate.source_property, target_property=self.spec.property,
                )
        return best

    def acquire(self, plan: ActionPlan, evaluated: Sequence[Evaluated], best: Evaluated,
                prediction: tuple[np.ndarray, np.ndarray]) -> tuple[int, Decision]:
        """The unmeasured material with the highest UCB under the BPM's ``prediction`` = (mu, sigma) [N]
        over every material, and the decision to log with it."""
        mu, sigma = prediction
        unmeasured = ~self.measured
        truth_std = plan.standardization.apply(self._truth)
        generalization = float(np.mean((mu[unmeasured] - truth_std[unmeasured]) ** 2))
        index = argmax_unmeasured(self.acquisition(mu, sigma), self.measured, self.space.first_twin)
        decision = Decision(
            bpm_source=best.candidate.source, bpm_kind=best.candidate.kind, bpm_validation_loss=best.validation_loss,
            n_candidates=len(evaluated), candidate_losses={e.candidate.label: e.validation_loss for e in evaluated},
            generalization_mse=generalization, neighbours_skipped=plan.neighbours_skipped,
        )
        return index, decision

    def publish(self, plan: ActionPlan, own: TrainResult) -> None:
        """Publish the lab's from-scratch ENM (not the BPM), trained on the data before this measurement."""
        self.exchange.publish(
            self.name,
            ModelSnapshot(
                owner=self.name, property=self.spec.property, tick=plan.tick, n_train=len(plan.split.train_rows),
                validation_loss=own.selection_loss(self.learner), params=own.params, layer_sizes=self.layer_sizes,
                y_mean=plan.standardization.mean, y_std=plan.standardization.std,
            ),
        )
