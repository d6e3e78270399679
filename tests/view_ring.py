"""The small real run the view tests read: a 5-lab ring on a synthetic world, 6 ticks, 1 trial,
the networked condition and the isolated baseline (real Mesa, real training; about 10 s)."""
from __future__ import annotations

from pathlib import Path

from labnet.runs.config.scenario import load_scenario
from labnet.runs.execution.runner import run_scenario
from scenarios import RING_LINKS, five_lab_ring

RING = five_lab_ring("view-ring")


def make_ring_run(parent: Path) -> Path:
    """Run :data:`RING` into ``parent`` and return the run directory."""
    return run_scenario(load_scenario(RING), parent, progress=False).run_dir
