"""Building a source-model pool: many pyramid MLPs pretrained with PyTorch Lightning (paper 2).

Model ``i`` of a pool built with seed ``s`` depends only on ``(s, i)`` and the data:

* **architecture**: depth drawn uniformly from ``min_depth..max_depth`` hidden layers; the first
  width uniformly from ``min_width..max_width``; the other widths are distinct draws from
  ``smallest_width..first-1``, sorted in decreasing order (a pyramid); SELU on every layer,
  LeCun-normal kernels, zero biases (as the labs' own networks);
* **data**: a bootstrap draw of ``sample_size`` rows (with replacement) from the dataset's rows.
  The out-of-bag rows are split in two halves: one for early stopping (best epoch restored), one
  for the reported validation scores (MSE in standardized units, R²), so the scores are honest;
* **training**: a ``LightningModule`` with Adam on the MSE of the standardized target plus an L2
  term on the kernels, run by ``pl.Trainer`` on CPU (no logger, no checkpoints, no progress bar).

Every model is written as soon as it finishes (its ``.npz``, then the manifest), so an
interrupted build keeps its finished models and re-running the same command continues it.
Only this module imports Lightning; loading a pool (:mod:`labnet.models.pool`) does not.
"""
from __future__ import annotations

import contextlib
import hashlib
import logging
import math
import sys
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .mlp import MLP, layer_sizes_for, lecun_normal_params
from .pool import (
    ACTIVATION,
    MANIFEST,
    POOL_FORMAT,
    PoolError,
    labnet_version,
    model_file_name,
    read_manifest,
    save_model_file,
    write_manifest,
)

STREAM_ARCHITECTURE, STREAM_BOOTSTRAP, STREAM_INIT, STREAM_SHUFFLE = 0, 1, 2, 3


@dataclass(frozen=True)
class PoolArchitecture:
    """Ranges the random pyramid architectures are drawn from (widths in units, depth in hidden layers)."""

    min_depth: int = 3
    max_depth: int = 6
    min_width: int = 64
    max_width: int = 512
    smallest_width: int = 8

    def __post_init__(self) -> None:
        if not 1 <= self.min_depth <= self.max_depth:
            raise ValueError(f"depth range {self.min_depth}..{self.max_depth}: expected 1 <= min_depth <= max_depth")
        if not 1 <= self.smallest_width <= self.min_width <= self.max_width:
            raise ValueError(
                f"widths: expected 1 <= smallest_width ({self.smallest_width}) <= min_width ({self.min_width}) "
                f"<= max_width ({self.max_width})"
            )
        if self.min_width - self.smallest_width < self.max_depth - 1:
            raise ValueError(
                f"widths: a {self.max_depth}-layer pyramid needs min_width - smallest_width >= {self.max_depth - 1} "
                f"(got {self.min_width} - {self.smallest_width})"
            )

    def draw(self, rng: np.random.Generator) -> tuple[int, ...]:
        """Hidden widths, strictly decreasing, e.g. (311, 207, 64, 9)."""
        depth = int(rng.integers(self.min_depth, self.max_depth + 1))
        first = int(rng.integers(self.min_width, self.max_width + 1))
        rest = rng.choice(np.arange(self.smallest_width, first), size=depth - 1, replace=False)
        return (first, *sorted((int(w) for w in rest), reverse=True))


@dataclass(frozen=True)
class PoolTraining:
    """How each pool model is trained (Adam, minibatches, early stopping on out-of-bag rows)."""

    epochs: int = 100
    batch_size: int = 64
    learning_rate: float = 1e-3
    l2: float = 1e-5
    patience: int = 10

    def __post_init__(self) -> None:
        for name, ok in (("epochs", self.epochs >= 1), ("batch_size", self.batch_size >= 1),
                         ("learning_rate", self.learning_rate > 0), ("l2", self.l2 >= 0),
                         ("patience", self.patience >= 1)):
            if not ok:
                raise ValueError(f"pool training {name} = {getattr(self, name)!r}: out of range")


