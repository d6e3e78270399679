"""The scenario file: one YAML document that fully describes a study.

A scenario names the dataset, the labs, the topology, the learner settings, the horizon,
the number of trials, the base seed and the baselines. It is validated when it is loaded
(pydantic v2, unknown keys rejected everywhere); every problem is reported as a
:class:`ScenarioError` whose message names the field path (``labs[1].period_ticks``) and
what was expected.

Typical use::

    scenario = resolve(load_scenario("study.yaml"), data="B2.csv", trials=3)
    scenario.lab_specs()        # -> list[LabSpec]
    scenario.learner            # -> LearnerConfig
    scenario.to_yaml("resolved.yaml")

Relative dataset paths inside a scenario file are resolved against the file's directory
(so a study and its data can move together); ``--data`` paths are resolved against the
current directory.
"""
from __future__ import annotations

import dataclasses
import difflib
import types
import typing
from collections.abc import Iterable, Mapping, Sequence
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal, Union

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from agents.spec import MIN_INITIAL_POINTS, Goal, LabSpec, Strategy
from models.config import LearnerConfig
from models.pool_selection import PoolScoring
from models.transfer import TransferMode

DATASET_KINDS = ("synthetic", "b2", "csv")
TOPOLOGY_KINDS = ("isolated", "complete", "ring", "star", "edges")
BASELINES = ("isolated", "random")
BUILTIN_PACKAGE = "runs"
BUILTIN_DIR = "scenarios"


class ScenarioError(ValueError):
    """A scenario that cannot be run; the message names the bad field path(s).

    Attributes:
        issues: one ``"path: problem"`` string per problem found.
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


class _Strict(BaseModel):
    """Base of every scenario model: unknown keys are errors, assignments are validated."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)


# --------------------------------------------------------------------------- dataset


class SyntheticDataset(_Strict):
    """The built-in synthetic world (needs no file); properties are named P0, P1, ..."""

    kind: Literal["synthetic"] = "synthetic"
    n_candidates: int = Field(2000, ge=2)
    n_descriptors: int = Field(16, ge=2)
    n_properties: int = Field(3, ge=1)
    correlation: float = Field(0.5, ge=-1.0, le=1.0)
    seed: int = Field(0, ge=0)


class B2Dataset(_Strict):
    """The B2 alloy dataset of paper 1 (properties M, Sp, Tc, ...); ``path`` may come from ``--data``."""

    kind: Literal["b2"]
    path: str | None = None


class CsvDataset(_Strict):
    """Any CSV file: property columns plus a formula column or numeric feature columns."""

    kind: Literal["csv"]
    path: str | None = None
    properties: list[str] = Field(min_length=1)
    formula_column: str | None = None
    feature_columns: list[str] | None = None
    id_column: str | None = None


Dataset = Annotated[Union[SyntheticDataset, B2Dataset, CsvDataset], Field(discriminator="kind")]


# --------------------------------------------------------------------------- labs

_LAB_DEFAULTS = {f.name: f.default for f in dataclasses.fields(LabSpec)}


class LabConfig(_Strict):
    """One lab as written in a scenario; :meth:`to_spec` gives the :class:`LabSpec`.

    Field meanings and defaults are those of :class:`agents.spec.LabSpec`.
    """

    name: str = Field(min_length=1)
    property: str = Field(min_length=1)
    goal: Goal = _LAB_DEFAULTS["goal"]
    period_ticks: int = Field(_LAB_DEFAULTS["period_ticks"], gt=0)
    initial_points: int = Field(_LAB_DEFAULTS["initial_points"], ge=MIN_INITIAL_POINTS)
    strategy: Strategy = _LAB_DEFAULTS["strategy"]
    noise_std: float = Field(_LAB_DEFAULTS["noise_std"], ge=0.0)
    bias: float = _LAB_DEFAULTS["bias"]
    phase_ticks: int = Field(_LAB_DEFAULTS["phase_ticks"], ge=0)
    transfer_mode: TransferMode = _LAB_DEFAULTS["transfer_mode"]
    pools: tuple[str, ...] = _LAB_DEFAULTS["pools"]
    pool_top_k: int = Field(_LAB_DEFAULTS["pool_top_k"], ge=1)
    pool_every: int = Field(_LAB_DEFAULTS["pool_every"], ge=1)
    pool_scoring: PoolScoring = _LAB_DEFAULTS["pool_scoring"]
    pool_cv_folds: int = Field(_LAB_DEFAULTS["pool_cv_folds"], ge=2)

    @model_validator(mode="after")
    def _spec_accepts(self) -> LabConfig:
        if not self.pools:
            unused = [name for name in POOL_SETTINGS if getattr(self, name) != _LAB_DEFAULTS[name]]
            if unused:
                raise FieldIssue([(name, "only used when 'pools' lists at least one pool directory") for name in unused])
        duplicates = sorted({p for p in self.pools if self.pools.count(p) > 1})
        if duplicates:
            raise FieldIssue([("pools", f"pool listed more than once: {', '.join(duplicates)}")])
        self.to_spec()  # LabSpec's own checks; its ValueError surfaces at labs[i]
        return self

    def to_spec(self) -> LabSpec:
        """The lab as the simulation's :class:`LabSpec`."""
        return LabSpec(**self.model_dump())


