"""The statistics of one run directory, built once: headline metric, summary, paired comparisons, checks.

:func:`build_run_report` turns a run's step table into every table ``summary.md`` shows;
the runner writes them (``observations_to_threshold.csv``, ``summary.csv``, ``comparisons.csv``,
``summary.md``) and ``labnet reproduce``, ``labnet power`` and the until-decided loop read them.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from labnet.runs.reports.analysis import (
    compare_conditions, format_comparisons, format_summary, observations_to_threshold, summarize, summary_markdown,
)
from labnet.runs.reports.degenerate import degenerate_warnings, format_checks, threshold_checks


@dataclass
class RunReport:
    """Tables of a run (see :mod:`labnet.runs.reports.analysis` and :mod:`labnet.runs.reports.degenerate`)."""

    observations: pd.DataFrame
    summary: pd.DataFrame
    comparisons: pd.DataFrame
    checks: pd.DataFrame
    warnings: list[str] = field(default_factory=list)

    def markdown(self, title: str, details: Sequence[str] = ()) -> str:
        """``summary.md``'s text."""
        return summary_markdown(self.summary, title=title, details=details, comparisons=self.comparisons,
                                warnings=self.warnings, checks=format_checks(self.checks))

    def text(self) -> str:
        """What the terminal shows after a run: warnings, comparisons, the per-condition table."""
        parts = [f"warning: {w}" for w in self.warnings]
        if not self.comparisons.empty:
            parts += ["" if self.warnings else None, "paired comparisons (95 % paired-bootstrap CI over trials; "
                      "RMST in observations, negative = first condition faster):",
                      format_comparisons(self.comparisons)]
        parts += ["", format_summary(self.summary)]
        return "\n".join(p for p in parts if p is not None).lstrip("\n")


def build_run_report(
    steps: pd.DataFrame, labs: Sequence[Any], thresholds: Mapping[str, float], goals: Mapping[str, str],
    space: Any, fraction: float, seed: int = 0,
) -> RunReport:
    """Every table of a run from its step table.

    Args:
        steps: the run's step table (every finished trial x condition).
        labs: the scenario's labs (``name, property, goal, initial_points``).
        thresholds, goals: lab -> threshold / goal.
        space: the material space (for the candidates past each threshold).
        fraction: the scenario's ``threshold_fraction``.
        seed: bootstrap seed (the scenario's seed).
    """
    observations = observations_to_threshold(steps, thresholds, goals)
    summary = summarize(observations, steps, seed=seed)
    comparisons = compare_conditions(observations, steps, seed=seed)
    checks = threshold_checks(labs, thresholds, space, fraction, observations)
    return RunReport(observations, summary, comparisons, checks, degenerate_warnings(checks))
