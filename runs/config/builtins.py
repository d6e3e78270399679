"""The scenarios shipped with labnet (``runs/scenarios/*.yaml``): where they are and their names.

Kept apart from :mod:`labnet.runs.config.scenario` (pydantic, the lab and learner types) so
that listing them costs nothing: the ``labnet`` command's help names them.
"""
from __future__ import annotations

from importlib import resources

BUILTIN_PACKAGE = "labnet.runs"
BUILTIN_DIR = "scenarios"


def builtin_scenario_names() -> list[str]:
    """Names of the scenarios shipped with labnet (``runs/scenarios/*.yaml``), sorted."""
    folder = resources.files(BUILTIN_PACKAGE).joinpath(BUILTIN_DIR)
    return sorted(p.name[: -len(".yaml")] for p in folder.iterdir() if p.name.endswith(".yaml"))
