"""Reading configuration YAML: the top-level mapping of a file, with syntax errors located.

A syntax error names the file, the line and the column (1-based) of the problem, e.g.
``invalid scenario study.yaml:\n  line 4, column 9: not valid YAML: mapping values are not
allowed here``, never pyyaml's ``in "<unicode string>"``.
"""
from __future__ import annotations

from typing import Any

import yaml

from labnet.runs.config.errors import ScenarioError


def yaml_problem(exc: yaml.YAMLError) -> str:
    """A pyyaml error as ``line L, column C: not valid YAML: <problem>`` (1-based; no stream name)."""
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    context, context_mark = getattr(exc, "context", None), getattr(exc, "context_mark", None)
    if context and context_mark is not None and context_mark is not mark:
        context += f" that starts at line {context_mark.line + 1}, column {context_mark.column + 1}"
    text = f"not valid YAML: {problem}" + (f" ({context})" if context else "")
    if mark is None:
        return text
    return f"line {mark.line + 1}, column {mark.column + 1}: {text}"


def read_yaml_mapping(text: str, label: str, kind: str, required: str) -> dict[str, Any]:
    """The top-level mapping of a YAML file of ``kind`` fields (scenario, sweep, ...).

    Args:
        label: the file (or built-in name) the text came from; every message names it.

    Raises:
        ScenarioError: not YAML (line and column named), empty (the message names the
            ``required`` fields), or not a mapping.
    """
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ScenarioError(yaml_problem(exc), label) from None
    if data is None:
        raise ScenarioError(f"the file is empty; expected at least {required}", label)
    if not isinstance(data, dict):
        raise ScenarioError(f"expected a mapping of {kind} fields at the top level (got {type(data).__name__})", label)
    return data


def dump_yaml(data: Any) -> str:
    """``data`` as block-style YAML in key order (what ``scenario.yaml`` files look like)."""
    return yaml.safe_dump(data, sort_keys=False, default_flow_style=None, allow_unicode=True, width=120)