POOL_SETTINGS = ("pool_top_k", "pool_every", "pool_scoring", "pool_cv_folds")
"""Lab fields that only mean something when the lab lists pools."""


# --------------------------------------------------------------------------- topology


class EdgeConfig(_Strict):
    """A directed edge ``source -> target``: ``target`` may use ``source``'s models.

    Written as ``[source, target]``, ``[source, target, latency_ticks]`` or a mapping.
    ``latency_ticks`` None means the topology's ``latency_ticks``.
    """

    source: str
    target: str
    latency_ticks: int | None = Field(None, ge=0)

    @model_validator(mode="before")
    @classmethod
    def _from_list(cls, value: Any) -> Any:
        if isinstance(value, (list, tuple)):
            if len(value) not in (2, 3):
                raise ValueError(
                    f"expected [source, target], [source, target, latency_ticks] or a mapping "
                    f"with keys source, target, latency_ticks (got {value!r})"
                )
            return dict(zip(("source", "target", "latency_ticks"), value))
        return value

    @model_validator(mode="after")
    def _no_self_loop(self) -> EdgeConfig:
        if self.source == self.target:
            raise FieldIssue([("target", f"self-loop {self.source!r} -> {self.target!r} is not allowed")])
        return self


class TopologyConfig(_Strict):
    """Who may use whose models.

    Attributes:
        kind: isolated, complete, ring, star or edges.
        edges: the edge list (kind "edges" only).
        hub: the star's hub lab (kind "star" only; default: the first lab).
        bidirectional: ring/star edges in both directions (kind "ring"/"star" only; default True).
        latency_ticks: delivery latency of every edge (default for edges without their own), ticks.
    """

    kind: Literal["isolated", "complete", "ring", "star", "edges"] = "complete"
    edges: list[EdgeConfig] | None = None
    hub: str | None = None
    bidirectional: bool | None = None
    latency_ticks: int = Field(0, ge=0)

    @model_validator(mode="after")
    def _fields_fit_kind(self) -> TopologyConfig:
        issues = []
        if self.kind == "edges" and not self.edges:
            issues.append(("edges", "required (a non-empty list of [source, target]) when kind is 'edges'"))
        if self.kind != "edges" and self.edges is not None:
            issues.append(("edges", f"only used when kind is 'edges' (kind is {self.kind!r})"))
        if self.kind != "star" and self.hub is not None:
            issues.append(("hub", f"only used when kind is 'star' (kind is {self.kind!r})"))
        if self.kind not in ("ring", "star") and self.bidirectional is not None:
            issues.append(("bidirectional", f"only used when kind is 'ring' or 'star' (kind is {self.kind!r})"))
        if self.kind == "isolated" and self.latency_ticks:
            issues.append(("latency_ticks", "an isolated topology has no edges to delay"))
        if issues:
            raise FieldIssue(issues)
        if self.kind in ("ring", "star") and self.bidirectional is None:
            object.__setattr__(self, "bidirectional", True)  # resolved default, without re-validating
        return self


# --------------------------------------------------------------------------- scenario


