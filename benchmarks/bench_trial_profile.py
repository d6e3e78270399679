"""Where a paper trial's time goes, and the ensemble prediction before and after issue 14 item 4, in ONE run.

Run:  python benchmarks/bench_trial_profile.py [--data PATH] [--ticks 300] [--seed 0] [--out FILE]

Part 1, prediction: one lab's ensemble prediction over every material of the B2 space (16,908
rows x 39 descriptors, 10 members of 39-100-100-10-1: what a lab computes at every action for the
UCB acquisition and the generalization error), today's :func:`labnet.models.mlp.predict_ensemble`
beside the frozen baseline (``benchmarks/baseline_prediction.py``), calls alternating, median of
repeats; the largest difference between the two.

Part 2, one networked trial of ``paper_b2`` (labs M, Tc, Sp at periods 1, 3, 9; complete
topology) through the durable runner (streams and a checkpoint every tick, as ``labnet run``
does), its wall time split by timers around: training (the network's engine calls), prediction
(every :meth:`EnsemblePredictor.predict`), checkpoint writes, tick streaming, and the rest
(planning, validation scoring, acquisition, logging, the final tables and figures). The trial
runs twice, with the baseline prediction and with today's, so the two shares are measured on
the same machine in the same run; the two runs' chosen materials are compared.

Without the B2 file the benchmark says so and exits 2.
"""
from __future__ import annotations

import argparse
import contextlib
import os
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from baseline_prediction import baseline_predict_ensemble  # noqa: E402

import labnet.models.mlp as mlp  # noqa: E402
import labnet.models.predictor as predictor  # noqa: E402
import labnet.runs.execution.runner as runner  # noqa: E402
import labnet.runs.execution.tick_stream as tick_stream  # noqa: E402
import labnet.simulation.checkpoint as checkpoint  # noqa: E402
import labnet.simulation.network as network  # noqa: E402
from labnet.environment import load_b2  # noqa: E402
from labnet.runs.config.scenario import load_builtin, resolve  # noqa: E402

DEFAULT_DATA = ROOT.parent / "shared/data/b2/B2_20220520_full.csv"


def load_average() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def time_prediction(X: np.ndarray, repeats: int) -> list[tuple[str, str]]:
    sizes = mlp.layer_sizes_for(X.shape[1], (100, 100, 10))
    params = mlp.lecun_normal_params(sizes, 10, np.random.default_rng(0))
    implementations = {"baseline (torch addmm/baddbmm/SELU)": baseline_predict_ensemble,
                       "today (gather-sum, OpenBLAS, vector SELU)": mlp.predict_ensemble}
    outputs = {name: f(params, sizes, X) for name, f in implementations.items()}  # warm-up (JIT)
    times: dict[str, list[float]] = defaultdict(list)
    for _ in range(repeats):
        for name, f in implementations.items():
            start = time.perf_counter()
            f(params, sizes, X)
            times[name].append(time.perf_counter() - start)
    base, new = (float(np.median(times[name])) for name in implementations)
    flops = 2 * X.shape[0] * 10 * sum(a * b for a, b in zip(sizes[:-1], sizes[1:]))
    rows = [(f"{name}: ms per prediction", f"{float(np.median(t)) * 1e3:.1f} (median of {repeats}; "
             f"{flops / float(np.median(t)) / 1e9:.0f} dense-equivalent GFLOP/s)") for name, t in times.items()]
    diff = float(np.abs(outputs[list(implementations)[0]] - outputs[list(implementations)[1]]).max())
    rows += [("prediction speed-up", f"{base / new:.2f}x"), ("largest difference of the two", f"{diff:.2e}")]
    return rows


def timed(owner: object, attribute: str, totals: dict[str, float], key: str) -> contextlib.AbstractContextManager:
    """While active, the time spent in ``owner.attribute`` (a function or method) adds to ``totals[key]``."""
    original = getattr(owner, attribute)

    def wrapper(*args, **kwargs):
        start = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            totals[key] += time.perf_counter() - start

    return _patched(owner, attribute, wrapper)


