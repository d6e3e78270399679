"""Costs of source-model pools: building one (Lightning), ranking it in a lab step, whole lab steps.

    python benchmarks/bench_pool.py                 # all parts, ~3 min on an idle 2-core machine
    python benchmarks/bench_pool.py --parts rank    # only the ranking cost (~1 min)

Parts (every time is reported as wall-clock and CPU seconds; CPU time, summed over threads, is
the stable number on a shared machine):

* ``build``: seconds per pool model with the default settings (``labnet pool build`` defaults:
  3-6 hidden layers, first width 64-512, at most 100 epochs, patience 10) on the default
  scenario's world (2,000 candidates, 16 descriptors), over ``--build-models`` models.
* ``rank``: one shotgun ranking of a 100-model pool on a lab's data (what a lab does every
  ``pool_every`` actions): ``ridge_probe`` for n = 10, 50, 150 observations and ``transfer_cv``
  (finetune_frozen, paper learner) for n = 10 and 50. The pool has the default architecture
  ranges with untrained (LeCun) weights: the cost does not depend on the weights.
* ``overhead``: CPU seconds per epoch of one pool model (index 0: 6 hidden layers, 349 wide first)
  under ``pl.Trainer`` vs. a plain PyTorch loop doing the same work (same batches, Adam,
  validation each epoch), 10 epochs each.
* ``step``: a whole lab step (plan, train all candidates, select, acquire) of one lab at ~20
  observations with the paper's learner, without a pool and with the 100-model pool (top 1).

Writes docs/benchmarks/pool.json (``--out``) and prints a table.
"""
from __future__ import annotations

import argparse
import json
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from labnet.agents import LabSpec  # noqa: E402
from labnet.environment import Topology, synthetic_world  # noqa: E402
from labnet.simulation import ExplorationNetwork
from labnet.models import LearnerConfig, layer_sizes_for, lecun_normal_params  # noqa: E402
from labnet.models.pool import load_pool, model_file_name, save_model_file, write_manifest  # noqa: E402
from labnet.models.pool_selection import score_sources  # noqa: E402
from labnet.models.pool_training import (  # noqa: E402
    PoolSettings,
    _new_manifest,
    build_pool,
    data_fingerprint,
)


def timed(fn):
    wall, cpu = time.perf_counter(), time.process_time()
    value = fn()
    return value, time.perf_counter() - wall, time.process_time() - cpu


def default_space():
    return synthetic_world(n_candidates=2000, n_descriptors=16, n_properties=3, correlation=0.6, seed=0)


def untrained_pool(folder: Path, space, n_models: int, seed: int = 0) -> Path:
    """A pool in the real format whose models have the default random architectures and LeCun weights."""
    folder.mkdir(parents=True, exist_ok=True)
    settings = PoolSettings("P0", seed=seed)
    y = space.values("P0")
    dataset = {"name": space.name, "n_rows": len(space), "fingerprint": data_fingerprint(space.descriptors, y)}
    manifest = _new_manifest(folder.name, settings, space.descriptor_names, dataset)
    for index in range(n_models):
        rng = np.random.default_rng([seed, index])
        hidden = settings.architecture.draw(rng)
        sizes = layer_sizes_for(space.n_descriptors, hidden)
        save_model_file(folder / model_file_name(index), lecun_normal_params(sizes, 1, rng)[0], sizes,
                        np.zeros(0, np.int64))
        manifest["models"].append({"index": index, "file": model_file_name(index), "hidden_layers": list(hidden),
                                   "layer_sizes": list(sizes), "target_mean": 0.0, "target_std": 1.0,
                                   "validation": {"mse": float("nan"), "r2": float("nan"), "n": 0}})
    write_manifest(folder, manifest)
    return folder


def bench_build(space, n_models: int, workdir: Path) -> dict:
    report, wall, cpu = timed(lambda: build_pool(workdir / "built", space.descriptors, space.values("P0"),
                                                 space.descriptor_names, PoolSettings("P0"), n_models, progress=False))
    pool = load_pool(workdir / "built")
    return {
        "models": n_models,
        "seconds_per_model_wall": float(np.mean(report.seconds)),
        "seconds_per_model_cpu": float(np.mean(report.cpu_seconds)),
        "epochs_run": [int(m.info["epochs_run"]) for m in pool.models],
        "hidden_layers": [list(m.hidden_layers) for m in pool.models],
        "validation_r2": [round(m.validation_r2, 3) for m in pool.models],
        "total_wall": wall,
        "total_cpu": cpu,
    }


