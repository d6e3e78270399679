"""Cost of durability per tick: streaming the tick's rows and checkpointing the network, against the tick itself.

Run from the repository root::

    python benchmarks/bench_checkpoint.py              # small scenario + B2 paper scenario, ~1-2 min on 2 cores
    python benchmarks/bench_checkpoint.py --quick      # small scenario only, ~15 s
    python benchmarks/bench_checkpoint.py --out docs/benchmarks/checkpoint.md

Scenarios (trial 0, networked condition, the runner's own building blocks):

- small: the scenario of tests/test_resume.py (synthetic 300 x 8, 3 labs every 1/1/2 ticks,
  3-member ensembles, 4 epochs): ticks are cheap, so the relative overhead is the worst case;
- b2: the built-in ``paper_b2`` scenario (B2 16,908 x 39, labs M/Tc/Sp every 1/3/9 ticks, the
  paper's learner: 10 members of (100, 100, 10), 100 epochs) on ``--data`` (default
  ../shared/data/b2/B2_20220520_full.csv), or on ``synthetic_world(16908, 39, 3)`` with the same
  labs renamed when that file is missing.

Per tick: ``network.step()`` (the simulation), ``TickStream.append_new`` (rows to the JSONL
streams), ``save_network`` (atomic pickle of the network, without and with fsync), and
``RunState.save`` (run_state.json). Overhead = (stream + checkpoint + state) / step, medians.
Timings are wall clock on a possibly busy machine: the load average is printed with them.
"""
from __future__ import annotations

import argparse
import datetime
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from labnet.simulation.checkpoint import save_network, space_fingerprint  # noqa: E402
from labnet.runs.config.build import build_space, build_topology, make_conditions  # noqa: E402
from labnet.runs.execution.run_state import RunState  # noqa: E402
from labnet.runs.execution.runner import build_network  # noqa: E402
from labnet.runs.config.scenario import load_builtin, load_scenario, resolve, validate_scenario  # noqa: E402
from labnet.runs.execution.tick_stream import TickStream  # noqa: E402

DEFAULT_B2 = REPO_ROOT.parent / "shared/data/b2/B2_20220520_full.csv"

SMALL = {
    "name": "small",
    "dataset": {"kind": "synthetic", "n_candidates": 300, "n_descriptors": 8, "n_properties": 3,
                "correlation": 0.7, "seed": 1},
    "labs": [
        {"name": "A", "property": "P0", "period_ticks": 1, "initial_points": 6},
        {"name": "B", "property": "P1", "period_ticks": 1, "initial_points": 6},
        {"name": "C", "property": "P2", "period_ticks": 2, "initial_points": 6},
    ],
    "topology": {"kind": "complete"},
    "learner": {"n_members": 3, "epochs": 4, "patience": 4},
    "horizon_ticks": 8,
    "trials": 1,
    "seed": 0,
    "baselines": [],
}


def b2_scenario(data: Path, ticks: int):
    if data.is_file():
        return resolve(load_builtin("paper_b2"), data=data, ticks=ticks, trials=1), f"B2 file {data.name}"
    raw = load_builtin("paper_b2").to_dict()
    raw["dataset"] = {"kind": "synthetic", "n_candidates": 16908, "n_descriptors": 39, "n_properties": 3, "seed": 0}
    for lab, prop in zip(raw["labs"], ("P0", "P1", "P2")):
        lab["property"] = prop
    raw.update(horizon_ticks=ticks, trials=1)
    return validate_scenario(raw), "synthetic_world(16908, 39) (B2 file not found)"


