"""The scaling-law experiment of paper 3: test error of transfer learning vs source and target data size.

For a source property P and a target property Q of one material space, and for every repeat r
(an independent random split):

1. hold out a target **test set** (``test_fraction`` of the materials); the rest is the pool;
2. draw a random order of the pool for the source and another for the target; the first n
   (resp. m) materials of an order are the source (resp. target) training data, so the data
   sets of one repeat are nested along the grids;
3. for every n of ``n_grid``: **pretrain** an ensemble of ``n_members`` MLPs from scratch on n
   source samples; for every m of ``m_grid``: **fine-tune** a copy on m target samples with the
   first ``frozen_layers`` hidden layers frozen (paper 1's transfer);
4. **direct learning** baseline: an ensemble trained from scratch on the same m target samples;
5. error ``R`` = MSE of the ensemble-mean prediction on the test set divided by the variance of Q
   over the whole space (so R = 1 is the error of always predicting Q's mean; unitless).

Every ensemble is trained with :func:`labnet.models.engine.train_jobs` and the paper's recipe (80/20
validation split of its own data, best epoch restored, targets standardized with the training
data's own mean and std); all repeats of one step (pretraining at one n, then all its
fine-tunings; or all direct fits) go into one call. Seeds derive from (seed, repeat, n, m), so
a step's result does not depend on which steps ran before: an interrupted run resumes where it
stopped and gives the same numbers.

Output directory: ``scaling_design.json`` (what was run), ``scaling_raw.csv`` (one row per
repeat, kind, n, m; rewritten after every step), then :mod:`labnet.runs.studies.scaling_report` writes
``scaling_fits.csv``/``.md`` and the figures.
"""
from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from labnet._files import atomic_write
from labnet.models import LearnerConfig, TrainJob, layer_sizes_for, lecun_normal_params, predict_ensemble, train_jobs
from labnet.models.selection import validation_split

RAW_CSV = "scaling_raw.csv"
DESIGN_JSON = "scaling_design.json"
MIN_SAMPLES = 5
"""Smallest n or m: an 80/20 split must leave >= 4 training points and 1 validation point."""
RAW_COLUMNS = (
    "source", "target", "repeat", "kind", "n_source", "m_target", "test_mse", "test_mse_units",
    "val_mse", "pretrain_val_mse", "n_test", "step", "step_seconds",
)

# independent random streams, keyed by (seed, repeat, stream, ...)
STREAM_SPLIT, STREAM_PRETRAIN, STREAM_TARGET_SPLIT, STREAM_FINETUNE, STREAM_DIRECT = range(5)


class ScalingError(ValueError):
    """A scaling experiment that cannot run; the message names the bad option and what was expected."""


