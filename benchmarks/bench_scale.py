"""Scale of whole networks: a 100-lab Barabasi-Albert study, and the per-tick cost vs network size.

Run from anywhere::

    python benchmarks/bench_scale.py                # both parts; writes docs/benchmarks/scale.md (~15-20 min on 2 cores)
    python benchmarks/bench_scale.py --quick        # smoke check (< 2 min): small sizes, few ticks, prints only
    python benchmarks/bench_scale.py --part sizes   # only the per-tick table

Every network size runs in its own fresh Python process, so each one's peak resident memory
(``ru_maxrss`` of that process) is its own. Each process first warms the engine up (numba cache
load) on a tiny job, then times every tick of the network with ``time.perf_counter``.

Part 1 (target: <= 15 min wall, <= 4 GB peak): the built-in scenario ``ba100``
(``runs/scenarios/ba100.yaml``; ``labnet run ba100`` runs the same thing): 100 labs on a
Barabasi-Albert graph (m = 2, undirected: edges both ways), six properties of a synthetic world
(3,000 candidates, 16 descriptors), the properties taken in turn and periods drawn from
1, 3, 9 ticks, 10 initial points, 100 ticks, the paper's learner; the networked condition.

Part 2: the same scenario with 10, 30, 100, 300 and 1,000 labs over a short horizon (default
4 ticks: tick 0, where every lab acts with only its own model, and ticks 1-3, where the
period-1 labs act with every neighbour's model). Per size: mean seconds per tick, acting labs
and members trained per tick, member-optimizer-steps per second, and peak memory.
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from bench_engine import tiny_engine_call_seconds  # noqa: E402  (benchmarks/ is on sys.path)
from bench_paper_trial import action_member_steps  # noqa: E402

from labnet.models import layer_sizes_for  # noqa: E402

DEFAULT_OUT = REPO_ROOT / "docs/benchmarks/scale.md"
SCENARIO = "ba100"
BIG_LABS, BIG_TICKS = 100, 100
SIZES = (10, 30, 100, 300, 1000)


def scale_scenario(n_labs: int):
    """The built-in ``ba100`` scenario with ``n_labs`` generated labs (everything else unchanged)."""
    from labnet.runs.config.scenario import load_builtin, validate_scenario

    data = load_builtin(SCENARIO).to_dict()
    data["labs"]["count"] = n_labs
    return validate_scenario(data, label=f"{SCENARIO} with {n_labs} labs")


def build_network(n_labs: int):
    """The benchmark network: :func:`scale_scenario`'s first trial, networked condition."""
    from labnet.simulation import ExplorationNetwork
    from labnet.runs.config.build import build_space, build_topology

    scenario = scale_scenario(n_labs)
    topology = build_topology(scenario)
    network = ExplorationNetwork(build_space(scenario), scenario.lab_specs(), topology, scenario.learner,
                                 seed=scenario.seed)
    return network, topology


def work_per_tick(network, ticks: int) -> tuple[list[int], list[int], list[int]]:
    """Per tick: (acting labs, members trained, member-optimizer-steps), from the step table."""
    steps = network.step_table()
    acts = steps[steps.phase == "acquisition"]
    acting, members, total = [0] * ticks, [0] * ticks, [0] * ticks
    for tick, n_obs, n_candidates in zip(acts.tick, acts.n_obs, acts.n_candidates):
        m, s = action_member_steps(n_obs, n_candidates, network.learner)
        acting[tick] += 1
        members[tick] += m
        total[tick] += s
    return acting, members, total


