"""``run_state.json``: what a run directory has finished, what is in progress, what is left.

The file is rewritten atomically whenever a (trial, condition) starts, checkpoints or
finishes, and when the whole run finishes. Example::

    {"format": 1, "status": "running", "horizon_ticks": 300, "checkpoint_every": 1,
     "updated": "2025-01-01T12:00:00+01:00",
     "runs": [{"trial": 0, "condition": "networked", "status": "done", "last_tick": 299},
              {"trial": 0, "condition": "isolated", "status": "in_progress", "last_tick": 41},
              {"trial": 0, "condition": "random", "status": "pending", "last_tick": -1}, ...]}

``last_tick`` is the last tick whose state is safely on disk (the checkpoint's, or the final
tick once done); -1 when none is. ``status`` of the run is "running" until every
(trial, condition) is done and the final tables and plots are written, then "finished".
"""
from __future__ import annotations

import json
import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Literal

from labnet._files import atomic_write

RUN_STATE_FILE = "run_state.json"
LOCK_FILE = "run.lock"
STATE_FORMAT = 1

ConditionStatus = Literal["pending", "in_progress", "done"]
RunStatus = Literal["running", "finished"]


class RunDirError(ValueError):
    """A directory that cannot be resumed: not a run directory, damaged state, or in use."""


@dataclass
class ConditionRun:
    """One (trial, condition) of a run.

    Attributes:
        trial: trial index (seed = scenario seed + trial).
        condition: "networked", "isolated" or "random".
        status: "pending", "in_progress" or "done".
        last_tick: last tick whose state is on disk (checkpoint or done); -1 for none.
    """

    trial: int
    condition: str
    status: ConditionStatus = "pending"
    last_tick: int = -1

    @property
    def key(self) -> str:
        """File-name stem of this (trial, condition): ``trial-<t>_<condition>``."""
        return f"trial-{self.trial}_{self.condition}"


@dataclass
class RunState:
    """The content of ``run_state.json`` (see the module docstring) and where it lives."""

    path: Path
    horizon_ticks: int
    checkpoint_every: int
    runs: list[ConditionRun]
    status: RunStatus = "running"
    updated: str = field(default="")

    @classmethod
    def new(
        cls, run_dir: Path, trials: int, conditions: Sequence[str], horizon_ticks: int, checkpoint_every: int
    ) -> "RunState":
        """Every (trial, condition) pending, in run order (trial-major)."""
        runs = [ConditionRun(trial, condition) for trial in range(trials) for condition in conditions]
        return cls(Path(run_dir) / RUN_STATE_FILE, int(horizon_ticks), int(checkpoint_every), runs)

    @classmethod
    def read(cls, run_dir: Path) -> "RunState":
        """The state of ``run_dir``.

        Raises:
            RunDirError: no such directory, no ``run_state.json`` (not a run directory, or one
                written before runs were resumable), or a damaged file.
        """
        run_dir = Path(run_dir)
        if not run_dir.is_dir():
            raise RunDirError(f"run directory not found: {run_dir}")
        path = run_dir / RUN_STATE_FILE
        if not path.is_file():
            raise RunDirError(
                f"{run_dir} is not a resumable labnet run directory (no {RUN_STATE_FILE}; "
                "expected a directory written by `labnet run`)"
            )
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
            if raw.get("format") != STATE_FORMAT:
                raise RunDirError(f"{path}: format {raw.get('format')!r}; this labnet reads format {STATE_FORMAT}")
            runs = [ConditionRun(int(r["trial"]), str(r["condition"]), r["status"], int(r["last_tick"]))
                    for r in raw["runs"]]
            state = cls(path, int(raw["horizon_ticks"]), int(raw["checkpoint_every"]), runs,
                        raw["status"], raw.get("updated", ""))
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            if isinstance(exc, RunDirError):
                raise
            raise RunDirError(f"{path}: damaged run state ({type(exc).__name__}: {exc})") from None
        bad = [r.status for r in state.runs if r.status not in ("pending", "in_progress", "done")]
        if state.status not in ("running", "finished") or bad:
            raise RunDirError(f"{path}: damaged run state (unknown status {state.status if not bad else bad[0]!r})")
        return state

    def save(self) -> None:
        """Rewrite ``run_state.json`` atomically."""
        self.updated = datetime.now().astimezone().isoformat(timespec="seconds")
        raw = {
            "format": STATE_FORMAT,
            "status": self.status,
            "horizon_ticks": self.horizon_ticks,
            "checkpoint_every": self.checkpoint_every,
            "updated": self.updated,
            "runs": [asdict(run) for run in self.runs],
        }
        text = json.dumps(raw, indent=1) + "\n"
        atomic_write(self.path, lambda tmp: tmp.write_text(text, encoding="utf-8"))

    @property
    def finished(self) -> bool:
        return self.status == "finished"

    def ticks_on_disk(self) -> int:
        """Ticks, over all (trial, condition), whose state is on disk (for a progress bar)."""
        return sum(run.last_tick + 1 for run in self.runs)

    def describe(self) -> str:
        """One line: how many (trial, condition) are done, in progress and pending."""
        counts = {status: sum(r.status == status for r in self.runs) for status in ("done", "in_progress", "pending")}
        return (f"{counts['done']}/{len(self.runs)} (trial x condition) done, {counts['in_progress']} in progress, "
                f"{counts['pending']} pending")


@contextmanager
def run_lock(run_dir: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``run_dir`` (``run.lock``) while a run or resume writes to it.

    The operating system releases it when the process dies, so a killed run never leaves
    a stale lock. Without ``fcntl`` (Windows) no lock is taken.

    Raises:
        RunDirError: another process holds the lock.
    """
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not on POSIX
        yield
        return
    path = Path(run_dir) / LOCK_FILE
    handle = open(path, "a+", encoding="utf-8")
    try:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "?"
            raise RunDirError(f"{run_dir} is in use by another labnet process (pid {holder})") from None
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        yield
    finally:
        handle.close()