@dataclass(frozen=True)
class ScalingDesign:
    """What a scaling experiment measures.

    Attributes:
        source: source property P (pretraining data).
        target: target property Q (fine-tuning data and test error).
        n_grid: source sample sizes n, increasing, each >= 5.
        m_grid: target sample sizes m, increasing, each >= 5.
        repeats: independent random splits (test set, source order, target order).
        n_members: ensemble members K per model (the error is that of the members' mean).
        epochs: training epochs of fine-tuning and direct learning (patience = epochs: the best epoch
            is restored, as in paper 1).
        pretrain_epochs: training epochs of pretraining on the source data (None = ``epochs``); an
            epoch on n source samples has n/8 steps, so large n need fewer epochs.
        frozen_layers: hidden layers kept from the pretrained model when fine-tuning.
        test_fraction: share of the materials held out as the target test set.
        seed: base seed.
        hidden_layers: MLP hidden widths (paper 1: 100, 100, 10).
        batch_size: minibatch size (paper 1: 8).
    """

    source: str
    target: str
    n_grid: tuple[int, ...]
    m_grid: tuple[int, ...]
    repeats: int = 10
    n_members: int = 4
    epochs: int = 100
    pretrain_epochs: int | None = None
    frozen_layers: int = 2
    test_fraction: float = 0.2
    seed: int = 0
    hidden_layers: tuple[int, ...] = (100, 100, 10)
    batch_size: int = 8
    dataset: str = field(default="", compare=True)

    def __post_init__(self) -> None:
        object.__setattr__(self, "n_grid", _grid(self.n_grid, "--n-grid"))
        object.__setattr__(self, "m_grid", _grid(self.m_grid, "--m-grid"))
        object.__setattr__(self, "hidden_layers", tuple(int(w) for w in self.hidden_layers))
        for flag, value, minimum in (("--repeats", self.repeats, 1), ("--members", self.n_members, 2),
                                     ("--epochs", self.epochs, 1), ("--seed", self.seed, 0),
                                     ("--pretrain-epochs", self.pretrain_epochs if self.pretrain_epochs is not None else 1, 1)):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
                raise ScalingError(f"{flag}: expected an integer >= {minimum} (got {value!r})")
        if not 0.0 < self.test_fraction < 1.0:
            raise ScalingError(f"--test-fraction: expected a number strictly between 0 and 1 (got {self.test_fraction!r})")
        if self.source == self.target:
            raise ScalingError(f"--source and --target are both {self.source!r}: expected two different properties")
        try:
            self.learner
        except ValueError as exc:
            raise ScalingError(str(exc)) from None

    @property
    def learner(self) -> LearnerConfig:
        """The training settings of fine-tuning and direct learning."""
        return LearnerConfig(
            n_members=self.n_members, hidden_layers=self.hidden_layers, epochs=self.epochs, patience=self.epochs,
            batch_size=self.batch_size, frozen_layers=self.frozen_layers,
        )

    @property
    def pretrain_learner(self) -> LearnerConfig:
        """The training settings of pretraining (``pretrain_epochs`` epochs)."""
        epochs = self.pretrain_epochs if self.pretrain_epochs is not None else self.epochs
        return LearnerConfig(
            n_members=self.n_members, hidden_layers=self.hidden_layers, epochs=epochs, patience=epochs,
            batch_size=self.batch_size, frozen_layers=self.frozen_layers,
        )

    def to_json(self) -> dict:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

    @classmethod
    def from_json(cls, data: dict) -> "ScalingDesign":
        return cls(**data)


def _grid(values: Sequence[int], flag: str) -> tuple[int, ...]:
    try:
        grid = [int(v) for v in values]
    except (TypeError, ValueError):
        raise ScalingError(f"{flag}: expected integers (got {values!r})") from None
    if not grid:
        raise ScalingError(f"{flag}: expected at least one sample size")
    if any(int(v) != float(v) for v in values):
        raise ScalingError(f"{flag}: expected integers (got {list(values)!r})")
    if min(grid) < MIN_SAMPLES:
        raise ScalingError(f"{flag}: every size must be >= {MIN_SAMPLES} (got {min(grid)})")
    if len(set(grid)) != len(grid):
        raise ScalingError(f"{flag}: sizes must be distinct (got {grid})")
    return tuple(sorted(grid))


def log_grid(low: int, high: int, points: int) -> tuple[int, ...]:
    """``points`` distinct integers spaced evenly in log between ``low`` and ``high`` (inclusive)."""
    if points < 1 or low < 1 or high < low:
        raise ScalingError(f"log grid: expected 1 <= low <= high and points >= 1 (got {low}, {high}, {points})")
    values = np.unique(np.round(np.geomspace(low, high, points)).astype(int))
    return tuple(int(v) for v in values)


# --------------------------------------------------------------------------- splits


@dataclass(frozen=True)
class RepeatSplit:
    """One repeat's materials (row indices into the space).

    Attributes:
        test: the held-out target test set, int [n_test].
        source_order: the pool in the order source samples are taken, int [n_pool].
        target_order: the pool in the order target samples are taken, int [n_pool].
    """

    test: np.ndarray
    source_order: np.ndarray
    target_order: np.ndarray


def _rng(design: ScalingDesign, repeat: int, *key: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([design.seed, repeat, *key]))


