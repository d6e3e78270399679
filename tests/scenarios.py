"""The small real scenarios the tests run, declared once (plain dicts, as a scenario YAML holds them).

- :func:`three_labs`: 3 labs (periods 1, 1, 2 unless given) on a 300-candidate synthetic world with 3
  correlated properties, a complete topology, tiny ensembles: seconds per run.
- :func:`composition_world`: a small composition-like descriptor matrix and a smooth noisy
  target, for the engine tests.
- :func:`five_lab_ring`: 5 labs (periods 1-3, two properties) in a ring on a 150-candidate world:
  the run the graph and view tests read.

Each returns a fresh dict; keyword arguments replace top-level fields, ``learner`` entries are
merged into the base learner.
"""
from __future__ import annotations

from typing import Any

import numpy as np


def _scenario(base: dict[str, Any], learner: dict[str, Any] | None, fields: dict[str, Any]) -> dict[str, Any]:
    scenario = {**base, **fields}
    scenario["learner"] = {**base["learner"], **(learner or {})}
    return scenario


def three_labs(name: str, *, periods: tuple[int, int, int] = (1, 1, 2), learner: dict[str, Any] | None = None,
               **fields: Any) -> dict[str, Any]:
    """3 labs A (P0), B (P1), C (P2) acting every ``periods`` ticks, 6 initial points each."""
    base = {
        "name": name,
        "dataset": {"kind": "synthetic", "n_candidates": 300, "n_descriptors": 8, "n_properties": 3,
                    "correlation": 0.7, "seed": 1},
        "labs": [
            {"name": lab, "property": f"P{i}", "period_ticks": period, "initial_points": 6}
            for i, (lab, period) in enumerate(zip("ABC", periods))
        ],
        "topology": {"kind": "complete"},
        "learner": {"n_members": 3, "epochs": 4, "patience": 4},
        "horizon_ticks": 8,
        "trials": 1,
        "seed": 0,
        "baselines": ["isolated"],
    }
    return _scenario(base, learner, fields)


def five_lab_ring(name: str, *, learner: dict[str, Any] | None = None, **fields: Any) -> dict[str, Any]:
    """5 labs A-E in a ring (properties P0/P1 alternating, periods 1, 1, 2, 2, 3), 5 initial points each."""
    base = {
        "name": name,
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
    return _scenario(base, learner, fields)


RING_LINKS = {(a, b) for a, b in zip("ABCDE", "BCDEA")} | {(b, a) for a, b in zip("ABCDE", "BCDEA")}
"""The ring's directed links (both directions of each edge)."""


def composition_world(seed: int, n_rows: int = 300, n_slots: int = 39) -> tuple[np.ndarray, np.ndarray]:
    """X float32 [n_rows, n_slots] (3 non-zero fractions per row, rows sum to 1) and a noisy smooth y [n_rows]."""
    rng = np.random.default_rng(seed)
    X = np.zeros((n_rows, n_slots), dtype=np.float32)
    for i in range(n_rows):
        X[i, rng.choice(n_slots, size=3, replace=False)] = rng.dirichlet(np.ones(3))
    y = np.sin(3.0 * X @ rng.normal(size=n_slots)) + 0.5 * rng.normal(size=n_rows)
    return X, y
