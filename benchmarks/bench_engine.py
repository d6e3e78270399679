"""Speed of the fused training engine against the faithful per-member reference, all in ONE run.

Run from the repository root (or anywhere)::

    python benchmarks/bench_engine.py                  # full run, ~3-5 min on 2 cores; writes docs/benchmarks/engine.md
    python benchmarks/bench_engine.py --quick          # smoke check, < 60 s; prints only (unless --out is given)
    python benchmarks/bench_engine.py --part b         # only the tick: the new kernel beside the baseline kernel
    python benchmarks/bench_engine.py --data PATH      # another B2 CSV (default ../shared/data/b2/B2_20220520_full.csv)

If the B2 file is missing, part (a) says so and uses ``environment.synthetic_world(16908, 39)``.
Every speed figure is a ratio of two things measured in this same process on this machine; the
machine's load average at start and end is recorded because other processes skew all timings.

Rows of the table
-----------------
(a) one B2 lab step at 100 observations (80 train / 20 validation): 3 candidates x 10 members
    (1 from scratch, 2 transferred with frozen_layers=2 from other labs' from-scratch ensembles),
    100 epochs, batch 8, patience 100, then the chosen ensemble's prediction over every material
    and the UCB argmax.
    * reference: ``models.reference`` timed on a subset (1 from-scratch + 1 transferred member,
      full epochs) and projected linearly to all 30 members ("projected from N members"); torch
      at its default thread count, and with ``torch.set_num_threads(1)``.
    * engine: ``models.engine.train_jobs`` on all 30 members in one call + ``predict_ensemble``,
      warm (the median of repeats after a warm-up call); the first call of this process (numba
      cache load) and the cold JIT compile (a subprocess with an empty numba cache) separately.
    * Lightning: the same member as a ``LightningModule`` fitted by ``pl.Trainer`` vs the
      reference's plain loop (seconds per member per 100 epochs).
    * torch.compile: the reference loop with the member's forward+loss compiled (first call =
      compile, reported apart), or the error.
(b) one tick of 30 labs on ``synthetic_world(2000, 16, 6)`` (20-100 observations, 2-4
    candidates of 10 members each): all labs' jobs in one ``train_jobs`` call vs one call per lab;
    member-optimizer-steps per second; achieved GFLOP/s (2*n_in*n_out per row per trainable
    layer forward, x3 for forward+backward on training rows, x1 for the per-epoch validation
    forward) beside the machine's dense float32 matmul rate (torch and numpy). The kernel before issue 14
    item 3 (``benchmarks/baseline_engine.py``) runs on the same jobs, its calls alternating with the
    new kernel's ("kernel speed-up" rows: all members, and the from-scratch and transferred ones
    apart), with the largest parameter difference between the two.
(c) a full paper trial: measured by ``benchmarks/bench_paper_trial.py`` (which also projects the
    reference from a cost it measures in its own run); this table repeats that measurement and
    projects the reference's cost from (a)'s per-member-step cost x the trial's optimizer steps.
Peak memory: peak resident set size (VmHWM, reset before each part where Linux allows it).
"""
from __future__ import annotations

import argparse
import cProfile
import datetime
import io
import json
import math
import os
import platform
import pstats
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

import numba  # noqa: E402
import torch  # noqa: E402

from labnet.environment import MaterialSpace, load_b2, synthetic_world  # noqa: E402
from labnet.models.acquisition import UpperConfidenceBound, argmax_unmeasured  # noqa: E402
from labnet.models.config import LearnerConfig  # noqa: E402
from labnet.models.engine import ADAM_BETA1, ADAM_BETA2, TrainJob, TrainResult, epoch_order, train_jobs  # noqa: E402
from labnet.models.mlp import MLP, layer_sizes_for, lecun_normal_params, predict_ensemble  # noqa: E402
from labnet.models.reference import train_jobs_reference  # noqa: E402
from labnet.models.selection import select_best, validation_split  # noqa: E402

BENCH_DIR = Path(__file__).resolve().parent
if str(BENCH_DIR) not in sys.path:
    sys.path.insert(0, str(BENCH_DIR))
from baseline_engine import train_jobs_baseline  # noqa: E402  (today's kernel before issue 14 item 3)

DEFAULT_DATA = REPO_ROOT.parent / "shared/data/b2/B2_20220520_full.csv"
DEFAULT_OUT = REPO_ROOT / "docs/benchmarks/engine.md"
B2_PROPERTY = "Tc"
B2_SOURCE_PROPERTIES = ("M", "Sp")  # the two neighbours whose from-scratch ensembles are transferred

TARGET_ENGINE_STEP_S = 1.0
TARGET_SPEEDUP = 50.0
TARGET_FUSION_GAIN = 2.0
TARGET_KERNEL_SPEEDUP = 2.0  # issue 14 item 3: new kernel vs the baseline kernel, member-optimizer-steps per second
TARGET_MATMUL_SHARE = 0.5  # ... aiming at half of the machine's dense float32 matmul rate


@dataclass(frozen=True)
class Settings:
    """Sizes of every part (defaults: the full run); :meth:`quick_settings` shrinks them for a smoke check."""

    epochs: int = 100
    n_members: int = 10
    n_observations: int = 100
    reference_scratch_members: int = 2
    reference_transfer_members: int = 2
    engine_repeats: int = 5
    kernel_repeats: int = 5  # interleaved (baseline, new) pairs in part (b); medians of each
    n_labs: int = 30
    lab_observations: tuple[int, int] = (20, 100)
    lab_candidates: tuple[int, int] = (2, 4)
    lightning_epochs: int = 100
    compile_epochs: int = 100
    run_torch_compile: bool = True
    run_cold_jit: bool = True
    matmul_size: int = 2048
    quick: bool = False

    @classmethod
    def quick_settings(cls) -> "Settings":
        return cls(
            epochs=10, n_members=4, reference_scratch_members=1, reference_transfer_members=1, engine_repeats=2,
            kernel_repeats=3, n_labs=8, lightning_epochs=10, compile_epochs=10, run_torch_compile=False, run_cold_jit=False,
            matmul_size=1024, quick=True,
        )

    def learner(self) -> LearnerConfig:
        return LearnerConfig(n_members=self.n_members, epochs=self.epochs, patience=100, batch_size=8)


