"""Immutable published models: what a lab hands to the broker."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class ModelSnapshot:
    """A trained ensemble frozen at publication time.

    Attributes:
        owner: name of the publishing lab.
        property: the property the ensemble predicts.
        tick: tick at which it was published (usable by neighbours from tick + 1 + edge latency).
        n_train: number of observations the owner had when training it.
        validation_loss: the owner's selection loss of it (standardized units): mean validation MSE over
            members (``paper_text``) or mean last-epoch validation MSE + L2 (``authors_code``).
        params: flat member parameters, shape [n_members, n_params], float32, read-only.
        layer_sizes: (n_inputs, *hidden, n_outputs): the architecture the flat parameters follow.
        y_mean, y_std: the owner's target standardization (property units).
    """

    owner: str
    property: str
    tick: int
    n_train: int
    validation_loss: float
    params: np.ndarray
    layer_sizes: tuple[int, ...]
    y_mean: float
    y_std: float

    def __post_init__(self) -> None:
        params = np.array(self.params, dtype=np.float32, copy=True)
        params.setflags(write=False)
        object.__setattr__(self, "params", params)

    @property
    def n_members(self) -> int:
        return int(self.params.shape[0])
