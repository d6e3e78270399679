"""The names of the tick backends (``execution.backend``), and nothing else: the ``labnet``
command's help lists them without importing pydantic (:mod:`labnet.runs.config.execution` is
the scenario section that uses them)."""
from __future__ import annotations

from typing import Literal, get_args

TickBackend = Literal["local", "ray"]
"""Where a network's ticks run: ``local`` (the run's process) or ``ray`` (sharded over a Ray cluster)."""
TICK_BACKENDS: tuple[str, ...] = get_args(TickBackend)
