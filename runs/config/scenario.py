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

Relative dataset and topology-file paths inside a scenario file are resolved against the
file's directory (so a study and its data can move together); ``--data`` paths are
resolved against the current directory.

``labs`` is either a list of labs or a generator mapping (``count``, ``name_prefix``, and
each lab field as a plain value or a rule of :mod:`labnet.runs.config.lab_rules`). A generator is
expanded into the concrete labs when the scenario is validated (``scenario.labs`` is
always a list of :class:`LabConfig`), and written back as the generator by
:meth:`Scenario.to_dict` / :meth:`Scenario.to_yaml`, so a written scenario reloads to the
same labs.
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
from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    PrivateAttr,
    Tag,
    TypeAdapter,
    ValidationError,
    ValidationInfo,
    field_serializer,
    field_validator,
    model_validator,
)

from labnet.agents.neighbour_selection import NeighbourSelection
from labnet.agents.spec import MIN_INITIAL_POINTS, Goal, LabSpec, Strategy
from labnet.models.config import LearnerConfig
from labnet.runs.config import lab_rules
from labnet.runs.config.builtins import BUILTIN_DIR, BUILTIN_PACKAGE, builtin_scenario_names
from labnet.runs.config.lab_rules import LAB_RULE_NAMES, fixed_or_rule
from labnet.models.pool_selection import PoolScoring
from labnet.models.transfer import TransferMode

DATASET_KINDS = ("synthetic", "b2", "csv")
TOPOLOGY_KINDS = (
    "isolated", "complete", "ring", "star", "edges", "line", "grid", "watts_strogatz",
    "barabasi_albert", "erdos_renyi", "random_regular", "stochastic_block", "file",
)
RANDOM_TOPOLOGY_KINDS = ("watts_strogatz", "barabasi_albert", "erdos_renyi", "random_regular", "stochastic_block")
TOPOLOGY_FILE_FORMATS = ("graphml", "edge_list")
TOPOLOGY_FILE_SUFFIXES = {".graphml": "graphml", ".xml": "graphml", ".csv": "edge_list", ".txt": "edge_list",
                          ".edges": "edge_list"}
"""Suffix -> format of a topology file (the same table as :data:`labnet.environment.topology_io.SUFFIX_FORMATS`)."""
BASELINES = ("isolated", "random")


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
    """The built-in synthetic world (needs no file); properties are named P0, P1, ...

    ``sim_distortion`` (None = off) adds a simulated twin ``Pk_sim`` of every property: the truth
    plus a smooth systematic error of that many standard deviations plus ``sim_bias``
    (:func:`labnet.environment.datasets.synthetic_world`).
    """

    kind: Literal["synthetic"] = "synthetic"
    n_candidates: int = Field(2000, ge=2)
    n_descriptors: int = Field(16, ge=2)
    n_properties: int = Field(3, ge=1)
    correlation: float = Field(0.5, ge=-1.0, le=1.0)
    seed: int = Field(0, ge=0)
    sim_distortion: float | None = Field(None, ge=0.0)
    sim_bias: float = 0.0


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

    Field meanings and defaults are those of :class:`labnet.agents.spec.LabSpec`.
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
    neighbour_selection: NeighbourSelection = _LAB_DEFAULTS["neighbour_selection"]
    neighbour_budget: int = Field(_LAB_DEFAULTS["neighbour_budget"], ge=1)
    neighbour_retry_every: int = Field(_LAB_DEFAULTS["neighbour_retry_every"], ge=1)
    community: int | None = Field(None, ge=0)
    """The lab's community in the topology (filled from the topology when it knows it); not part of LabSpec."""

    @model_validator(mode="after")
    def _spec_accepts(self) -> LabConfig:
        if not self.pools:
            unused = [name for name in POOL_SETTINGS if getattr(self, name) != _LAB_DEFAULTS[name]]
            if unused:
                raise FieldIssue([(name, "only used when 'pools' lists at least one pool directory") for name in unused])
        if self.neighbour_selection != "scaling":
            unused = [name for name in SCALING_SELECTION_SETTINGS if getattr(self, name) != _LAB_DEFAULTS[name]]
            if unused:
                raise FieldIssue([(name, "only used when neighbour_selection is 'scaling'") for name in unused])
        duplicates = sorted({p for p in self.pools if self.pools.count(p) > 1})
        if duplicates:
            raise FieldIssue([("pools", f"pool listed more than once: {', '.join(duplicates)}")])
        self.to_spec()  # LabSpec's own checks; its ValueError surfaces at labs[i]
        return self

    def to_spec(self) -> LabSpec:
        """The lab as the simulation's :class:`LabSpec` (``community`` is dropped)."""
        return LabSpec(**self.model_dump(exclude={"community"}))


