"""Transfer modes: how a source network becomes a candidate model of a lab (no Mesa here).

A *source* is a trained network a lab may start from: a neighbour's published ensemble
(K members, paper 1) or one model of a source-model pool (a single network, paper 2). Three
modes turn a source into a candidate that is then judged on the lab's validation split like
every other candidate (BPM selection):

* ``finetune_frozen`` (paper 1, default): copy the source, freeze its lower hidden layers and
  train the top ones and the output layer at the lab's learning rate. The number of *trainable*
  hidden layers is the lab's rule, ``len(hidden_layers) - frozen_layers`` (paper: the last hidden
  layer), counted from the top, so a 5-layer pool model freezes its first 4.
* ``finetune_full``: every layer trainable, at ``LearnerConfig.full_finetune_learning_rate``
  (default ``learning_rate / 10``).
* ``featurizer_rf``: every hidden layer frozen; the source's last hidden layer activations
  (concatenated over its members) are the features of a scikit-learn ``RandomForestRegressor``.
  Its prediction is the mean over the trees and its uncertainty σ the spread (population std)
  over the trees; its validation loss is the MSE of the forest's prediction on the lab's
  validation split.

A K-member source (a neighbour's ensemble) is copied member for member, as in paper 1. A
single-network source (a pool model) is copied K times, output layer included: the members then
differ only by their minibatch orders, so the σ of a fine-tuned pool model is smaller than that
of a from-scratch ensemble (docs/pools.md). Drawing a fresh output layer per member was tried
and rejected: with the paper's budget (100 epochs of a few minibatches) a fresh head stays
under-trained, and a good source then lost its cross-validation ranking to pure noise.
"""
from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Literal, get_args

import numpy as np
import torch

from .config import LearnerConfig
from .engine import TrainJob
from .mlp import layer_offsets, predict_ensemble, unflatten

from .choices import DEFAULT_TRANSFER_MODE, TRANSFER_MODES, TransferMode  # noqa: E402  (names declared once, light)
FEATURE_CHUNK_ROWS = 2048


def check_transfer_mode(mode: str) -> TransferMode:
    """``mode`` if it is a known transfer mode, else ValueError naming the choices."""
    if mode not in TRANSFER_MODES:
        raise ValueError(f"transfer_mode = {mode!r}: expected one of {', '.join(TRANSFER_MODES)}")
    return mode  # type: ignore[return-value]


