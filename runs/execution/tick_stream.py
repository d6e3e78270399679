"""Append-only result streams: the step and transfer rows of one (trial, condition), tick by tick.

Each (trial, condition) of a run streams to two JSON Lines files in ``RUN_DIR/stream/``:
``trial-<t>_<condition>.steps.jsonl`` (one :class:`~labnet.agents.step_record.StepRecord` per
line, the rows of :meth:`ExplorationNetwork.step_table`) and ``...transfers.jsonl`` (one
:class:`~labnet.environment.transfer_log.TransferEvent` per line). After every tick the new rows
are appended with one ``write`` and flushed to the operating system, so a killed process
loses at most the tick in progress.

Why JSON Lines, one file per (trial, condition): appending a tick costs one small write
(no rewrite of earlier rows, no file per tick: a 10-trial B2 study has 9,000 ticks);
Python's ``json`` round-trips ints, strings, bools, None and every float (NaN included)
exactly, so the final tables rebuilt from the streams with the same frame builders
(:func:`~labnet.agents.step_record.step_frame`, :func:`~labnet.environment.transfer_log.transfer_frame`)
are identical to the in-memory ones; and a torn last line (a kill mid-write) is
recognisable by its missing newline. The streams are plain text: ``pandas.read_json(path,
lines=True)`` reads a stream of a run still in progress.
"""
from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

import pandas as pd

from labnet._files import atomic_write
from labnet.agents.step_record import StepRecord, step_frame
from labnet.environment.transfer_log import TransferEvent, transfer_frame

if TYPE_CHECKING:  # pragma: no cover
    from labnet.simulation.network import ExplorationNetwork

STREAM_DIR = "stream"


class StreamError(ValueError):
    """A stream file that cannot be read back (damaged or not a labnet stream)."""


def stream_paths(run_dir: Path, trial: int, condition: str) -> tuple[Path, Path]:
    """(steps, transfers) stream files of one (trial, condition) in ``run_dir``."""
    stem = run_dir / STREAM_DIR / f"trial-{trial}_{condition}"
    return stem.with_name(stem.name + ".steps.jsonl"), stem.with_name(stem.name + ".transfers.jsonl")


def _encode(records: Sequence[Mapping[str, Any]]) -> bytes:
    """One compact JSON line per record (NaN and infinities as the JSON extensions Python reads back)."""
    return b"".join(json.dumps(record, separators=(",", ":")).encode() + b"\n" for record in records)


class TickStream:
    """Streams one network's new step and transfer rows to its two files after each tick.

    Opening a stream (re)writes both files with every row ``network`` already holds (the
    initial points of a new network, or everything up to a checkpoint), atomically, then
    keeps them open for appending. So after a resume the files hold exactly the rows of
    the checkpointed state, whatever was appended after that checkpoint before the crash.

    Args:
        steps_path, transfers_path: the stream files (their directory is created).
        network: the network whose rows are streamed.

    Use as a context manager, or call :meth:`close`.
    """

    def __init__(self, steps_path: Path, transfers_path: Path, network: "ExplorationNetwork") -> None:
        self.steps_path, self.transfers_path = Path(steps_path), Path(transfers_path)
        self.steps_path.parent.mkdir(parents=True, exist_ok=True)
        lab_index = {lab.name: i for i, lab in enumerate(network.agents)}
        records = sorted(
            (row for lab in network.agents for row in lab.log),
            key=lambda row: (row.tick, lab_index[row.lab], row.n_obs),
        )  # the order in which tick-by-tick appends write them
        events = network.transfer_log.events()
        atomic_write(self.steps_path, lambda tmp: tmp.write_bytes(_encode([r.as_dict() for r in records])))
        atomic_write(self.transfers_path, lambda tmp: tmp.write_bytes(_encode([e._asdict() for e in events])))
        self._step_marks = [len(lab.log) for lab in network.agents]
        self._transfer_mark = len(events)
        self._steps: BinaryIO = open(self.steps_path, "ab")
        self._transfers: BinaryIO = open(self.transfers_path, "ab")

    def append_new(self, network: "ExplorationNetwork") -> int:
        """Append the rows ``network`` logged since the last call; returns the number of rows written."""
        rows: list[StepRecord] = []
        for i, lab in enumerate(network.agents):
            rows.extend(lab.log[self._step_marks[i]:])
            self._step_marks[i] = len(lab.log)
        events = network.transfer_log.events()[self._transfer_mark:]
        self._transfer_mark += len(events)
        if rows:
            self._steps.write(_encode([r.as_dict() for r in rows]))
            self._steps.flush()
        if events:
            self._transfers.write(_encode([e._asdict() for e in events]))
            self._transfers.flush()
        return len(rows) + len(events)

    def close(self) -> None:
        self._steps.close()
        self._transfers.close()

    def __enter__(self) -> "TickStream":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def read_records(path: Path, complete: bool = True) -> list[dict[str, Any]]:
    """The JSON records of a stream file.

    Args:
        path: a stream file.
        complete: the stream belongs to a finished (trial, condition): a torn last line is an
            error. With False (a stream still being written) a torn last line is skipped.

    Raises:
        StreamError: missing file, a line that is not JSON, or a torn line where none may be.
    """
    path = Path(path)
    if not path.is_file():
        raise StreamError(f"stream file missing: {path}")
    data = path.read_bytes()
    lines = data.split(b"\n")
    torn = lines.pop()  # b"" when the file ends with a newline
    if torn and complete:
        raise StreamError(f"{path}: last line is incomplete (the run was killed while writing it?)")
    records = []
    for number, line in enumerate(lines, 1):
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError as exc:
            raise StreamError(f"{path}: line {number}: not JSON ({exc.msg})") from None
    return records


def read_step_records(path: Path, complete: bool = True) -> list[StepRecord]:
    """The :class:`StepRecord` s of a steps stream (``complete`` as in :func:`read_records`).

    Raises:
        StreamError: see :func:`read_records`; also a line whose fields are not a step record's.
    """
    records = read_records(path, complete)
    try:
        return [StepRecord(**record) for record in records]
    except TypeError as exc:
        raise StreamError(f"{path}: not a step stream ({exc})") from None


def read_step_table(path: Path, lab_order: Sequence[str], complete: bool = True) -> pd.DataFrame:
    """A steps stream as :meth:`ExplorationNetwork.step_table` would return it (same dtypes, order)."""
    return step_frame(read_step_records(path, complete), lab_order)


def read_transfer_table(path: Path, complete: bool = True) -> pd.DataFrame:
    """A transfers stream as :meth:`ExplorationNetwork.transfer_table` would return it."""
    records = read_records(path, complete)
    try:
        events = [TransferEvent(**record) for record in records]
    except TypeError as exc:
        raise StreamError(f"{path}: not a transfer stream ({exc})") from None
    return transfer_frame(events)