@dataclass(frozen=True)
class PoolSettings:
    """Everything that decides a pool's models besides the data.

    Attributes:
        property: the property the pool predicts.
        seed: base seed; model i uses ``SeedSequence([seed, i, stream])``.
        sample_size: bootstrap draws per model; None = the number of dataset rows.
        output_activation: SELU on the output (as the labs' networks, paper 1).
    """

    property: str
    seed: int = 0
    sample_size: int | None = None
    output_activation: bool = True
    architecture: PoolArchitecture = field(default_factory=PoolArchitecture)
    training: PoolTraining = field(default_factory=PoolTraining)

    def __post_init__(self) -> None:
        if isinstance(self.seed, bool) or int(self.seed) != self.seed or self.seed < 0:
            raise ValueError(f"seed = {self.seed!r}: expected an integer >= 0")
        if self.sample_size is not None and (isinstance(self.sample_size, bool) or self.sample_size < 2):
            raise ValueError(f"sample_size = {self.sample_size!r}: expected an integer >= 2")

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class BuildReport:
    """What a (possibly resumed) build did: models trained now, models found finished, and the
    wall-clock and CPU seconds of each model trained now."""

    path: Path
    n_models: int
    built: list[int]
    kept: list[int]
    seconds: list[float]
    cpu_seconds: list[float] = field(default_factory=list)

    @property
    def seconds_per_model(self) -> float:
        return float(np.mean(self.seconds)) if self.seconds else float("nan")


# --------------------------------------------------------------------------- one model


def _rng(seed: int, index: int, stream: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([int(seed), int(index), stream]))