def measure(n_labs: int, ticks: int, progress: bool) -> dict:
    """Build and run one network in this process, timing every tick."""
    warm = tiny_engine_call_seconds(layer_sizes_for(16, (100, 100, 10)))  # numba cache load, torch start
    start = time.perf_counter()
    network, topology = build_network(n_labs)
    build_seconds = time.perf_counter() - start
    tick_seconds = []
    for tick in range(ticks):
        begin = time.perf_counter()
        network.step()
        tick_seconds.append(time.perf_counter() - begin)
        if progress:
            elapsed = sum(tick_seconds)
            print(f"  {n_labs} labs: tick {tick + 1}/{ticks} {tick_seconds[-1]:.2f} s "
                  f"(elapsed {elapsed / 60:.1f} min, eta {elapsed / (tick + 1) * (ticks - tick - 1) / 60:.1f} min)",
                  file=sys.stderr, flush=True)
    acting, members, steps = work_per_tick(network, ticks)
    in_degrees = [topology.in_degree(name) for name in topology.names]
    transfers = network.transfer_table()
    return {
        "n_labs": n_labs,
        "ticks": ticks,
        "edges": len(topology.edges()),
        "max_in_degree": max(in_degrees),
        "mean_in_degree": sum(in_degrees) / len(in_degrees),
        "warm_up_seconds": warm,
        "build_seconds": build_seconds,
        "tick_seconds": tick_seconds,
        "acting_labs": acting,
        "members": members,
        "member_steps": steps,
        "transfers_built": int(len(transfers)),
        "transfers_selected": int(transfers["selected"].sum()) if len(transfers) else 0,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,
    }


def measure_in_subprocess(n_labs: int, ticks: int, progress: bool) -> dict:
    """:func:`measure` in a fresh interpreter (its own peak memory); the child's JSON on stdout."""
    command = [sys.executable, str(Path(__file__).resolve()), "--one", str(n_labs), "--ticks", str(ticks)]
    if not progress:
        command.append("--no-progress")
    done = subprocess.run(command, stdout=subprocess.PIPE, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"the {n_labs}-lab run failed (exit {done.returncode}); its stderr is above")
    return json.loads(done.stdout.strip().splitlines()[-1])


def machine() -> list[str]:
    import numba
    import torch

    load = os.getloadavg()
    return [
        f"- date: {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC",
        f"- cores (os.cpu_count): {os.cpu_count()}; python {platform.python_version()}; torch {torch.__version__}; "
        f"numba {numba.__version__} ({numba.config.NUMBA_NUM_THREADS} threads)",
        f"- load average at start (1, 5, 15 min): {load[0]:.2f}, {load[1]:.2f}, {load[2]:.2f}",
    ]


def big_table(result: dict) -> list[str]:
    wall = sum(result["tick_seconds"])
    total = wall + result["build_seconds"]
    slowest = max(result["tick_seconds"])
    rows = [
        ("labs, edges (directed), mean / max in-degree",
         f"{result['n_labs']}, {result['edges']}, {result['mean_in_degree']:.1f} / {result['max_in_degree']}", ""),
        ("ticks", f"{result['ticks']}", ""),
        ("wall time: build + all ticks", f"{total:.0f} s ({total / 60:.1f} min)", "<= 15 min"),
        ("mean / slowest tick", f"{wall / result['ticks']:.2f} s / {slowest:.2f} s", ""),
        ("peak resident memory", f"{result['peak_rss_mb']:.0f} MB", "<= 4 GB"),
        ("lab actions (acquisitions)", f"{sum(result['acting_labs']):,}", ""),
        ("members trained", f"{sum(result['members']):,}", ""),
        ("member-optimizer-steps", f"{sum(result['member_steps']):,}", ""),
        ("member-optimizer-steps per second", f"{sum(result['member_steps']) / wall:,.0f}", ""),
        ("transferred models built / chosen as BPM",
         f"{result['transfers_built']:,} / {result['transfers_selected']:,}", ""),
    ]
    lines = ["| measurement | value | target |", "| --- | --- | --- |"]
    lines += [f"| {a} | {b} | {c} |" for a, b, c in rows]
    return lines


