"""A 1,000-lab network's tick in this process and on Ray with 2 local workers, side by side, and a
model of the tick time on 8, 64 and 512 cores built from the measured costs (issue 14 item 2).

Run from the repository root (~10-15 min on 2 cores)::

    nice -n 5 python benchmarks/bench_ray_tick.py                  # prints the tables, writes docs/benchmarks/ray_tick.md
    python benchmarks/bench_ray_tick.py --labs 100 --ticks 2 --out -  # a quick check, prints only

What it does: two identical networks of the built-in ``ba100`` scenario with ``--labs`` labs
(Barabasi-Albert m = 2, edges both ways; synthetic world of 3,000 materials x 16 descriptors;
periods 1, 3, 9; the paper's learner, 100 epochs), one with the in-process executor, one with
the Ray executor on a local Ray instance of 2 CPUs (:mod:`labnet.runs.execution.ray_tick`).
Tick 0 (every lab acts, each worker loads the numba kernel) is the warm-up; then ``--ticks``
ticks, the two networks taking turns tick by tick so that both see the same load on the shared
machine. Per tick: wall time of each, the in-process train and predict times, the Ray phases'
wall times and their shards' busy times (measured inside the workers), the bytes of numpy arrays
sent to and received from the object store. The two networks' tables are compared at the end
(identical, or the script says so).

Definitions (stated here and in the output):

* driver work D = Ray tick - train phase wall - predict phase wall (plan, evaluate/select,
  acquire, measure, publish: what stays on the driver at any core count);
* Ray overhead O = sum over the two phases of (phase wall - longest shard's busy time): dealing,
  pickling, ``ray.put``, scheduling, fetching and unpickling, i.e. driver time that is neither
  the driver's own work nor the critical path of the workers; overhead share = O / Ray tick;
* per-job cost = members x epochs x ceil(n_train / 8) (member-optimizer steps at most), and the
  seconds per unit from the train shards' busy times (sum busy / sum cost).

The projection T(c) = D + O_fixed + t_task x 2 x c + max(J, W_train / c) + max(P, W_pred / c)
+ B x (1 - n_node / c) / bw, with W the single-thread busy seconds of each phase, J the largest
job, P one prediction, t_task the driver's cost of submitting one Ray task (measured here), O_fixed = O minus
the measured per-task part, B the bytes per tick and bw an ASSUMED 1.25 GB/s (10 Gb/s) at the
driver for bytes that leave its node (n_node = 16 cores per node); the single-node shared-memory
transfer is already in O.
"""
from __future__ import annotations

import argparse
import datetime
import logging
import os
import platform
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

DEFAULT_OUT = REPO_ROOT / "docs/benchmarks/ray_tick.md"
SCENARIO = "ba100"
CORES = (8, 64, 512)
CORES_PER_NODE = 16
ASSUMED_BANDWIDTH = 1.25e9  # B/s at the driver's network interface (10 Gb/s), an assumption, not measured


def scenario_with(n_labs: int):
    from labnet.runs.config.scenario import load_builtin, validate_scenario

    data = load_builtin(SCENARIO).to_dict()
    data["labs"]["count"] = n_labs
    return validate_scenario(data, label=f"{SCENARIO} with {n_labs} labs")


def build(n_labs: int, executor=None):
    from labnet.runs.config.build import build_space, build_topology
    from labnet.simulation import ExplorationNetwork

    scenario = scenario_with(n_labs)
    space = build_space(scenario)
    return ExplorationNetwork(space, scenario.lab_specs(), build_topology(scenario), scenario.learner,
                              seed=scenario.seed, executor=executor)


@dataclass
class TimedInProcess:
    """The in-process executor, timing its two phases (seconds of the last tick)."""

    train_s: float = 0.0
    predict_s: float = 0.0
    inner: object = field(default=None)

    def __post_init__(self) -> None:
        from labnet.simulation.tick_executor import InProcessExecutor

        self.inner = InProcessExecutor()

    def train(self, tasks, X, trainer):
        start = time.perf_counter()
        try:
            return self.inner.train(tasks, X, trainer)
        finally:
            self.train_s = time.perf_counter() - start

    def predict(self, predictors, X):
        start = time.perf_counter()
        try:
            return self.inner.predict(predictors, X)
        finally:
            self.predict_s = time.perf_counter() - start


def noop(x):
    return x


