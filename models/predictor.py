"""One model interface: every fitted candidate predicts ``(mu, sigma)`` for descriptor rows.

BoTorch-style split: a predictor gives the predictive mean and spread, an acquisition
(:mod:`labnet.models.acquisition`) turns them into scores. Two implementations:
:class:`EnsemblePredictor` (an MLP ensemble: mean and spread over members) and
:class:`~labnet.models.transfer_modes.featurizer.FeaturizerForest` (a random forest on frozen
features: mean and spread over trees).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np

from .features import layer_activations
from .mlp import layer_offsets, predict_ensemble


@runtime_checkable
class Predictor(Protocol):
    """A fitted model of a lab's target."""

    def predict(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """X [N, d] -> (mu [N], sigma [N]) in the lab's standardized target units (sigma >= 0)."""
        ...


@dataclass(frozen=True, eq=False)
class EnsemblePredictor:
    """A trained MLP ensemble as a predictor: (mu, sigma) = mean and population std over members.

    A member with two output neurons (``authors_code``) enters with its first, as the authors'
    ``Bayesian_optimization.py`` reads the ensemble's predictions (docs/algorithm.md → The two protocols).

    Attributes:
        params: flat member parameters, float32 [K, P].
        layer_sizes: (n_inputs, *hidden, n_outputs).
        output_activation: SELU on the output layer, as the ensemble was trained.
    """

    params: np.ndarray
    layer_sizes: tuple[int, ...]
    output_activation: bool = True

    def shared_layers(self) -> int:
        """Leading hidden layers whose weights all members share (a fine-tuned pool model's frozen prefix)."""
        offsets = layer_offsets(self.layer_sizes)
        shared = 0
        for l in range(1, len(self.layer_sizes) - 1):
            prefix = self.params[:, : offsets[l]]
            if not (prefix == prefix[0]).all():
                break
            shared = l
        return shared

    def predict(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """X [N, d] -> (mu [N], sigma [N]) in the lab's standardized target units.

        A prefix shared by every member is computed once (the same numbers as per member).
        """
        shared = self.shared_layers()
        if shared:
            X = layer_activations(self.params[0], self.layer_sizes, X, shared)
        start = int(layer_offsets(self.layer_sizes)[shared])
        preds = predict_ensemble(self.params[:, start:], self.layer_sizes[shared:], X, self.output_activation)
        return preds.mean(axis=0), preds.std(axis=0)
