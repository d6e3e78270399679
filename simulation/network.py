"""The Mesa model of a lab network: one ``step()`` is one tick of the shared clock.

Synchronous semantics (docs/algorithm.md, "Clock"): every lab acting at tick t plans its action
from the models published up to the end of tick t-1, the engine tasks of all acting labs' plans
are trained in ONE batched engine call, then each lab completes its action: evaluates, selects,
acquires, measures and publishes (usable by neighbours from t+1). The labs' classes come from
the strategy registry (:data:`labnet.agents.strategies.LAB_STRATEGIES`).

One tick is five named phases (:meth:`ExplorationNetwork.step`): plan -> train -> select
(evaluate + select) -> predict -> finish (acquire, measure, publish). The train and predict
phases, the expensive ones, go to the network's executor (:mod:`labnet.simulation.tick_executor`:
in this process by default, or sharded over a Ray cluster by
:mod:`labnet.runs.execution.ray_tick`); the results are the same on every executor.

Under the ``authors_code`` protocol (``learner.rules.event_order``) a tick runs
:meth:`ExplorationNetwork.step_in_event_order` instead: the acting labs act one after another in
the authors' event order (:func:`event_order`), each seeing what the labs before it published
in the same tick.
"""
from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path

import mesa
import numpy as np
import pandas as pd

from labnet.agents.lab import LabContext
from labnet.agents.plan import Plan
from labnet.agents.spec import LabSpec
from labnet.agents.step_record import step_frame
from labnet.agents.strategies import lab_class
from labnet.models import LearnerConfig, TrainResult, layer_sizes_for
from labnet.models.engines import trainer_for
from labnet.models.grouping import Trainer
from labnet.models.pool import SourcePool, load_pool

from labnet.environment.broker import ModelBroker
from labnet.environment.material_space import MaterialSpace
from labnet.environment.oracle import Oracle
from labnet.environment.topology import Topology
from labnet.environment.transfer_log import TransferLog

from .tick_executor import InProcessExecutor, Prediction, TickExecutor
from .tick_table import tick_frame

STREAM_ORACLE = 3


def event_order(labs: Sequence[LabSpec]) -> list[str]:
    """The order labs act in within a tick under ``authors_code``: by period, then by name.

    The authors' ``run_networkBO.py`` pops its ``heapq`` time line of tuples (start time, period,
    system folder name, ...): at equal times the lab with the shorter period (the faster one) acts
    first, equal periods by folder name.
    """
    return [spec.name for spec in sorted(labs, key=lambda spec: (spec.period_ticks, spec.name))]


