"""Transfer: what a lab can start a candidate model from (a *source*), and the names of the ways to do it.

A *source* is a trained network a lab may start from: a neighbour's published ensemble
(K members, paper 1) or one model of a source-model pool (a single network, paper 2). A
*transfer mode* turns a source into a candidate model that is then judged on the lab's
validation split like every other candidate (BPM selection). Each mode is an object of
:mod:`labnet.models.transfer_modes` (one family per file), looked up by its name:

* ``finetune_frozen`` (paper 1, default): copy the source, freeze its lower hidden layers and
  train the top ones and the output layer at the lab's learning rate
  (:class:`~labnet.models.transfer_modes.finetune.FinetuneFrozen`).
* ``finetune_full``: every layer trainable, at ``LearnerConfig.full_finetune_learning_rate``
  (:class:`~labnet.models.transfer_modes.finetune.FinetuneFull`).
* ``featurizer_rf``: every hidden layer frozen; a random forest on the source's last hidden
  layer activations (:class:`~labnet.models.transfer_modes.featurizer.FeaturizerRF`).

A K-member source (a neighbour's ensemble) is copied member for member, as in paper 1. A
single-network source (a pool model) is copied K times, output layer included: the members then
differ only by their minibatch orders, so the σ of a fine-tuned pool model is smaller than that
of a from-scratch ensemble (docs/pools.md). Drawing a fresh output layer per member was tried
and rejected: with the paper's budget (100 epochs of a few minibatches) a fresh head stays
under-trained, and a good source then lost its cross-validation ranking to pure noise.

This module holds the names and the source type; the mode objects are in
:mod:`labnet.models.transfer_modes`, the frozen-feature maths in :mod:`labnet.models.features`.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .mlp import layer_offsets



@dataclass(frozen=True, eq=False)
class SourceNetwork:
    """Trained weights a lab can transfer from.

    Attributes:
        label: how logs name it: the neighbour lab (``"B"``) or ``"pool:<name>#<index>"``.
        property: the property the source predicts.
        params: flat member parameters, float32 [K_s, P] (K_s = 10 for a paper-1 ensemble, 1 for a pool model).
        layer_sizes: (n_inputs, *hidden, n_outputs); n_outputs is 1, or 2 for an ``authors_code`` ensemble.
        output_activation: SELU on the output layer (must be trained and predicted the same way).
    """

    label: str
    property: str
    params: np.ndarray
    layer_sizes: tuple[int, ...]
    output_activation: bool = True

    def __post_init__(self) -> None:
        params = np.asarray(self.params, dtype=np.float32)
        if params.ndim == 1:
            params = params[None, :]
        sizes = tuple(int(s) for s in self.layer_sizes)
        if len(sizes) < 3 or sizes[-1] < 1:
            raise ValueError(f"source {self.label!r}: layer_sizes {sizes}: expected (n_inputs, *hidden, n_outputs) "
                             f"with >= 1 hidden layer and >= 1 output")
        if params.ndim != 2 or params.shape[1] != layer_offsets(sizes)[-1]:
            raise ValueError(
                f"source {self.label!r}: params of shape {params.shape} do not fit layer_sizes {sizes} "
                f"({layer_offsets(sizes)[-1]} parameters per member)"
            )
        object.__setattr__(self, "params", params)
        object.__setattr__(self, "layer_sizes", sizes)

    @property
    def n_members(self) -> int:
        return int(self.params.shape[0])

    @property
    def n_hidden(self) -> int:
        return len(self.layer_sizes) - 2

    @property
    def n_features(self) -> int:
        """Width of the frozen-featurizer output: members x last hidden width."""
        return self.n_members * self.layer_sizes[-2]

    def initial_members(self, n_members: int) -> np.ndarray:
        """Starting weights of a K-member candidate, float32 [n_members, P]: the source's members in
        turn (a K-member source gives its first K unchanged, a single network K copies)."""
        return self.params[np.arange(n_members) % self.n_members].copy()