def n_test_for(n_materials: int, test_fraction: float) -> int:
    return max(1, int(round(test_fraction * n_materials)))


def repeat_split(n_materials: int, design: ScalingDesign, repeat: int) -> RepeatSplit:
    """The seeded split of one repeat: test set, then independent source and target orders of the rest."""
    rng = _rng(design, repeat, STREAM_SPLIT)
    order = rng.permutation(n_materials)
    n_test = n_test_for(n_materials, design.test_fraction)
    test, pool = np.sort(order[:n_test]), order[n_test:]
    return RepeatSplit(test, rng.permutation(pool), rng.permutation(pool))


def check_design(design: ScalingDesign, property_names: Sequence[str], n_materials: int) -> None:
    """Raise :class:`ScalingError` if the design does not fit the material space."""
    available = ", ".join(property_names)
    for flag, prop in (("--source", design.source), ("--target", design.target)):
        if prop not in property_names:
            raise ScalingError(f"{flag}: property {prop!r} not in the dataset; available: {available}")
    pool = n_materials - n_test_for(n_materials, design.test_fraction)
    for flag, grid in (("--n-grid", design.n_grid), ("--m-grid", design.m_grid)):
        if max(grid) > pool:
            raise ScalingError(
                f"{flag}: largest size {max(grid)} exceeds the {pool} materials left after holding out "
                f"{n_materials - pool} of {n_materials} as the test set"
            )


# --------------------------------------------------------------------------- one step


def _standardized(y: np.ndarray) -> tuple[np.ndarray, float, float]:
    mean, std = float(y.mean()), float(y.std())
    if not np.isfinite(std) or std < 1e-12:
        std = 1.0
    return ((y - mean) / std).astype(np.float32), mean, std


@dataclass
class _Fit:
    """A planned model: its training job and how to map its predictions back to property units."""

    job: TrainJob
    mean: float
    std: float


def _job(rows: np.ndarray, y: np.ndarray, params: np.ndarray, frozen: int, split_rng: np.random.Generator,
         member_rng: np.random.Generator, validation_fraction: float) -> _Fit:
    train, val = validation_split(len(rows), validation_fraction, split_rng)
    y_std, mean, std = _standardized(y)
    seeds = member_rng.integers(0, 2**63, size=params.shape[0], dtype=np.uint64)
    return _Fit(TrainJob(params, rows[train], y_std[train], rows[val], y_std[val], seeds, frozen), mean, std)


