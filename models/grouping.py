"""Engine calls for jobs of different architectures or settings.

:func:`labnet.models.engine.train_jobs` trains jobs that share one ``layer_sizes`` and one
``LearnerConfig``. Source-model pools bring many architectures, and ``finetune_full`` its own
learning rate, so the jobs of a tick are grouped by (architecture, settings): one engine call
per group, groups in order of first appearance, results returned in task order. Members are
independent in the engine, so grouping never changes a job's result.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from .config import LearnerConfig
from .engine import TrainJob, TrainResult, train_jobs

Trainer = Callable[[Sequence[TrainJob], np.ndarray, Sequence[int], LearnerConfig], list[TrainResult]]


@dataclass(frozen=True, eq=False)
class EngineTask:
    """One job with the architecture and settings it trains with."""

    job: TrainJob
    layer_sizes: tuple[int, ...]
    config: LearnerConfig


def train_grouped(tasks: Sequence[EngineTask], X: np.ndarray, trainer: Trainer = train_jobs) -> list[TrainResult]:
    """Train every task, one ``trainer`` call per (layer_sizes, config) group; results in task order.

    X: float32 [N, d], the descriptor matrix every job's rows point into.
    """
    groups: dict[tuple, list[int]] = {}
    for i, task in enumerate(tasks):
        groups.setdefault((tuple(task.layer_sizes), task.config), []).append(i)
    results: list[TrainResult | None] = [None] * len(tasks)
    for (sizes, config), members in groups.items():
        trained = trainer([tasks[i].job for i in members], X, sizes, config)
        for i, result in zip(members, trained):
            results[i] = result
    return results  # type: ignore[return-value]