@dataclass
class Row:
    part: str
    measurement: str
    value: str
    target: str = ""
    note: str = ""


@dataclass
class Report:
    rows: list[Row] = field(default_factory=list)
    profile_lines: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def add(self, part: str, measurement: str, value: str, target: str = "", note: str = "") -> None:
        self.rows.append(Row(part, measurement, value, target, note))
        print(f"  [{part}] {measurement}: {value}  {target}  {note}", flush=True)


# --------------------------------------------------------------------------- measuring helpers


def seconds(value: float) -> str:
    return f"{value:.3f} s" if value < 100 else f"{value:.0f} s"


def timed(fn: Callable, *args, **kwargs) -> tuple[object, float]:
    start = time.perf_counter()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - start


def minor_page_faults(fn: Callable) -> int:
    """Minor page faults (fresh pages touched) of this process during one call of ``fn``."""
    import resource

    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    fn()
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before


def median_time(fn: Callable, repeats: int) -> tuple[object, float]:
    """Result of the last call and the median wall time of ``repeats`` calls."""
    times, out = [], None
    for _ in range(repeats):
        out, t = timed(fn)
        times.append(t)
    return out, statistics.median(times)


def _read_status_kb(key: str) -> int | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


class PeakMemory:
    """Peak resident set size of a block: VmHWM after resetting it (Linux), else process-wide ru_maxrss."""

    def __init__(self) -> None:
        self.mib = float("nan")
        self.start_mib = float("nan")
        self.per_part = False

    def __enter__(self) -> "PeakMemory":
        self.start_mib = (_read_status_kb("VmRSS") or 0) / 1024
        try:
            Path("/proc/self/clear_refs").write_text("5")  # resets VmHWM to the current RSS
            self.per_part = _read_status_kb("VmHWM") is not None
        except OSError:
            self.per_part = False
        return self

    def __exit__(self, *exc) -> None:
        kb = _read_status_kb("VmHWM") if self.per_part else None
        if kb is None:
            import resource

            kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux, process-wide peak
        self.mib = kb / 1024

    def text(self) -> str:
        if not self.per_part:
            return f"{self.mib:.0f} MiB (process peak RSS so far)"
        return f"{self.mib:.0f} MiB peak RSS (+{self.mib - self.start_mib:.0f} MiB over the {self.start_mib:.0f} MiB at its start)"


@contextmanager
def torch_threads(n: int):
    previous = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def cpu_busy_percent(interval: float = 1.0) -> float:
    """Share of all CPUs busy during ``interval`` seconds while this process sleeps (others' load), from /proc/stat."""
    def sample() -> tuple[int, int]:
        fields = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
        idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
        return sum(fields), idle

    try:
        total0, idle0 = sample()
        time.sleep(interval)
        total1, idle1 = sample()
    except (OSError, ValueError, IndexError):
        return float("nan")
    return 100.0 * (1.0 - (idle1 - idle0) / max(1, total1 - total0))


def machine_info() -> dict[str, str]:
    cpu = platform.processor() or "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    import pytorch_lightning as pl

    return {
        "date": datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z"),
        "CPU": cpu,
        "cores (os.cpu_count)": str(os.cpu_count()),
        "python": platform.python_version(),
        "torch": f"{torch.__version__} (intra-op threads {torch.get_num_threads()})",
        "numba": f"{numba.__version__} (threads {numba.get_num_threads()})",
        "numpy": np.__version__,
        "pytorch-lightning": pl.__version__,
        "CPU busy with other processes just before the run": f"{cpu_busy_percent():.0f} %",
        "load average at start (1 min)": f"{os.getloadavg()[0]:.2f}",
    }


# --------------------------------------------------------------------------- building lab steps


def load_space(path: Path, report: Report) -> MaterialSpace:
    if path.is_file():
        return load_b2(path)
    message = f"B2 data not found at {path}: part (a) uses synthetic_world(n_candidates=16908, n_descriptors=39)"
    print(message)
    report.notes.append(message)
    return synthetic_world(n_candidates=16908, n_descriptors=39, n_properties=3)


def standardized(values: np.ndarray) -> np.ndarray:
    """Targets standardized with the lab's own observed mean/std (float32)."""
    std = values.std()
    return ((values - values.mean()) / (std if std > 0 else 1.0)).astype(np.float32)


def make_job(
    rows: np.ndarray, targets: np.ndarray, params: np.ndarray, frozen_layers: int, rng: np.random.Generator,
    config: LearnerConfig,
) -> TrainJob:
    """One candidate ensemble on the lab's observed ``rows`` (80/20 seeded split, standardized targets)."""
    train, val = validation_split(len(rows), config.validation_fraction, rng)
    y = standardized(targets)
    seeds = rng.integers(0, 2**63, size=params.shape[0]).astype(np.uint64)
    return TrainJob(params.copy(), rows[train], y[train], rows[val], y[val], seeds, frozen_layers)


def lab_jobs(
    space: MaterialSpace, prop: str, rows: np.ndarray, sources: Sequence[np.ndarray], sizes: Sequence[int],
    config: LearnerConfig, seed: int,
) -> list[TrainJob]:
    """The candidates of one lab step: ENM from scratch + one TLM (frozen first two layers) per source."""
    rng = np.random.default_rng(seed)
    targets = space.values(prop)[rows]
    jobs = [make_job(rows, targets, lecun_normal_params(sizes, config.n_members, rng), 0, rng, config)]
    for source in sources:
        jobs.append(make_job(rows, targets, source, config.frozen_layers, rng, config))
    return jobs


def pretrain_sources(
    space: MaterialSpace, props: Sequence[str], n_obs: int, sizes: Sequence[int], config: LearnerConfig, seed: int
) -> dict[str, np.ndarray]:
    """Other labs' published from-scratch ensembles (engine-trained; setup, not timed)."""
    rng = np.random.default_rng(seed)
    jobs = []
    for prop in props:
        rows = rng.choice(len(space), size=n_obs, replace=False)
        jobs += lab_jobs(space, prop, rows, [], sizes, config, int(rng.integers(2**31)))
    return {prop: result.params for prop, result in zip(props, train_jobs(jobs, space.descriptors, sizes, config))}