def measure(scenario, ticks: int) -> dict[str, float]:
    """Median seconds per tick of each part, checkpoint size (bytes) at the last tick."""
    space = build_space(scenario)
    condition = make_conditions(scenario, build_topology(scenario))[0]
    network = build_network(scenario, space, condition, scenario.seed)
    fingerprint_clock = time.perf_counter()
    fingerprint = space_fingerprint(space)
    fingerprint_seconds = time.perf_counter() - fingerprint_clock
    parts: dict[str, list[float]] = {"step": [], "stream": [], "checkpoint": [], "checkpoint_fsync": [], "state": []}
    with tempfile.TemporaryDirectory(dir=REPO_ROOT) as folder:  # on the disk runs use, not a tmpfs
        folder = Path(folder)
        state = RunState.new(folder, 1, ["networked"], ticks, 1)
        with TickStream(folder / "s.jsonl", folder / "t.jsonl", network) as stream:
            for _ in range(ticks):
                t0 = time.perf_counter()
                network.step()
                t1 = time.perf_counter()
                stream.append_new(network)
                t2 = time.perf_counter()
                size = save_network(network, folder / "net.pkl", extra={"trial": 0}, fingerprint=fingerprint)
                t3 = time.perf_counter()
                save_network(network, folder / "net_fsync.pkl", extra={"trial": 0}, fingerprint=fingerprint, fsync=True)
                t4 = time.perf_counter()
                state.runs[0].last_tick = network.tick - 1
                state.save()
                t5 = time.perf_counter()
                for name, seconds in zip(parts, (t1 - t0, t2 - t1, t3 - t2, t4 - t3, t5 - t4)):
                    parts[name].append(seconds)
    medians = {name: statistics.median(values) for name, values in parts.items()}
    medians["size"] = size
    medians["fingerprint"] = fingerprint_seconds
    return medians


def row(label: str, m: dict[str, float]) -> str:
    overhead = (m["stream"] + m["checkpoint"] + m["state"]) / m["step"]
    overhead_fsync = (m["stream"] + m["checkpoint_fsync"] + m["state"]) / m["step"]
    return (f"| {label} | {m['step'] * 1e3:.0f} | {m['stream'] * 1e3:.2f} | {m['checkpoint'] * 1e3:.1f} | "
            f"{m['checkpoint_fsync'] * 1e3:.1f} | {m['state'] * 1e3:.2f} | {m['size'] / 1e6:.2f} | "
            f"{overhead:.1%} | {overhead_fsync:.1%} |")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small scenario only")
    parser.add_argument("--ticks", type=int, default=4, help="ticks of the b2 scenario (default 4)")
    parser.add_argument("--data", type=Path, default=DEFAULT_B2, help="B2 CSV (default: %(default)s)")
    parser.add_argument("--out", type=Path, help="also write the table to this markdown file")
    args = parser.parse_args(argv)

    load_start = os.getloadavg()
    lines = [
        "| scenario | step ms | stream ms | checkpoint ms | checkpoint+fsync ms | run_state ms | checkpoint MB "
        "| overhead | overhead with fsync |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    small = load_scenario(SMALL)
    measure(small, 2)  # warm-up: numba cache load, first-call costs
    ticks = SMALL["horizon_ticks"]
    lines.append(row(f"small (synthetic 300 x 8, {ticks} ticks)", measure(small, ticks)))
    print(lines[-1], flush=True)
    if not args.quick:
        scenario, what = b2_scenario(args.data, args.ticks)
        lines.append(row(f"paper_b2 on {what}, {args.ticks} ticks", measure(scenario, args.ticks)))
        print(lines[-1], flush=True)
    load_end = os.getloadavg()
    footer = (f"\nMedians per tick; load average {load_start[0]:.1f} at start, {load_end[0]:.1f} at end, "
              f"{os.cpu_count()} CPUs. Overhead = (stream + checkpoint + run_state) / step.")
    text = "\n".join(lines) + "\n" + footer + "\n"
    print(text)
    if args.out:
        stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
        header = (
            "# Durability benchmark: streaming and checkpointing per tick\n\n"
            f"Written by `python benchmarks/bench_checkpoint.py {' '.join(sys.argv[1:] if argv is None else argv)}` "
            f"on {stamp} (see its docstring for what each column means). Wall-clock medians; the machine "
            "was shared with other jobs, so the absolute times are inflated (the load average is given); "
            "the checkpoint cost scales with its size, the step with the training work.\n\n"
        )
        args.out.write_text(header + text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