def profile_trial(scenario, prediction: Callable, out_dir: Path) -> tuple[dict[str, float], pd.DataFrame]:
    """Wall time of one durable run of ``scenario`` split into parts (s), and its step table."""
    totals: dict[str, float] = defaultdict(float)
    with contextlib.ExitStack() as stack:
        stack.enter_context(timed(network.ExplorationNetwork, "train", totals, "training (engine calls)"))
        stack.enter_context(timed(predictor.EnsemblePredictor, "predict", totals, "prediction over every material"))
        stack.enter_context(timed(checkpoint, "save_network", totals, "checkpoint writes"))
        stack.enter_context(timed(tick_stream.TickStream, "append_new", totals, "tick streaming"))
        stack.enter_context(_patched(predictor, "predict_ensemble", prediction))
        start = time.perf_counter()
        result = runner.run_scenario(scenario, out_dir, progress=False)
        totals["total"] = time.perf_counter() - start
    totals["rest (planning, scoring, acquisition, logging, tables, figures)"] = totals["total"] - sum(
        v for k, v in totals.items() if k != "total")
    return dict(totals), pd.read_parquet(Path(result.run_dir) / "steps.parquet")


@contextlib.contextmanager
def _patched(module: object, name: str, value: object) -> Iterator[None]:
    original = getattr(module, name)
    setattr(module, name, value)
    try:
        yield
    finally:
        setattr(module, name, original)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--ticks", type=int, default=300)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeats", type=int, default=15, help="prediction repeats per implementation")
    parser.add_argument("--out", type=Path, help="also write the table (markdown) to this file")
    args = parser.parse_args(argv)
    if not args.data.exists():
        print(f"B2 file not found: {args.data} (pass --data PATH)", file=sys.stderr)
        return 2
    lines = [f"load average at start: {load_average()}", ""]
    space = load_b2(args.data)
    lines += ["## Part 1: one ensemble prediction over every B2 material", "", "| | |", "|---|---|"]
    lines += [f"| {k} | {v} |" for k, v in time_prediction(space.descriptors, args.repeats)]

    scenario = resolve(load_builtin("paper_b2"), data=args.data, trials=1, ticks=args.ticks, seed=args.seed)
    scenario = scenario.model_copy(update={"baselines": []})  # the networked condition only
    parts, steps = {}, {}
    with tempfile.TemporaryDirectory() as tmp:
        runner._compile_training_kernel(progress=False)
        for label, prediction in (("baseline prediction", baseline_predict_ensemble), ("today", mlp.predict_ensemble)):
            parts[label], steps[label] = profile_trial(scenario, prediction, Path(tmp) / label.replace(" ", "_"))
    same = steps["baseline prediction"].material_index.equals(steps["today"].material_index)
    lines += ["", f"## Part 2: one networked paper_b2 trial, {args.ticks} ticks, seed {args.seed} "
              "(durable runner: streams and a checkpoint every tick)", "",
              "| part | " + " | ".join(f"{label}: s (share)" for label in parts) + " |",
              "|---|" + "---|" * len(parts)]
    for key in parts["today"]:
        lines.append(f"| {key} | " + " | ".join(
            f"{p[key]:.1f} ({p[key] / p['total']:.0%})" for p in parts.values()) + " |")
    not_training = {label: 1 - p["training (engine calls)"] / p["total"] for label, p in parts.items()}
    lines += ["", "not training, share of the trial: " + ", ".join(f"{k} {v:.0%}" for k, v in not_training.items())
              + " (target <= 15 %)",
              f"trial speed-up: {parts['baseline prediction']['total'] / parts['today']['total']:.2f}x; "
              f"same materials chosen by both: {same}",
              "", f"load average at end: {load_average()}"]
    text = "\n".join(lines)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