class Scenario(_Strict):
    """A whole study. Defaults: the paper's learner, 300 ticks, 10 trials, both baselines.

    Attributes:
        name: used in the run directory's name (letters, digits, ``_ . -``).
        dataset: where the candidate materials and their hidden properties come from.
        labs: the exploration systems (names unique).
        topology: the directed graph of model sharing.
        learner: ensemble training settings (:class:`models.config.LearnerConfig`).
        horizon_ticks: simulated ticks per run.
        trials: independent repeats; trial t uses seed ``seed + t`` in every condition.
        seed: base seed.
        baselines: conditions run beside the networked one: "isolated", "random".
        threshold_fraction: the headline metric's target, as a fraction of the property's best value.
    """

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$", max_length=100)
    dataset: Dataset = Field(default_factory=SyntheticDataset)
    labs: list[LabConfig] = Field(min_length=1)
    topology: TopologyConfig = Field(default_factory=TopologyConfig)
    learner: LearnerConfig = Field(default_factory=LearnerConfig)
    horizon_ticks: int = Field(300, gt=0)
    trials: int = Field(10, ge=1)
    seed: int = Field(0, ge=0)
    baselines: list[Literal["isolated", "random"]] = Field(default_factory=lambda: list(BASELINES))
    threshold_fraction: float = Field(0.9, gt=0.0, le=1.0)

    @field_validator("baselines")
    @classmethod
    def _unique_baselines(cls, value: list[str]) -> list[str]:
        duplicates = sorted({b for b in value if value.count(b) > 1})
        if duplicates:
            raise ValueError(f"duplicate baseline(s): {', '.join(duplicates)}")
        return value

    @model_validator(mode="after")
    def _cross_references(self) -> Scenario:
        issues: list[tuple[str, str]] = []
        first_index: dict[str, int] = {}
        for i, lab in enumerate(self.labs):
            if lab.name in first_index:
                issues.append((f"labs[{i}].name", f"duplicate lab name {lab.name!r} (also labs[{first_index[lab.name]}])"))
            else:
                first_index[lab.name] = i
        known = ", ".join(first_index)
        for i, edge in enumerate(self.topology.edges or []):
            for end in ("source", "target"):
                name = getattr(edge, end)
                if name not in first_index:
                    issues.append((f"topology.edges[{i}].{end}", f"unknown lab {name!r}; labs are: {known}"))
        if self.topology.hub is not None and self.topology.hub not in first_index:
            issues.append(("topology.hub", f"unknown lab {self.topology.hub!r}; labs are: {known}"))
        if issues:
            raise FieldIssue(issues)
        return self

    # ---- conversions

    @property
    def lab_names(self) -> list[str]:
        """Lab names in scenario order."""
        return [lab.name for lab in self.labs]

    def lab_specs(self) -> list[LabSpec]:
        """The labs as :class:`LabSpec` objects, in scenario order."""
        return [lab.to_spec() for lab in self.labs]

    @property
    def goals(self) -> dict[str, str]:
        """Lab name -> "maximize" | "minimize"."""
        return {lab.name: lab.goal for lab in self.labs}

    @property
    def conditions(self) -> list[str]:
        """Condition names in run order: "networked" then the baselines."""
        return ["networked", *self.baselines]

    def to_dict(self) -> dict[str, Any]:
        """Plain-data form (lists, not tuples; unset optional fields left out)."""
        return self.model_dump(mode="json", exclude_none=True)

    def to_yaml(self, path: str | Path | None = None) -> str:
        """The scenario with every default filled in, as YAML; also written to ``path`` if given."""
        text = yaml.safe_dump(self.to_dict(), sort_keys=False, default_flow_style=None, allow_unicode=True, width=120)
        if path is not None:
            Path(path).write_text(text, encoding="utf-8")
        return text


# --------------------------------------------------------------------------- loading


def load_scenario(source: str | Path | Mapping[str, Any] | Scenario) -> Scenario:
    """Load and validate a scenario from a YAML file path or a mapping.

    Raises:
        FileNotFoundError: the file does not exist.
        ScenarioError: the YAML is malformed or the scenario is invalid (message names the fields).
    """
    if isinstance(source, Scenario):
        return source
    if isinstance(source, Mapping):
        return validate_scenario(source)
    path = Path(source).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"scenario file not found: {path}")
    return _load_text(path.read_text(encoding="utf-8"), label=str(path), base_dir=path.resolve().parent)


