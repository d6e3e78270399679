"""The sweep file: a base scenario and axes of scenario fields whose cartesian product are the points.

A sweep file (YAML)::

    name: topology-comparison
    base: default              # a built-in scenario, a scenario file (relative to this file) or a mapping
    axes:                      # scenario field path -> values; the points are the cartesian product
      topology: [{kind: ring}, {kind: barabasi_albert, m: 2}]     # a mapping replaces the whole field
      seed: [0, 1, 2]
      learner.epochs: [20]     # dotted paths reach into nested fields; labs[0].period_ticks indexes lists
    labels:                    # optional display names, one per value of an axis
      topology: [ring, BA]
    backend: serial            # serial | processes | ray (see runs.sweep_backends)
    workers: 2                 # processes / ray: points at once (default: every usable core)

The first axis varies slowest. Every point is validated as a full :class:`Scenario` when the
sweep is loaded, and its material space and topology are built once as a run would, so a
bad point stops the sweep before any run starts. An error names the axis, its value and the
scenario field (``axes.topology = {kind: moebius}: topology.kind: unknown kind ...``), or
``base`` when no axis is involved.
"""
from __future__ import annotations

import copy
import itertools
import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from labnet.runs.config.errors import FieldIssue, ScenarioError
from labnet.runs.config.scenario import (
    BUILTIN_DIR,
    BUILTIN_PACKAGE,
    Scenario,
    builtin_scenario_names,
    resolve,
    validate_scenario,
)
from labnet.runs.config.yaml_io import read_yaml_mapping

_NAME = r"[A-Za-z_][A-Za-z0-9_]*"
AXIS_PATH = re.compile(rf"^{_NAME}(\[\d+\])*(\.{_NAME}(\[\d+\])*)*$")
_SCALARS = (bool, int, float, str, type(None))


# --------------------------------------------------------------------------- the sweep file


class SweepSpec(BaseModel):
    """A sweep file as written (see the module docstring). Unknown keys are errors.

    Attributes:
        name: the sweep directory's name and the prefix of its points' scenario names.
        base: built-in scenario name, scenario file path (relative to the sweep file) or a scenario mapping.
        axes: scenario field path -> values, in order; at least one axis, each with at least one value.
        labels: axis -> display names, one per value (used in the tables' axis and topology columns).
        backend: where the points run.
        workers: points at once for processes / ray (default: every usable core).
    """

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$", max_length=80)
    base: str | dict[str, Any] = "default"
    axes: dict[str, list[Any]] = Field(min_length=1)
    labels: dict[str, list[str]] = Field(default_factory=dict)
    backend: Literal["serial", "processes", "ray"] = "serial"
    workers: int | None = Field(None, ge=1)

    @field_validator("axes")
    @classmethod
    def _axes_are_field_paths(cls, axes: dict[str, list[Any]]) -> dict[str, list[Any]]:
        issues: list[tuple[str, str]] = []
        for path, values in axes.items():
            if not AXIS_PATH.match(path):
                issues.append((path, "not a scenario field path; expected dotted field names such as 'topology', "
                                     "'seed', 'labs.count', 'learner.epochs' or 'labs[0].period_ticks'"))
            elif re.split(r"[.\[]", path)[0] == "name":
                issues.append((path, "the sweep names its points itself; 'name' cannot be an axis"))
            if not values:
                issues.append((path, "needs at least one value"))
            seen: list[Any] = []
            for value in values:
                if value in seen:
                    issues.append((path, f"duplicate value {flow(value)} (every point must differ)"))
                seen.append(value)
        if issues:
            raise FieldIssue(issues)
        return axes

    @model_validator(mode="after")
    def _labels_fit_axes(self) -> SweepSpec:
        issues: list[tuple[str, str]] = []
        for path, names in self.labels.items():
            if path not in self.axes:
                issues.append((f"labels.{path}", f"no axis {path!r}; axes are: {', '.join(self.axes)}"))
            elif len(names) != len(self.axes[path]):
                issues.append((f"labels.{path}", f"needs one label per value: {len(self.axes[path])} "
                                                 f"(got {len(names)})"))
            elif len(set(names)) != len(names):
                issues.append((f"labels.{path}", "labels must differ from one another"))
        if issues:
            raise FieldIssue(issues)
        return self


