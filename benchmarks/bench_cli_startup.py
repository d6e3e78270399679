"""Start-up time of the ``labnet`` command: wall time of ``labnet --help`` and what it imports.

Run from anywhere::

    python benchmarks/bench_cli_startup.py             # 5 runs of `python -m labnet.runs --help`
    python benchmarks/bench_cli_startup.py --runs 10 --args "run --help"

Each run is a fresh interpreter (``python -m labnet.runs ARGS``, this checkout first on
``PYTHONPATH``), timed from the parent with ``time.perf_counter``, so the figure includes the
interpreter's own start (about 0.02-0.05 s). Then one more run under ``python -X importtime``
lists the slowest imports (cumulative microseconds) and whether torch, numba, mesa, pandas or
scipy were imported at all.
"""
from __future__ import annotations

import argparse
import os
import shlex
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("torch", "numba", "mesa", "pandas", "scipy", "matplotlib", "pydantic")


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO_ROOT), *filter(None, [env.get("PYTHONPATH")])])
    return env


def wall_seconds(args: list[str], runs: int) -> list[float]:
    """Wall time of each of ``runs`` fresh ``python -m labnet.runs ARGS`` processes, s."""
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "labnet.runs", *args], env=_env(), stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL, check=False, timeout=120)
        times.append(time.perf_counter() - start)
    return times


def import_profile(args: list[str]) -> list[tuple[int, str]]:
    """(cumulative microseconds, module) of every top-level import of one run, slowest first."""
    done = subprocess.run([sys.executable, "-X", "importtime", "-m", "labnet.runs", *args], env=_env(),
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, check=False, timeout=120)
    rows = []
    for line in done.stderr.splitlines():
        if not line.startswith("import time:") or "cumulative" in line:
            continue
        _, cumulative, name = (part.strip() for part in line[len("import time:"):].split("|"))
        rows.append((int(cumulative), name))
    return sorted(rows, reverse=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="fresh processes to time (default: %(default)s)")
    parser.add_argument("--args", default="--help", help="arguments of labnet (default: %(default)r)")
    options = parser.parse_args()
    args = shlex.split(options.args)
    times = wall_seconds(args, options.runs)
    print(f"labnet {options.args}: {options.runs} runs, wall s: " + ", ".join(f"{t:.2f}" for t in times)
          + f"; median {statistics.median(times):.2f} s, min {min(times):.2f} s")
    profile = import_profile(args)
    imported = {name.strip() for _, name in profile}
    print("heavy packages imported: " + (", ".join(p for p in HEAVY if p in imported) or "none"))
    print("slowest imports (cumulative ms):")
    for cumulative, name in profile[:8]:
        print(f"  {cumulative / 1000:8.1f}  {name}")


if __name__ == "__main__":
    main()