def choose_and_acquire(
    results: Sequence[TrainResult], X: np.ndarray, sizes: Sequence[int], measured: np.ndarray, config: LearnerConfig,
    predict: Callable[[np.ndarray, Sequence[int], np.ndarray], np.ndarray], first_twin: np.ndarray | None = None,
) -> dict[str, float]:
    """BPM selection, prediction over all materials, UCB argmax (twins read through ``first_twin``, as
    :meth:`labnet.agents.lab.BayesianOptimizationLab.acquire` does); returns the time of each part."""
    times = {}
    chosen, times["select"] = timed(select_best, [r.validation_loss for r in results])
    predictions, times["predict"] = timed(predict, results[chosen].params, sizes, X)

    def acquire() -> int:
        mu, sigma = predictions.mean(axis=0), predictions.std(axis=0)
        return argmax_unmeasured(UpperConfidenceBound(config.ucb_alpha)(mu, sigma), measured, first_twin)

    _, times["acquire"] = timed(acquire)
    return times


def predict_member_by_member(params: np.ndarray, sizes: Sequence[int], X: np.ndarray) -> np.ndarray:
    """The reference way to predict: one ``MLP`` module per member, a plain torch forward."""
    x = torch.tensor(X)
    with torch.no_grad():
        return np.stack([MLP.from_flat(p, sizes)(x).numpy() for p in params])


def engine_lab_step(
    space: MaterialSpace, prop: str, rows: np.ndarray, sources: Sequence[np.ndarray], sizes: Sequence[int],
    config: LearnerConfig, seed: int,
) -> dict[str, float]:
    """One complete engine lab step; returns wall time per part (prepare, train, select, predict, acquire)."""
    jobs, t_prepare = timed(lab_jobs, space, prop, rows, sources, sizes, config, seed)
    results, t_train = timed(train_jobs, jobs, space.descriptors, sizes, config)
    measured = np.zeros(len(space), dtype=bool)
    measured[rows] = True
    times = {"prepare": t_prepare, "train": t_train}
    times.update(choose_and_acquire(results, space.descriptors, sizes, measured, config, predict_ensemble,
                                    space.first_twin))
    times["total"] = sum(times.values())
    return times


def one_member(job: TrainJob, k: int = 0) -> TrainJob:
    return replace(job, params=job.params[k : k + 1], seeds=job.seeds[k : k + 1])


# --------------------------------------------------------------------------- part (a): one B2 lab step


@dataclass
class LabStepSetup:
    """The lab of part (a): its property, observed rows and the neighbours' source ensembles."""

    space: MaterialSpace
    prop: str
    rows: np.ndarray
    sources: list[np.ndarray]
    sizes: tuple[int, ...]
    config: LearnerConfig
    seed: int = 7

    def jobs(self) -> list[TrainJob]:
        return lab_jobs(self.space, self.prop, self.rows, self.sources, self.sizes, self.config, self.seed)

    def engine_step(self) -> dict[str, float]:
        return engine_lab_step(self.space, self.prop, self.rows, self.sources, self.sizes, self.config, self.seed)


def setup_lab_step(space: MaterialSpace, settings: Settings) -> LabStepSetup:
    """B2: the lab measures Tc, its neighbours M and Sp (synthetic fallback: P0, from P1 and P2)."""
    config = settings.learner()
    sizes = layer_sizes_for(space.n_descriptors, config.hidden_layers)
    props = [B2_PROPERTY, *B2_SOURCE_PROPERTIES]
    if not set(props) <= set(space.property_names):
        props = list(space.property_names[:3])
    rows = np.random.default_rng(1).choice(len(space), size=settings.n_observations, replace=False)
    sources = pretrain_sources(space, props[1:], settings.n_observations, sizes, config, seed=2)
    return LabStepSetup(space, props[0], rows, list(sources.values()), sizes, config)


def tiny_jobs(sizes: Sequence[int], n_members: int) -> tuple[list[TrainJob], np.ndarray]:
    """A from-scratch and a transferred job on 8 + 2 rows of an identity X: for warm-ups only."""
    rng = np.random.default_rng(0)
    X = np.eye(sizes[0], dtype=np.float32)
    jobs = [
        TrainJob(lecun_normal_params(sizes, n_members, rng), np.arange(8), np.zeros(8, np.float32), np.arange(8, 10),
                 np.zeros(2, np.float32), np.arange(n_members, dtype=np.uint64), frozen)
        for frozen in (0, 2)
    ]
    return jobs, X


def tiny_engine_call_seconds(sizes: Sequence[int]) -> float:
    """Wall time of one tiny ``train_jobs`` (1 epoch) + ``predict_ensemble``."""
    jobs, X = tiny_jobs(sizes, 2)
    start = time.perf_counter()
    results = train_jobs(jobs, X, sizes, LearnerConfig(epochs=1))
    predict_ensemble(results[0].params, sizes, X)
    return time.perf_counter() - start


def first_call_overhead(sizes: Sequence[int]) -> float:
    """Extra time of this process's first engine call (numba cache load, torch warm-up): first minus second."""
    return tiny_engine_call_seconds(sizes) - tiny_engine_call_seconds(sizes)


def warm_up_reference(sizes: Sequence[int]) -> None:
    """One tiny reference call so the timed members exclude torch / epoch_order first-call costs."""
    jobs, X = tiny_jobs(sizes, 1)
    train_jobs_reference(jobs, X, sizes, LearnerConfig(epochs=1))


def cold_jit_seconds(sizes: Sequence[int]) -> float | str:
    """First engine call in a fresh interpreter with an empty numba cache: the full JIT compile."""
    code = (
        f"import sys; sys.path.insert(0, {str(Path(__file__).resolve().parent)!r}); import bench_engine; "
        f"print(bench_engine.tiny_engine_call_seconds({tuple(sizes)!r}))"
    )
    with tempfile.TemporaryDirectory() as cache:
        env = dict(os.environ, NUMBA_CACHE_DIR=cache)
        proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=600)
    if proc.returncode != 0:
        lines = proc.stderr.strip().splitlines()
        return f"failed: {lines[-1] if lines else proc.returncode}"
    return float(proc.stdout.strip().splitlines()[-1])


@dataclass
class ReferenceTimes:
    per_scratch_member: float
    per_transfer_member: float
    predict: float
    prepare: float
    n_timed: int
    max_param_diff: float

    def projected_step(self, n_scratch: int, n_transfer: int) -> float:
        return self.prepare + n_scratch * self.per_scratch_member + n_transfer * self.per_transfer_member + self.predict


