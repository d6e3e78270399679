"""What a lab needs of the world it works in, as protocols (the agents never import ``labnet.environment``).

:class:`~labnet.environment.material_space.MaterialSpace`, :class:`~labnet.environment.oracle.Oracle`,
:class:`~labnet.environment.broker.ModelBroker` and :class:`~labnet.environment.transfer_log.TransferLog`
satisfy them; a lab works with anything else that does.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import numpy as np

from labnet.models.snapshot import ModelSnapshot


class MaterialView(Protocol):
    """The candidate materials as a lab sees them."""

    @property
    def descriptors(self) -> np.ndarray:
        """Descriptor matrix, float32 [N, d]: the models' inputs."""
        ...

    @property
    def ids(self) -> Sequence[str] | np.ndarray:
        """Material identifiers, [N] (logged as ``material_id``)."""
        ...

    def values(self, prop: str) -> np.ndarray:
        """Ground-truth values of property ``prop``, [N] in the property's units (logged as ``y_true``,
        and used for the retrospective ``generalization_mse``; never for decisions)."""
        ...

    def __len__(self) -> int: ...


class Measurer(Protocol):
    """A lab's instrument (an oracle): measures materials, possibly with noise and bias."""

    def measure(self, indices: np.ndarray) -> np.ndarray:
        """Measured values of the materials at ``indices`` (int [n]) -> float [n], property units."""
        ...


class ModelExchange(Protocol):
    """What a lab needs of the broker."""

    def publish(self, lab: str, snapshot: ModelSnapshot) -> None: ...

    def available_for(self, lab: str, tick: int) -> dict[str, ModelSnapshot]:
        """{source lab: its latest snapshot that has arrived at ``lab`` by ``tick``}, in topology order."""
        ...


class TransferRecorder(Protocol):
    """What a lab needs of the transfer-event log: one record per transferred candidate it built."""

    def record(
        self,
        tick: int,
        source: str,
        target: str,
        validation_loss: float,
        local_validation_loss: float,
        selected: bool,
        source_property: str | None = None,
        target_property: str | None = None,
    ) -> None: ...