class ExplorationNetwork(mesa.Model):
    """A network of labs exploring one material space.

    Args:
        space: candidate materials and their hidden ground truth.
        labs: one ``LabSpec`` per lab; names must be the topology's nodes.
        topology: who may use whose models (edge q→p: p uses q's), with latencies.
        learner: training hyperparameters shared by all labs.
        seed: the trial seed; initial points depend only on (seed, lab position).
        isolated_candidates: lab → number of from-scratch ensembles; set for the isolated
            baseline (the lab then ignores neighbours).
        trainer: the training function (default: the learner's engine, :func:`labnet.models.engines.trainer_for`).
        pools: loaded source-model pools by the path a lab's ``spec.pools`` names them with;
            pools not given here are loaded from disk (once per network).
        executor: where the train and predict phases of a tick run (default: this process,
            :class:`~labnet.simulation.tick_executor.InProcessExecutor`); replaceable between
            ticks (``network.executor = ...``), and never pickled with the network.

    Raises:
        PoolError: a lab's pool cannot be loaded or does not fit the material space's descriptors.

    The model pickles between two ticks (:mod:`labnet.simulation.checkpoint`): all randomness
    lives in picklable generators or is keyed by (seed, lab, tick), so a restored network
    continues exactly as the original would have. Loaded pools are shared read-only objects and
    pickle with it. Its record is the labs' step logs and the transfer log
    (:meth:`step_table`, :meth:`transfer_table`); :meth:`tick_table` summarizes them per tick.
    """

    def __init__(
        self,
        space: MaterialSpace,
        labs: Sequence[LabSpec],
        topology: Topology,
        learner: LearnerConfig | None = None,
        seed: int = 0,
        isolated_candidates: Mapping[str, int] | None = None,
        trainer: Trainer | None = None,
        pools: Mapping[str, SourcePool] | None = None,
        executor: TickExecutor | None = None,
    ) -> None:
        super().__init__(seed=seed)
        self.executor: TickExecutor = executor if executor is not None else InProcessExecutor()
        self.space = space
        self.learner = learner or LearnerConfig()
        self.topology = topology
        self.trainer = trainer if trainer is not None else trainer_for(self.learner)
        self.trial_seed = int(seed)
        self.tick = 0
        self._check(labs, topology, isolated_candidates)
        self.event_order = event_order(labs) if self.learner.rules.event_order else None
        self.broker = ModelBroker(topology, self.event_order)
        self.transfer_log = TransferLog()
        self.layer_sizes = layer_sizes_for(space.n_descriptors, self.learner.hidden_layers,
                                           self.learner.rules.output_width)
        self.pools: dict[str, SourcePool] = dict(pools or {})
        context = LabContext(
            space=space, seed=self.trial_seed, exchange=self.broker, transfers=self.transfer_log,
            learner=self.learner, layer_sizes=self.layer_sizes, trainer=self.trainer,
            isolated_candidates=isolated_candidates, load_pool=self._pool,
        )
        for index, spec in enumerate(labs):
            oracle = Oracle(
                space, spec.property, noise_std=spec.noise_std, bias=spec.bias,
                seed=np.random.SeedSequence([self.trial_seed, index, STREAM_ORACLE]),
            )
            lab = lab_class(spec.strategy).create(self, spec, index, oracle, context)
            lab.measure_initial_points()

    @staticmethod
    def _check(labs: Sequence[LabSpec], topology: Topology, isolated_candidates: Mapping[str, int] | None) -> None:
        names = [spec.name for spec in labs]
        if not names:
            raise ValueError("a network needs at least one lab")
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"lab names must be unique; repeated: {duplicates}")
        missing = sorted(set(names) ^ set(topology.names))
        if missing:
            raise ValueError(f"labs and topology nodes differ: {missing} (labs: {names}, topology: {list(topology.names)})")
        unknown = sorted(set(isolated_candidates or {}) - set(names))
        if unknown:
            raise ValueError(f"isolated_candidates names unknown labs: {unknown}")

    def _pool(self, path: str) -> SourcePool:
        """The pool at ``path`` (loaded once), checked against the material space's descriptors."""
        if path not in self.pools:
            self.pools[path] = load_pool(Path(path))
        pool = self.pools[path]
        pool.check_descriptors(self.space.n_descriptors, self.space.descriptor_names)
        return pool

    @property
    def labs(self) -> mesa.agent.AgentSet:
        return self.agents

    def step(self) -> None:
        """Advance one tick: plan -> train -> select -> predict -> finish, over every acting lab.

        Every acting lab plans; all plans train in one pass (one engine call per (architecture,
        settings) group: a single call unless pool models or finetune_full are involved); every
        lab evaluates its candidates and selects its BPM; all BPMs predict over every material in
        one pass; every lab acquires with its prediction, measures and publishes. Train and
        predict run on :attr:`executor`.
        Under ``authors_code`` the tick is :meth:`step_in_event_order`.
        """
        if getattr(self, "event_order", None) is not None:  # (checkpoints written before protocols lack it)
            self.step_in_event_order()
            return
        self._act([lab for lab in self.agents if lab.acts_at(self.tick)])
        self.tick += 1

    def step_in_event_order(self) -> None:
        """Advance one tick the authors' way: the acting labs one after another in :attr:`event_order`,
        each planning after the labs before it published (one engine call and one prediction per
        lab, on :attr:`executor`)."""
        by_name = {lab.name: lab for lab in self.agents}
        for name in self.event_order or ():
            if by_name[name].acts_at(self.tick):
                self._act([by_name[name]])
        self.tick += 1

    def _act(self, acting: Sequence) -> None:
        """One action of every lab of ``acting`` at the current tick: plan -> train -> select ->
        predict -> finish, the train and the predict phase each one pass on :attr:`executor`."""
        plans = [lab.plan_action(self.tick) for lab in acting]
        trained = self.train(plans)
        selections = [lab.select_model(plan, results) for lab, plan, results in zip(acting, plans, trained)]
        predictions = self.predict([selection.predictor for selection in selections if selection is not None])
        for lab, plan, results, selection in zip(acting, plans, trained, selections):
            lab.finish_action(plan, results, selection, None if selection is None else next(predictions))

    def train(self, plans: Sequence[Plan]) -> list[list[TrainResult]]:
        """The engine results of every plan's tasks (one grouped engine pass for all, on the
        executor), per plan in order."""
        tasks = [task for plan in plans for task in plan.engine_tasks]
        results = self.executor.train(tasks, self.space.descriptors, self.trainer) if tasks else []
        per_plan, start = [], 0
        for plan in plans:
            n_tasks = len(plan.engine_tasks)
            per_plan.append(results[start : start + n_tasks])
            start += n_tasks
        return per_plan

    def predict(self, predictors: Sequence) -> "Iterator[Prediction]":
        """(mu, sigma) of every predictor over every material (one pass on the executor), in order."""
        return iter(self.executor.predict(predictors, self.space.descriptors) if predictors else [])

    def __getstate__(self) -> dict:
        """The network's state without its executor (a checkpoint holds no cluster handle)."""
        state = self.__dict__.copy()
        state["executor"] = InProcessExecutor()
        return state

    def run(self, horizon_ticks: int, progress: Callable[[int], None] | None = None) -> None:
        """Run ticks until ``self.tick == horizon_ticks``; ``progress(tick)`` after each finished tick."""
        if horizon_ticks < 0:
            raise ValueError(f"horizon_ticks = {horizon_ticks}: expected >= 0")
        while self.tick < horizon_ticks:
            self.step()
            if progress is not None:
                progress(self.tick - 1)

    def step_table(self) -> pd.DataFrame:
        """One row per observation of every lab (initial points at tick -1), in time order."""
        return step_frame([row for lab in self.agents for row in lab.log], [lab.name for lab in self.agents])

    def transfer_table(self) -> pd.DataFrame:
        """One row per candidate transfer-learned model built (:meth:`TransferLog.to_frame`)."""
        return self.transfer_log.to_frame()

    def tick_table(self) -> pd.DataFrame:
        """One row per finished tick: :func:`~labnet.simulation.tick_table.tick_frame` of this network's tables."""
        return tick_frame(self.step_table(), self.transfer_table(), self.tick)
