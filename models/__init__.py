"""Learning: batched MLP ensembles, transfer by fine-tuning, model selection, acquisition.

Knows nothing of Mesa. The hot loop is :func:`labnet.models.engine.train_jobs` (a fused numba
kernel); :func:`labnet.models.reference.train_jobs_reference` is the faithful per-member PyTorch
loop it matches. Names are imported on first use, so ``labnet.models.config`` loads without
torch or numba.
"""
from labnet._lazy import lazy_exports

_EXPORTS = {
    "Acquisition": "labnet.models.acquisition",
    "UpperConfidenceBound": "labnet.models.acquisition",
    "argmax_unmeasured": "labnet.models.acquisition",
    "LearnerConfig": "labnet.models.config",
    "TrainJob": "labnet.models.engine",
    "TrainResult": "labnet.models.engine",
    "train_jobs": "labnet.models.engine",
    "MLP": "labnet.models.mlp",
    "layer_sizes_for": "labnet.models.mlp",
    "lecun_normal_params": "labnet.models.mlp",
    "predict_ensemble": "labnet.models.mlp",
    "select_best": "labnet.models.selection",
    "validation_split": "labnet.models.selection",
    "ModelSnapshot": "labnet.models.snapshot",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