def validate_scenario(data: Mapping[str, Any], label: str | None = None) -> Scenario:
    """Validate a mapping as a :class:`Scenario`; errors become one :class:`ScenarioError`."""
    if not isinstance(data, Mapping):
        raise ScenarioError(f"expected a mapping of scenario fields at the top level (got {type(data).__name__})", label)
    try:
        return Scenario.model_validate(dict(data))
    except ValidationError as exc:
        raise ScenarioError(_format_validation_error(exc), label) from None


def builtin_scenario_names() -> list[str]:
    """Names of the scenarios shipped with labnet (``runs/scenarios/*.yaml``)."""
    folder = resources.files(BUILTIN_PACKAGE).joinpath(BUILTIN_DIR)
    return sorted(p.name[: -len(".yaml")] for p in folder.iterdir() if p.name.endswith(".yaml"))


def load_builtin(name: str = "default") -> Scenario:
    """Load a shipped scenario by name (``"default"``, ``"paper_b2"``, ...)."""
    names = builtin_scenario_names()
    if name not in names:
        raise ScenarioError(f"unknown built-in scenario {name!r}; available: {', '.join(names)}")
    text = resources.files(BUILTIN_PACKAGE).joinpath(BUILTIN_DIR, f"{name}.yaml").read_text(encoding="utf-8")
    return _load_text(text, label=f"built-in scenario {name!r}", base_dir=None)


def _load_text(text: str, label: str, base_dir: Path | None) -> Scenario:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ScenarioError(f"not valid YAML: {exc}", label) from None
    if data is None:
        raise ScenarioError("the file is empty; expected at least 'name' and 'labs'", label)
    if not isinstance(data, dict):
        raise ScenarioError(f"expected a mapping of scenario fields at the top level (got {type(data).__name__})", label)
    scenario = validate_scenario(data, label)
    path = getattr(scenario.dataset, "path", None)
    if base_dir is not None and path is not None and not Path(path).expanduser().is_absolute():
        scenario.dataset.path = str((base_dir / Path(path).expanduser()).resolve())
    if base_dir is not None:  # pool directories, like the dataset, are relative to the scenario file
        for lab in scenario.labs:
            if lab.pools:
                lab.pools = tuple(p if Path(p).expanduser().is_absolute() else str((base_dir / Path(p).expanduser()).resolve())
                             for p in lab.pools)
    return scenario


def resolve(
    scenario: Scenario,
    data: str | Path | None = None,
    trials: int | None = None,
    ticks: int | None = None,
    seed: int | None = None,
) -> Scenario:
    """Apply command-line overrides and make the scenario ready to run (returns a new object).

    Args:
        data: dataset file (``--data``) for b2/csv datasets; resolved against the current directory.
        trials, ticks, seed: replace ``trials``, ``horizon_ticks``, ``seed``.

    Raises:
        ScenarioError: a bad override, ``--data`` for a synthetic dataset, or a b2/csv dataset
            without a path (the message tells the user to pass ``--data PATH``).
    """
    issues = []
    for flag, value, minimum in (("--trials", trials, 1), ("--ticks", ticks, 1), ("--seed", seed, 0)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < minimum):
            issues.append(f"{flag}: expected an integer >= {minimum} (got {value!r})")
    if data is not None and scenario.dataset.kind == "synthetic":
        issues.append("--data: the scenario's dataset is synthetic (built in) and reads no file; "
                      "use a scenario with dataset kind 'b2' or 'csv'")
    if issues:
        raise ScenarioError(issues)

    raw = scenario.to_dict()
    if data is not None:
        raw["dataset"]["path"] = str(Path(data).expanduser().resolve())
    for key, value in (("trials", trials), ("horizon_ticks", ticks), ("seed", seed)):
        if value is not None:
            raw[key] = value
    resolved = validate_scenario(raw)
    if resolved.dataset.kind in ("b2", "csv") and resolved.dataset.path is None:
        raise ScenarioError(
            f"dataset.path: the {resolved.dataset.kind} dataset of scenario {resolved.name!r} has no file; "
            f"pass --data PATH (or set dataset.path in the scenario)"
        )
    return resolved


