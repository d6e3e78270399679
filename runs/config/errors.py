"""Errors of the configuration, and pydantic's errors turned into ``path: problem`` lines.

Every problem of a scenario (or sweep) file is reported as a :class:`ScenarioError` whose
message names the field path the user wrote (``labs[1].period_ticks``, ``topology.m``) and
what was expected. Validators raise :class:`FieldIssue` to report problems at paths relative
to the object they validate.
"""
from __future__ import annotations

import dataclasses
import difflib
import types
import typing
from collections.abc import Mapping, Sequence
from typing import Annotated, Any, Union

from pydantic import BaseModel, ConfigDict, Tag, ValidationError


class ScenarioError(ValueError):
    """A scenario that cannot be run; the message names the bad field path(s).

    Attributes:
        issues: one ``"path: problem"`` string per problem found.
        source: the file (or built-in name) the scenario came from, if any.
    """

    def __init__(self, issues: str | Sequence[str], source: str | None = None) -> None:
        self.issues = [issues] if isinstance(issues, str) else list(issues)
        self.source = source
        if len(self.issues) == 1 and source is None:
            message = self.issues[0]
        else:
            head = f"invalid scenario {source}" if source else "invalid scenario"
            message = head + ":\n" + "\n".join(f"  {issue}" for issue in self.issues)
        super().__init__(message)


class FieldIssue(ValueError):
    """Raised inside validators: problems at paths relative to the validated object.

    ``issues`` holds ``(relative_path, message)`` pairs; an empty path means the object itself.
    """

    def __init__(self, issues: Sequence[tuple[str, str]]) -> None:
        self.issues = list(issues)
        super().__init__("; ".join(f"{p}: {m}" if p else m for p, m in self.issues))


class StrictModel(BaseModel):
    """Base of every configuration model: unknown keys are errors, assignments are validated."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)


def plain(value: Any, limit: int = 60) -> str:
    """``repr`` of a value as the user wrote it: numpy scalars as plain numbers (``inf``, not
    ``np.float64(inf)``), shortened to ``limit`` characters."""
    if type(value).__module__ == "numpy" and hasattr(value, "item"):  # np.float64 is a float, but prints as np.float64(...)
        value = value.item()
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def join_path(path: str, child: str) -> str:
    """``a.b`` + ``c`` -> ``a.b.c``; ``a`` + ``[0]`` -> ``a[0]``."""
    if not path:
        return child
    if not child:
        return path
    return path + child if child.startswith("[") else f"{path}.{child}"


def issues_of(exc: ValidationError, root: Any) -> list[tuple[str, str]]:
    """pydantic's errors for a model of type ``root`` as (user path, problem) pairs."""
    issues: list[tuple[str, str]] = []
    for error in exc.errors():
        path, parent, current = _walk(root, error["loc"])
        issues.extend(describe(error, path, parent, current))
    return issues


def format_validation_error(exc: ValidationError, root: Any) -> list[str]:
    """pydantic's errors as ``path: problem`` lines."""
    return [f"{path}: {message}" if path else message for path, message in issues_of(exc, root)]