def sizes_table(results: list[dict]) -> list[str]:
    lines = [
        "| labs | edges | max in-degree | mean s/tick | tick 0 s | ticks 1+ mean s | acting labs/tick "
        "| members/tick | member-steps/s | s/tick per lab | peak RSS MB | growth of s/tick vs previous size |",
        "| " + " | ".join(["---"] * 12) + " |",
    ]
    previous = None
    for r in results:
        t = r["tick_seconds"]
        mean = sum(t) / len(t)
        later = t[1:] or t
        growth = "" if previous is None else f"{mean / previous[1]:.1f}x for {r['n_labs'] / previous[0]:.1f}x labs"
        lines.append(
            f"| {r['n_labs']} | {r['edges']} | {r['max_in_degree']} | {mean:.2f} | {t[0]:.2f} | "
            f"{sum(later) / len(later):.2f} | {sum(r['acting_labs']) / len(t):.0f} | {sum(r['members']) / len(t):,.0f} | "
            f"{sum(r['member_steps']) / sum(t):,.0f} | {mean / r['n_labs'] * 1000:.1f} ms | {r['peak_rss_mb']:.0f} | {growth} |"
        )
        previous = (r["n_labs"], mean)
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--part", choices=("all", "big", "sizes"), default="all")
    parser.add_argument("--quick", action="store_true", help="smoke check: 30 labs x 5 ticks, sizes 10/30/100 x 2 ticks")
    parser.add_argument("--size-ticks", type=int, default=4, metavar="T", help="ticks per size in part 2 (default 4)")
    parser.add_argument("--out", type=Path, help=f"Markdown output (default {DEFAULT_OUT.relative_to(REPO_ROOT)} "
                        "for a full run; none for --quick)")
    parser.add_argument("--no-progress", action="store_true")
    parser.add_argument("--one", type=int, metavar="N", help=argparse.SUPPRESS)  # child process: one size
    parser.add_argument("--ticks", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    progress = not args.no_progress

    if args.one is not None:
        print(json.dumps(measure(args.one, args.ticks, progress)))
        return 0

    big_labs, big_ticks = (30, 5) if args.quick else (BIG_LABS, BIG_TICKS)
    sizes, size_ticks = ((10, 30, 100), 2) if args.quick else (SIZES, args.size_ticks)
    out = args.out if args.out is not None else (None if args.quick else DEFAULT_OUT)
    started = time.perf_counter()
    lines = ["# Scale benchmark", "",
             f"Written by `python benchmarks/bench_scale.py{' --quick' if args.quick else ''}` "
             "(see its docstring); every size runs in its own process.", "", "## Machine", "", *machine()]
    if args.part in ("all", "big"):
        print(f"part 1: {big_labs} labs, Barabasi-Albert m=2, {big_ticks} ticks", file=sys.stderr)
        big = measure_in_subprocess(big_labs, big_ticks, progress)
        lines += ["", f"## Part 1: {big_labs}-lab Barabasi-Albert network, {big_ticks} ticks", "", *big_table(big)]
        print("\n".join(big_table(big)))
    if args.part in ("all", "sizes"):
        results = []
        for n in sizes:
            print(f"part 2: {n} labs, {size_ticks} ticks", file=sys.stderr)
            results.append(measure_in_subprocess(n, size_ticks, progress))
        table = sizes_table(results)
        lines += ["", f"## Part 2: per-tick cost vs number of labs ({size_ticks} ticks each)", "",
                  "Tick 0: every lab acts once with only its own from-scratch ensemble. Later ticks: the "
                  "period-1 labs act, each training one from-scratch ensemble plus one transferred ensemble "
                  "per in-neighbour, so the cost grows with the number of edges (BA: ~4 in-neighbours per lab, "
                  "hubs far more).", "", *table]
        print("\n".join(table))
    load = os.getloadavg()
    lines += ["", f"Whole script: {time.perf_counter() - started:.0f} s; load average at end (1 min): {load[0]:.2f}."]
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text("\n".join(lines) + "\n", encoding="utf-8")
        print(f"wrote {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
