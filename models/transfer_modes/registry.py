"""The registry of transfer modes: name -> mode object. The only place a mode's name is matched."""
from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from .base import BaseTransferMode
from .featurizer import FeaturizerRF
from .finetune import FinetuneFrozen, FinetuneFull

TRANSFER_MODE_REGISTRY: Mapping[str, BaseTransferMode] = MappingProxyType(
    {mode.name: mode for mode in (FinetuneFrozen(), FinetuneFull(), FeaturizerRF())}
)
"""Every transfer mode by name, in the order of :data:`labnet.models.transfer.TRANSFER_MODES`."""


def get_transfer_mode(mode: str | BaseTransferMode) -> BaseTransferMode:
    """The mode object of ``mode`` (a name, or a mode object, returned as is).

    Raises:
        ValueError: an unknown name; the message lists the known ones.
    """
    if isinstance(mode, BaseTransferMode):
        return mode
    found = TRANSFER_MODE_REGISTRY.get(mode)
    if found is None:
        raise ValueError(f"transfer_mode = {mode!r}: expected one of {', '.join(TRANSFER_MODE_REGISTRY)}")
    return found