_NonEmptyStr = Annotated[str, Field(min_length=1)]
_GENERATED_FIELD_TYPES: dict[str, Any] = {
    "property": _NonEmptyStr,
    "goal": Goal,
    "period_ticks": Annotated[int, Field(gt=0)],
    "initial_points": Annotated[int, Field(ge=MIN_INITIAL_POINTS)],
    "strategy": Strategy,
    "noise_std": Annotated[float, Field(ge=0.0)],
    "bias": float,
    "phase_ticks": Annotated[int, Field(ge=0)],
    "transfer_mode": TransferMode,
    "pools": tuple[str, ...],
    "pool_top_k": Annotated[int, Field(ge=1)],
    "pool_every": Annotated[int, Field(ge=1)],
    "pool_scoring": PoolScoring,
    "pool_cv_folds": Annotated[int, Field(ge=2)],
    "neighbour_selection": NeighbourSelection,
    "neighbour_budget": Annotated[int, Field(ge=1)],
    "neighbour_retry_every": Annotated[int, Field(ge=1)],
}
"""Generator field -> the type of one value (the LabConfig field's type and bounds)."""
_INTEGER_FIELDS = ("period_ticks", "initial_points", "phase_ticks", "pool_top_k", "pool_every", "pool_cv_folds",
                   "neighbour_budget", "neighbour_retry_every")
_NUMBER_FIELDS = ("noise_std", "bias")