def describe(error: Mapping[str, Any], path: str, parent: Any = None, current: Any = None) -> list[tuple[str, str]]:
    """One pydantic error at ``path`` as (path, problem) pairs (a :class:`FieldIssue` gives several).

    Args:
        parent: the type holding the last key (lists its allowed keys for an unknown key).
        current: the type at ``path`` (lists a union's tags when the tag is missing).
    """
    kind = error["type"]
    ctx = error.get("ctx") or {}
    got = plain(error.get("input"))
    if kind in ("value_error", "assertion_error"):
        cause = ctx.get("error")
        if isinstance(cause, FieldIssue):
            return [(join_path(path, sub), msg) for sub, msg in cause.issues]
        message = str(cause) if cause is not None else error["msg"]
        if path and message.startswith(path.split("[")[0] + "."):  # e.g. LearnerConfig's "learner.epochs = 0: ..."
            return [("", message)]
        return [(path, message)]
    if kind in ("extra_forbidden", "unexpected_keyword_argument"):
        key = path.rsplit(".", 1)[-1]
        allowed = field_names(parent)
        hint = difflib.get_close_matches(key, allowed, n=1)
        suggestion = f" (did you mean {hint[0]!r}?)" if hint else ""
        return [(path, f"unknown key{suggestion}; allowed keys: {', '.join(allowed)}")]
    if kind == "missing":
        return [(path, "required field is missing")]
    if kind == "literal_error":
        what = "unknown kind" if path.endswith(".kind") else "unexpected value"
        return [(path, f"{what} {got}; expected one of {ctx.get('expected')}")]
    if kind in ("union_tag_invalid", "union_tag_not_found"):
        key = str(ctx.get("discriminator", "'kind'")).strip("'")
        tags = ctx.get("expected_tags") or ", ".join(repr(t) for t in _tags(_union_members(_unwrap(current))))
        if kind == "union_tag_not_found":
            return [(join_path(path, key), f"required; expected one of {tags}")]
        return [(join_path(path, key), f"unknown {key} {plain(ctx.get('tag'))}; expected one of {tags}")]
    bounds = {"greater_than": ">", "greater_than_equal": ">=", "less_than": "<", "less_than_equal": "<="}
    if kind in bounds:
        limit = plain(next(iter(ctx.values())))
        return [(path, f"must be {bounds[kind]} {limit} (got {got})")]
    if kind == "too_short":
        unit = "character(s)" if isinstance(error.get("input"), str) else "item(s)"
        return [(path, f"must have at least {ctx.get('min_length')} {unit} (got {got})")]
    if kind == "string_pattern_mismatch":
        return [(path, f"must match {ctx.get('pattern')} (got {got})")]
    return [(path, f"{error['msg'][0].lower()}{error['msg'][1:]} (got {got})")]


def _walk(root: Any, loc: Sequence[Any]) -> tuple[str, Any, Any]:
    """Turn a pydantic error location into a user path; also return the type holding the last
    key and the type at the path.

    Union tags that pydantic inserts (``dataset.csv.path``, ``labs.generator.count``) are dropped.
    """
    path = ""
    current: Any = root
    parent: Any = root
    for part in loc:
        current = _unwrap(current)
        parent = current
        if isinstance(part, int):
            path += f"[{part}]"
            args = typing.get_args(current)
            current = args[0] if args else Any
            continue
        members = _union_members(current)
        if members and part in _tags(members):
            current = _tags(members)[part]
            continue
        path = join_path(path, str(part))
        current = _field_type(current, str(part))
    return path, parent, current


def _unwrap(tp: Any) -> Any:
    while True:
        origin = typing.get_origin(tp)
        if origin is Annotated:
            tp = typing.get_args(tp)[0]
        elif origin in (Union, types.UnionType):
            args = [a for a in typing.get_args(tp) if a is not type(None)]
            if len(args) == 1:
                tp = args[0]
            else:
                return tp
        else:
            return tp


def _union_members(tp: Any) -> list[Any]:
    if typing.get_origin(tp) in (Union, types.UnionType):
        return [a for a in typing.get_args(tp) if a is not type(None)]
    return []


def _tags(members: Sequence[Any]) -> dict[str, Any]:
    """Union tag -> member: ``Tag(...)`` annotations and the literal values of ``kind`` / ``rule`` fields."""
    tags = {}
    for member in members:
        if typing.get_origin(member) is Annotated:
            target, *metadata = typing.get_args(member)
            for meta in metadata:
                if isinstance(meta, Tag):
                    tags[meta.tag] = target
            member = target
        if isinstance(member, type) and issubclass(member, BaseModel):
            for key in ("kind", "rule"):
                if key in member.model_fields:
                    for value in typing.get_args(member.model_fields[key].annotation):
                        tags[value] = member
    return tags


def _field_type(tp: Any, name: str) -> Any:
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        info = tp.model_fields.get(name)
        return info.annotation if info is not None else Any
    if dataclasses.is_dataclass(tp):
        hints = typing.get_type_hints(tp)
        return hints.get(name, Any)
    return Any


def field_names(tp: Any) -> list[str]:
    """The keys a mapping of type ``tp`` may have (every member's keys for a union)."""
    tp = _unwrap(tp)
    members = _union_members(tp)
    if members:  # a union we could not narrow: offer every member's keys
        return sorted({n for m in members for n in field_names(m)})
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        return list(tp.model_fields)
    if dataclasses.is_dataclass(tp):
        return [f.name for f in dataclasses.fields(tp)]
    return []
