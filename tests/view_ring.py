"""The small real run the view tests read: a 5-lab ring on a synthetic world, 6 ticks, 1 trial,
the networked condition and the isolated baseline (real Mesa, real training; about 10 s)."""
from __future__ import annotations

from pathlib import Path

from labnet.runs.config.scenario import load_scenario
from labnet.runs.execution.runner import run_scenario

RING = {
    "name": "view-ring",
    "dataset": {"kind": "synthetic", "n_candidates": 150, "n_descriptors": 6, "n_properties": 2,
                "correlation": 0.8, "seed": 3},
    "labs": [
        {"name": "A", "property": "P0", "period_ticks": 1, "initial_points": 5},
        {"name": "B", "property": "P1", "period_ticks": 1, "initial_points": 5},
        {"name": "C", "property": "P0", "period_ticks": 2, "initial_points": 5},
        {"name": "D", "property": "P1", "period_ticks": 2, "initial_points": 5},
        {"name": "E", "property": "P0", "period_ticks": 3, "initial_points": 5},
    ],
    "topology": {"kind": "ring"},
    "learner": {"n_members": 3, "epochs": 5, "patience": 5},
    "horizon_ticks": 6,
    "trials": 1,
    "seed": 0,
    "baselines": ["isolated"],
}
RING_LINKS = {(a, b) for a, b in zip("ABCDE", "BCDEA")} | {(b, a) for a, b in zip("ABCDE", "BCDEA")}


def make_ring_run(parent: Path) -> Path:
    """Run :data:`RING` into ``parent`` and return the run directory."""
    return run_scenario(load_scenario(RING), parent, progress=False).run_dir
