"""Re-read a finished topology sweep with the current statistics: its tidy table in, the
comparison and the ranking out (no simulation; seconds).

    python examples/rank_topologies.py docs/sweeps/topology_comparison/sweep_results.csv [--precision OBS]

Writes ``topology_comparison.{csv,png}`` and ``topology_ranking.{csv,md,png}`` beside the table
(:func:`labnet.runs.execution.sweep.write_topology_comparison`) and prints the ranking.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

from labnet.runs.execution.sweep import write_topology_comparison


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("table", type=Path, help="a sweep's sweep_results.csv")
    parser.add_argument("--precision", type=float, default=None, metavar="OBS",
                        help="a pair whose simultaneous interval is at most +-OBS wide counts as no difference")
    args = parser.parse_args()
    table = pd.read_csv(args.table, keep_default_na=False, na_values={"n_obs_to_threshold": [""]})
    table["reached"] = table["reached"].astype(str).str.lower() == "true"
    written, ranking = write_topology_comparison(table, args.table.parent, precision=args.precision)
    print(ranking.text() if ranking is not None else "fewer than two networked topologies: nothing to rank")
    print("written:", ", ".join(p.name for p in written))


if __name__ == "__main__":
    main()