def time_reference(setup: LabStepSetup, settings: Settings, engine_results: list[TrainResult]) -> ReferenceTimes:
    """Reference trainer on a subset of members (full epochs), timed member by member."""
    jobs, t_prepare = timed(setup.jobs)
    X = setup.space.descriptors
    scratch, transfer = [], []
    diffs = []
    for k in range(settings.reference_scratch_members):
        (res,), t = timed(train_jobs_reference, [one_member(jobs[0], k)], X, setup.sizes, setup.config)
        scratch.append(t)
        diffs.append(float(np.abs(res.params[0] - engine_results[0].params[k]).max()))
    for k in range(settings.reference_transfer_members):
        (res,), t = timed(train_jobs_reference, [one_member(jobs[1], k)], X, setup.sizes, setup.config)
        transfer.append(t)
        diffs.append(float(np.abs(res.params[0] - engine_results[1].params[k]).max()))
    _, t_predict = timed(predict_member_by_member, engine_results[0].params, setup.sizes, X)
    return ReferenceTimes(
        statistics.mean(scratch), statistics.mean(transfer), t_predict, t_prepare, len(scratch) + len(transfer),
        max(diffs),
    )


def member_steps(n_train: int, epochs: int, batch_size: int) -> int:
    return epochs * math.ceil(n_train / batch_size)


def bench_lab_step(space: MaterialSpace, settings: Settings, report: Report) -> dict[str, float]:
    """Part (a). Returns numbers the later parts reuse (per-member-step costs, reference member times)."""
    part = "a"
    first_call = first_call_overhead(layer_sizes_for(space.n_descriptors, settings.learner().hidden_layers))
    setup = setup_lab_step(space, settings)
    config, X, sizes = setup.config, space.descriptors, setup.sizes
    n_scratch, n_transfer = config.n_members, config.n_members * len(setup.sources)
    n_total = n_scratch + n_transfer
    print(f"(a) lab step on {space.name}: {settings.n_observations} obs, {1 + len(setup.sources)} candidates "
          f"x {config.n_members} members, {config.epochs} epochs", flush=True)

    setup.engine_step()  # warm-up
    with PeakMemory() as engine_memory:
        parts = [setup.engine_step() for _ in range(settings.engine_repeats)]
    engine_parts = {key: statistics.median(p[key] for p in parts) for key in parts[0]}
    engine_step = engine_parts["total"]
    engine_results = train_jobs(setup.jobs(), X, sizes, config)
    warm_up_reference(sizes)

    with PeakMemory() as reference_memory:
        ref = time_reference(setup, settings, engine_results)
    with torch_threads(1):
        ref1 = time_reference(setup, settings, engine_results)
    ref_step = ref.projected_step(n_scratch, n_transfer)
    ref1_step = ref1.projected_step(n_scratch, n_transfer)
    label = f"projected from {ref.n_timed} members to {n_total}"

    report.add(part, f"reference lab step, torch default threads ({torch.get_num_threads()})", seconds(ref_step),
               "", f"{label}; {seconds(ref.per_scratch_member)}/scratch member, "
               f"{seconds(ref.per_transfer_member)}/transferred member, predict {seconds(ref.predict)}")
    report.add(part, "reference lab step, torch.set_num_threads(1)", seconds(ref1_step), "",
               f"{label}; {seconds(ref1.per_scratch_member)}/scratch member, "
               f"{seconds(ref1.per_transfer_member)}/transferred member")
    report.add(part, "engine lab step (warm: JIT excluded)", seconds(engine_step), f"<= {TARGET_ENGINE_STEP_S:.1f} s",
               f"median of {settings.engine_repeats}; train {seconds(engine_parts['train'])}, "
               f"predict {setup.space.descriptors.shape[0]} materials {seconds(engine_parts['predict'])}")
    report.add(part, "speed-up vs reference (default threads)", f"{ref_step / engine_step:.0f}x",
               f">= {TARGET_SPEEDUP:.0f}x", label)
    report.add(part, "speed-up vs reference (1 torch thread)", f"{ref1_step / engine_step:.0f}x",
               f">= {TARGET_SPEEDUP:.0f}x", label)
    train_ref = ref.per_scratch_member * n_scratch + ref.per_transfer_member * n_transfer
    report.add(part, f"training only ({n_total} members): reference vs engine train_jobs",
               f"{train_ref / engine_parts['train']:.0f}x", "",
               f"{seconds(train_ref)} ({label}) vs {seconds(engine_parts['train'])}")
    report.add(part, f"prediction of {X.shape[0]} materials: reference member-by-member vs engine predict_ensemble",
               f"{ref.predict / engine_parts['predict']:.2f}x", "",
               f"{seconds(ref.predict)} vs {seconds(engine_parts['predict'])}")
    report.add(part, "engine first-call overhead in this process (numba cache load)", seconds(first_call), "",
               "measured at process start on a tiny job; excluded from the warm time")
    if settings.run_cold_jit:
        cold = cold_jit_seconds(sizes)
        report.add(part, "engine cold JIT compile (empty numba cache, fresh process)",
                   seconds(cold) if isinstance(cold, float) else cold, "", "paid once per machine: cache=True")
    else:
        report.add(part, "engine cold JIT compile", "skipped (--quick)")
    report.add(part, "engine vs reference, max |param difference| on the timed members", f"{ref.max_param_diff:.1e}",
               "", f"after {config.epochs} epochs, float32")
    report.add(part, "peak memory, engine lab step", engine_memory.text())
    report.add(part, "peak memory, reference members", reference_memory.text())

    report.profile_lines += profile_lab_step(setup, engine_parts)
    n_train = len(setup.jobs()[0].train_rows)
    steps = member_steps(n_train, config.epochs, config.batch_size)
    return {
        "reference_s_per_member_step": train_ref / (n_total * steps),
        "reference1_s_per_member_step": (ref1.per_scratch_member * n_scratch + ref1.per_transfer_member * n_transfer)
        / (n_total * steps),
        "engine_s_per_member_step": engine_parts["train"] / (n_total * steps),
        "reference_scratch_member_s": ref.per_scratch_member,
        "reference1_scratch_member_s": ref1.per_scratch_member,
        "n_train": n_train,
    }