def bench_overhead(space, epochs: int = 10) -> dict:
    import torch
    from torch.utils.data import DataLoader, TensorDataset

    from labnet.models.mlp import MLP
    from labnet.models.pool_training import (
        STREAM_BOOTSTRAP,
        STREAM_INIT,
        PoolTraining,
        _quiet_lightning,
        _rng,
        bootstrap_split,
        train_pool_model,
    )

    settings = PoolSettings("P0", training=PoolTraining(epochs=epochs, patience=epochs))
    X, y = space.descriptors, space.values("P0")
    _, _, entry, _ = train_pool_model(X, y, 0, settings)  # warm-up (imports, first Trainer)
    (_, _, entry, _), wall, cpu = timed(lambda: train_pool_model(X, y, 0, settings))
    lightning = cpu / entry["epochs_run"]
    sizes = tuple(entry["layer_sizes"])
    seed = int(np.random.SeedSequence([0, 0, STREAM_BOOTSTRAP]).generate_state(1)[0])
    draw, stop_rows, _ = bootstrap_split(len(space), len(space), np.random.default_rng(seed))
    z = ((y - y[draw].mean()) / y[draw].std()).astype(np.float32)
    net = MLP.from_flat(lecun_normal_params(sizes, 1, _rng(0, 0, STREAM_INIT))[0], sizes)
    X_t, z_t = torch.tensor(X), torch.from_numpy(z)
    loader = DataLoader(TensorDataset(X_t[draw], z_t[draw]), batch_size=64, shuffle=True,
                        generator=torch.Generator().manual_seed(0))
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-3)

    def plain_loop():
        for _ in range(epochs):
            for xb, yb in loader:
                optimizer.zero_grad()
                loss = torch.nn.functional.mse_loss(net(xb), yb) + 1e-5 * sum((k**2).sum() for k in net.kernels)
                loss.backward()
                optimizer.step()
            with torch.no_grad():
                torch.nn.functional.mse_loss(net(X_t[stop_rows]), z_t[stop_rows])

    with _quiet_lightning():  # the same single torch thread as the Lightning build
        _, _, plain_cpu = timed(plain_loop)
    plain = plain_cpu / epochs
    print(f"  overhead: {lightning:.3f} s CPU/epoch under pl.Trainer, {plain:.3f} plain", file=sys.stderr)
    return {"epochs": epochs, "hidden_layers": list(sizes[1:-1]), "lightning_cpu_s_per_epoch": lightning,
            "plain_cpu_s_per_epoch": plain, "ratio": lightning / plain}


def bench_rank(space, pool, repeats: int) -> list[dict]:
    sources = pool.sources()
    learner = LearnerConfig()
    rows_all = np.random.default_rng(0).permutation(len(space))
    out = []
    cases = [("ridge_probe", 10), ("ridge_probe", 50), ("ridge_probe", 150), ("transfer_cv", 10), ("transfer_cv", 50)]
    for scoring, n_obs in cases:
        n_train = n_obs - max(1, int(np.ceil(0.2 * n_obs)))  # the lab ranks on its training part
        rows = rows_all[:n_train]
        y = space.values("P0")[rows]
        y = ((y - y.mean()) / y.std()).astype(np.float32)
        times = []
        for r in range(repeats if scoring == "ridge_probe" else 1):
            _, wall, cpu = timed(lambda: score_sources(sources, space.descriptors, rows, y, "finetune_frozen", learner,
                                                       scoring=scoring, n_folds=5, rng=np.random.default_rng(r)))
            times.append((wall, cpu))
        wall, cpu = np.median(np.array(times), axis=0)
        out.append({"scoring": scoring, "n_obs": n_obs, "n_train": n_train, "pool_models": len(sources),
                    "wall_s": float(wall), "cpu_s": float(cpu)})
        print(f"  rank {scoring:12s} n_obs={n_obs:4d}: {wall:7.3f} s wall {cpu:7.3f} s CPU", file=sys.stderr)
    return out


def bench_step(space, pool_dir: Path | None, ticks: int) -> dict:
    pools = (str(pool_dir),) if pool_dir else ()
    lab = LabSpec("A", "P1", initial_points=20, pools=pools, pool_top_k=1)
    net = ExplorationNetwork(space, [lab], Topology.isolated(["A"]), LearnerConfig(), seed=0)
    times = [timed(net.step)[1:] for _ in range(ticks)]
    wall, cpu = np.median(np.array(times), axis=0)
    return {"pool_models": len(net.pools[pools[0]]) if pools else 0, "ticks": ticks, "wall_s_per_step": float(wall),
            "cpu_s_per_step": float(cpu), "bpm_sources": net.step_table().bpm_source.tolist()[-ticks:]}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parts = ["build", "overhead", "rank", "step"]
    parser.add_argument("--parts", nargs="+", default=parts, choices=parts)
    parser.add_argument("--build-models", type=int, default=3)
    parser.add_argument("--pool-models", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--ticks", type=int, default=3)
    parser.add_argument("--out", default=str(REPO_ROOT / "docs/benchmarks/pool.json"))
    args = parser.parse_args(argv)
    space = default_space()
    results: dict = {"machine": {"python": platform.python_version(), "cpus": __import__("os").cpu_count()},
                     "note": "CPU seconds are summed over threads; wall seconds depend on other load"}
    workdir = Path(tempfile.mkdtemp(prefix="bench_pool_"))
    try:
        if "build" in args.parts:
            print(f"build: {args.build_models} models with the default settings ...", file=sys.stderr)
            results["build"] = bench_build(space, args.build_models, workdir)
            print(f"  {results['build']['seconds_per_model_cpu']:.1f} s CPU per model", file=sys.stderr)
        if "overhead" in args.parts:
            results["overhead"] = bench_overhead(space)
        if {"rank", "step"} & set(args.parts):
            pool_dir = untrained_pool(workdir / "pool100", space, args.pool_models)
            if "rank" in args.parts:
                print(f"rank: {args.pool_models}-model pool ...", file=sys.stderr)
                results["rank"] = bench_rank(space, load_pool(pool_dir), args.repeats)
            if "step" in args.parts:
                print("step: one lab, paper learner, with and without the pool ...", file=sys.stderr)
                bench_step(space, None, 1)  # warm-up: numba compile/cache load
                results["step"] = [bench_step(space, None, args.ticks), bench_step(space, pool_dir, args.ticks)]
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(results, indent=1) + "\n")
    print(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
