"""The torch engine (CPU here, CUDA where a GPU is present) against the numba engine, all in ONE run.

Run from the repository root (or anywhere)::

    python benchmarks/bench_gpu.py --quick              # smoke check on a CPU-only machine, ~1-3 min
    python benchmarks/bench_gpu.py                      # defaults sized for one H200 (about 5-8 min there)
    python benchmarks/bench_gpu.py --out DIR            # also write DIR/bench_gpu.md and DIR/bench_gpu.json
    benchmarks/gpu/run_on_h200.sh                       # the GPU run in one command (see that script)

Parts (every ratio is of two things measured in this same process):

(a) throughput: one engine call holding the candidates of ``--labs`` labs (1 from-scratch and 2
    transferred ensembles of 10 members each, two frozen layers; 20 to 300 observations per lab,
    80/20 split) on a world of the B2 shape (the B2 file if ``--data`` / ``../shared/data/b2``
    has it, else ``synthetic_world(16908, 39)``), ``--epochs`` epochs, no early stopping. Member-
    optimizer-steps per second = sum over members of epochs run x minibatches per epoch, divided by
    the call's wall time. numba on all cores (``numba.get_num_threads()``) and on 2 threads (the
    2-core development machine), torch on the device in each mode (eager; ``torch.compile``;
    CUDA graphs on CUDA). Each torch row says how far its weights are from numba's (max |diff|)
    and whether every best / stopping epoch agrees.
(b) the paper study (``paper_b2``: labs M, Tc, Sp; networked, isolated, random search) with
    ``--study-trials`` trials of ``--study-ticks`` ticks, run by ``run_scenario`` per engine, serially
    and in lockstep (every network's tick in one engine call): wall time, and how many observations
    chose the same material as the serial numba run. The full study is 10 trials x 300 ticks;
    a reduced one is labelled so. Without the B2 file: a synthetic world of the same shape.
(c) a ``--ba-labs``-lab Barabasi-Albert network (``ba100`` scaled, ``bench_scale.scale_scenario``):
    seconds per tick over ``--ba-ticks`` ticks, per engine.
Peak GPU memory: ``torch.cuda.max_memory_allocated`` over each part (CUDA only).
"""
from __future__ import annotations