def profile_lab_step(setup: LabStepSetup, parts: dict[str, float]) -> list[str]:
    """'Where the time goes': the median part times plus cProfile's top entries for one engine step."""
    total = parts["total"]
    lines = ["| part of the engine lab step | time | share |", "| --- | --- | --- |"]
    labels = {
        "prepare": "data prep (split, standardize, init / copy weights, seeds)",
        "train": f"train_jobs (fused numba kernel, {sum(j.n_members for j in setup.jobs())} members)",
        "select": "BPM selection",
        "predict": f"predict_ensemble over {setup.space.descriptors.shape[0]} materials",
        "acquire": "UCB + argmax over unmeasured",
    }
    for key, label in labels.items():
        lines.append(f"| {label} | {seconds(parts[key])} | {100 * parts[key] / total:.0f} % |")
    lines.append(f"| total | {seconds(total)} | 100 % |")
    jobs = setup.jobs()
    X = setup.space.descriptors
    _, t_scratch = median_time(lambda: train_jobs(jobs[:1], X, setup.sizes, setup.config), 3)
    _, t_transfer = median_time(lambda: train_jobs(jobs[1:], X, setup.sizes, setup.config), 3)
    _, t_together = median_time(lambda: train_jobs(jobs, X, setup.sizes, setup.config), 3)
    params = jobs[0].params
    _, t_predict = median_time(lambda: predict_ensemble(params, setup.sizes, X), 3)
    faults = minor_page_faults(lambda: predict_ensemble(params, setup.sizes, X))
    lines += [
        "",
        "Inside the two big parts (medians of 3, separate calls):",
        "",
        f"- train_jobs on the from-scratch ensemble alone ({setup.config.n_members} members): {seconds(t_scratch)}; "
        f"on the {len(jobs) - 1} transferred ensembles alone ({(len(jobs) - 1) * setup.config.n_members} members, "
        f"frozen prefix computed once, 100->10->1 trained): {seconds(t_transfer)}; all together in one call: "
        f"{seconds(t_together)}.",
        f"- predict_ensemble over {X.shape[0]} materials ({params.shape[0]} members, one addmm per layer "
        f"per member): {seconds(t_predict)}; {faults:,} minor page faults per call.",
    ]
    profiler = cProfile.Profile()
    profiler.enable()
    setup.engine_step()
    profiler.disable()
    buffer = io.StringIO()
    pstats.Stats(profiler, stream=buffer).sort_stats("tottime").print_stats(8)
    body = [line for line in buffer.getvalue().splitlines() if line.strip()]
    start = next((i for i, line in enumerate(body) if line.lstrip().startswith("ncalls")), 0)
    lines += ["", "cProfile of one engine lab step (top 8 by own time):", "", "```", *body[start:], "```"]
    return lines


# --------------------------------------------------------------------------- Lightning and torch.compile


def member_tensors(job: TrainJob, X: np.ndarray) -> tuple[torch.Tensor, ...]:
    return (
        torch.from_numpy(X[job.train_rows]), torch.from_numpy(job.y_train),
        torch.from_numpy(X[job.val_rows]), torch.from_numpy(job.y_val),
    )