class ScalingExperiment:
    """Runs the steps of one design on one material space (see the module docstring).

    Args:
        X: descriptors, float32 [N, d].
        source_values, target_values: the two properties, float64 [N] (property units).
        design: what to run.
        trainer: the training function (default: the fused engine).
    """

    def __init__(self, X: np.ndarray, source_values: np.ndarray, target_values: np.ndarray,
                 design: ScalingDesign, trainer: Callable = train_jobs) -> None:
        self.X = np.ascontiguousarray(X, dtype=np.float32)
        self.source_values = np.asarray(source_values, dtype=np.float64)
        self.target_values = np.asarray(target_values, dtype=np.float64)
        self.design = design
        self.trainer = trainer
        self.learner = design.learner
        self.layer_sizes = layer_sizes_for(self.X.shape[1], design.hidden_layers)
        self.splits = [repeat_split(len(self.X), design, r) for r in range(design.repeats)]
        variance = float(self.target_values.var())
        self.target_variance = variance if variance > 0 else 1.0

    @property
    def steps(self) -> list[str]:
        """Step names in run order: ``direct``, then ``n=<size>`` for every n."""
        return ["direct"] + [f"n={n}" for n in self.design.n_grid]

    def _target_fit(self, repeat: int, m: int, params: np.ndarray, frozen: int, key: tuple[int, ...]) -> _Fit:
        rows = self.splits[repeat].target_order[:m]
        return _job(rows, self.target_values[rows], params, frozen,
                    _rng(self.design, repeat, STREAM_TARGET_SPLIT, m), _rng(self.design, repeat, *key),
                    self.learner.validation_fraction)

    def _test_mse(self, repeat: int, fits: Sequence[_Fit], params: Sequence[np.ndarray]) -> list[tuple[float, float]]:
        """(normalized MSE, MSE in property units²) of each fitted ensemble on the repeat's test set."""
        test = self.splits[repeat].test
        stacked = np.concatenate(list(params), axis=0)
        predictions = predict_ensemble(stacked, self.layer_sizes, self.X[test], self.learner.output_activation)
        out, k = [], self.design.n_members
        for i, fit in enumerate(fits):
            mu = predictions[i * k : (i + 1) * k].mean(axis=0).astype(np.float64) * fit.std + fit.mean
            mse = float(np.mean((mu - self.target_values[test]) ** 2))
            out.append((mse / self.target_variance, mse))
        return out

    def run_step(self, step: str) -> list[dict]:
        """Train and evaluate one step for every repeat; returns raw-table rows."""
        design = self.design
        k, m_grid = design.n_members, design.m_grid
        rows: list[dict] = []
        if step == "direct":
            fits = [
                self._target_fit(r, m, lecun_normal_params(self.layer_sizes, k, _rng(design, r, STREAM_DIRECT, m, 1)),
                                 0, (STREAM_DIRECT, m))
                for r in range(design.repeats) for m in m_grid
            ]
            results = self.trainer([f.job for f in fits], self.X, self.layer_sizes, self.learner)
            for r in range(design.repeats):
                chunk = slice(r * len(m_grid), (r + 1) * len(m_grid))
                errors = self._test_mse(r, fits[chunk], [res.params for res in results[chunk]])
                for m, (fit, res, (mse, mse_units)) in zip(m_grid, zip(fits[chunk], results[chunk], errors)):
                    rows.append(self._row(r, "direct", 0, m, mse, mse_units, res.validation_loss, float("nan")))
            return rows
        n = int(step.removeprefix("n="))
        if n not in design.n_grid:
            raise ScalingError(f"unknown step {step!r}; steps are: {', '.join(self.steps)}")
        pretrain = []
        for r in range(design.repeats):
            source_rows = self.splits[r].source_order[:n]
            params = lecun_normal_params(self.layer_sizes, k, _rng(design, r, STREAM_PRETRAIN, n, 1))
            pretrain.append(_job(source_rows, self.source_values[source_rows], params, 0,
                                 _rng(design, r, STREAM_PRETRAIN, n, 2), _rng(design, r, STREAM_PRETRAIN, n, 3),
                                 self.learner.validation_fraction))
        pretrained = self.trainer([f.job for f in pretrain], self.X, self.layer_sizes, self.design.pretrain_learner)
        fits = [
            self._target_fit(r, m, pretrained[r].params.copy(), design.frozen_layers, (STREAM_FINETUNE, n, m))
            for r in range(design.repeats) for m in m_grid
        ]
        results = self.trainer([f.job for f in fits], self.X, self.layer_sizes, self.learner)
        for r in range(design.repeats):
            chunk = slice(r * len(m_grid), (r + 1) * len(m_grid))
            errors = self._test_mse(r, fits[chunk], [res.params for res in results[chunk]])
            for m, res, (mse, mse_units) in zip(m_grid, results[chunk], errors):
                rows.append(self._row(r, "transfer", n, m, mse, mse_units, res.validation_loss,
                                      pretrained[r].validation_loss))
        return rows

    def _row(self, repeat: int, kind: str, n: int, m: int, mse: float, mse_units: float, val: float,
             pretrain_val: float) -> dict:
        return {
            "source": self.design.source, "target": self.design.target, "repeat": repeat, "kind": kind,
            "n_source": n, "m_target": m, "test_mse": mse, "test_mse_units": mse_units, "val_mse": val,
            "pretrain_val_mse": pretrain_val, "n_test": len(self.splits[repeat].test),
        }


# --------------------------------------------------------------------------- the whole run