import argparse
import dataclasses
import datetime
import json
import math
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parents[1]
for path in (REPO_ROOT, REPO_ROOT / "benchmarks"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

import numba  # noqa: E402
import torch  # noqa: E402

from labnet.models.config import LearnerConfig  # noqa: E402
from labnet.models.engine import TrainJob, train_jobs  # noqa: E402
from labnet.models.mlp import layer_sizes_for, lecun_normal_params  # noqa: E402
from labnet.models.torch_engine import TORCH_MODES, train_jobs_torch  # noqa: E402

DEFAULT_DATA = REPO_ROOT.parent / "shared/data/b2/B2_20220520_full.csv"
B2_SHAPE = (16908, 39)


# --------------------------------------------------------------------------- helpers


def device_name(device: str) -> str:
    if device == "cuda":
        return f"cuda ({torch.cuda.get_device_name(0)})"
    return f"cpu ({torch.get_num_threads()} torch threads)"


def synchronize(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def reset_peak(device: str) -> None:
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()


def peak_gib(device: str) -> float | None:
    return torch.cuda.max_memory_allocated() / 2**30 if device == "cuda" else None


def load_world(data: Path | None):
    """(space, label): the B2 file when present, else a synthetic world of the B2 shape."""
    from labnet.environment import load_b2, synthetic_world

    if data is not None and Path(data).is_file():
        return load_b2(data), f"B2 ({data.name})"
    return synthetic_world(*B2_SHAPE, n_properties=3, seed=0), f"synthetic_world{B2_SHAPE} (no B2 file)"


def tick_jobs(space, n_labs: int, sizes, n_members: int = 10, seed: int = 0) -> list[TrainJob]:
    """``n_labs`` labs' candidates: 1 from-scratch + 2 transferred (frozen_layers=2) ensembles each."""
    rng = np.random.default_rng(seed)
    prop = space.property_names[0]
    values = np.asarray(space.values(prop), np.float64)
    jobs = []
    for lab, n_obs in enumerate(np.linspace(20, 300, n_labs).astype(int)):
        rows = rng.choice(len(space), n_obs, replace=False)
        y = ((values[rows] - values[rows].mean()) / values[rows].std()).astype(np.float32)
        n_val = max(1, math.ceil(0.2 * n_obs))
        for frozen in (0, 2, 2):
            jobs.append(TrainJob(lecun_normal_params(sizes, n_members, rng), rows[n_val:], y[n_val:], rows[:n_val],
                                 y[:n_val], rng.integers(0, 2**63, size=n_members).astype(np.uint64), frozen))
    return jobs


def member_steps(jobs, results, batch_size: int) -> int:
    return int(sum((r.epochs_run * math.ceil(len(j.train_rows) / batch_size)).sum() for j, r in zip(jobs, results)))


def agreement(reference, results) -> tuple[float, bool]:
    """(max |param difference|, every best_epoch and epochs_run equal)."""
    diff = max(float(np.abs(a.params - b.params).max()) for a, b in zip(reference, results))
    same = all(np.array_equal(a.best_epoch, b.best_epoch) and np.array_equal(a.epochs_run, b.epochs_run)
               for a, b in zip(reference, results))
    return diff, same


# --------------------------------------------------------------------------- (a) throughput


def part_throughput(space, args, device: str, modes: list[str]) -> list[dict]:
    sizes = layer_sizes_for(space.n_descriptors, (100, 100, 10))
    config = LearnerConfig(epochs=args.epochs, patience=args.epochs, engine="numba", device="cpu")
    X = np.asarray(space.descriptors, np.float32)
    jobs = tick_jobs(space, args.labs, sizes)
    warm = tick_jobs(space, 2, sizes)[:3]
    n_members = sum(j.n_members for j in jobs)
    rows = []

    def row(engine: str, where: str, seconds: float, results, extra: dict) -> dict:
        steps = member_steps(jobs, results, config.batch_size)
        return {"part": "a", "engine": engine, "device": where, "members": n_members, "epochs": args.epochs,
                "seconds": seconds, "member_steps": steps, "steps_per_s": steps / seconds, **extra}

    train_jobs(warm, X, sizes, dataclasses.replace(config, epochs=1))  # numba cache load
    all_cores = numba.get_num_threads()
    reference = None
    for threads in dict.fromkeys([all_cores, min(2, all_cores)]):
        numba.set_num_threads(threads)
        start = time.perf_counter()
        results = train_jobs(jobs, X, sizes, config)
        seconds = time.perf_counter() - start
        reference = reference or results
        rows.append(row("numba", f"cpu, {threads} threads", seconds, results, {}))
        print(f"(a) numba {threads} threads: {seconds:.2f} s", file=sys.stderr, flush=True)
    numba.set_num_threads(all_cores)
    for mode in modes:
        torch_config = dataclasses.replace(config, engine="torch", device=device)
        try:
            start = time.perf_counter()
            train_jobs_torch(warm, X, sizes, dataclasses.replace(torch_config, epochs=1), device, mode=mode)
            synchronize(device)
            first = time.perf_counter() - start
            reset_peak(device)
            start = time.perf_counter()
            results = train_jobs_torch(jobs, X, sizes, torch_config, device, mode=mode)
            synchronize(device)
            seconds = time.perf_counter() - start
        except Exception as exc:  # a mode this machine cannot run (e.g. no compiler): say so, go on
            rows.append({"part": "a", "engine": f"torch {mode}", "device": device_name(device), "error": repr(exc)[:200]})
            print(f"(a) torch {mode}: FAILED {exc!r}", file=sys.stderr, flush=True)
            continue
        diff, same = agreement(reference, results)
        rows.append(row(f"torch {mode}", device_name(device), seconds, results,
                        {"warm_up_seconds": first, "max_param_diff_vs_numba": diff, "epochs_agree": same,
                         "peak_gpu_gib": peak_gib(device)}))
        print(f"(a) torch {mode}: {seconds:.2f} s (warm-up {first:.1f} s), max |diff| {diff:.1e}", file=sys.stderr,
              flush=True)
    base = rows[0]["steps_per_s"]
    two = rows[1]["steps_per_s"] if len(rows) > 1 and rows[1]["engine"] == "numba" else base
    for r in rows:
        if "steps_per_s" in r:
            r["vs_numba_all_cores"] = r["steps_per_s"] / base
            r["vs_numba_2_threads"] = r["steps_per_s"] / two
    return rows


# --------------------------------------------------------------------------- (b) paper study


def study_scenario(data: Path | None, trials: int, ticks: int, engine: str, device: str):
    from labnet.runs.config.scenario import load_builtin, resolve, validate_scenario

    if data is not None and Path(data).is_file():
        raw = resolve(load_builtin("paper_b2"), data=str(data), trials=trials, ticks=ticks).to_dict()
    else:  # the same study on a synthetic world of the B2 shape: properties P0, P1, P2 for M, Tc, Sp
        raw = load_builtin("paper_b2").to_dict()
        raw["dataset"] = {"kind": "synthetic", "n_candidates": B2_SHAPE[0], "n_descriptors": B2_SHAPE[1],
                          "n_properties": 3, "seed": 0}
        for lab, prop in zip(raw["labs"], ("P0", "P1", "P2")):
            lab["property"] = prop
        raw.update(trials=trials, horizon_ticks=ticks)
    raw["learner"] = {**raw.get("learner", {}), "engine": engine, "device": device}
    return validate_scenario(raw, label="bench_gpu paper study")


def part_study(args, device: str, label: str) -> list[dict]:
    import pandas as pd

    from labnet.runs.execution.runner import run_scenario

    rows = []
    reduced = args.study_trials < 10 or args.study_ticks < 300
    study = (f"{'REDUCED ' if reduced else ''}paper study: {args.study_trials} trials x 3 conditions x "
             f"{args.study_ticks} ticks ({label})")
    reference = None
    for engine, where, lockstep in (("numba", "cpu", False), ("numba", "cpu", True), ("torch", device, True),
                                    ("torch", device, False)):
        scenario = study_scenario(args.data, args.study_trials, args.study_ticks, engine, where)
        reset_peak(device)
        with tempfile.TemporaryDirectory() as out:
            start = time.perf_counter()
            result = run_scenario(scenario, out, progress=False, lockstep=lockstep)
            seconds = time.perf_counter() - start
            steps = pd.read_parquet(result.steps_path).material_index.to_numpy()
        reference = steps if reference is None else reference
        same = int((steps == reference).sum()) if len(steps) == len(reference) else -1
        rows.append({"part": "b", "engine": f"{engine}{' lockstep' if lockstep else ''}",
                     "device": device_name(where) if engine == "torch" else f"cpu, {numba.get_num_threads()} threads",
                     "seconds": seconds, "study": study, "same_materials": f"{same}/{len(reference)} observations",
                     "vs_numba_all_cores": rows[0]["seconds"] / seconds if rows else 1.0,
                     "peak_gpu_gib": peak_gib(device) if engine == "torch" else None})
        print(f"(b) {rows[-1]['engine']}: {seconds:.1f} s", file=sys.stderr, flush=True)
    return rows


# --------------------------------------------------------------------------- (c) Barabasi-Albert tick


def part_ba(args, device: str) -> list[dict]:
    from bench_scale import scale_scenario

    from labnet.runs.config.build import build_space, build_topology
    from labnet.simulation import ExplorationNetwork

    rows = []
    for engine, where in (("numba", "cpu"), ("torch", device)):
        scenario = scale_scenario(args.ba_labs)
        learner = dataclasses.replace(scenario.learner, engine=engine, device=where)
        network = ExplorationNetwork(build_space(scenario), scenario.lab_specs(), build_topology(scenario), learner,
                                     seed=scenario.seed)
        reset_peak(device)
        seconds = []
        for _ in range(args.ba_ticks):
            start = time.perf_counter()
            network.step()
            synchronize(device)
            seconds.append(time.perf_counter() - start)
        rows.append({"part": "c", "engine": engine, "device": device_name(where) if engine == "torch" else
                     f"cpu, {numba.get_num_threads()} threads", "labs": args.ba_labs, "ticks": args.ba_ticks,
                     "seconds_per_tick": float(np.mean(seconds)), "tick_seconds": seconds,
                     "peak_gpu_gib": peak_gib(device) if engine == "torch" else None})
        print(f"(c) {engine}: {np.mean(seconds):.2f} s per tick", file=sys.stderr, flush=True)
    rows[-1]["vs_numba_all_cores"] = rows[0]["seconds_per_tick"] / rows[-1]["seconds_per_tick"]
    return rows


# --------------------------------------------------------------------------- report


def fmt(value, spec: str = "{:.3g}") -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "NO"
    return spec.format(value) if isinstance(value, (int, float)) else str(value)


def table(rows: list[dict]) -> list[str]:
    lines = ["| part | engine | device | seconds | member-steps/s | x numba (all cores) | x numba (2 threads) | "
             "max abs diff vs numba / same materials | epochs agree | peak GPU GiB |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        if "error" in r:
            lines.append(f"| {r['part']} | {r['engine']} | {r['device']} | failed: {r['error']} | | | | | | |")
            continue
        seconds = r.get("seconds", r.get("seconds_per_tick"))
        unit = " per tick" if "seconds_per_tick" in r else ""
        lines.append(
            f"| {r['part']} | {r['engine']} | {r['device']} | {fmt(seconds)}{unit} | {fmt(r.get('steps_per_s'), '{:,.0f}')} | "
            f"{fmt(r.get('vs_numba_all_cores'), '{:.2f}')} | {fmt(r.get('vs_numba_2_threads'), '{:.2f}')} | "
            f"{fmt(r.get('max_param_diff_vs_numba', r.get('same_materials')), '{:.1e}')} | {fmt(r.get('epochs_agree'))} | "
            f"{fmt(r.get('peak_gpu_gib'), '{:.2f}')} |")
    return lines


def machine(device: str, label: str) -> list[str]:
    load = os.getloadavg()
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none reachable"
    return [
        f"- date: {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC; host {platform.node()}",
        f"- CPU cores (os.cpu_count): {os.cpu_count()}; numba {numba.__version__} ({numba.get_num_threads()} threads); "
        f"python {platform.python_version()}; torch {torch.__version__} ({torch.get_num_threads()} threads)",
        f"- GPU: {gpu}; torch engine device: {device}",
        f"- data: {label}",
        f"- load average (1, 5, 15 min) at start: {load[0]:.2f}, {load[1]:.2f}, {load[2]:.2f}",
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"),
                        help="the torch engine's device (default: cuda when present)")
    parser.add_argument("--quick", action="store_true", help="small sizes (a CPU smoke check)")
    parser.add_argument("--labs", type=int, help="(a) labs in the engine call (default 30; quick 3)")
    parser.add_argument("--epochs", type=int, help="(a) epochs (default 100; quick 5)")
    parser.add_argument("--modes", nargs="+", choices=TORCH_MODES,
                        help="(a) torch modes (default: eager compile graph on CUDA, eager on CPU)")
    parser.add_argument("--study-trials", type=int, help="(b) trials (default 2; quick 1)")
    parser.add_argument("--study-ticks", type=int, help="(b) ticks (default 30; quick 4); 0 skips (b)")
    parser.add_argument("--ba-labs", type=int, help="(c) labs (default 1000; quick 20)")
    parser.add_argument("--ba-ticks", type=int, help="(c) ticks timed (default 2; quick 1); 0 skips (c)")
    parser.add_argument("--torch-threads", type=int, help="torch CPU threads (default: torch's own choice)")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="the B2 CSV (default: %(default)s)")
    parser.add_argument("--out", type=Path, help="write bench_gpu.md and bench_gpu.json here")
    args = parser.parse_args(argv)
    quick = args.quick
    if args.torch_threads:
        torch.set_num_threads(args.torch_threads)
    args.labs = args.labs or (3 if quick else 30)
    args.epochs = args.epochs or (5 if quick else 100)
    args.study_trials = args.study_trials or (1 if quick else 2)
    args.study_ticks = args.study_ticks if args.study_ticks is not None else (4 if quick else 30)
    args.ba_labs = args.ba_labs or (20 if quick else 1000)
    args.ba_ticks = args.ba_ticks if args.ba_ticks is not None else (1 if quick else 2)
    device = ("cuda" if torch.cuda.is_available() else "cpu") if args.device == "auto" else args.device
    modes = args.modes or (["eager", "compile", "graph"] if device == "cuda" else ["eager"])

    space, label = load_world(args.data)
    header = machine(device, label)
    print("\n".join(header), file=sys.stderr, flush=True)
    def save(rows: list[dict]) -> None:  # after every part, so a run stopped by its time limit keeps what it measured
        if args.out:
            args.out.mkdir(parents=True, exist_ok=True)
            (args.out / "bench_gpu.json").write_text(json.dumps({"machine": header, "rows": rows}, indent=1,
                                                                default=str), encoding="utf-8")

    rows = part_throughput(space, args, device, modes)
    save(rows)
    if args.study_ticks:
        rows += part_study(args, device, label)
        save(rows)
    if args.ba_ticks:
        rows += part_ba(args, device)
    load = os.getloadavg()
    header.append(f"- load average (1, 5, 15 min) at end: {load[0]:.2f}, {load[1]:.2f}, {load[2]:.2f}")
    notes = [
        f"- (a) one engine call: {args.labs} labs x 3 candidates x 10 members, {args.epochs} epochs, 20-300 "
        f"observations per lab; member-steps = epochs run x minibatches of 8",
    ]
    if args.study_ticks:
        study = next(r["study"] for r in rows if r["part"] == "b")
        notes.append(f"- (b) {study}; 'same materials': observations whose material_index equals the serial numba run's")
    if args.ba_ticks:
        notes.append(f"- (c) {args.ba_labs}-lab Barabasi-Albert network (ba100 scaled), networked condition, "
                     f"first {args.ba_ticks} tick(s) from the initial points")
    text = "\n".join(["# bench_gpu", "", *header, "", *table(rows), "", *notes, ""])
    print(text)
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "bench_gpu.md").write_text(text, encoding="utf-8")
        save(rows)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
