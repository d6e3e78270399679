"""Benchmark (c): one full networked trial of the paper's B2 study, engine vs projected reference.

Run:  python benchmarks/bench_paper_trial.py [--data PATH] [--ticks 300] [--seed 0]

What it measures, in one run on this machine:
1. the wall time and peak RSS of one networked trial of ``runs/scenarios/paper_b2.yaml``
   (labs M, Tc, Sp at periods 1, 3, 9; 300 ticks; complete topology; paper hyperparameters),
   trained by the batched engine;
2. the number of member-optimizer-steps that trial performed (counted from its step table:
   every candidate of every action trains 10 members for 100 epochs of ceil(n_train / 8) steps);
3. the faithful per-member PyTorch reference's cost per member-optimizer-step, measured here on
   a from-scratch member and a transferred member at 80 training points, and the reference's
   projected time for the same trial = steps x that cost.
The ratio of (3) to (1) is the speed-up of the engine on the whole study.
"""
from __future__ import annotations

import argparse
import json
import math
import platform
import resource
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from labnet.environment import Topology, load_b2  # noqa: E402
from labnet.simulation import ExplorationNetwork
from labnet.models import LearnerConfig, TrainJob, layer_sizes_for, lecun_normal_params  # noqa: E402
from labnet.models.reference import train_jobs_reference  # noqa: E402
from labnet.runs.config.scenario import load_builtin  # noqa: E402

DEFAULT_DATA = ROOT.parent / "shared/data/b2/B2_20220520_full.csv"


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def action_member_steps(n_obs: int, n_candidates: int, learner: LearnerConfig) -> tuple[int, int]:
    """(members trained, member-optimizer-steps) of the action that made observation ``n_obs``."""
    n_before = n_obs - 1  # the action trained on the data before its own measurement
    n_train = n_before - max(1, math.ceil(learner.validation_fraction * n_before))
    members = n_candidates * learner.n_members
    return members, members * learner.epochs * math.ceil(n_train / learner.batch_size)


def member_steps(steps, learner: LearnerConfig) -> int:
    """Member-optimizer-steps of a trial, from its step table (one row per observation)."""
    acts = steps[steps.phase == "acquisition"]
    return sum(action_member_steps(n, c, learner)[1] for n, c in zip(acts.n_obs, acts.n_candidates))


def reference_cost_per_step(space, learner: LearnerConfig, epochs: int = 10) -> float:
    """Seconds per member-optimizer-step of the reference: mean of a scratch and a transferred member."""
    rng = np.random.default_rng(0)
    sizes = layer_sizes_for(space.n_descriptors, learner.hidden_layers)
    rows = rng.choice(len(space), 100, replace=False)
    y = space.values("M")[rows].astype(np.float32)
    y = (y - y.mean()) / y.std()
    config = LearnerConfig(epochs=epochs, patience=epochs)
    costs = []
    for frozen in (0, learner.frozen_layers):
        job = TrainJob(lecun_normal_params(sizes, 1, rng), rows[20:], y[20:], rows[:20], y[:20],
                       np.array([1], np.uint64), frozen)
        start = time.perf_counter()
        train_jobs_reference([job], space.descriptors, sizes, config)
        costs.append((time.perf_counter() - start) / (epochs * math.ceil(80 / learner.batch_size)))
    return float(np.mean(costs))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--ticks", type=int, default=300)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if not args.data.exists():
        print(f"B2 file not found: {args.data} (pass --data PATH)", file=sys.stderr)
        return 2
    scenario = load_builtin("paper_b2")
    learner = scenario.learner
    space = load_b2(args.data)
    labs = scenario.lab_specs()
    names = [lab.name for lab in labs]
    network = ExplorationNetwork(space, labs, Topology.complete(names), learner, seed=args.seed)
    network.step()  # first tick outside the timing: numba JIT (cached after the first run ever)
    start = time.perf_counter()
    last = start
    while network.tick < args.ticks:
        network.step()
        if network.tick % 50 == 0:
            now = time.perf_counter()
            print(f"  tick {network.tick:4d}: {now - last:6.1f} s for the last 50 ticks", flush=True)
            last = now
    engine_s = time.perf_counter() - start
    steps = network.step_table()
    n_steps = member_steps(steps, learner)
    ref_step_s = reference_cost_per_step(space, learner)
    projected = n_steps * ref_step_s
    rows = [
        ("ticks", f"{args.ticks} (tick 0 excluded from timing: JIT warm-up)"),
        ("member-optimizer-steps", f"{n_steps:,}"),
        ("engine wall time", f"{engine_s:.1f} s ({engine_s / 60:.2f} min)  target <= 5 min"),
        ("reference cost per member-step", f"{ref_step_s * 1e3:.3f} ms (measured here, 10 epochs at 80 points)"),
        ("reference projected", f"{projected:.0f} s ({projected / 3600:.1f} h)"),
        ("speed-up (projected ref / engine)", f"{projected / engine_s:.0f}x"),
        ("peak RSS", f"{peak_rss_mb():.0f} MB"),
        ("transfers built / selected", f"{len(network.transfer_table())} / {int(network.transfer_table().selected.sum())}"),
    ]
    width = max(len(k) for k, _ in rows)
    print(f"\nOne networked paper_b2 trial on {platform.processor() or platform.machine()}, seed {args.seed}")
    for key, value in rows:
        print(f"{key:<{width}}  {value}")
    out = ROOT / "docs/benchmarks/paper_trial.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({k: v for k, v in rows}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