@dataclass(frozen=True)
class SweepPoint:
    """One point of a sweep: a full scenario.

    Attributes:
        index: position in the cartesian product (first axis slowest).
        point_id: ``p000``, ``p001``, ... (also the point's directory name).
        values: axis -> the value as written in the sweep file.
        display: axis -> the value as shown in tables (label, scalar, or a short text for mappings).
        scenario: the validated scenario (named ``<sweep name>-<point_id>``).
        topology: the label or short text of a ``topology`` axis, else the scenario's topology kind.
        n_labs: number of labs.
    """

    index: int
    point_id: str
    values: dict[str, Any]
    display: dict[str, Any]
    scenario: Scenario
    topology: str
    n_labs: int


@dataclass(frozen=True)
class Sweep:
    """A loaded sweep: its spec, its base scenario (as a mapping) and every point, validated."""

    spec: SweepSpec
    base: dict[str, Any]
    points: list[SweepPoint]
    source: str = "sweep"

    @property
    def axes(self) -> list[str]:
        """Axis paths in order."""
        return list(self.spec.axes)


def load_sweep(source: str | Path | Mapping[str, Any], base_dir: str | Path | None = None) -> Sweep:
    """Load a sweep file (or mapping), build every point and validate it as a scenario.

    Args:
        source: path of a sweep YAML file, or the sweep as a mapping.
        base_dir: directory that relative paths (``base``, ``dataset.path``) are resolved
            against; default: the sweep file's directory (a mapping: the current directory).

    Raises:
        FileNotFoundError: the sweep file does not exist.
        ScenarioError: a bad sweep file or base, or points that are not valid scenarios (the
            message names the axis, its value and the scenario field).
    """
    if isinstance(source, Mapping):
        data: Any = dict(source)
        label = "sweep"
        folder = Path(base_dir) if base_dir is not None else Path.cwd()
    else:
        path = Path(source).expanduser()
        if not path.is_file():
            raise FileNotFoundError(f"sweep file not found: {path}")
        label = f"sweep {path}"
        folder = Path(base_dir) if base_dir is not None else path.resolve().parent
        data = read_yaml_mapping(path.read_text(encoding="utf-8"), label, "sweep", "'name' and 'axes'")
    try:
        spec = SweepSpec.model_validate(data)
    except ValidationError as exc:
        raise ScenarioError(_sweep_issues(exc), label) from None
    base = _base_mapping(spec.base, folder.resolve(), label)
    return Sweep(spec=spec, base=base, points=_points(spec, base, folder.resolve(), label), source=label)


def _sweep_issues(exc: ValidationError) -> list[str]:
    """Pydantic errors of a sweep file as ``field: problem`` lines."""
    lines: list[str] = []
    for error in exc.errors():
        loc = [str(part) for part in error["loc"] if not str(part).startswith(("str", "dict["))]
        path = ".".join(loc)
        cause = (error.get("ctx") or {}).get("error")
        if isinstance(cause, FieldIssue):
            lines.extend(f"{path + '.' if path else ''}{sub}: {message}" for sub, message in cause.issues)
        elif error["type"] == "extra_forbidden":
            lines.append(f"{path}: unknown key; allowed keys: {', '.join(SweepSpec.model_fields)}")
        elif error["type"] == "missing":
            lines.append(f"{path}: required field is missing")
        else:
            message = error["msg"]
            lines.append(f"{path}: {message[0].lower()}{message[1:]} (got {flow(error.get('input'))})")
    return list(dict.fromkeys(lines))