class LabGenerator(_Strict):
    """``labs`` written as rules: ``count`` labs named ``name_prefix`` + zero-padded index.

    Every lab field is a plain value or a rule of :mod:`labnet.runs.config.lab_rules` (``round_robin``,
    ``choice``/``random``, ``by_community``, ``uniform_int`` for integer fields,
    ``uniform`` for number fields). Draws are seeded by ``seed`` (None: the scenario's seed).
    """

    count: int = Field(ge=1)
    name_prefix: str = "lab"
    property: fixed_or_rule(_NonEmptyStr)
    goal: fixed_or_rule(Goal) = _LAB_DEFAULTS["goal"]
    period_ticks: fixed_or_rule(_GENERATED_FIELD_TYPES["period_ticks"]) = _LAB_DEFAULTS["period_ticks"]
    initial_points: fixed_or_rule(_GENERATED_FIELD_TYPES["initial_points"]) = _LAB_DEFAULTS["initial_points"]
    strategy: fixed_or_rule(Strategy) = _LAB_DEFAULTS["strategy"]
    noise_std: fixed_or_rule(_GENERATED_FIELD_TYPES["noise_std"]) = _LAB_DEFAULTS["noise_std"]
    bias: fixed_or_rule(float) = _LAB_DEFAULTS["bias"]
    phase_ticks: fixed_or_rule(_GENERATED_FIELD_TYPES["phase_ticks"]) = _LAB_DEFAULTS["phase_ticks"]
    transfer_mode: fixed_or_rule(TransferMode) = _LAB_DEFAULTS["transfer_mode"]
    pools: fixed_or_rule(tuple[str, ...]) = _LAB_DEFAULTS["pools"]
    pool_top_k: fixed_or_rule(_GENERATED_FIELD_TYPES["pool_top_k"]) = _LAB_DEFAULTS["pool_top_k"]
    pool_every: fixed_or_rule(_GENERATED_FIELD_TYPES["pool_every"]) = _LAB_DEFAULTS["pool_every"]
    pool_scoring: fixed_or_rule(PoolScoring) = _LAB_DEFAULTS["pool_scoring"]
    pool_cv_folds: fixed_or_rule(_GENERATED_FIELD_TYPES["pool_cv_folds"]) = _LAB_DEFAULTS["pool_cv_folds"]
    neighbour_selection: fixed_or_rule(NeighbourSelection) = _LAB_DEFAULTS["neighbour_selection"]
    neighbour_budget: fixed_or_rule(_GENERATED_FIELD_TYPES["neighbour_budget"]) = _LAB_DEFAULTS["neighbour_budget"]
    neighbour_retry_every: fixed_or_rule(_GENERATED_FIELD_TYPES["neighbour_retry_every"]) = (
        _LAB_DEFAULTS["neighbour_retry_every"])
    seed: int | None = Field(None, ge=0)

    @model_validator(mode="after")
    def _rule_values_fit_their_field(self) -> LabGenerator:
        issues: list[tuple[str, str]] = []
        for field, value_type in _GENERATED_FIELD_TYPES.items():
            rule = getattr(self, field)
            if isinstance(rule, lab_rules.CategoricalRule):
                checks = [(f"values[{i}]", v) for i, v in enumerate(rule.values)]
            elif isinstance(rule, (lab_rules.UniformIntRule, lab_rules.UniformRule)):
                wanted = _INTEGER_FIELDS if isinstance(rule, lab_rules.UniformIntRule) else _NUMBER_FIELDS
                if field not in wanted:
                    hint = {"uniform_int": "uniform", "uniform": "uniform_int"}[rule.rule] if field in (
                        _INTEGER_FIELDS + _NUMBER_FIELDS) else "round_robin or choice"
                    issues.append((f"{field}.rule", f"{rule.rule!r} does not fit {field}; use {hint}"))
                    continue
                checks = [("low", rule.low), ("high", rule.high)]
            else:
                continue
            adapter = TypeAdapter(value_type)
            for where, value in checks:
                try:
                    adapter.validate_python(value)
                except ValidationError as exc:
                    for error in exc.errors():
                        issues.extend((f"{field}.{where}", line.removeprefix(": ")) for line in _describe(error, "", None))
        if issues:
            raise FieldIssue(issues)
        return self

    def names(self) -> list[str]:
        """The generated lab names, in order."""
        return lab_rules.generated_names(self.name_prefix, self.count)

    def community_fields(self) -> list[str]:
        """Fields whose rule is ``by_community``."""
        return [field for field in _GENERATED_FIELD_TYPES if lab_rules.needs_communities(getattr(self, field))]

    def expand(self, seed: int, communities: Sequence[int] | None) -> list[LabConfig]:
        """The concrete labs: every field drawn for ``count`` labs.

        Args:
            seed: seeds the draws (the generator's own ``seed`` when set is passed by the caller).
            communities: community of each lab in order, or None when unknown
                (then no field may use ``by_community``).
        """
        columns = {
            field: lab_rules.draw(getattr(self, field), self.count, lab_rules.field_rng(seed, field), communities)
            for field in _GENERATED_FIELD_TYPES
        }
        return [
            LabConfig(
                name=name,
                community=None if communities is None else communities[i],
                **{field: values[i] for field, values in columns.items()},
            )
            for i, name in enumerate(self.names())
        ]


def _labs_form(value: Any) -> str:
    return "generator" if isinstance(value, (Mapping, LabGenerator)) else "list"


LabsField = Annotated[
    Union[Annotated[list[LabConfig], Field(min_length=1), Tag("list")], Annotated[LabGenerator, Tag("generator")]],
    Discriminator(_labs_form),
]
"""``labs``: a list of labs or a :class:`LabGenerator` mapping."""


POOL_SETTINGS = ("pool_top_k", "pool_every", "pool_scoring", "pool_cv_folds")
"""Lab fields that only mean something when the lab lists pools."""
SCALING_SELECTION_SETTINGS = ("neighbour_budget", "neighbour_retry_every")
"""Lab fields that only mean something with ``neighbour_selection: scaling``."""


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


class LatencyRule(_Strict):
    """Edge latency drawn per link, uniformly from the integers [low, high] (ticks)."""

    rule: Literal["uniform_int"]
    low: int = Field(ge=0)
    high: int = Field(ge=0)

    @model_validator(mode="after")
    def _ordered(self) -> LatencyRule:
        if self.low > self.high:
            raise FieldIssue([("high", f"must be >= low ({self.low}) (got {self.high})")])
        return self


def _fixed_or_latency_rule(value: Any) -> str:
    return "rule" if isinstance(value, (Mapping, LatencyRule)) else "fixed"


