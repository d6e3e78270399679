"""Reading a run directory back: its resolved scenario, steps, transfers and study record.

Used by every report that redraws or analyses a finished (or interrupted) run: ``labnet
figures``, ``labnet graph``, ``labnet power``, the browser view.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from labnet.runs.config.scenario import Scenario, load_scenario

SCENARIO_FILE = "scenario.yaml"
STEPS_FILE = "steps.parquet"
TRANSFERS_FILE = "transfers.parquet"
RUN_INFO = "run_info.json"


class StudyError(ValueError):
    """A reproduction that cannot start or a run directory that cannot be drawn (bad input)."""


@dataclass
class RunDirectory:
    """The parts of a run directory that the figures need."""

    path: Path
    scenario: Scenario
    steps: pd.DataFrame
    transfers: pd.DataFrame
    info: dict[str, Any]


def read_run_directory(run_dir: str | Path) -> RunDirectory:
    """Read ``scenario.yaml``, ``steps.parquet``, ``transfers.parquet`` (and ``run_info.json``).

    Raises:
        FileNotFoundError: not a directory, or no ``scenario.yaml``.
        StudyError: no finished run yet (no ``steps.parquet``).
    """
    path = Path(run_dir).expanduser()
    if not path.is_dir():
        raise FileNotFoundError(f"run directory not found: {path}")
    if not (path / SCENARIO_FILE).is_file():
        raise FileNotFoundError(f"{path} is not a labnet run directory (no {SCENARIO_FILE})")
    if not (path / STEPS_FILE).is_file():
        raise StudyError(f"{path}: no {STEPS_FILE} yet (no trial x condition has finished); nothing to draw")
    scenario = load_scenario(path / SCENARIO_FILE)
    steps = pd.read_parquet(path / STEPS_FILE)
    transfers = pd.read_parquet(path / TRANSFERS_FILE) if (path / TRANSFERS_FILE).is_file() else pd.DataFrame(
        columns=["trial", "condition", "tick", "source", "target", "selected"]
    )
    info_path = path / RUN_INFO
    info = json.loads(info_path.read_text(encoding="utf-8")) if info_path.is_file() else {}
    return RunDirectory(path, scenario, steps, transfers, info)