@dataclass
class ScalingRun:
    """A finished (or resumed) experiment: the raw table and where it lives."""

    out_dir: Path
    raw: pd.DataFrame
    design: ScalingDesign
    seconds: float
    resumed_steps: list[str]


def run_scaling(
    space: object, design: ScalingDesign, out_dir: str | Path, progress: bool = True, trainer: Callable = train_jobs
) -> ScalingRun:
    """Run every step not yet in ``out_dir/scaling_raw.csv`` and rewrite the table after each step.

    Args:
        space: a :class:`labnet.environment.MaterialSpace` holding both properties.
        design: what to run (``design.dataset`` is a free-text label of the data, kept in the files).
        out_dir: created if missing. If it already holds a run of the same design, finished steps
            are kept and skipped (resume); a different design there is an error.
        progress: tqdm bar over the steps on stderr.

    Raises:
        ScalingError: the design does not fit the space, or ``out_dir`` holds another design.
    """
    check_design(design, space.property_names, len(space))
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    design_path, raw_path = out / DESIGN_JSON, out / RAW_CSV
    done = pd.DataFrame(columns=list(RAW_COLUMNS))
    if design_path.exists():
        previous = json.loads(design_path.read_text(encoding="utf-8"))
        if previous != design.to_json():
            raise ScalingError(
                f"--out: {out} already holds a scaling run of another design ({design_path}); "
                "choose another directory or delete it"
            )
        if raw_path.exists():
            done = pd.read_csv(raw_path)
    else:
        atomic_write(design_path, lambda tmp: tmp.write_text(json.dumps(design.to_json(), indent=2), encoding="utf-8"))
    experiment = ScalingExperiment(space.descriptors, space.values(design.source), space.values(design.target), design,
                                   trainer=trainer)
    finished = set(done["step"]) if len(done) else set()
    todo = [s for s in experiment.steps if s not in finished]
    frames = [done] if len(done) else []
    start = time.perf_counter()
    with tqdm(total=len(experiment.steps), initial=len(experiment.steps) - len(todo), unit="step", file=sys.stderr,
              disable=not progress, dynamic_ncols=True, desc=f"{design.source}->{design.target}") as bar:
        for step in todo:
            bar.set_postfix_str(step)
            t0 = time.perf_counter()
            rows = experiment.run_step(step)
            seconds = time.perf_counter() - t0
            frame = pd.DataFrame(rows)
            frame["step"] = step
            frame["step_seconds"] = seconds
            frames.append(frame[list(RAW_COLUMNS)])
            raw = pd.concat(frames, ignore_index=True)
            atomic_write(raw_path, lambda tmp: raw.to_csv(tmp, index=False))
            bar.update(1)
    raw = pd.concat(frames, ignore_index=True) if frames else done
    return ScalingRun(out, raw, design, time.perf_counter() - start, sorted(finished))


def load_space(data: str | None = None, scenario: str | None = None) -> tuple[object, str]:
    """The material space of a scaling experiment and a label for it.

    ``data`` alone: the B2 CSV at that path. ``scenario`` (file or built-in name): its dataset,
    with ``data`` overriding its file. Neither: the built-in ``sim2real`` scenario's synthetic world
    (properties P0 and its simulated twin P0_sim).
    """
    from labnet.runs.config.build import build_space
    from labnet.runs.config.scenario import scenario_from_argument
    from labnet.runs.config.scenario import resolve

    if scenario is None and data is not None:
        from labnet.environment import load_b2

        return load_b2(data), f"B2 ({Path(data).name})"
    reference = scenario if scenario is not None else "sim2real"
    loaded = resolve(scenario_from_argument(reference), data=data)
    dataset = loaded.dataset
    label = f"scenario {loaded.name}: {dataset.kind}"
    if dataset.kind == "synthetic":
        label += " " + json.dumps(dataset.model_dump(exclude={"kind"}, exclude_none=True))
    elif getattr(dataset, "path", None):
        label += f" ({Path(dataset.path).name})"
    return build_space(loaded), label
