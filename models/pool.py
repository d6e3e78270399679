"""Source-model pools on disk: reading, writing and checking them (numpy only, no Lightning, no pickle).

A pool (paper 2, shotgun transfer learning) is a directory of many independently pretrained
networks for one property of a material space::

    POOL_DIR/
      pool.json          the manifest (format below)
      model_0000.npz     one file per model: float32 kernel_0, bias_0, ..., kernel_{L-1}, bias_{L-1}
      model_0001.npz       (kernel_l has shape [n_l, n_{l+1}], Keras layout) and int64 train_rows
      ...                  (the bootstrap draw: row indices of the dataset, with repeats)

``pool.json`` holds ``format`` (:data:`POOL_FORMAT`), ``labnet_version``, ``name``, ``property``,
``dataset`` (name, rows, fingerprint), ``descriptors`` (count and names), ``activation``
("selu", every hidden layer), ``output_activation``, ``build`` (the settings the pool was built
with) and ``models``: one entry per finished model with ``index``, ``file``, ``hidden_layers``,
``layer_sizes``, ``bootstrap_seed``, ``n_train`` (bootstrap draws), ``n_unique_train``,
``target_mean``/``target_std`` (the standardization the network predicts in), ``validation``
(``mse`` in standardized units, ``r2``, ``n``: out-of-bag rows not used for early stopping),
``epochs_run``, ``best_epoch``, ``seconds`` and ``cpu_seconds`` (training wall and CPU time). Loading needs only
numpy: ``np.load(..., allow_pickle=False)``.
"""
from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from labnet._files import atomic_write

from .mlp import layer_offsets, predict_ensemble
from .transfer import SourceNetwork

POOL_FORMAT = "labnet-pool/1"
MANIFEST = "pool.json"
ACTIVATION = "selu"


class PoolError(ValueError):
    """A pool directory, manifest or model file that cannot be used; the message names the file."""


def labnet_version() -> str:
    """The installed labnet version (``"unknown"`` when run from a source tree without metadata)."""
    try:
        from importlib.metadata import version

        return version("labnet")
    except Exception:  # pragma: no cover - metadata missing
        return "unknown"


def model_file_name(index: int) -> str:
    return f"model_{index:04d}.npz"


@dataclass(frozen=True, eq=False)
class PoolModel:
    """One pretrained network of a pool.

    Attributes:
        index: position in the pool (also in its file name and its log label ``pool:<name>#<index>``).
        layer_sizes: (n_descriptors, *hidden, 1).
        params: flat parameters, float32 [P] (:mod:`labnet.models.mlp` layout).
        target_mean, target_std: the network predicts (y - target_mean) / target_std (property units).
        train_rows: the bootstrap draw, int64 [n_train] row indices of the dataset (repeats allowed).
        info: the model's manifest entry (validation scores, seeds, timings).
    """

    index: int
    layer_sizes: tuple[int, ...]
    params: np.ndarray
    target_mean: float
    target_std: float
    train_rows: np.ndarray
    info: dict[str, Any]

    @property
    def hidden_layers(self) -> tuple[int, ...]:
        return self.layer_sizes[1:-1]

    @property
    def validation_mse(self) -> float:
        return float(self.info.get("validation", {}).get("mse", float("nan")))

    @property
    def validation_r2(self) -> float:
        return float(self.info.get("validation", {}).get("r2", float("nan")))