def _base_mapping(base: str | dict[str, Any], folder: Path, label: str) -> dict[str, Any]:
    """The base scenario as a plain mapping, relative dataset paths made absolute."""
    if isinstance(base, dict):
        data, data_dir = copy.deepcopy(base), folder
    else:
        path = (folder / base).expanduser()
        names = builtin_scenario_names()
        if path.is_file():
            data_dir = path.resolve().parent
            try:
                data = yaml.safe_load(path.read_text(encoding="utf-8"))
            except yaml.YAMLError as exc:
                raise ScenarioError(f"base: {path} is not valid YAML: {exc}", label) from None
        elif base in names:
            data_dir = None
            data = yaml.safe_load(resources.files(BUILTIN_PACKAGE).joinpath(BUILTIN_DIR, f"{base}.yaml")
                                  .read_text(encoding="utf-8"))
        else:
            raise ScenarioError(f"base: {base!r} is neither a scenario file ({path} does not exist) nor a built-in "
                                f"scenario ({', '.join(names)})", label)
        if not isinstance(data, dict):
            raise ScenarioError(f"base: expected a mapping of scenario fields in {base!r}", label)
    _absolute_dataset_path(data, data_dir)
    return data


def _absolute_dataset_path(data: dict[str, Any], folder: Path | None) -> None:
    dataset = data.get("dataset")
    if folder is not None and isinstance(dataset, dict) and isinstance(dataset.get("path"), str):
        path = Path(dataset["path"]).expanduser()
        if not path.is_absolute():
            dataset["path"] = str((folder / path).resolve())


def _points(spec: SweepSpec, base: dict[str, Any], folder: Path, label: str) -> list[SweepPoint]:
    axes = list(spec.axes)
    combos = list(itertools.product(*spec.axes.values()))
    width = max(3, len(str(len(combos) - 1)))
    display_of = {axis: _display_values(spec, axis) for axis in axes}
    points: list[SweepPoint] = []
    issues: list[str] = []
    unattributed: dict[str, list[str]] = {}
    checked: dict[str, int] = {}
    for index, combo in enumerate(combos):
        point_id = f"p{index:0{width}d}"
        raw = copy.deepcopy(base)
        try:
            for axis, value in zip(axes, combo):
                set_field(raw, axis, copy.deepcopy(value))
        except _FieldPathError as exc:
            issues.append(f"axes.{exc.axis}: {exc}")
            continue
        raw["name"] = f"{spec.name}-{point_id}"
        _absolute_dataset_path(raw, folder)
        try:
            scenario = resolve(validate_scenario(raw))
            _check_buildable(scenario, checked)
        except ScenarioError as exc:
            for issue in exc.issues:
                owners = [(axis, value) for axis, value in zip(axes, combo) if _concerns(issue, axis)]
                if owners:
                    issues.extend(f"axes.{axis} = {flow(value)}: {issue}" for axis, value in owners)
                else:
                    where = ", ".join(f"{axis}={flow(value)}" for axis, value in zip(axes, combo))
                    unattributed.setdefault(issue, []).append(f"{point_id} ({where})")
            continue
        values = dict(zip(axes, combo))
        display = {axis: display_of[axis][spec.axes[axis].index(value)] for axis, value in values.items()}
        points.append(SweepPoint(
            index=index,
            point_id=point_id,
            values=values,
            display=display,
            scenario=scenario,
            topology=str(display["topology"]) if "topology" in display else scenario.topology.kind,
            n_labs=len(scenario.lab_specs()),
        ))
    for issue, where in unattributed.items():
        if len(where) == len(combos):
            issues.append(f"base: {issue}")
        else:
            issues.append(f"point {where[0]}" + (f" and {len(where) - 1} more" if len(where) > 1 else "") + f": {issue}")
    if issues:
        raise ScenarioError(list(dict.fromkeys(issues)), label)
    return points


def _check_buildable(scenario: Scenario, checked: dict[str, int]) -> None:
    """Build the scenario's material space and topology as a run would, to catch what the schema cannot.

    That is: lab properties missing from the dataset or constant, more initial points than
    candidates, labs that run out of candidates over the horizon, topologies the builders
    reject, unusable data files. A (dataset, labs) pair already checked for an earlier point
    is not built again (``checked``: its key -> the number of candidates).

    Raises:
        ScenarioError: the problem, with its scenario field path.
    """
    import dataclasses

    from labnet.runs.config.build import build_space, build_topology, check_candidates_last

    key = json.dumps([scenario.dataset.model_dump(mode="json"),
                      [dataclasses.asdict(spec) for spec in scenario.lab_specs()]], sort_keys=True, default=str)
    try:
        if key not in checked:
            checked[key] = len(build_space(scenario))
        check_candidates_last(scenario, checked[key])
        build_topology(scenario)
    except ScenarioError:
        raise
    except ValueError as exc:  # environment.DataError: an unusable data file
        raise ScenarioError(f"dataset: {exc}") from None