def bootstrap_split(n_rows: int, sample_size: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(bootstrap draw [sample_size] with repeats, early-stopping rows, scoring rows): out-of-bag rows halved."""
    draw = rng.integers(0, n_rows, size=sample_size)
    out_of_bag = np.setdiff1d(np.arange(n_rows), draw)
    if len(out_of_bag) < 2:
        raise PoolError(
            f"a bootstrap draw of {sample_size} from {n_rows} rows left {len(out_of_bag)} out-of-bag rows; "
            f"need >= 2 for early stopping and validation (use a smaller sample size)"
        )
    out_of_bag = rng.permutation(out_of_bag)
    half = len(out_of_bag) // 2
    return draw, np.sort(out_of_bag[:half]), np.sort(out_of_bag[half:])


@contextlib.contextmanager
def _quiet_lightning() -> Iterator[None]:
    """One torch thread, Lightning's info logs and CPU/worker hints silenced; torch's thread count and
    determinism flag restored after.

    One thread: these networks are small, and on a loaded 2-core machine two threads made a model
    8x slower in wall time (72 s vs 8.5 s for 3 epochs, measured).
    """
    loggers = [logging.getLogger(name) for name in ("pytorch_lightning", "lightning.pytorch", "lightning_fabric")]
    levels = [lg.level for lg in loggers]
    deterministic = torch.are_deterministic_algorithms_enabled()
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    for lg in loggers:
        lg.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*does not have many workers.*")
            warnings.filterwarnings("ignore", message=".*GPU available.*")
            warnings.filterwarnings("ignore", message=".*number of training batches.*")
            warnings.filterwarnings("ignore", message=".*LeafSpec.*")
            warnings.filterwarnings("ignore", category=UserWarning, module="pytorch_lightning")
            yield
    finally:
        for lg, level in zip(loggers, levels):
            lg.setLevel(level)
        torch.use_deterministic_algorithms(deterministic)
        torch.set_num_threads(threads)


def _module_class():
    import pytorch_lightning as pl

    class PoolMemberModule(pl.LightningModule):
        """One pool network under Lightning; keeps the weights of its best validation epoch."""

        def __init__(self, net: MLP, learning_rate: float, l2: float) -> None:
            super().__init__()
            self.net = net
            self.learning_rate = learning_rate
            self.l2 = l2
            self.best_val = math.inf
            self.best_epoch = -1
            self.best_flat = net.to_flat()

        def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> torch.Tensor:
            x, y = batch
            loss = torch.nn.functional.mse_loss(self.net(x), y)
            if self.l2:
                loss = loss + self.l2 * sum((kernel**2).sum() for kernel in self.net.kernels)
            return loss

        def validation_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> None:
            x, y = batch
            self.log("val_mse", torch.nn.functional.mse_loss(self.net(x), y), batch_size=len(y))

        def on_validation_epoch_end(self) -> None:
            value = float(self.trainer.callback_metrics["val_mse"])
            if value < self.best_val:
                self.best_val, self.best_epoch, self.best_flat = value, int(self.current_epoch), self.net.to_flat()

        def configure_optimizers(self) -> torch.optim.Optimizer:
            return torch.optim.Adam(self.parameters(), lr=self.learning_rate)

    return PoolMemberModule


def train_pool_model(
    X: np.ndarray, y: np.ndarray, index: int, settings: PoolSettings
) -> tuple[np.ndarray, tuple[int, ...], dict[str, Any], np.ndarray]:
    """Train model ``index`` of a pool on X [N, d] (float32) and y [N] (property units).

    Returns (flat params float32 [P], layer_sizes, manifest entry without ``file``, bootstrap rows).
    """
    import pytorch_lightning as pl
    from pytorch_lightning.callbacks import EarlyStopping
    from torch.utils.data import DataLoader, TensorDataset

    started, started_cpu = time.perf_counter(), time.process_time()
    n_rows = X.shape[0]
    hidden = settings.architecture.draw(_rng(settings.seed, index, STREAM_ARCHITECTURE))
    sizes = layer_sizes_for(X.shape[1], hidden)
    bootstrap_seed = int(np.random.SeedSequence([settings.seed, index, STREAM_BOOTSTRAP]).generate_state(1)[0])
    draw, stop_rows, score_rows = bootstrap_split(
        n_rows, settings.sample_size or n_rows, np.random.default_rng(bootstrap_seed)
    )
    mean, std = float(y[draw].mean()), float(y[draw].std())
    if not np.isfinite(std) or std < 1e-12:
        std = 1.0
    z = ((y - mean) / std).astype(np.float32)
    init = lecun_normal_params(sizes, 1, _rng(settings.seed, index, STREAM_INIT))[0]
    net = MLP.from_flat(init, sizes, settings.output_activation)
    training = settings.training
    module = _module_class()(net, training.learning_rate, training.l2)
    shuffle = torch.Generator().manual_seed(int(np.random.SeedSequence([settings.seed, index, STREAM_SHUFFLE]).generate_state(1)[0]))
    X_t, z_t = torch.tensor(X, dtype=torch.float32), torch.from_numpy(z)  # a copy: X may be read-only
    train_loader = DataLoader(TensorDataset(X_t[draw], z_t[draw]), batch_size=training.batch_size, shuffle=True,
                              generator=shuffle)
    stop_loader = DataLoader(TensorDataset(X_t[stop_rows], z_t[stop_rows]), batch_size=len(stop_rows))
    with _quiet_lightning():
        trainer = pl.Trainer(
            max_epochs=training.epochs, accelerator="cpu", devices=1, logger=False, enable_checkpointing=False,
            enable_progress_bar=False, enable_model_summary=False, deterministic=True, num_sanity_val_steps=0,
            callbacks=[EarlyStopping(monitor="val_mse", mode="min", patience=training.patience)],
        )
        trainer.fit(module, train_loader, stop_loader)
    flat = np.asarray(module.best_flat, np.float32)
    net.load_flat(flat)
    with torch.inference_mode():
        pred = net(X_t[score_rows]).numpy().astype(np.float64)
    target = z[score_rows].astype(np.float64)
    mse = float(np.mean((pred - target) ** 2))
    variance = float(np.var(target))
    r2 = 1.0 - mse / variance if variance > 0 else float("nan")
    entry = {
        "index": int(index),
        "hidden_layers": list(hidden),
        "layer_sizes": list(sizes),
        "n_parameters": int(flat.shape[0]),
        "bootstrap_seed": bootstrap_seed,
        "n_train": int(len(draw)),
        "n_unique_train": int(len(np.unique(draw))),
        "n_early_stopping": int(len(stop_rows)),
        "target_mean": mean,
        "target_std": std,
        "validation": {"mse": mse, "r2": r2, "n": int(len(score_rows))},
        "epochs_run": int(trainer.current_epoch),
        "best_epoch": int(module.best_epoch),
        "seconds": time.perf_counter() - started,
        "cpu_seconds": time.process_time() - started_cpu,
    }
    return flat, sizes, entry, draw


# --------------------------------------------------------------------------- a whole pool


def data_fingerprint(X: np.ndarray, y: np.ndarray) -> str:
    """sha256 (first 16 hex digits) of the descriptors and the property values: same data, same pool."""
    digest = hashlib.sha256()
    digest.update(np.ascontiguousarray(X, np.float32).tobytes())
    digest.update(np.ascontiguousarray(y, np.float64).tobytes())
    return digest.hexdigest()[:16]


def _new_manifest(name: str, settings: PoolSettings, descriptor_names: Sequence[str], dataset: dict[str, Any]) -> dict:
    return {
        "format": POOL_FORMAT,
        "labnet_version": labnet_version(),
        "name": name,
        "property": settings.property,
        "dataset": dataset,
        "descriptors": {"count": len(descriptor_names), "names": [str(n) for n in descriptor_names]},
        "activation": ACTIVATION,
        "output_activation": settings.output_activation,
        "init": "lecun_normal (truncated at 2 std), zero biases",
        "build": {"settings": settings.as_dict(), "n_models": 0, "trainer": "pytorch_lightning.Trainer (CPU)"},
        "models": [],
    }


def _check_resumable(manifest: dict[str, Any], settings: PoolSettings, dataset: dict[str, Any], folder: Path) -> None:
    theirs = manifest.get("build", {}).get("settings")
    mine = settings.as_dict()
    differences = [f"{key}: {theirs.get(key)!r} there, {mine[key]!r} now" for key in mine
                   if not isinstance(theirs, dict) or theirs.get(key) != mine[key]]
    if manifest.get("dataset", {}).get("fingerprint") != dataset["fingerprint"]:
        differences.append("the dataset (descriptors or property values) differs")
    if differences:
        raise PoolError(
            f"{folder} already holds a pool built with other settings ({'; '.join(differences)}); "
            f"re-run with the same settings to continue it, or choose another --out"
        )


def build_pool(
    out_dir: str | Path,
    X: np.ndarray,
    y: np.ndarray,
    descriptor_names: Sequence[str],
    settings: PoolSettings,
    n_models: int,
    name: str | None = None,
    dataset: dict[str, Any] | None = None,
    progress: bool = True,
    on_model: Callable[[dict[str, Any]], None] | None = None,
) -> BuildReport:
    """Train models ``0..n_models-1`` of a pool into ``out_dir``, skipping those already finished.

    Args:
        X: descriptors, float [N, d]; y: the property, float [N] (property units, finite).
        descriptor_names: the d descriptor names (checked when a lab uses the pool).
        dataset: extra facts about the data for the manifest (name, kind, path); rows and a
            fingerprint are added here.
        name: the pool's name in logs (``pool:<name>#<index>``); default the directory name.
        on_model: called with each finished model's manifest entry.

    Raises:
        PoolError: ``out_dir`` holds something else, or a pool built with other settings or data.
    """
    X = np.ascontiguousarray(X, np.float32)
    y = np.asarray(y, np.float64)
    if X.ndim != 2 or y.shape != (X.shape[0],):
        raise PoolError(f"descriptors {X.shape} and property values {y.shape} do not match ([N, d] and [N])")
    if not np.isfinite(y).all():
        raise PoolError(f"property {settings.property!r} has NaN or infinite values; a pool needs every row labelled")
    if len(descriptor_names) != X.shape[1]:
        raise PoolError(f"{len(descriptor_names)} descriptor names for {X.shape[1]} descriptor columns")
    if isinstance(n_models, bool) or int(n_models) < 1:
        raise PoolError(f"n_models = {n_models!r}: expected an integer >= 1")
    folder = Path(out_dir).expanduser()
    dataset = {**(dataset or {}), "n_rows": int(X.shape[0]), "fingerprint": data_fingerprint(X, y)}
    if (folder / MANIFEST).exists():
        manifest = read_manifest(folder)
        _check_resumable(manifest, settings, dataset, folder)
    elif folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
        raise PoolError(f"--out {folder}: exists and is not an empty directory or a pool; choose a new directory")
    else:
        folder.mkdir(parents=True, exist_ok=True)
        manifest = _new_manifest(name or folder.resolve().name, settings, descriptor_names, dataset)
    finished = {int(e["index"]) for e in manifest["models"] if (folder / str(e.get("file", ""))).is_file()}
    manifest["models"] = [e for e in manifest["models"] if int(e["index"]) in finished]
    manifest["build"]["n_models"] = max(int(n_models), int(manifest["build"].get("n_models", 0)))
    todo = [i for i in range(int(n_models)) if i not in finished]
    report = BuildReport(folder, int(n_models), [], sorted(finished & set(range(int(n_models)))), [])
    from tqdm.auto import tqdm

    with tqdm(total=int(n_models), initial=len(report.kept), unit="model", desc=f"pool {manifest['name']}",
              disable=not progress, file=sys.stderr, dynamic_ncols=True) as bar:
        for index in todo:
            flat, sizes, entry, draw = train_pool_model(X, y, index, settings)
            entry["file"] = model_file_name(index)
            save_model_file(folder / entry["file"], flat, sizes, draw)
            manifest["models"].append(entry)
            write_manifest(folder, manifest)  # after the model file: the manifest never names a missing file
            report.built.append(index)
            report.seconds.append(float(entry["seconds"]))
            report.cpu_seconds.append(float(entry["cpu_seconds"]))
            if on_model is not None:
                on_model(entry)
            bar.set_postfix(s_per_model=f"{report.seconds_per_model:.1f}", r2=f"{entry['validation']['r2']:.2f}")
            bar.update(1)
    if not todo:
        write_manifest(folder, manifest)
    return report