@dataclass(frozen=True, eq=False)
class SourcePool:
    """A loaded pool: its manifest and its finished models, in index order."""

    path: Path
    manifest: dict[str, Any]
    models: tuple[PoolModel, ...]

    @property
    def name(self) -> str:
        return str(self.manifest["name"])

    @property
    def descriptor_names(self) -> tuple[str, ...]:
        return tuple(self.manifest["descriptors"]["names"])

    @property
    def n_descriptors(self) -> int:
        return int(self.manifest["descriptors"]["count"])

    @property
    def output_activation(self) -> bool:
        return bool(self.manifest["output_activation"])

    def __len__(self) -> int:
        return len(self.models)

    def label(self, model: PoolModel) -> str:
        """How logs name a pool model: ``pool:<name>#<index>``."""
        return f"pool:{self.name}#{model.index}"

    def source(self, model: PoolModel) -> SourceNetwork:
        """A model as a transfer source (one member)."""
        return SourceNetwork(self.label(model), self.property, model.params[None, :], model.layer_sizes,
                             self.output_activation)

    def sources(self) -> list[SourceNetwork]:
        return [self.source(m) for m in self.models]

    def predict(self, X: np.ndarray, model: PoolModel | int) -> np.ndarray:
        """Model predictions in the property's units: X [N, d] -> float64 [N]."""
        if isinstance(model, (int, np.integer)):
            model = self.models[[m.index for m in self.models].index(int(model))]
        self.check_descriptors(np.asarray(X).shape[1])
        z = predict_ensemble(model.params[None, :], model.layer_sizes, np.asarray(X, np.float32), self.output_activation)[0]
        return z.astype(np.float64) * model.target_std + model.target_mean

    def check_descriptors(self, count: int, names: Sequence[str] | None = None) -> None:
        """Raise PoolError unless a material space with ``count`` descriptors (and ``names``) fits this pool."""
        if int(count) != self.n_descriptors:
            raise PoolError(
                f"pool {self.path}: its models take {self.n_descriptors} descriptors "
                f"({_preview(self.descriptor_names)}); the material space has {count}"
            )
        if names is not None and tuple(str(n) for n in names) != self.descriptor_names:
            mismatch = next(i for i, (a, b) in enumerate(zip(self.descriptor_names, names)) if a != str(b))
            raise PoolError(
                f"pool {self.path}: descriptor {mismatch} is {self.descriptor_names[mismatch]!r} in the pool but "
                f"{names[mismatch]!r} in the material space; the pool was built on a different descriptor"
            )

    # defined last: inside the class body this name shadows the builtin ``property`` decorator
    @property
    def property(self) -> str:
        """The property the pool's models predict."""
        return str(self.manifest["property"])


def _preview(names: Sequence[str], limit: int = 6) -> str:
    shown = ", ".join(names[:limit])
    return shown + (", ..." if len(names) > limit else "")


# --------------------------------------------------------------------------- reading


def read_manifest(path: str | Path) -> dict[str, Any]:
    """The parsed ``pool.json`` of a pool directory, checked for format and required keys.

    Raises:
        PoolError: not a directory, no manifest, invalid JSON, another format, or a missing key.
    """
    folder = Path(path).expanduser()
    if not folder.exists():
        raise PoolError(f"pool directory not found: {folder}")
    if not folder.is_dir():
        raise PoolError(f"not a pool directory (a file): {folder}")
    manifest_path = folder / MANIFEST
    if not manifest_path.is_file():
        raise PoolError(f"not a labnet pool: {manifest_path} is missing (build one with 'labnet pool build')")
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise PoolError(f"{manifest_path}: not valid JSON ({exc})") from None
    if not isinstance(manifest, dict):
        raise PoolError(f"{manifest_path}: expected a JSON object at the top level")
    if manifest.get("format") != POOL_FORMAT:
        raise PoolError(f"{manifest_path}: format {manifest.get('format')!r}; expected {POOL_FORMAT!r}")
    for key in ("name", "property", "descriptors", "output_activation", "models"):
        if key not in manifest:
            raise PoolError(f"{manifest_path}: missing key {key!r}")
    descriptors = manifest["descriptors"]
    if not isinstance(descriptors, dict) or len(descriptors.get("names", [])) != descriptors.get("count"):
        raise PoolError(f"{manifest_path}: 'descriptors' must hold 'count' and as many 'names'")
    if not isinstance(manifest["models"], list):
        raise PoolError(f"{manifest_path}: 'models' must be a list")
    return manifest