def _concerns(issue: str, axis: str) -> bool:
    """Does a scenario error line (``field.path: problem``) concern the field an axis sets?"""
    match = re.match(r"^([A-Za-z_][\w.\[\]]*)", issue)
    if not match:
        return False
    path = match.group(1)
    return (path == axis or path.startswith((axis + ".", axis + "["))
            or axis.startswith((path + ".", path + "[")))


class _FieldPathError(ValueError):
    def __init__(self, axis: str, message: str) -> None:
        self.axis = axis
        super().__init__(message)


def _path_parts(path: str) -> list[str | int]:
    parts: list[str | int] = []
    for name in path.split("."):
        head, *indices = re.split(r"\[", name)
        parts.append(head)
        parts.extend(int(index.rstrip("]")) for index in indices)
    return parts


def set_field(data: dict[str, Any], path: str, value: Any) -> None:
    """Set the field at a dotted path (``learner.epochs``, ``labs[0].period_ticks``) in a scenario mapping.

    Missing mappings on the way are created; list indices must exist.

    Raises:
        _FieldPathError: the path runs into a value that is not a mapping or list, or an index is out of range.
    """
    parts = _path_parts(path)
    node: Any = data
    walked = ""
    for part, following in zip(parts[:-1], parts[1:]):
        if isinstance(part, int):
            if not isinstance(node, list) or part >= len(node):
                size = f"has {len(node)} item(s)" if isinstance(node, list) else f"is {flow(node)}, not a list"
                raise _FieldPathError(path, f"cannot set {path!r}: {walked} {size} in the base scenario")
            child = node[part]
        else:
            if not isinstance(node, dict):
                raise _FieldPathError(path, f"cannot set {path!r}: {walked or 'the scenario'} is {flow(node)} in the "
                                            f"base scenario, not a mapping")
            child = node.get(part)
            if child is None:
                if isinstance(following, int):
                    raise _FieldPathError(path, f"cannot set {path!r}: the base scenario has no list {part!r}")
                child = node[part] = {}
        walked = f"{walked}[{part}]" if isinstance(part, int) else (f"{walked}.{part}" if walked else part)
        if isinstance(child, list) and not isinstance(following, int):
            raise _FieldPathError(path, f"cannot set {path!r}: {walked} is a list in the base scenario "
                                        f"(index it, e.g. {walked}[0].{following})")
        node = child
    last = parts[-1]
    if isinstance(last, int):
        if not isinstance(node, list) or last >= len(node):
            raise _FieldPathError(path, f"cannot set {path!r}: {walked} has no item {last} in the base scenario")
    elif not isinstance(node, dict):
        raise _FieldPathError(path, f"cannot set {path!r}: {walked} is {flow(node)} in the base scenario, not a mapping")
    node[last] = value


def flow(value: Any) -> str:
    """A value as one line of YAML flow text (``{kind: ring}``, ``3``, ``ring``)."""
    if isinstance(value, (dict, list)):
        return yaml.safe_dump(value, default_flow_style=True, sort_keys=False, width=math.inf).strip()
    return json.dumps(value) if not isinstance(value, str) else value


def describe(value: Any) -> Any:
    """A short display form: scalars as they are; ``{kind: ba, m: 2}`` -> ``"ba(m=2)"``; other mappings as ``k=v`` text."""
    if isinstance(value, _SCALARS):
        return value
    if isinstance(value, dict):
        rest = ", ".join(f"{k}={flow(v)}" for k, v in value.items() if k != "kind")
        if "kind" in value:
            return f"{value['kind']}({rest})" if rest else str(value["kind"])
        return rest
    return flow(value)


def _display_values(spec: SweepSpec, axis: str) -> list[Any]:
    """An axis's values as table cells: its labels; else scalars as they are; else text for every value."""
    values = spec.axes[axis]
    if axis in spec.labels:
        return list(spec.labels[axis])
    if all(isinstance(v, _SCALARS) for v in values):
        return list(values)
    return [str(describe(v)) for v in values]