def task_costs(ray, n: int = 400) -> tuple[float, float]:
    """(driver seconds to submit one no-op Ray task, seconds per no-op task submitted, run and fetched
    back, pipelined over the workers)."""
    remote = ray.remote(num_cpus=1)(noop)
    ray.get([remote.remote(i) for i in range(20)])  # workers up
    start = time.perf_counter()
    refs = [remote.remote(i) for i in range(n)]
    submitted = time.perf_counter() - start
    ray.get(refs)
    return submitted / n, (time.perf_counter() - start) / n


def put_bandwidth(ray, megabytes: int = 256) -> float:
    """Bytes per second of ``ray.put`` + ``ray.get`` of one float32 array on this node."""
    import numpy as np

    array = np.ones(megabytes * 2**20 // 4, dtype=np.float32)
    start = time.perf_counter()
    ref = ray.put(array)
    ray.get(ref)
    seconds = time.perf_counter() - start
    del ref
    return array.nbytes / seconds


def fmt_bytes(n: float) -> str:
    return f"{n / 2**20:,.1f} MiB"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--labs", type=int, default=1000)
    parser.add_argument("--ticks", type=int, default=3, help="timed ticks after the warm-up tick 0")
    parser.add_argument("--workers", type=int, default=2, help="CPUs of the local Ray instance")
    parser.add_argument("--out", default=str(DEFAULT_OUT), help="markdown file to write ('-': print only)")
    args = parser.parse_args(argv)

    import numpy as np
    import pandas as pd
    import ray

    from labnet.runs.execution.ray_tick import RayTickExecutor, job_cost  # noqa: F401
    from labnet.runs.execution.ray_cluster import local_runtime_env

    began = time.perf_counter()
    # Ray starts its workers 15 nice levels below the driver (RAY_worker_niceness); on a machine
    # shared with other work that would starve them against the in-process network: same level
    os.environ.setdefault("RAY_worker_niceness", "0")
    ray.init(num_cpus=args.workers, include_dashboard=False, logging_level=logging.WARNING,
             runtime_env=local_runtime_env(), object_store_memory=4 * 2**30)
    t_task, t_round_trip = task_costs(ray)
    bandwidth = put_bandwidth(ray)
    ray_executor = RayTickExecutor(ray)
    local_executor = TimedInProcess()
    start = time.perf_counter()
    local = build(args.labs, local_executor)
    remote = build(args.labs, ray_executor)
    build_s = time.perf_counter() - start
    print(f"built two {args.labs}-lab networks in {build_s:.0f} s; no-op Ray task {t_task * 1e3:.2f} ms to submit, {t_round_trip * 1e3:.2f} ms round trip; "
          f"object store put+get {bandwidth / 1e9:.2f} GB/s", file=sys.stderr, flush=True)

    rows = []
    for tick in range(args.ticks + 1):
        row = {"tick": tick}
        for name, network in (("local", local), ("ray", remote)):
            begin = time.perf_counter()
            network.step()
            row[f"{name}_s"] = time.perf_counter() - begin
        row["local_train_s"], row["local_predict_s"] = local_executor.train_s, local_executor.predict_s
        traffic = ray_executor.history[-1]
        row.update(
            jobs=traffic.jobs, predictors=traffic.predictors, shards=len(traffic.train_busy_s),
            train_wall_s=traffic.train_wall_s, train_busy_max_s=max(traffic.train_busy_s, default=0.0),
            train_busy_sum_s=sum(traffic.train_busy_s), predict_wall_s=traffic.predict_wall_s,
            predict_busy_max_s=max(traffic.predict_busy_s, default=0.0), predict_busy_sum_s=sum(traffic.predict_busy_s),
            bytes_sent=traffic.bytes_sent, bytes_received=traffic.bytes_received,
            shared_arrays=traffic.shared_arrays, shared_uses=traffic.shared_uses,
            cost_sum=sum(traffic.job_costs), cost_max=max(traffic.job_costs, default=0),
            costs=traffic.job_costs, shard_costs=traffic.train_shard_costs,
        )
        row["driver_s"] = row["ray_s"] - row["train_wall_s"] - row["predict_wall_s"]
        row["overhead_s"] = (row["train_wall_s"] - row["train_busy_max_s"]) + (row["predict_wall_s"] - row["predict_busy_max_s"])
        row["overhead_share"] = row["overhead_s"] / row["ray_s"]
        rows.append(row)
        print(f"tick {tick}: local {row['local_s']:.1f} s, ray {row['ray_s']:.1f} s, overhead {row['overhead_share']:.1%}, "
              f"{fmt_bytes(row['bytes_sent'] + row['bytes_received'])} moved", file=sys.stderr, flush=True)

    identical = True
    try:
        pd.testing.assert_frame_equal(local.step_table(), remote.step_table())
        pd.testing.assert_frame_equal(local.transfer_table(), remote.transfer_table())
    except AssertionError as exc:
        identical = False
        print(f"TABLES DIFFER: {exc}", file=sys.stderr)
    ray.shutdown()

    timed = rows[1:] or rows
    mean = lambda key: statistics.fmean(r[key] for r in timed)  # noqa: E731
    costs = np.concatenate([np.asarray(r["costs"]) for r in timed])
    rate = sum(r["train_busy_sum_s"] for r in timed) / max(1, sum(r["cost_sum"] for r in timed))  # s per cost unit
    D, O = mean("driver_s"), mean("overhead_s")
    W_t, W_p = mean("train_busy_sum_s"), mean("predict_busy_sum_s")
    J = max(r["cost_max"] for r in timed) * rate
    P = W_p / max(1.0, mean("predictors"))
    B = mean("bytes_sent") + mean("bytes_received")
    shards_measured = mean("shards")
    O_fixed = max(0.0, O - t_task * 2 * shards_measured)

    def project(c: int) -> tuple[float, dict[str, float]]:
        terms = {
            "driver work": D,
            "driver overhead (serialization, put/get)": O_fixed,
            "task scheduling": t_task * 2 * c,
            "training (max(largest job, work / c))": max(J, W_t / c),
            "prediction (max(one model, work / c))": max(P, W_p / c),
            "bytes off the driver's node": B * max(0.0, 1 - CORES_PER_NODE / c) / ASSUMED_BANDWIDTH,
        }
        return sum(terms.values()), terms

    lines = []
    add = lines.append
    add("# Ray tick benchmark: one 1,000-lab network's tick in-process vs on Ray" if args.labs == 1000
        else f"# Ray tick benchmark ({args.labs} labs)")
    add("")
    add(f"`nice -n 5 python benchmarks/bench_ray_tick.py --labs {args.labs} --ticks {args.ticks} --workers {args.workers}`, "
        f"{datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC, {platform.processor() or platform.machine()}, "
        f"{os.cpu_count()} cores (shared with other work; load average at the end: {os.getloadavg()[0]:.2f}), "
        f"Python {platform.python_version()}, Ray {ray.__version__}. Whole script {time.perf_counter() - began:.0f} s.")
    add("")
    add(f"Network: built-in `{SCENARIO}` with {args.labs} labs (Barabási–Albert m = 2, edges both ways; synthetic world of "
        "3,000 materials x 16 descriptors; periods 1, 3, 9 ticks; the paper's learner). Two identical networks stepped "
        "in turns, tick by tick: in this process (numba engine, 2 threads) and on a local Ray instance with "
        f"{args.workers} CPUs (one single-threaded shard per CPU per phase; workers at the driver's nice level, "
        f"RAY_worker_niceness={os.environ.get('RAY_worker_niceness')}). Tick 0 is the warm-up (every lab acts; "
        "each Ray worker loads the kernel) and is shown but left out of the means.")
    add("")
    add(f"Tables of the two networks identical: **{'yes' if identical else 'NO'}**.")
    add("")
    add("| tick | jobs | models predicted | in-process s (train / predict) | Ray s | Ray train wall / busy max / busy sum s "
        "| Ray predict wall / busy max / busy sum s | driver work s | overhead s | overhead share | sent | received "
        "| shared snapshots (uses) |")
    add("|" + " --- |" * 13)
    for r in rows:
        add(f"| {r['tick']}{' (warm-up)' if r['tick'] == 0 else ''} | {r['jobs']:,} | {r['predictors']:,} "
            f"| {r['local_s']:.1f} ({r['local_train_s']:.1f} / {r['local_predict_s']:.1f}) | {r['ray_s']:.1f} "
            f"| {r['train_wall_s']:.1f} / {r['train_busy_max_s']:.1f} / {r['train_busy_sum_s']:.1f} "
            f"| {r['predict_wall_s']:.2f} / {r['predict_busy_max_s']:.2f} / {r['predict_busy_sum_s']:.2f} "
            f"| {r['driver_s']:.1f} | {r['overhead_s']:.2f} | {r['overhead_share']:.1%} | {fmt_bytes(r['bytes_sent'])} "
            f"| {fmt_bytes(r['bytes_received'])} | {r['shared_arrays']:,} ({r['shared_uses']:,}) |")
    add("")
    add(f"Means over ticks 1-{len(rows) - 1}: in-process {mean('local_s'):.1f} s, Ray {mean('ray_s'):.1f} s "
        f"(ratio Ray / in-process {mean('ray_s') / mean('local_s'):.2f}); overhead share {O / mean('ray_s'):.1%} "
        f"(target <= 15 %); bytes moved per tick {fmt_bytes(B)} ({fmt_bytes(mean('bytes_sent'))} sent, "
        f"{fmt_bytes(mean('bytes_received'))} received).")
    add("")
    add("Definitions: driver work = Ray tick - train wall - predict wall (plan, evaluate/select, acquire, measure, "
        "publish). Overhead = (train wall - longest train shard) + (predict wall - longest predict shard): the driver's "
        "time in the two Ray phases that is not the workers' critical path (dealing, pickling, `ray.put`, scheduling, "
        "fetching, unpickling). Bytes: numpy arrays put into and fetched from the object store.")
    add("")
    q = np.percentile(costs, [0, 50, 90, 99, 100])
    add(f"Per-job cost (members x epochs x ceil(n_train / 8)), {costs.size:,} jobs over the timed ticks: min {q[0]:,.0f}, "
        f"median {q[1]:,.0f}, p90 {q[2]:,.0f}, p99 {q[3]:,.0f}, max {q[4]:,.0f}; {rate * 1e6:.2f} µs per unit from the "
        f"train shards' busy times (one thread), so a median job takes {q[1] * rate * 1e3:.0f} ms and the largest "
        f"{q[4] * rate:.2f} s. Shard costs per tick (balance): "
        + "; ".join(f"tick {r['tick']}: " + " / ".join(f"{c:,}" for c in r["shard_costs"]) for r in timed) + ".")
    add("")
    add("## Projection")
    add("")
    add("T(c) = D + O_fixed + t_task x 2c + max(J, W_train / c) + max(P, W_predict / c) + B x max(0, 1 - 16/c) / bw")
    add("")
    add("| constant | value | from |")
    add("| --- | --- | --- |")
    add(f"| D, driver work per tick | {D:.2f} s | measured (mean) |")
    add(f"| O_fixed, driver overhead independent of c | {O_fixed:.2f} s | measured overhead {O:.2f} s minus 2 x {shards_measured:.0f} shards x t_task |")
    add(f"| t_task, the driver's cost of submitting one Ray task | {t_task * 1e3:.2f} ms | 400 no-op tasks, measured "
        f"(submitted, run and fetched: {t_round_trip * 1e3:.2f} ms each on {args.workers} workers) |")
    add(f"| W_train, training work per tick | {W_t:.1f} core-s | sum of train shard busy times (mean) |")
    add(f"| J, largest job | {J:.2f} s | largest cost x {rate * 1e6:.2f} µs |")
    add(f"| W_predict, prediction work per tick | {W_p:.2f} core-s | sum of predict shard busy times (mean) |")
    add(f"| P, one model's prediction | {P * 1e3:.1f} ms | W_predict / models predicted |")
    add(f"| B, bytes per tick | {fmt_bytes(B)} | measured (mean) |")
    add(f"| bw, driver's network | {ASSUMED_BANDWIDTH / 1e9:.2f} GB/s | ASSUMED (10 Gb/s); the local object store did "
        f"{bandwidth / 1e9:.2f} GB/s here |")
    add("")
    add("| cores | predicted tick s | speed-up vs in-process here | largest term (what limits it) | terms (s) |")
    add("| --- | --- | --- | --- | --- |")
    for c in CORES:
        total, terms = project(c)
        limit = max(terms, key=terms.get)
        add(f"| {c} | {total:.1f} | {mean('local_s') / total:.1f}x | {limit} | "
            + ", ".join(f"{name.split(' (')[0]} {value:.2f}" for name, value in terms.items()) + " |")
    add("")
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out != "-":
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(text, encoding="utf-8")
        print(f"wrote {args.out}", file=sys.stderr)
    return 0 if identical else 1


if __name__ == "__main__":
    raise SystemExit(main())