@dataclass(frozen=True, eq=False)
class SourceNetwork:
    """Trained weights a lab can transfer from.

    Attributes:
        label: how logs name it: the neighbour lab (``"B"``) or ``"pool:<name>#<index>"``.
        property: the property the source predicts.
        params: flat member parameters, float32 [K_s, P] (K_s = 10 for a paper-1 ensemble, 1 for a pool model).
        layer_sizes: (n_inputs, *hidden, 1).
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
        if len(sizes) < 3 or sizes[-1] != 1:
            raise ValueError(f"source {self.label!r}: layer_sizes {sizes}: expected (n_inputs, *hidden, 1) with >= 1 hidden layer")
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


# --------------------------------------------------------------------------- fine-tuning


def frozen_layers_for(source: SourceNetwork, mode: TransferMode, learner: LearnerConfig) -> int:
    """How many leading layers of ``source`` stay fixed in ``mode``.

    finetune_frozen keeps the lab's number of trainable top hidden layers
    (``len(hidden_layers) - frozen_layers``, paper: 1) and freezes the rest; finetune_full
    freezes nothing; featurizer_rf freezes every hidden layer.
    """
    check_transfer_mode(mode)
    if mode == "finetune_full":
        return 0
    if mode == "featurizer_rf":
        return source.n_hidden
    trainable_hidden = len(learner.hidden_layers) - learner.frozen_layers
    return max(0, source.n_hidden - trainable_hidden)


def finetune_config(source: SourceNetwork, mode: TransferMode, learner: LearnerConfig) -> LearnerConfig:
    """The settings a fine-tuning job of ``source`` trains with: the lab's, with the source's
    output activation and, for finetune_full, the smaller learning rate."""
    check_transfer_mode(mode)
    if mode == "featurizer_rf":
        raise ValueError("featurizer_rf does not fine-tune: it fits a random forest on frozen features")
    changes: dict[str, object] = {}
    if source.output_activation != learner.output_activation:
        changes["output_activation"] = source.output_activation
    if mode == "finetune_full":
        changes["learning_rate"] = learner.full_finetune_learning_rate
    return dataclasses.replace(learner, **changes) if changes else learner


def initial_members(source: SourceNetwork, n_members: int) -> np.ndarray:
    """Starting weights of a K-member candidate, float32 [n_members, P]: the source's members in
    turn (a K-member source gives its first K unchanged, a single network K copies)."""
    return source.params[np.arange(n_members) % source.n_members].copy()


def finetune_job(
    source: SourceNetwork,
    mode: TransferMode,
    learner: LearnerConfig,
    train_rows: np.ndarray,
    y_train: np.ndarray,
    val_rows: np.ndarray,
    y_val: np.ndarray,
    seeds: np.ndarray,
) -> tuple[TrainJob, LearnerConfig]:
    """The engine job that fine-tunes ``source`` on a lab's data, and the settings to train it with.

    Args:
        train_rows, val_rows: material indices (int [n]); y_train, y_val: standardized targets.
        seeds: per-member shuffle seeds, uint64 [K]; K = len(seeds) members are trained.
    """
    params = initial_members(source, len(seeds))
    job = TrainJob(params, train_rows, y_train, val_rows, y_val, seeds, frozen_layers_for(source, mode, learner))
    return job, finetune_config(source, mode, learner)


# --------------------------------------------------------------------------- frozen featurizer


@contextlib.contextmanager
def one_torch_thread() -> Iterator[None]:
    """Run torch on one thread inside the block (restored after).

    The featurizer's matrix products are tiny (a few hundred rows, widths <= 512); with two
    threads on the loaded 2-core machine, ranking a 100-model pool took 1.6 s instead of
    0.17 s (measured), the time going to thread synchronisation.
    """
    before = torch.get_num_threads()
    if before != 1:
        torch.set_num_threads(1)
    try:
        yield
    finally:
        if before != 1:
            torch.set_num_threads(before)


def layer_activations(flat: np.ndarray, layer_sizes: Sequence[int], X: np.ndarray, n_layers: int) -> np.ndarray:
    """Activations after the first ``n_layers`` hidden (SELU) layers of one member.

    flat: the member's flat parameters [P] for ``layer_sizes``; X [N, d] -> float32 [N, layer_sizes[n_layers]].
    One torch thread, no autograd, rows in chunks.
    """
    sizes = tuple(int(s) for s in layer_sizes[: n_layers + 1])
    layers = unflatten(torch.tensor(np.asarray(flat, np.float32)[: layer_offsets(sizes)[-1]]), sizes)
    out = np.empty((X.shape[0], sizes[-1]), dtype=np.float32)
    with torch.inference_mode(), one_torch_thread():
        x_all = torch.tensor(np.asarray(X, np.float32))  # a copy: X may be read-only
        for start in range(0, X.shape[0], FEATURE_CHUNK_ROWS):
            h = x_all[start : start + FEATURE_CHUNK_ROWS]
            for w, b in layers:
                h = torch.nn.functional.selu(torch.addmm(b, h, w))
            out[start : start + h.shape[0]] = h.numpy()
    return out


def hidden_features(source: SourceNetwork, X: np.ndarray) -> np.ndarray:
    """Last hidden layer activations of every member of ``source``: X [N, d] -> float32 [N, K_s * h_last].

    Member k's activations occupy columns ``k*h_last : (k+1)*h_last``.
    """
    X = np.asarray(X, dtype=np.float32)
    if X.ndim != 2 or X.shape[1] != source.layer_sizes[0]:
        raise ValueError(f"source {source.label!r} takes {source.layer_sizes[0]} descriptors, got X of shape {X.shape}")
    return np.concatenate(
        [layer_activations(member, source.layer_sizes, X, source.n_hidden) for member in source.params], axis=1
    )


@dataclass(frozen=True, eq=False)
class FeaturizerForest:
    """A fitted ``featurizer_rf`` candidate: a source's frozen hidden layers + a random forest.

    Attributes:
        source: the frozen featurizer.
        forest: the fitted ``sklearn.ensemble.RandomForestRegressor`` (standardized target units).
        validation_loss: MSE of the forest's mean prediction on the validation rows (standardized units).
    """

    source: SourceNetwork
    forest: object
    validation_loss: float

    def tree_predictions(self, X: np.ndarray) -> np.ndarray:
        """Every tree's prediction on every row: X [N, d] -> float64 [n_trees, N]."""
        features = hidden_features(self.source, X)
        return np.stack([tree.predict(features) for tree in self.forest.estimators_])

    def predict(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(mu, sigma) over X [N, d]: mean and population std over the trees, each [N]."""
        trees = self.tree_predictions(X)
        return trees.mean(axis=0), trees.std(axis=0)


def fit_featurizer_forest(
    source: SourceNetwork,
    X: np.ndarray,
    train_rows: np.ndarray,
    y_train: np.ndarray,
    val_rows: np.ndarray,
    y_val: np.ndarray,
    n_trees: int,
    seed: int,
) -> FeaturizerForest:
    """Fit the featurizer_rf candidate of ``source`` on a lab's rows of X [N, d] (standardized targets)."""
    from sklearn.ensemble import RandomForestRegressor

    rows = np.concatenate([np.asarray(train_rows, np.int64), np.asarray(val_rows, np.int64)])
    features = hidden_features(source, np.asarray(X)[rows])
    n_train = len(train_rows)
    forest = RandomForestRegressor(n_estimators=int(n_trees), random_state=int(seed) % 2**32, n_jobs=1)
    forest.fit(features[:n_train], np.asarray(y_train, np.float64))
    prediction = forest.predict(features[n_train:])
    loss = float(np.mean((prediction - np.asarray(y_val, np.float64)) ** 2))
    return FeaturizerForest(source, forest, loss)


# --------------------------------------------------------------------------- trained candidates


@dataclass(frozen=True, eq=False)
class EnsemblePredictor:
    """A trained MLP ensemble as a predictor: (mu, sigma) = mean and population std over members."""

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

