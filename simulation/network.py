"""The Mesa model of a lab network: one ``step()`` is one tick of the shared clock.

Synchronous semantics (DESIGN.md): every lab acting at tick t plans its candidates from the models
published up to the end of tick t-1, all acting labs' candidates are trained in ONE batched engine
call, then each lab selects, acquires, measures and publishes (usable by neighbours from t+1).
"""
from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from operator import attrgetter
from pathlib import Path

import mesa
import numpy as np
import pandas as pd

from labnet.agents import BayesianOptimizationLab, ExplorationLab, LabSpec, RandomSearchLab
from labnet.models import LearnerConfig, TrainJob, TrainResult, layer_sizes_for, train_jobs
from labnet.models.engines import trainer_for
from labnet.models.grouping import train_grouped
from labnet.models.pool import SourcePool, load_pool

from labnet.environment.broker import ModelBroker
from labnet.environment.material_space import MaterialSpace
from labnet.environment.oracle import Oracle
from labnet.environment.topology import Topology
from labnet.environment.transfer_log import TransferLog

Trainer = Callable[[Sequence[TrainJob], np.ndarray, Sequence[int], LearnerConfig], list[TrainResult]]

STREAM_ORACLE = 3


def transfers_built(network: "ExplorationNetwork") -> int:
    """Model reporter: transfer-learned candidate models built so far (all labs)."""
    return len(network.transfer_log)


def mean_best_true_so_far(network: "ExplorationNetwork") -> float:
    """Model reporter: mean over labs of the best true property value measured so far (property units)."""
    return float(np.mean([lab.best_true_so_far for lab in network.agents]))


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

    Raises:
        PoolError: a lab's pool cannot be loaded or does not fit the material space's descriptors.

    The model pickles between two ticks (:mod:`labnet.simulation.checkpoint`): DataCollector reporters
    are named functions, and all randomness lives in picklable generators or is keyed by
    (seed, lab, tick), so a restored network continues exactly as the original would have.
    Loaded pools are shared read-only objects and pickle with it.
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
    ) -> None:
        super().__init__(seed=seed)
        self.space = space
        self.learner = learner or LearnerConfig()
        self.topology = topology
        self.trainer = trainer if trainer is not None else trainer_for(self.learner)
        self.trial_seed = int(seed)
        self.tick = 0
        self._check(labs, topology, isolated_candidates)
        self.broker = ModelBroker(topology)
        self.transfer_log = TransferLog()
        self.layer_sizes = layer_sizes_for(space.n_descriptors, self.learner.hidden_layers)
        self.pools: dict[str, SourcePool] = dict(pools or {})
        for index, spec in enumerate(labs):
            oracle = Oracle(
                space, spec.property, noise_std=spec.noise_std, bias=spec.bias,
                seed=np.random.SeedSequence([self.trial_seed, index, STREAM_ORACLE]),
            )
            if spec.strategy == "random":
                lab: ExplorationLab = RandomSearchLab(self, spec, index, space, oracle, self.trial_seed)
            else:
                lab = BayesianOptimizationLab(
                    self, spec, index, space, oracle, self.trial_seed,
                    exchange=self.broker, transfers=self.transfer_log, learner=self.learner,
                    layer_sizes=self.layer_sizes,
                    isolated_candidates=None if isolated_candidates is None else isolated_candidates.get(spec.name),
                    pools=[self._pool(path, spec) for path in spec.pools], trainer=self.trainer,
                )
            lab.measure_initial_points()
        self.datacollector = mesa.DataCollector(
            model_reporters={
                "tick": "tick",
                "transfers_built": transfers_built,
                "mean_best_true_so_far": mean_best_true_so_far,
            },
            # attrgetter, not attribute strings: Mesa wraps strings in closures that cannot be pickled
            agent_reporters={
                "lab": attrgetter("name"),
                "n_obs": attrgetter("n_obs"),
                "best_true_so_far": attrgetter("best_true_so_far"),
            },
        )

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

    def _pool(self, path: str, spec: LabSpec) -> SourcePool:
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
        """Advance one tick: plan every acting lab, train all candidates in one pass, act.

        "One pass" is one engine call per (architecture, settings) group: a single call unless
        pool models (other architectures) or finetune_full (another learning rate) are involved.
        """
        tick = self.tick
        acting = [lab for lab in self.agents if lab.acts_at(tick)]
        plans = [lab.plan_training(tick) for lab in acting]
        tasks = [cand.task for plan in plans for cand in plan if cand.task is not None]
        results = train_grouped(tasks, self.space.descriptors, self.trainer) if tasks else []
        start = 0
        for lab, plan in zip(acting, plans):
            n_tasks = sum(cand.task is not None for cand in plan)
            lab.complete_action(tick, results[start : start + n_tasks])
            start += n_tasks
        self.datacollector.collect(self)
        self.tick += 1

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


def step_frame(records: Sequence[Mapping[str, object]], lab_order: Sequence[str]) -> pd.DataFrame:
    """The step table from lab log records (any order): sorted by tick, lab order, then n_obs.

    Args:
        records: rows of ``ExplorationLab.log`` (dicts with at least ``tick``, ``lab``, ``n_obs``).
        lab_order: lab names in the network's order (ties within a tick follow it).

    The (tick, lab, n_obs) keys are unique, so the result does not depend on the order of
    ``records``: the runner rebuilds identical tables from its on-disk streams.
    """
    table = pd.DataFrame(list(records))
    if table.empty:
        return table
    order = {name: i for i, name in enumerate(lab_order)}
    table["_lab_order"] = table["lab"].map(order)
    table = table.sort_values(["tick", "_lab_order", "n_obs"], kind="stable").drop(columns="_lab_order")
    return table.reset_index(drop=True)
