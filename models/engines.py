"""Which engine trains: ``engine`` / ``device`` of a :class:`LearnerConfig` -> a trainer.

A trainer has the contract of :func:`labnet.models.engine.train_jobs`:
``trainer(jobs, X, layer_sizes, config) -> list[TrainResult]``. Engines are registered by name in
:data:`ENGINE_REGISTRY` (name -> factory taking the device); :func:`trainer_for` looks the
learner's engine up. Trainers are picklable (a network keeps its trainer through checkpoints).

``auto`` (:func:`labnet.models.devices.resolve_engine`): the torch engine on CUDA when torch sees a GPU, the numba
engine on the CPU otherwise, so the default on a machine without a GPU is exactly the numba
engine (``train_jobs`` itself).
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .devices import gpu_available, resolve_engine  # noqa: F401  (resolve_engine re-exported)


if TYPE_CHECKING:  # pragma: no cover - typing only (grouping imports the numba engine)
    from .config import LearnerConfig
    from .grouping import Trainer


@dataclass(frozen=True)
class TorchTrainer:
    """The torch engine (:func:`labnet.models.torch_engine.train_jobs_torch`) on one device."""

    device: str = "cpu"

    def __call__(self, jobs, X, layer_sizes, config) -> list:
        from .torch_engine import train_jobs_torch

        return train_jobs_torch(jobs, X, layer_sizes, config, device=self.device)


def _numba_trainer(device: str) -> Trainer:
    if device != "cpu":
        raise ValueError(f"learner.device = {device!r}: the numba engine runs on the CPU only")
    from .engine import train_jobs

    return train_jobs


def _torch_trainer(device: str) -> Trainer:
    if device == "cuda" and not gpu_available():
        import torch

        raise ValueError(f"learner.device = 'cuda': torch {torch.__version__} sees no CUDA GPU on this machine; "
                         f"use device 'cpu' (or 'auto', which records what ran), e.g. --device cpu")
    return TorchTrainer(device)


ENGINE_REGISTRY: dict[str, Callable[[str], Trainer]] = {"numba": _numba_trainer, "torch": _torch_trainer}
"""Engine name -> factory(device) -> trainer."""


def trainer_for(config: "LearnerConfig") -> Trainer:
    """The trainer of ``config.engine`` on ``config.device`` (``auto`` resolved first).

    Raises:
        ValueError: an unknown engine, or a device this machine does not have (message names the field).
    """
    engine, device = resolve_engine(config.engine, config.device)
    if engine not in ENGINE_REGISTRY:
        raise ValueError(f"learner.engine = {engine!r}: expected one of {', '.join(ENGINE_REGISTRY)} (or auto)")
    return ENGINE_REGISTRY[engine](device)


def with_engine(config: "LearnerConfig", engine: str | None = None, device: str | None = None) -> "LearnerConfig":
    """``config`` with another engine and/or device (the command-line ``--engine`` / ``--device``).

    ``engine`` alone: that engine on its default device (``auto``). ``device`` alone: a torch
    config stays torch on that device; any other becomes ``auto`` on it (``cuda`` -> torch,
    ``cpu`` -> numba). Neither: ``config`` unchanged. ``auto`` is resolved (the config's own rule).

    Raises:
        ValueError: ``learner.engine`` / ``learner.device``: a name or combination that cannot run.
    """
    import dataclasses

    if engine is None and device is None:
        return config
    if engine is None:
        engine = "torch" if config.engine == "torch" else "auto"
    return dataclasses.replace(config, engine=engine, device=device or "auto")
