"""The paper studies ``labnet reproduce`` knows, by name.

Kept apart from :mod:`labnet.runs.studies.reproduce` (the runner, figures, pandas) so that
listing them costs nothing: the ``labnet`` command's help names them. Each study is a module
of published numbers (:mod:`labnet.runs.reports.paper1`).
"""
from __future__ import annotations

from types import ModuleType

from labnet.runs.reports import paper1

STUDIES: dict[str, ModuleType] = {paper1.STUDY: paper1}
"""Study name (``labnet reproduce STUDY``) -> module with ``SCENARIO``, ``CITATION``,
``MEAN_OBSERVATIONS_TO_90``, ``PROPERTY_UNITS``."""