def check_properties(scenario: Scenario, property_names: Iterable[str]) -> None:
    """Check every lab's property exists in the loaded material space.

    Raises:
        ScenarioError: ``labs[i].property 'Foo' not in dataset; available: ...`` (one line per bad lab).
    """
    available = tuple(property_names)
    issues = [
        f"labs[{i}].property {lab.property!r} not in dataset; available: {', '.join(available)}"
        for i, lab in enumerate(scenario.labs)
        if lab.property not in available
    ]
    if issues:
        raise ScenarioError(issues)


# --------------------------------------------------------------------------- error messages


def _format_validation_error(exc: ValidationError) -> list[str]:
    lines: list[str] = []
    for error in exc.errors():
        path, model = _walk(error["loc"])
        lines.extend(_describe(error, path, model))
    return lines


def _join(path: str, child: str) -> str:
    if not path:
        return child
    if not child:
        return path
    return path + child if child.startswith("[") else f"{path}.{child}"


def _describe(error: Mapping[str, Any], path: str, parent: Any) -> list[str]:
    kind = error["type"]
    ctx = error.get("ctx") or {}
    got = _short(error.get("input"))
    if kind in ("value_error", "assertion_error"):
        cause = ctx.get("error")
        if isinstance(cause, FieldIssue):
            return [f"{_join(path, sub)}: {msg}" for sub, msg in cause.issues]
        message = str(cause) if cause is not None else error["msg"]
        if path and message.startswith(path.split("[")[0] + "."):  # e.g. LearnerConfig's "learner.epochs = 0: ..."
            return [message]
        return [f"{path}: {message}" if path else message]
    if kind in ("extra_forbidden", "unexpected_keyword_argument"):
        key = path.rsplit(".", 1)[-1]
        allowed = _field_names(parent)
        hint = difflib.get_close_matches(key, allowed, n=1)
        suggestion = f" (did you mean {hint[0]!r}?)" if hint else ""
        return [f"{path}: unknown key{suggestion}; allowed keys: {', '.join(allowed)}"]
    if kind == "missing":
        return [f"{path}: required field is missing"]
    if kind == "literal_error":
        what = "unknown kind" if path.endswith(".kind") else "unexpected value"
        return [f"{path}: {what} {got}; expected one of {ctx.get('expected')}"]
    if kind in ("union_tag_invalid", "union_tag_not_found"):
        tags = ", ".join(repr(k) for k in DATASET_KINDS)
        if kind == "union_tag_not_found":
            return [f"{_join(path, 'kind')}: required; expected one of {tags}"]
        return [f"{_join(path, 'kind')}: unknown kind {_short(ctx.get('tag'))}; expected one of {tags}"]
    bounds = {"greater_than": ">", "greater_than_equal": ">=", "less_than": "<", "less_than_equal": "<="}
    if kind in bounds:
        limit = next(iter(ctx.values()))
        return [f"{path}: must be {bounds[kind]} {limit} (got {got})"]
    if kind == "too_short":
        unit = "character(s)" if isinstance(error.get("input"), str) else "item(s)"
        return [f"{path}: must have at least {ctx.get('min_length')} {unit} (got {got})"]
    if kind == "string_pattern_mismatch":
        return [f"{path}: must match {ctx.get('pattern')} (got {got})"]
    return [f"{path}: {error['msg'][0].lower()}{error['msg'][1:]} (got {got})"]


def _short(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _walk(loc: Sequence[Any]) -> tuple[str, Any]:
    """Turn a pydantic error location into a user path; also return the type holding the last key.

    Discriminated-union tags that pydantic inserts (``dataset.csv.path``) are dropped.
    """
    path = ""
    current: Any = Scenario
    parent: Any = Scenario
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
        path = _join(path, str(part))
        current = _field_type(current, str(part))
    return path, parent


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
    tags = {}
    for member in members:
        if isinstance(member, type) and issubclass(member, BaseModel) and "kind" in member.model_fields:
            for value in typing.get_args(member.model_fields["kind"].annotation):
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


def _field_names(tp: Any) -> list[str]:
    tp = _unwrap(tp)
    members = _union_members(tp)
    if members:  # a union we could not narrow: offer every member's keys
        return sorted({n for m in members for n in _field_names(m)})
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        return list(tp.model_fields)
    if dataclasses.is_dataclass(tp):
        return [f.name for f in dataclasses.fields(tp)]
    return []