def lightning_member_seconds(job: TrainJob, X: np.ndarray, sizes: Sequence[int], config: LearnerConfig, epochs: int) -> float:
    """One member trained by ``pl.Trainer`` (Adam, batch 8, MSE + L2, validation each epoch), wall time."""
    import logging

    import pytorch_lightning as pl
    from torch.utils.data import DataLoader, TensorDataset

    class LitMember(pl.LightningModule):
        def __init__(self) -> None:
            super().__init__()
            self.net = MLP.from_flat(job.params[0], sizes, config.output_activation)

        def _loss(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
            return ((self.net(x) - y) ** 2).mean() + config.l2 * sum((k**2).sum() for k in self.net.kernels)

        def training_step(self, batch, batch_idx):
            return self._loss(*batch)

        def validation_step(self, batch, batch_idx):
            return self._loss(*batch)

        def configure_optimizers(self):
            return torch.optim.Adam(self.parameters(), lr=config.learning_rate, eps=1e-7)

    x_t, y_t, x_v, y_v = member_tensors(job, X)
    generator = torch.Generator().manual_seed(0)
    train_loader = DataLoader(TensorDataset(x_t, y_t), batch_size=config.batch_size, shuffle=True, generator=generator)
    val_loader = DataLoader(TensorDataset(x_v, y_v), batch_size=len(y_v))
    logging.getLogger("pytorch_lightning").setLevel(logging.ERROR)
    logging.getLogger("lightning.pytorch").setLevel(logging.ERROR)
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        trainer = pl.Trainer(
            max_epochs=epochs, enable_progress_bar=False, logger=False, enable_checkpointing=False,
            accelerator="cpu", enable_model_summary=False, num_sanity_val_steps=0,
        )
        trainer.fit(LitMember(), train_loader, val_loader)
    return time.perf_counter() - start


def compiled_member_seconds(
    job: TrainJob, X: np.ndarray, sizes: Sequence[int], config: LearnerConfig, epochs: int
) -> tuple[float, float]:
    """The reference loop (Keras Adam, per-epoch validation, best restore) with forward+loss under
    ``torch.compile``. Returns (first step incl. compile, the remaining steps + validation)."""
    model = MLP.from_flat(job.params[0], sizes, config.output_activation)
    params = list(model.parameters())
    m1 = [torch.zeros_like(p) for p in params]
    m2 = [torch.zeros_like(p) for p in params]
    x_t, y_t, x_v, y_v = member_tensors(job, X)

    def loss_fn(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return ((model(x) - y) ** 2).mean() + config.l2 * sum((k**2).sum() for k in model.kernels)

    torch._dynamo.reset()
    compiled = torch.compile(loss_fn)
    start = time.perf_counter()
    t_first, step, best, best_state = None, 0, math.inf, None
    for epoch in range(epochs):
        order = torch.from_numpy(epoch_order(int(job.seeds[0]), epoch, len(y_t)))
        for lo in range(0, len(y_t), config.batch_size):
            idx = order[lo : lo + config.batch_size]
            grads = torch.autograd.grad(compiled(x_t[idx], y_t[idx]), params)
            step += 1
            lr_t = config.learning_rate * math.sqrt(1 - ADAM_BETA2**step) / (1 - ADAM_BETA1**step)
            with torch.no_grad():
                for p, g, a, b in zip(params, grads, m1, m2):
                    a.mul_(ADAM_BETA1).add_((1 - ADAM_BETA1) * g)
                    b.mul_(ADAM_BETA2).add_((1 - ADAM_BETA2) * g * g)
                    p.sub_(lr_t * a / (b.sqrt() + 1e-7))
            if t_first is None:
                t_first = time.perf_counter() - start
                start = time.perf_counter()
        with torch.no_grad():
            val = float(loss_fn(x_v, y_v))
        if val < best:
            best, best_state = val, model.to_flat()
    model.load_flat(best_state)
    return t_first, time.perf_counter() - start


def bench_member_loops(space: MaterialSpace, settings: Settings, costs: dict[str, float], report: Report) -> None:
    """Lightning Trainer and torch.compile vs the reference's plain loop, one from-scratch member."""
    part = "a"
    setup = setup_lab_step(space, settings)
    job, X, config, sizes = setup.jobs()[0], space.descriptors, setup.config, setup.sizes
    per100 = 100.0 / config.epochs
    plain = costs["reference_scratch_member_s"] * per100
    plain1 = costs["reference1_scratch_member_s"] * per100
    report.add(part, "plain loop (models.reference), s per member per 100 epochs", seconds(plain), "",
               f"1 torch thread: {seconds(plain1)}")
    with PeakMemory() as memory:
        lightning = lightning_member_seconds(job, X, sizes, config, settings.lightning_epochs)
    lightning *= 100.0 / settings.lightning_epochs
    report.add(part, "Lightning pl.Trainer, s per member per 100 epochs", seconds(lightning), "",
               f"{lightning / plain:.2f}x the plain loop; {memory.text()}")
    if not settings.run_torch_compile:
        report.add(part, "torch.compile(forward+loss), s per member per 100 epochs", "skipped (--quick)")
        return
    try:
        with tempfile.TemporaryDirectory() as cache:  # an empty inductor cache: the compile is cold
            previous = os.environ.get("TORCHINDUCTOR_CACHE_DIR")
            os.environ["TORCHINDUCTOR_CACHE_DIR"] = cache
            try:
                t_compile, t_run = compiled_member_seconds(job, X, sizes, config, settings.compile_epochs)
            finally:
                if previous is None:
                    os.environ.pop("TORCHINDUCTOR_CACHE_DIR", None)
                else:
                    os.environ["TORCHINDUCTOR_CACHE_DIR"] = previous
        t_run *= 100.0 / settings.compile_epochs
        report.add(part, "torch.compile(forward+loss), s per member per 100 epochs", seconds(t_run), "",
                   f"{t_run / plain:.2f}x the plain loop; first step = cold compile (empty inductor cache) {seconds(t_compile)}, excluded")
    except Exception as error:  # noqa: BLE001 - report whatever torch.compile raises
        message = f"{type(error).__name__}: {str(error).splitlines()[0][:120] if str(error) else ''}"
        report.add(part, "torch.compile(forward+loss)", "failed", "", message)


# --------------------------------------------------------------------------- part (b): one tick of many labs


def tick_jobs(settings: Settings, seed: int = 3) -> tuple[MaterialSpace, list[list[TrainJob]], tuple[int, ...], LearnerConfig]:
    """``settings.n_labs`` labs acting in one tick on a synthetic world; each lab's candidate jobs."""
    world = synthetic_world(n_candidates=2000, n_descriptors=16, n_properties=6)
    config = settings.learner()
    sizes = layer_sizes_for(world.n_descriptors, config.hidden_layers)
    sources = pretrain_sources(world, world.property_names, 60, sizes, config, seed=seed)
    rng = np.random.default_rng(seed)
    labs = []
    for _ in range(settings.n_labs):
        prop = world.property_names[int(rng.integers(len(world.property_names)))]
        n_obs = int(rng.integers(settings.lab_observations[0], settings.lab_observations[1] + 1))
        n_candidates = int(rng.integers(settings.lab_candidates[0], settings.lab_candidates[1] + 1))
        others = [p for p in world.property_names if p != prop]
        chosen = rng.choice(len(others), size=n_candidates - 1, replace=False)
        rows = rng.choice(len(world), size=n_obs, replace=False)
        labs.append(lab_jobs(world, prop, rows, [sources[others[i]] for i in chosen], sizes, config,
                             int(rng.integers(2**31))))
    return world, labs, sizes, config


def job_flops(job: TrainJob, result: TrainResult, sizes: Sequence[int]) -> float:
    """Useful float ops: trainable layers, 3x forward cost on training rows, 1x on validation rows."""
    per_row = sum(2 * sizes[l] * sizes[l + 1] for l in range(job.frozen_layers, len(sizes) - 1))
    epochs = result.epochs_run.astype(np.float64)
    return float((epochs * (3 * len(job.train_rows) + len(job.val_rows)) * per_row).sum())


def matmul_gflops(n: int, repeats: int = 5) -> tuple[float, float]:
    """Dense float32 n x n matmul rate (GFLOP/s) of torch and of numpy, best of ``repeats``."""
    a = np.random.default_rng(0).standard_normal((n, n)).astype(np.float32)
    b = np.random.default_rng(1).standard_normal((n, n)).astype(np.float32)
    ta, tb = torch.from_numpy(a), torch.from_numpy(b)
    torch.mm(ta, tb)
    a @ b
    t_torch = min(timed(torch.mm, ta, tb)[1] for _ in range(repeats))
    t_numpy = min(timed(np.matmul, a, b)[1] for _ in range(repeats))
    flops = 2.0 * n**3
    return flops / t_torch / 1e9, flops / t_numpy / 1e9


def bench_tick(settings: Settings, report: Report) -> None:
    part = "b"
    world, labs, sizes, config = tick_jobs(settings)
    all_jobs = [job for lab in labs for job in lab]
    X = world.descriptors
    n_members = sum(job.n_members for job in all_jobs)
    print(f"(b) tick: {len(labs)} labs, {len(all_jobs)} candidate ensembles, {n_members} members", flush=True)
    train_jobs(all_jobs, X, sizes, config)  # warm-up
    with PeakMemory() as memory:
        results, t_fused = median_time(lambda: train_jobs(all_jobs, X, sizes, config), settings.engine_repeats)
    _, t_by_lab = median_time(lambda: [train_jobs(lab, X, sizes, config) for lab in labs], settings.engine_repeats)
    threads = numba.get_num_threads()
    numba.set_num_threads(1)
    try:
        _, t_one_thread = median_time(lambda: train_jobs(all_jobs, X, sizes, config), 1)
    finally:
        numba.set_num_threads(threads)
    steps = sum(
        int((r.epochs_run * math.ceil(len(j.train_rows) / config.batch_size)).sum()) for j, r in zip(all_jobs, results)
    )
    flops = sum(job_flops(j, r, sizes) for j, r in zip(all_jobs, results))
    gf_torch, gf_numpy = matmul_gflops(settings.matmul_size)
    bench_kernel_vs_baseline(all_jobs, X, sizes, config, settings, gf_numpy, report)
    report.add(part, f"engine, all {len(labs)} labs in one train_jobs call", seconds(t_fused), "",
               f"{len(all_jobs)} ensembles, {n_members} members")
    report.add(part, "engine, one train_jobs call per lab", seconds(t_by_lab))
    per_lab = [sum(job.n_members for job in lab) for lab in labs]
    report.add(part, "gain of one fused call over lab-by-lab", f"{t_by_lab / t_fused:.2f}x", f">= {TARGET_FUSION_GAIN:.0f}x",
               f"each lab alone already has {min(per_lab)}-{max(per_lab)} independent members for "
               f"{threads} threads, so fusing can only remove per-call overhead and the end-of-call load "
               "imbalance")
    report.add(part, "engine, all labs in one call, numba.set_num_threads(1)", seconds(t_one_thread))
    report.add(part, f"parallel speed-up, {threads} threads vs 1", f"{t_one_thread / t_fused:.2f}x", f"~{threads}x",
               "members are packed into one bin per thread by estimated cost (models.engine.balanced_bins)")
    report.add(part, "throughput, member-optimizer-steps per second", f"{steps / t_fused:,.0f}", "",
               f"{steps:,} steps of batch <= {config.batch_size}")
    report.add(part, "engine achieved GFLOP/s", f"{flops / t_fused / 1e9:.1f}", "",
               f"{100 * flops / t_fused / 1e9 / gf_torch:.0f} % of torch matmul peak")
    report.add(part, f"machine dense float32 matmul ({settings.matmul_size}^2), torch", f"{gf_torch:.1f} GFLOP/s", "",
               f"{torch.get_num_threads()} threads")
    report.add(part, f"machine dense float32 matmul ({settings.matmul_size}^2), numpy", f"{gf_numpy:.1f} GFLOP/s")
    report.add(part, "peak memory, fused tick", memory.text())


def tick_steps(jobs: Sequence[TrainJob], results: Sequence[TrainResult], batch_size: int) -> int:
    """Member-optimizer-steps actually run (early stopping included)."""
    return sum(int((r.epochs_run * math.ceil(len(j.train_rows) / batch_size)).sum()) for j, r in zip(jobs, results))


def bench_kernel_vs_baseline(
    jobs: Sequence[TrainJob], X: np.ndarray, sizes: Sequence[int], config: LearnerConfig, settings: Settings,
    gf_numpy: float, report: Report,
) -> None:
    """Issue 14 item 3: today's kernel (benchmarks/baseline_engine.py) and the new one on the same tick.

    Calls alternate (baseline, new, baseline, new, ...) so both see the same machine load; each
    figure is the median of ``settings.kernel_repeats`` calls, after one warm-up call of each.
    """
    part = "b"
    by_kind = {
        "all": list(jobs),
        "from scratch only": [j for j in jobs if j.frozen_layers == 0],
        "transferred only": [j for j in jobs if j.frozen_layers > 0],
    }
    for kind, group in by_kind.items():
        if not group:
            continue
        train_jobs_baseline(group, X, sizes, config)  # warm-up (numba cache load)
        train_jobs(group, X, sizes, config)
        t_base, t_new = [], []
        for _ in range(settings.kernel_repeats):
            base, t = timed(train_jobs_baseline, group, X, sizes, config)
            t_base.append(t)
            new, t = timed(train_jobs, group, X, sizes, config)
            t_new.append(t)
        tb, tn = statistics.median(t_base), statistics.median(t_new)
        steps_b, steps_n = tick_steps(group, base, config.batch_size), tick_steps(group, new, config.batch_size)
        label = f"{kind} ({sum(j.n_members for j in group)} members)"
        spread = f"medians of {settings.kernel_repeats} interleaved calls; baseline {min(t_base):.3f}-{max(t_base):.3f} s, new {min(t_new):.3f}-{max(t_new):.3f} s"
        report.add(part, f"kernel speed-up, {label}: new vs baseline steps/s", f"{(steps_n / tn) / (steps_b / tb):.2f}x",
                   f">= {TARGET_KERNEL_SPEEDUP:.0f}x" if kind == "all" else "",
                   f"baseline {steps_b / tb:,.0f} steps/s ({seconds(tb)}), new {steps_n / tn:,.0f} steps/s ({seconds(tn)}); {spread}")
        if kind != "all":
            continue
        flops_b = sum(job_flops(j, r, sizes) for j, r in zip(group, base))
        flops_n = sum(job_flops(j, r, sizes) for j, r in zip(group, new))
        report.add(part, "kernel GFLOP/s, baseline -> new", f"{flops_b / tb / 1e9:.1f} -> {flops_n / tn / 1e9:.1f}",
                   f">= {TARGET_MATMUL_SHARE * gf_numpy:.0f} ({TARGET_MATMUL_SHARE:.0%} of numpy matmul)",
                   f"{100 * flops_b / tb / 1e9 / gf_numpy:.0f} % -> {100 * flops_n / tn / 1e9 / gf_numpy:.0f} % of the "
                   f"numpy {settings.matmul_size}^2 float32 matmul rate ({gf_numpy:.0f} GFLOP/s, same run); dense-layer "
                   "count (the first layer counted dense although the new kernel skips its zeros)")
        same_stop = all((a.best_epoch == b.best_epoch).all() and (a.epochs_run == b.epochs_run).all() for a, b in zip(base, new))
        diff = max(float(np.abs(a.params - b.params).max()) for a, b in zip(base, new))
        close = [float(np.abs(a.params - b.params).max()) for a, b in zip(base, new)
                 if (a.best_epoch == b.best_epoch).all()]
        report.add(part, "new vs baseline results, max |param difference|", f"{diff:.1e}", "",
                   f"{'same' if same_stop else 'NOT all the same'} best and stopping epochs; median over ensembles "
                   f"{statistics.median(close) if close else float('nan'):.1e}; both are float32 and differ in summation "
                   f"order, so after {config.epochs} epochs small differences grow (tests/test_engine.py holds the "
                   "new kernel to the PyTorch reference)")


# --------------------------------------------------------------------------- part (c): a full trial


def paper_trial_member_steps(config: LearnerConfig, periods: Sequence[int] = (1, 3, 9), horizon: int = 300,
                             initial: int = 10) -> int:
    """Optimizer steps of ONE member slot over a paper-1 trial (3 labs, periods 1/3/9, 300 ticks),
    every member running all epochs (patience 100 never fires within 100 epochs)."""
    total = 0
    for period in periods:
        for action in range(len(range(0, horizon, period))):
            n = initial + action
            n_val = max(1, math.ceil(config.validation_fraction * n))
            total += member_steps(n - n_val, config.epochs, config.batch_size)
    return total


def measured_full_trial() -> str:
    """The engine's measured full trial, from ``benchmarks/bench_paper_trial.py`` (its own run)."""
    path = REPO_ROOT / "docs/benchmarks/paper_trial.json"
    if not path.exists():
        return "not measured: run benchmarks/bench_paper_trial.py"
    return json.loads(path.read_text())["engine wall time"]


def bench_trial_projection(costs: dict[str, float], report: Report) -> None:
    part = "c"
    report.add(part, "full paper trial, engine (measured)", measured_full_trial(), "<= 5 min",
               "benchmarks/bench_paper_trial.py: one networked 300-tick trial on B2, its own run")
    config = LearnerConfig()
    steps = paper_trial_member_steps(config)
    slots = 3 * config.n_members
    member_steps_total = steps * slots
    for label, key in (("default threads", "reference_s_per_member_step"), ("1 torch thread", "reference1_s_per_member_step"),
                       ("engine", "engine_s_per_member_step")):
        total = costs[key] * member_steps_total
        what = "engine training" if key.startswith("engine") else f"reference ({label})"
        report.add(part, f"full paper trial, {what}, projected", f"{total / 3600:.2f} h" if total > 3600 else seconds(total), "",
                   f"{costs[key] * 1e6:.1f} us per member-step (from (a)) x {steps:,} steps x {slots} members")


# --------------------------------------------------------------------------- output


def render_table(rows: Sequence[Row]) -> str:
    header = ("part", "measurement", "value", "target", "note")
    cells = [header] + [(r.part, r.measurement, r.value, r.target, r.note) for r in rows]
    widths = [max(len(c[i]) for c in cells) for i in range(4)]
    lines = []
    for i, c in enumerate(cells):
        lines.append("  ".join(c[j].ljust(widths[j]) for j in range(4)) + "  " + c[4])
        if i == 0:
            lines.append("  ".join("-" * w for w in widths) + "  " + "-" * 4)
    return "\n".join(lines)


def render_markdown(report: Report, info: dict[str, str], settings: Settings, elapsed: float, part: str = "all") -> str:
    def cell(text: str) -> str:
        return text.replace("|", "\\|")

    lines = [
        "# Engine benchmark",
        "",
        "Written by `python benchmarks/bench_engine.py` (see its docstring for what each row means); "
        "every ratio is between two timings taken in the same run on this machine.",
        "",
        "## Machine",
        "",
        *[f"- {key}: {value}" for key, value in info.items()],
        f"- mode: {'--quick' if settings.quick else 'full'}, part {part}; whole script {elapsed:.0f} s",
        "",
        "## Results",
        "",
        "| part | measurement | value | target | note |",
        "| --- | --- | --- | --- | --- |",
        *[f"| {r.part} | {cell(r.measurement)} | {cell(r.value)} | {cell(r.target)} | {cell(r.note)} |" for r in report.rows],
        "",
    ]
    if report.notes:
        lines += ["Notes:", "", *[f"- {note}" for note in report.notes], ""]
    if report.profile_lines:
        lines += ["## Where the time goes (part a, engine)", "", *report.profile_lines, ""]
    return "\n".join(lines)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="B2 CSV (default: %(default)s)")
    parser.add_argument("--quick", action="store_true", help="smoke check: fewer epochs and members, < 60 s")
    parser.add_argument("--part", choices=("a", "b", "c", "all"), default="all",
                        help="run one part only; b = the tick, with the new kernel beside the baseline kernel "
                        "(default: %(default)s)")
    parser.add_argument("--out", type=Path, default=None,
                        help=f"Markdown output (default: {DEFAULT_OUT.relative_to(REPO_ROOT)} for a full run, none for --quick)")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    settings = Settings.quick_settings() if args.quick else Settings()
    out = args.out if args.out is not None else (None if args.quick or args.part != "all" else DEFAULT_OUT)
    start = time.perf_counter()
    info = machine_info()
    print("\n".join(f"{k}: {v}" for k, v in info.items()), flush=True)
    if float(info["CPU busy with other processes just before the run"].rstrip(" %")) > 10:
        print("warning: other processes are using the CPU; timings will be pessimistic", flush=True)
    report = Report()
    if args.part in ("a", "c", "all"):
        space = load_space(args.data, report)
        costs = bench_lab_step(space, settings, report)
        if args.part != "c":
            bench_member_loops(space, settings, costs, report)
    if args.part in ("b", "all"):
        bench_tick(settings, report)
    if args.part in ("c", "all"):
        bench_trial_projection(costs, report)
    info["numba"] += f", threading layer {numba.threading_layer()}"
    info["load average at end (1 min)"] = f"{os.getloadavg()[0]:.2f}"
    info["CPU busy with other processes just after the run"] = f"{cpu_busy_percent():.0f} %"
    elapsed = time.perf_counter() - start
    print()
    print(render_table(report.rows))
    print(f"\n(whole script {elapsed:.0f} s)")
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(render_markdown(report, info, settings, elapsed, args.part))
        print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