LatencyField = Annotated[
    Union[Annotated[int, Field(ge=0), Tag("fixed")], Annotated[LatencyRule, Tag("rule")]],
    Discriminator(_fixed_or_latency_rule),
]

_KIND_PARAMETERS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "isolated": ((), ()),
    "complete": ((), ()),
    "ring": ((), ("bidirectional",)),
    "line": ((), ("bidirectional",)),
    "star": ((), ("hub", "bidirectional")),
    "edges": (("edges",), ()),
    "grid": (("n_rows",), ()),
    "watts_strogatz": (("k", "p"), ("directed", "seed")),
    "barabasi_albert": (("m",), ("directed", "seed")),
    "erdos_renyi": (("p",), ("directed", "seed")),
    "random_regular": (("degree",), ("directed", "seed")),
    "stochastic_block": (("p_in", "p_out"), ("block_sizes", "n_blocks", "directed", "seed")),
    "file": (("path",), ("format", "directed")),
}
"""Kind -> (required parameters, optional parameters). ``seed`` is also allowed with a latency rule."""
_UNDIRECTED_ONLY = ("watts_strogatz", "barabasi_albert", "random_regular")


class TopologyConfig(_Strict):
    """Who may use whose models.

    Attributes:
        kind: one of :data:`TOPOLOGY_KINDS`.
        edges: the edge list (kind "edges" only).
        hub: the star's hub lab (kind "star" only; default: the first lab).
        bidirectional: ring/line/star edges in both directions (default True).
        directed: random kinds and edge-list files: False (default) = every link used both
            ways; True = one direction (erdos_renyi, stochastic_block, edge-list files only).
        n_rows: grid rows (kind "grid"; must divide the number of labs).
        k, p: watts_strogatz ring neighbours (even) and rewiring probability; p is also
            erdos_renyi's edge probability.
        m: barabasi_albert links per new lab (< number of labs).
        degree: random_regular degree (< number of labs; degree × labs even).
        block_sizes, n_blocks: stochastic_block communities of consecutive labs: explicit
            sizes (summing to the number of labs) or a number of near-equal blocks.
        p_in, p_out: stochastic_block link probability inside / between communities.
        path, format: kind "file": a GraphML file or an edge list; format from the suffix
            (.graphml/.xml, .csv/.txt/.edges) unless given. Relative paths in a scenario file
            are relative to that file.
        seed: seeds random graphs and latency draws (None: the scenario's seed).
        latency_ticks: delivery latency of every edge in ticks, or ``{rule: uniform_int,
            low, high}`` drawn per link (default for edges without their own).
    """

    kind: Literal[TOPOLOGY_KINDS] = "complete"  # type: ignore[valid-type]
    edges: list[EdgeConfig] | None = None
    hub: str | None = None
    bidirectional: bool | None = None
    directed: bool | None = None
    n_rows: int | None = Field(None, ge=1)
    k: int | None = Field(None, ge=2)
    p: float | None = Field(None, ge=0.0, le=1.0)
    m: int | None = Field(None, ge=1)
    degree: int | None = Field(None, ge=0)
    block_sizes: list[Annotated[int, Field(ge=1)]] | None = Field(None, min_length=1)
    n_blocks: int | None = Field(None, ge=1)
    p_in: float | None = Field(None, ge=0.0, le=1.0)
    p_out: float | None = Field(None, ge=0.0, le=1.0)
    path: str | None = Field(None, min_length=1)
    format: Literal[TOPOLOGY_FILE_FORMATS] | None = None  # type: ignore[valid-type]
    seed: int | None = Field(None, ge=0)
    latency_ticks: LatencyField = 0

    @field_validator("path")
    @classmethod
    def _absolute_path(cls, value: str | None, info: ValidationInfo) -> str | None:
        """Relative paths: against the scenario file's directory (validation context ``base_dir``) or the cwd."""
        if value is None:
            return None
        path = Path(value).expanduser()
        if not path.is_absolute():
            base_dir = (info.context or {}).get("base_dir")
            path = Path(base_dir) / path if base_dir is not None else path
        return str(path.resolve())

    @model_validator(mode="after")
    def _fields_fit_kind(self) -> TopologyConfig:
        issues: list[tuple[str, str]] = []
        required, optional = _KIND_PARAMETERS[self.kind]
        allowed = set(required) | set(optional)
        if isinstance(self.latency_ticks, LatencyRule):
            allowed.add("seed")
        for name in ("edges", "hub", "bidirectional", "directed", "n_rows", "k", "p", "m", "degree",
                     "block_sizes", "n_blocks", "p_in", "p_out", "path", "format", "seed"):
            if getattr(self, name) is not None and name not in allowed:
                kinds = [kind for kind, (req, opt) in _KIND_PARAMETERS.items() if name in req + opt]
                if name == "seed":
                    where = f"by the random kinds ({', '.join(kinds)}) and latency_ticks rules"
                else:
                    where = f"when kind is {_either(kinds)}"
                issues.append((name, f"only used {where} (kind is {self.kind!r})"))
        for name in required:
            value = getattr(self, name)
            if name == "edges" and not value:
                issues.append(("edges", "required (a non-empty list of [source, target]) when kind is 'edges'"))
            elif value is None:
                issues.append((name, f"required when kind is {self.kind!r}"))
        if self.kind == "stochastic_block":
            if self.block_sizes is None and self.n_blocks is None:
                issues.append(("block_sizes", "required when kind is 'stochastic_block' (or give n_blocks)"))
            if self.block_sizes is not None and self.n_blocks is not None:
                issues.append(("n_blocks", "give either block_sizes or n_blocks, not both"))
        if self.kind == "watts_strogatz" and self.k is not None and self.k % 2:
            issues.append(("k", f"must be even (k/2 ring neighbours on each side) (got {self.k})"))
        if self.kind in _UNDIRECTED_ONLY and self.directed:
            issues.append(("directed", f"{self.kind} graphs are undirected (every link is used both ways); "
                                       "directed: true works with erdos_renyi, stochastic_block and edge-list files"))
        if self.kind == "isolated" and self.latency_ticks != 0:
            issues.append(("latency_ticks", "an isolated topology has no edges to delay"))
        if self.kind == "file" and self.path is not None and self.format is None:
            suffix = Path(self.path).suffix.lower()
            if suffix in TOPOLOGY_FILE_SUFFIXES:
                object.__setattr__(self, "format", TOPOLOGY_FILE_SUFFIXES[suffix])
            else:
                issues.append(("format", f"cannot tell the format from the suffix {suffix!r} of {self.path}; "
                                         f"set format: graphml or edge_list"))
        if self.kind == "file" and self.format == "graphml" and self.directed is not None:
            issues.append(("directed", "a GraphML file declares its own direction (edgedefault); leave directed unset"))
        if issues:
            raise FieldIssue(issues)
        # resolved defaults, without re-validating
        if self.kind in ("ring", "line", "star") and self.bidirectional is None:
            object.__setattr__(self, "bidirectional", True)
        if (self.kind in RANDOM_TOPOLOGY_KINDS or self.format == "edge_list") and self.directed is None:
            object.__setattr__(self, "directed", False)
        return self

    def block_sizes_for(self, n_labs: int) -> list[int]:
        """stochastic_block community sizes: ``block_sizes``, or ``n_blocks`` near-equal blocks (larger first)."""
        if self.block_sizes is not None:
            return list(self.block_sizes)
        n_blocks = self.n_blocks or 1
        return [n_labs // n_blocks + (1 if i < n_labs % n_blocks else 0) for i in range(n_blocks)]

    def issues_for(self, n_labs: int) -> list[tuple[str, str]]:
        """Problems that depend on the number of labs, as (field, message)."""
        issues: list[tuple[str, str]] = []
        if self.kind == "grid" and self.n_rows is not None and n_labs % self.n_rows:
            issues.append(("n_rows", f"must divide the number of labs ({n_labs}) (got {self.n_rows})"))
        if self.kind == "watts_strogatz" and self.k is not None and self.k >= n_labs:
            issues.append(("k", f"must be < the number of labs ({n_labs}) (got {self.k})"))
        if self.kind == "barabasi_albert" and self.m is not None and self.m >= n_labs:
            issues.append(("m", f"must be < the number of labs ({n_labs}) (got {self.m})"))
        if self.kind == "random_regular" and self.degree is not None:
            if self.degree >= n_labs:
                issues.append(("degree", f"must be < the number of labs ({n_labs}) (got {self.degree})"))
            elif (self.degree * n_labs) % 2:
                issues.append(("degree", f"degree × number of labs ({n_labs}) must be even (got {self.degree})"))
        if self.kind == "stochastic_block":
            if self.block_sizes is not None and sum(self.block_sizes) != n_labs:
                issues.append(("block_sizes", f"must sum to the number of labs ({n_labs}) "
                                              f"(got {self.block_sizes}, sum {sum(self.block_sizes)})"))
            if self.n_blocks is not None and self.n_blocks > n_labs:
                issues.append(("n_blocks", f"must be <= the number of labs ({n_labs}) (got {self.n_blocks})"))
        return issues

    def communities_for(self, names: Sequence[str], seed: int) -> dict[str, int]:
        """Lab -> community where the topology defines one: stochastic_block blocks (in lab
        order) or a file's ``community`` node attribute; empty otherwise.

        Raises:
            FieldIssue: the topology file cannot be read or matched to the labs (at ``path``).
        """
        if self.kind == "stochastic_block":
            communities: dict[str, int] = {}
            for block, size in enumerate(self.block_sizes_for(len(names))):
                for name in names[len(communities): len(communities) + size]:
                    communities[name] = block
            return communities
        if self.kind == "file" and self.path is not None:
            from labnet.environment.topology import Topology  # lazy: reading a file needs the environment

            try:
                return Topology.from_file(
                    names, self.path, format=self.format, directed=self.directed,
                    latency_ticks=self.latency_dict(), seed=self.seed if self.seed is not None else seed,
                ).communities
            except (OSError, ValueError) as exc:
                raise FieldIssue([("path", str(exc))]) from None
        return {}

    def latency_dict(self) -> int | dict[str, Any]:
        """``latency_ticks`` as the environment's builders take it (an int or a rule mapping)."""
        if isinstance(self.latency_ticks, LatencyRule):
            return self.latency_ticks.model_dump()
        return self.latency_ticks


def _either(values: Sequence[str]) -> str:
    quoted = [repr(v) for v in values]
    return quoted[0] if len(quoted) == 1 else ", ".join(quoted[:-1]) + " or " + quoted[-1]


# --------------------------------------------------------------------------- scenario


class Scenario(_Strict):
    """A whole study. Defaults: the paper's learner, 300 ticks, 10 trials, both baselines.

    Attributes:
        name: used in the run directory's name (letters, digits, ``_ . -``).
        dataset: where the candidate materials and their hidden properties come from.
        labs: the exploration systems (names unique), always a list of :class:`LabConfig`
            once validated; written in the file as a list or as a :class:`LabGenerator`.
        topology: the directed graph of model sharing.
        learner: ensemble training settings (:class:`labnet.models.config.LearnerConfig`).
        horizon_ticks: simulated ticks per run.
        trials: independent repeats; trial t uses seed ``seed + t`` in every condition.
        seed: base seed.
        baselines: conditions run beside the networked one: "isolated", "random".
        threshold_fraction: the headline metric's target, as a fraction of the property's best value.
    """

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$", max_length=100)
    dataset: Dataset = Field(default_factory=SyntheticDataset)
    labs: LabsField
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

    _lab_generator: LabGenerator | None = PrivateAttr(None)
    _generated_labs: list[LabConfig] | None = PrivateAttr(None)

    @model_validator(mode="after")
    def _cross_references(self) -> Scenario:
        generator = self._generator_to_expand()
        issues: list[tuple[str, str]] = []
        first_index: dict[str, int] = {}
        if generator is None:
            for i, lab in enumerate(self.labs):
                if lab.name in first_index:
                    issues.append((f"labs[{i}].name", f"duplicate lab name {lab.name!r} (also labs[{first_index[lab.name]}])"))
                else:
                    first_index[lab.name] = i
        else:
            first_index = {name: i for i, name in enumerate(generator.names())}
        names = list(first_index)
        known = ", ".join(names) if len(names) <= 20 else ", ".join(names[:20]) + f", … ({len(names)} labs)"
        for i, edge in enumerate(self.topology.edges or []):
            for end in ("source", "target"):
                name = getattr(edge, end)
                if name not in first_index:
                    issues.append((f"topology.edges[{i}].{end}", f"unknown lab {name!r}; labs are: {known}"))
        if self.topology.hub is not None and self.topology.hub not in first_index:
            issues.append(("topology.hub", f"unknown lab {self.topology.hub!r}; labs are: {known}"))
        issues += [(f"topology.{field}", message) for field, message in self.topology.issues_for(len(names))]
        if issues:
            raise FieldIssue(issues)
        try:
            communities = self.topology.communities_for(names, self.seed)
        except FieldIssue as exc:
            raise FieldIssue([(f"topology.{field}", message) for field, message in exc.issues]) from None
        if generator is not None:
            self._expand(generator, names, communities)
        else:
            self._fill_communities(communities)
        return self

    def _generator_to_expand(self) -> LabGenerator | None:
        """The generator whose labs this validation must (re)draw, or None for a plain list.

        A validated scenario keeps its generator privately; on a later assignment (e.g. of
        ``seed``) the labs are drawn again unless ``labs`` itself was replaced by a list.
        """
        if isinstance(self.labs, LabGenerator):
            return self.labs
        if self._lab_generator is not None and self.labs is self._generated_labs:
            return self._lab_generator
        self._lab_generator = self._generated_labs = None
        return None

    def _expand(self, generator: LabGenerator, names: list[str], communities: dict[str, int]) -> None:
        needing = generator.community_fields()
        missing = [name for name in names if name not in communities]
        if needing and missing:
            raise FieldIssue([(
                f"labs.{field}",
                f"rule by_community needs the community of every lab, but lab {missing[0]!r} has none; "
                "use topology kind stochastic_block or a GraphML file with node attribute 'community'",
            ) for field in needing])
        try:
            labs = generator.expand(
                seed=generator.seed if generator.seed is not None else self.seed,
                communities=None if missing else [communities[name] for name in names],
            )
        except ValidationError as exc:  # a combination of fields no lab accepts, e.g. pool settings without pools
            issues: list[tuple[str, str]] = []
            for error in exc.errors():
                cause = (error.get("ctx") or {}).get("error")
                if isinstance(cause, FieldIssue):  # LabConfig's own checks name their fields
                    issues += [(f"labs.{sub}" if sub else "labs", msg) for sub, msg in cause.issues]
                else:
                    issues += [("labs", line.removeprefix(": ")) for line in _describe(error, "", None)]
            raise FieldIssue(issues) from None
        object.__setattr__(self, "labs", labs)  # no re-validation: the labs were just built
        self._lab_generator = generator
        self._generated_labs = labs

    def _fill_communities(self, communities: dict[str, int]) -> None:
        issues = []
        labs = list(self.labs)
        for i, lab in enumerate(labs):
            known = communities.get(lab.name)
            if known is None:
                continue
            if lab.community is None:
                labs[i] = lab.model_copy(update={"community": known})
            elif lab.community != known:
                issues.append((f"labs[{i}].community", f"{lab.community} differs from the topology's community {known}"))
        if issues:
            raise FieldIssue(issues)
        object.__setattr__(self, "labs", labs)

    @field_serializer("labs", mode="wrap")
    def _labs_as_written(self, labs: Any, handler: Any, info: Any) -> Any:
        """A generated scenario writes its generator, not the drawn labs (they are redrawn on load)."""
        if self._lab_generator is not None and labs is self._generated_labs:
            return self._lab_generator.model_dump(mode=info.mode, exclude_none=info.exclude_none)
        return handler(labs)

    # ---- conversions

    @property
    def lab_generator(self) -> LabGenerator | None:
        """The generator the labs were drawn from, or None when the scenario lists its labs."""
        return self._lab_generator

    def lab_field_path(self, index: int, field: str) -> str:
        """Where the user wrote lab ``index``'s ``field``: ``labs[i].field``, or ``labs.field`` when generated."""
        return f"labs.{field}" if self._lab_generator is not None else f"labs[{index}].{field}"

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


def validate_scenario(data: Mapping[str, Any], label: str | None = None, base_dir: Path | None = None) -> Scenario:
    """Validate a mapping as a :class:`Scenario`; errors become one :class:`ScenarioError`.

    Args:
        base_dir: directory that relative ``topology.path`` values are relative to (None: the cwd).
    """
    if not isinstance(data, Mapping):
        raise ScenarioError(f"expected a mapping of scenario fields at the top level (got {type(data).__name__})", label)
    try:
        return Scenario.model_validate(dict(data), context={"base_dir": base_dir})
    except ValidationError as exc:
        raise ScenarioError(_format_validation_error(exc), label) from None


def load_builtin(name: str = "default") -> Scenario:
    """Load a shipped scenario by name (``"default"``, ``"paper_b2"``, ...)."""
    names = builtin_scenario_names()
    if name not in names:
        raise ScenarioError(f"unknown built-in scenario {name!r}; available: {', '.join(names)}")
    text = resources.files(BUILTIN_PACKAGE).joinpath(BUILTIN_DIR, f"{name}.yaml").read_text(encoding="utf-8")
    return _load_text(text, label=f"built-in scenario {name!r}", base_dir=None)


def scenario_from_argument(reference: str | None) -> Scenario:
    """A scenario from a file path, a built-in name, or None (the built-in default).

    Raises:
        FileNotFoundError: neither an existing file nor a built-in name.
    """
    if reference is None:
        return load_builtin("default")
    path = Path(reference)
    if not path.exists() and reference in builtin_scenario_names():
        return load_builtin(reference)
    if not path.exists():
        raise FileNotFoundError(
            f"scenario file not found: {reference} (built-in scenarios: {', '.join(builtin_scenario_names())})"
        )
    return load_scenario(path)


def read_yaml_mapping(text: str, label: str, kind: str, required: str) -> dict[str, Any]:
    """The top-level mapping of a YAML file of ``kind`` fields (scenario, sweep, ...).

    Raises:
        ScenarioError: not YAML, empty (the message names the ``required`` fields), or not a mapping.
    """
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ScenarioError(f"not valid YAML: {exc}", label) from None
    if data is None:
        raise ScenarioError(f"the file is empty; expected at least {required}", label)
    if not isinstance(data, dict):
        raise ScenarioError(f"expected a mapping of {kind} fields at the top level (got {type(data).__name__})", label)
    return data


def _load_text(text: str, label: str, base_dir: Path | None) -> Scenario:
    data = read_yaml_mapping(text, label, "scenario", "'name' and 'labs'")
    scenario = validate_scenario(data, label, base_dir)
    path = getattr(scenario.dataset, "path", None)
    if base_dir is not None and path is not None and not Path(path).expanduser().is_absolute():
        scenario.dataset.path = str((base_dir / Path(path).expanduser()).resolve())
    if base_dir is not None:  # pool directories, like the dataset, are relative to the scenario file
        for lab in scenario.labs:
            if lab.pools:
                lab.pools = _absolute_pools(lab.pools, base_dir)
        generator = scenario._lab_generator
        if generator is not None and generator.pools:  # what to_dict() writes, e.g. a run's scenario.yaml
            if isinstance(generator.pools, lab_rules.CategoricalRule):
                generator.pools = generator.pools.model_copy(
                    update={"values": [_absolute_pools(v, base_dir) for v in generator.pools.values]})
            elif not lab_rules.is_rule(generator.pools):
                generator.pools = _absolute_pools(generator.pools, base_dir)
    return scenario


def _absolute_pools(pools: Sequence[str], base_dir: Path) -> tuple[str, ...]:
    return tuple(p if Path(p).expanduser().is_absolute() else str((base_dir / Path(p).expanduser()).resolve())
                 for p in pools)


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
    issues = list(dict.fromkeys(  # a generator's labs share one path: report each missing property once
        f"{scenario.lab_field_path(i, 'property')} {lab.property!r} not in dataset; available: {', '.join(available)}"
        for i, lab in enumerate(scenario.labs)
        if lab.property not in available
    ))
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
        key = str(ctx.get("discriminator", "'kind'")).strip("'")
        tags = ", ".join(repr(k) for k in (DATASET_KINDS if key == "kind" else LAB_RULE_NAMES))
        if kind == "union_tag_not_found":
            return [f"{_join(path, key)}: required; expected one of {tags}"]
        return [f"{_join(path, key)}: unknown {key} {_short(ctx.get('tag'))}; expected one of {tags}"]
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

    Union tags that pydantic inserts (``dataset.csv.path``, ``labs.generator.count``) are dropped.
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