def load_model(folder: Path, entry: dict[str, Any], n_descriptors: int) -> PoolModel:
    """Read one model file and check it against its manifest entry."""
    where = f"{folder / MANIFEST} models[index={entry.get('index')}]"
    try:
        index = int(entry["index"])
        sizes = tuple(int(s) for s in entry["layer_sizes"])
        file = folder / str(entry["file"])
        mean, std = float(entry["target_mean"]), float(entry["target_std"])
    except (KeyError, TypeError, ValueError) as exc:
        raise PoolError(f"{where}: missing or bad field ({exc})") from None
    if len(sizes) < 3 or sizes[0] != n_descriptors or sizes[-1] != 1:
        raise PoolError(f"{where}: layer_sizes {list(sizes)}: expected [{n_descriptors}, *hidden, 1]")
    if not file.is_file():
        raise PoolError(f"{where}: model file {file} is missing")
    try:
        with np.load(file, allow_pickle=False) as data:
            arrays = {key: data[key] for key in data.files}
    except (OSError, ValueError) as exc:
        raise PoolError(f"{file}: not a readable .npz of arrays ({exc})") from None
    parts = []
    for l, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        for key, shape in ((f"kernel_{l}", (n_in, n_out)), (f"bias_{l}", (n_out,))):
            if key not in arrays:
                raise PoolError(f"{file}: array {key!r} is missing")
            if arrays[key].shape != shape:
                raise PoolError(f"{file}: {key} has shape {arrays[key].shape}, expected {shape} for layer_sizes {list(sizes)}")
            parts.append(np.asarray(arrays[key], np.float32).reshape(-1))
    params = np.concatenate(parts)
    if params.shape[0] != layer_offsets(sizes)[-1] or not np.isfinite(params).all():
        raise PoolError(f"{file}: weights are not finite")
    params.setflags(write=False)
    rows = np.asarray(arrays.get("train_rows", np.zeros(0, np.int64)), np.int64)
    rows.setflags(write=False)
    return PoolModel(index, sizes, params, mean, std, rows, dict(entry))


def load_pool(path: str | Path) -> SourcePool:
    """Load a pool directory (numpy only).

    Raises:
        PoolError: see :func:`read_manifest` and :func:`load_model`; also a pool with no finished model.
    """
    folder = Path(path).expanduser()
    manifest = read_manifest(folder)
    n_descriptors = int(manifest["descriptors"]["count"])
    models = sorted((load_model(folder, entry, n_descriptors) for entry in manifest["models"]), key=lambda m: m.index)
    if not models:
        raise PoolError(f"pool {folder} has no finished model yet (run 'labnet pool build' to continue it)")
    return SourcePool(folder.resolve(), manifest, tuple(models))


# --------------------------------------------------------------------------- writing


def save_model_file(path: Path, flat_params: np.ndarray, layer_sizes: Sequence[int], train_rows: np.ndarray) -> None:
    """Write one model as float32 ``kernel_l``/``bias_l`` arrays plus int64 ``train_rows`` (atomic)."""
    arrays: dict[str, np.ndarray] = {}
    flat = np.asarray(flat_params, np.float32)
    offsets = layer_offsets(layer_sizes)
    for l, (start, n_in, n_out) in enumerate(zip(offsets[:-1], layer_sizes[:-1], layer_sizes[1:])):
        start = int(start)
        arrays[f"kernel_{l}"] = flat[start : start + n_in * n_out].reshape(n_in, n_out)
        arrays[f"bias_{l}"] = flat[start + n_in * n_out : start + n_in * n_out + n_out]
    arrays["train_rows"] = np.asarray(train_rows, np.int64)

    def write(tmp: Path) -> None:
        with open(tmp, "wb") as handle:
            np.savez(handle, **arrays)

    atomic_write(path, write)


def write_manifest(folder: Path, manifest: dict[str, Any]) -> None:
    """Write ``pool.json`` atomically, models sorted by index."""
    manifest = dict(manifest)
    manifest["models"] = sorted(manifest["models"], key=lambda entry: entry["index"])
    text = json.dumps(manifest, indent=1)
    atomic_write(folder / MANIFEST, lambda tmp: tmp.write_text(text + "\n", encoding="utf-8"))
