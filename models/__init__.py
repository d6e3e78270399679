"""Learning: batched MLP ensembles, transfer by fine-tuning, model selection, acquisition.

Knows nothing of Mesa. The hot loop is :func:`models.engine.train_jobs` (a fused numba kernel);
:func:`models.reference.train_jobs_reference` is the faithful per-member PyTorch loop it matches.
"""
from .acquisition import Acquisition, UpperConfidenceBound, argmax_unmeasured
from .config import LearnerConfig
from .engine import TrainJob, TrainResult, train_jobs
from .mlp import MLP, layer_sizes_for, lecun_normal_params, predict_ensemble
from .selection import select_best, validation_split
from .snapshot import ModelSnapshot

__all__ = [
    "MLP",
    "Acquisition",
    "LearnerConfig",
    "ModelSnapshot",
    "TrainJob",
    "TrainResult",
    "UpperConfidenceBound",
    "argmax_unmeasured",
    "layer_sizes_for",
    "lecun_normal_params",
    "predict_ensemble",
    "select_best",
    "train_jobs",
    "validation_split",
]
