"""Transfer modes as objects, one family per file, looked up by name in one registry.

* :mod:`.base`: :class:`BaseTransferMode`, the interface (frozen layers, the candidate built
  from a source, the ``transfer_cv`` pool score);
* :mod:`.finetune`: ``finetune_frozen`` and ``finetune_full`` (engine-trained ensembles);
* :mod:`.featurizer`: ``featurizer_rf`` (a random forest on frozen features);
* :mod:`.registry`: :data:`TRANSFER_MODE_REGISTRY` and :func:`get_transfer_mode`.

Adding a mode: subclass :class:`BaseTransferMode` in a new file, add its instance to the
registry and its name to ``TransferMode`` (the names' module).
"""
from labnet._lazy import lazy_exports

_EXPORTS = {
    "BaseTransferMode": "labnet.models.transfer_modes.base",
    "FinetuneFrozen": "labnet.models.transfer_modes.finetune",
    "FinetuneFull": "labnet.models.transfer_modes.finetune",
    "FinetuneMode": "labnet.models.transfer_modes.finetune",
    "FeaturizerForest": "labnet.models.transfer_modes.featurizer",
    "FeaturizerRF": "labnet.models.transfer_modes.featurizer",
    "fit_featurizer_forest": "labnet.models.transfer_modes.featurizer",
    "TRANSFER_MODE_REGISTRY": "labnet.models.transfer_modes.registry",
    "get_transfer_mode": "labnet.models.transfer_modes.registry",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
