"""Topology kinds: one small typed spec per ``kind``, each validating its own fields and building its graph.

A scenario's ``topology:`` mapping is validated by the spec registered for its ``kind``
(default ``complete``): :data:`TOPOLOGY_SPECS` maps kind -> spec class. Adding a kind is a
subclass of :class:`TopologySpec` with ``kind: Literal["name"]``, its fields and a
:meth:`TopologySpec.build` method, registered with :func:`register_topology`::

    @register_topology
    class WheelTopology(TopologySpec):
        kind: Literal["wheel"]
        def build(self, names, seed):
            return Topology.from_edges(names, ..., latency_ticks=self.latency_dict(), seed=seed)

Fields every kind has: ``seed`` (random kinds and latency rules only; None: the scenario's
seed) and ``latency_ticks`` (a fixed integer or ``{rule: uniform_int, low, high}``). A field that
another kind has is reported as "only used when kind is ..."; a required field as "required
when kind is ...". Checks that need the number of labs are :meth:`TopologySpec.issues_for`;
labs named by the topology (a star's hub, an edge list's ends) are
:meth:`TopologySpec.lab_references`.

The environment is imported only when a graph is built or a topology file is read, so
validating a scenario needs nothing beyond pydantic.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Literal, TypeVar, Union

from pydantic import (
    Discriminator,
    Field,
    GetCoreSchemaHandler,
    Tag,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import core_schema

from labnet.runs.config.errors import FieldIssue, StrictModel, issues_of

if TYPE_CHECKING:  # pragma: no cover
    from labnet.environment.topology import Topology

TOPOLOGY_FILE_FORMATS = ("graphml", "edge_list")
TOPOLOGY_FILE_SUFFIXES = {".graphml": "graphml", ".xml": "graphml", ".csv": "edge_list", ".txt": "edge_list",
                          ".edges": "edge_list"}
"""Suffix -> format of a topology file (the same table as :data:`labnet.environment.topology_io.SUFFIX_FORMATS`)."""
DEFAULT_TOPOLOGY_KIND = "complete"


# --------------------------------------------------------------------------- latency


class LatencyRule(StrictModel):
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


# --------------------------------------------------------------------------- the spec base and registry


class TopologySpec(StrictModel):
    """Base of every topology kind.

    Attributes:
        kind: the registry key (a ``Literal`` in each subclass).
        seed: seeds random graphs and latency draws (None: the scenario's seed).
        latency_ticks: delivery latency of every edge in ticks, or ``{rule: uniform_int,
            low, high}`` drawn per link (default for edges without their own).
    """

    kind: str
    seed: int | None = Field(None, ge=0)
    latency_ticks: LatencyField = 0

    random: ClassVar[bool] = False
    """True for random graphs: they take ``seed`` even with a fixed latency."""

    @model_validator(mode="before")
    @classmethod
    def _fields_fit_kind(cls, data: Any) -> Any:
        if not isinstance(data, Mapping):
            return data
        kind = cls.model_fields["kind"].annotation.__args__[0]
        issues: list[tuple[str, str]] = []
        for name in data:
            if name in cls.model_fields or name == "seed":
                continue
            kinds = [k for k, spec in TOPOLOGY_SPECS.items() if name in spec.model_fields]
            if kinds:
                issues.append((name, f"only used when kind is {_either(kinds)} (kind is {kind!r})"))
        for name, info in cls.model_fields.items():
            if info.is_required() and name not in data and name != "kind":
                issues.append((name, f"required when kind is {kind!r}"))
        if issues:
            raise FieldIssue(issues)
        return data

    @model_validator(mode="after")
    def _seed_is_used(self) -> TopologySpec:
        if self.seed is not None and not self.random and not isinstance(self.latency_ticks, LatencyRule):
            randoms = [k for k, spec in TOPOLOGY_SPECS.items() if spec.random]
            raise FieldIssue([("seed", f"only used by the random kinds ({', '.join(randoms)}) and latency_ticks "
                                       f"rules (kind is {self.kind!r})")])
        return self

    # ---- what a kind may override

    def build(self, names: Sequence[str], seed: int | None) -> Topology:
        """The graph over ``names`` (in scenario order); ``seed``: this spec's seed or the scenario's."""
        raise NotImplementedError

    def issues_for(self, n_labs: int) -> list[tuple[str, str]]:
        """Problems that depend on the number of labs, as (field, message)."""
        return []

    def lab_references(self) -> list[tuple[str, str]]:
        """Labs this spec names, as (field path, lab name), checked against the scenario's labs."""
        return []

    def communities_for(self, names: Sequence[str], seed: int) -> dict[str, int]:
        """Lab -> community where the topology defines one (empty otherwise)."""
        return {}

    # ---- helpers

    def latency_dict(self) -> int | dict[str, Any]:
        """``latency_ticks`` as the environment's builders take it (an int or a rule mapping)."""
        if isinstance(self.latency_ticks, LatencyRule):
            return self.latency_ticks.model_dump()
        return self.latency_ticks


TOPOLOGY_SPECS: dict[str, type[TopologySpec]] = {}
"""Kind -> spec class, in registration order."""

SpecT = TypeVar("SpecT", bound=type[TopologySpec])


def register_topology(spec: SpecT) -> SpecT:
    """Class decorator: make ``spec`` the topology of ``kind: <its kind>`` (replacing one of that kind)."""
    kinds = spec.model_fields["kind"].annotation.__args__
    for kind in kinds:
        TOPOLOGY_SPECS[kind] = spec
    return spec


def topology_kinds() -> tuple[str, ...]:
    """The registered kinds, in registration order."""
    return tuple(TOPOLOGY_SPECS)


def validate_topology(value: Any, context: Mapping[str, Any] | None = None) -> TopologySpec:
    """A ``topology:`` mapping (or spec) as the spec of its kind.

    Raises:
        FieldIssue: problems at paths relative to the mapping (``kind``, ``m``, ``edges[1].source``).
    """
    if isinstance(value, TopologySpec):
        return value
    if not isinstance(value, Mapping):
        raise FieldIssue([("", f"expected a mapping with a 'kind' (one of {', '.join(topology_kinds())}) "
                               f"(got {type(value).__name__})")])
    kind = value.get("kind", DEFAULT_TOPOLOGY_KIND)
    spec = TOPOLOGY_SPECS.get(kind) if isinstance(kind, str) else None
    if spec is None:
        expected = ", ".join(repr(k) for k in topology_kinds())
        raise FieldIssue([("kind", f"unknown kind {kind!r}; expected one of {expected}")])
    try:
        return spec.model_validate({**value, "kind": kind}, context=context)
    except ValidationError as exc:
        raise FieldIssue(issues_of(exc, spec)) from None


class _TopologyField:
    """pydantic annotation of ``Scenario.topology``: dispatch to the spec registered for ``kind``
    at validation time (so kinds registered later are accepted), serialize with that spec."""

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler) -> core_schema.CoreSchema:
        def validate(value: Any, info: core_schema.ValidationInfo) -> TopologySpec:
            return validate_topology(value, info.context)

        def serialize(value: TopologySpec, info: core_schema.SerializationInfo) -> Any:
            return value.model_dump(mode=info.mode, exclude_none=info.exclude_none)

        return core_schema.with_info_plain_validator_function(
            validate, serialization=core_schema.plain_serializer_function_ser_schema(serialize, info_arg=True))


TopologyField = Annotated[TopologySpec, _TopologyField()]
"""``Scenario.topology``: any registered topology spec."""


def default_topology() -> TopologySpec:
    """The topology of a scenario that names none: ``complete``."""
    return TOPOLOGY_SPECS[DEFAULT_TOPOLOGY_KIND]()


def _either(values: Sequence[str]) -> str:
    quoted = [repr(v) for v in values]
    return quoted[0] if len(quoted) == 1 else ", ".join(quoted[:-1]) + " or " + quoted[-1]


def _environment() -> Any:
    from labnet.environment.topology import Topology  # lazy: building a graph needs the environment

    return Topology


def _fewer_than_labs(name: str, value: int | None, n_labs: int) -> list[tuple[str, str]]:
    if value is not None and value >= n_labs:
        return [(name, f"must be < the number of labs ({n_labs}) (got {value})")]
    return []


# --------------------------------------------------------------------------- the kinds


@register_topology
class IsolatedTopology(TopologySpec):
    """No edges: every lab learns alone."""

    kind: Literal["isolated"]

    @model_validator(mode="after")
    def _no_latency(self) -> IsolatedTopology:
        if self.latency_ticks != 0:
            raise FieldIssue([("latency_ticks", "an isolated topology has no edges to delay")])
        return self

    def build(self, names: Sequence[str], seed: int | None) -> Topology:
        return _environment().isolated(names)


@register_topology
class CompleteTopology(TopologySpec):
    """Every lab may use every other lab's models (the default)."""

    kind: Literal["complete"] = "complete"

    def build(self, names: Sequence[str], seed: int | None) -> Topology:
        return _environment().complete(names, latency_ticks=self.latency_dict(), seed=seed)


@register_topology
class RingTopology(TopologySpec):
    """names[i] -> names[i+1] cyclically; ``bidirectional`` (default) also the reverse."""

    kind: Literal["ring"]
    bidirectional: bool = True

    def build(self, names: Sequence[str], seed: int | None) -> Topology:
        return _environment().ring(names, bidirectional=self.bidirectional, latency_ticks=self.latency_dict(),
                                   seed=seed)


@register_topology
class StarTopology(TopologySpec):
    """``hub`` (default: the first lab) -> every other lab; ``bidirectional`` also the reverse."""

    kind: Literal["star"]
    hub: str | None = None
    bidirectional: bool = True

    def lab_references(self) -> list[tuple[str, str]]:
        return [] if self.hub is None else [("hub", self.hub)]

    def build(self, names: Sequence[str], seed: int | None) -> Topology:
        return _environment().star(names, hub=self.hub, bidirectional=self.bidirectional,
                                   latency_ticks=self.latency_dict(), seed=seed)


class EdgeConfig(StrictModel):
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


@register_topology
class EdgesTopology(TopologySpec):
    """An explicit edge list."""

    kind: Literal["edges"]
    edges: list[EdgeConfig]

    @model_validator(mode="after")
    def _not_empty(self) -> EdgesTopology:
        if not self.edges:
            raise FieldIssue([("edges", "required (a non-empty list of [source, target]) when kind is 'edges'")])
        return self

    def lab_references(self) -> list[tuple[str, str]]:
        return [(f"edges[{i}].{end}", getattr(edge, end)) for i, edge in enumerate(self.edges)
                for end in ("source", "target")]

    def build(self, names: Sequence[str], seed: int | None) -> Topology:
        edges = [{"source": e.source, "target": e.target, "latency_ticks": e.latency_ticks} for e in self.edges]
        return _environment().from_edges(names, edges, latency_ticks=self.latency_dict(), seed=seed)


@register_topology
class LineTopology(TopologySpec):
    """A path names[0] -> names[1] -> ...; ``bidirectional`` (default) also the reverse."""

    kind: Literal["line"]
    bidirectional: bool = True

    def build(self, names: Sequence[str], seed: int | None) -> Topology:
        return _environment().line(names, bidirectional=self.bidirectional, latency_ticks=self.latency_dict(),
                                   seed=seed)


@register_topology
class GridTopology(TopologySpec):
    """Labs row-major on an ``n_rows`` x (N / n_rows) grid, 4-neighbours linked both ways."""

    kind: Literal["grid"]
    n_rows: int = Field(ge=1)

    def issues_for(self, n_labs: int) -> list[tuple[str, str]]:
        if n_labs % self.n_rows:
            return [("n_rows", f"must divide the number of labs ({n_labs}) (got {self.n_rows})")]
        return []

    def build(self, names: Sequence[str], seed: int | None) -> Topology:
        return _environment().grid(names, n_rows=self.n_rows, latency_ticks=self.latency_dict(), seed=seed)


class _UndirectedRandomTopology(TopologySpec):
    """A random graph whose links are always used both ways (``directed: true`` is refused)."""

    random: ClassVar[bool] = True
    directed: bool = False

    @model_validator(mode="after")
    def _undirected(self) -> _UndirectedRandomTopology:
        if self.directed:
            raise FieldIssue([("directed", f"{self.kind} graphs are undirected (every link is used both ways); "
                                           "directed: true works with erdos_renyi, stochastic_block and "
                                           "edge-list files")])
        return self


@register_topology
class WattsStrogatzTopology(_UndirectedRandomTopology):
    """Small world: a ring of ``k`` nearest neighbours (even), each edge rewired with probability ``p``."""

    kind: Literal["watts_strogatz"]
    k: int = Field(ge=2)
    p: float = Field(ge=0.0, le=1.0)

    @model_validator(mode="after")
    def _even(self) -> WattsStrogatzTopology:
        if self.k % 2:
            raise FieldIssue([("k", f"must be even (k/2 ring neighbours on each side) (got {self.k})")])
        return self

    def issues_for(self, n_labs: int) -> list[tuple[str, str]]:
        return _fewer_than_labs("k", self.k, n_labs)

    def build(self, names: Sequence[str], seed: int | None) -> Topology:
        return _environment().watts_strogatz(names, k=self.k, p=self.p, seed=seed, latency_ticks=self.latency_dict())


@register_topology
class BarabasiAlbertTopology(_UndirectedRandomTopology):
    """Scale-free preferential attachment, ``m`` links per new lab (< number of labs)."""

    kind: Literal["barabasi_albert"]
    m: int = Field(ge=1)

    def issues_for(self, n_labs: int) -> list[tuple[str, str]]:
        return _fewer_than_labs("m", self.m, n_labs)

    def build(self, names: Sequence[str], seed: int | None) -> Topology:
        return _environment().barabasi_albert(names, m=self.m, seed=seed, latency_ticks=self.latency_dict())


@register_topology
class ErdosRenyiTopology(TopologySpec):
    """G(n, p); undirected links used both ways unless ``directed`` (then each ordered pair)."""

    kind: Literal["erdos_renyi"]
    random: ClassVar[bool] = True
    p: float = Field(ge=0.0, le=1.0)
    directed: bool = False

    def build(self, names: Sequence[str], seed: int | None) -> Topology:
        return _environment().erdos_renyi(names, p=self.p, seed=seed, directed=self.directed,
                                          latency_ticks=self.latency_dict())


@register_topology
class RandomRegularTopology(_UndirectedRandomTopology):
    """Every lab has exactly ``degree`` neighbours (degree < number of labs, degree x labs even)."""

    kind: Literal["random_regular"]
    degree: int = Field(ge=0)

    def issues_for(self, n_labs: int) -> list[tuple[str, str]]:
        if self.degree >= n_labs:
            return [("degree", f"must be < the number of labs ({n_labs}) (got {self.degree})")]
        if (self.degree * n_labs) % 2:
            return [("degree", f"degree × number of labs ({n_labs}) must be even (got {self.degree})")]
        return []

    def build(self, names: Sequence[str], seed: int | None) -> Topology:
        return _environment().random_regular(names, degree=self.degree, seed=seed, latency_ticks=self.latency_dict())


@register_topology
class StochasticBlockTopology(TopologySpec):
    """Communities of consecutive labs (``block_sizes`` or ``n_blocks`` near-equal ones), linked
    with probability ``p_in`` inside a community and ``p_out`` between communities."""

    kind: Literal["stochastic_block"]
    random: ClassVar[bool] = True
    block_sizes: list[Annotated[int, Field(ge=1)]] | None = Field(None, min_length=1)
    n_blocks: int | None = Field(None, ge=1)
    p_in: float = Field(ge=0.0, le=1.0)
    p_out: float = Field(ge=0.0, le=1.0)
    directed: bool = False

    @model_validator(mode="after")
    def _blocks_given_once(self) -> StochasticBlockTopology:
        if self.block_sizes is None and self.n_blocks is None:
            raise FieldIssue([("block_sizes", "required when kind is 'stochastic_block' (or give n_blocks)")])
        if self.block_sizes is not None and self.n_blocks is not None:
            raise FieldIssue([("n_blocks", "give either block_sizes or n_blocks, not both")])
        return self

    def block_sizes_for(self, n_labs: int) -> list[int]:
        """Community sizes: ``block_sizes``, or ``n_blocks`` near-equal blocks (larger first)."""
        if self.block_sizes is not None:
            return list(self.block_sizes)
        n_blocks = self.n_blocks or 1
        return [n_labs // n_blocks + (1 if i < n_labs % n_blocks else 0) for i in range(n_blocks)]

    def issues_for(self, n_labs: int) -> list[tuple[str, str]]:
        issues = []
        if self.block_sizes is not None and sum(self.block_sizes) != n_labs:
            issues.append(("block_sizes", f"must sum to the number of labs ({n_labs}) "
                                          f"(got {self.block_sizes}, sum {sum(self.block_sizes)})"))
        if self.n_blocks is not None and self.n_blocks > n_labs:
            issues.append(("n_blocks", f"must be <= the number of labs ({n_labs}) (got {self.n_blocks})"))
        return issues

    def communities_for(self, names: Sequence[str], seed: int) -> dict[str, int]:
        communities: dict[str, int] = {}
        for block, size in enumerate(self.block_sizes_for(len(names))):
            for name in names[len(communities): len(communities) + size]:
                communities[name] = block
        return communities

    def build(self, names: Sequence[str], seed: int | None) -> Topology:
        return _environment().stochastic_block(
            names, self.block_sizes_for(len(names)), p_in=self.p_in, p_out=self.p_out,
            seed=seed, directed=self.directed, latency_ticks=self.latency_dict(),
        )


@register_topology
class FileTopology(TopologySpec):
    """A GraphML file or an edge list (:mod:`labnet.environment.topology_io`).

    ``format`` from the suffix (.graphml/.xml, .csv/.txt/.edges) unless given; relative paths in
    a scenario file are relative to that file. ``directed``: edge lists only (default False:
    every line used both ways); a GraphML file declares its own direction.
    """

    kind: Literal["file"]
    path: str = Field(min_length=1)
    format: Literal[TOPOLOGY_FILE_FORMATS] | None = None  # type: ignore[valid-type]
    directed: bool | None = None

    @field_validator("path")
    @classmethod
    def _absolute_path(cls, value: str, info: ValidationInfo) -> str:
        """Relative paths: against the scenario file's directory (validation context ``base_dir``) or the cwd."""
        path = Path(value).expanduser()
        if not path.is_absolute():
            base_dir = (info.context or {}).get("base_dir")
            path = Path(base_dir) / path if base_dir is not None else path
        return str(path.resolve())

    @model_validator(mode="after")
    def _format_and_direction(self) -> FileTopology:
        issues: list[tuple[str, str]] = []
        if self.format is None:
            suffix = Path(self.path).suffix.lower()
            if suffix in TOPOLOGY_FILE_SUFFIXES:
                object.__setattr__(self, "format", TOPOLOGY_FILE_SUFFIXES[suffix])
            else:
                issues.append(("format", f"cannot tell the format from the suffix {suffix!r} of {self.path}; "
                                         f"set format: graphml or edge_list"))
        if self.format == "graphml" and self.directed is not None:
            issues.append(("directed", "a GraphML file declares its own direction (edgedefault); leave directed unset"))
        if issues:
            raise FieldIssue(issues)
        if self.format == "edge_list" and self.directed is None:
            object.__setattr__(self, "directed", False)
        return self

    def _read(self, names: Sequence[str], seed: int | None) -> Topology:
        from labnet.environment.topology_io import read_topology

        return read_topology(self.path, names, format=self.format, directed=self.directed,
                             latency_ticks=self.latency_dict(), seed=seed)

    def communities_for(self, names: Sequence[str], seed: int) -> dict[str, int]:
        """The file's ``community`` node attribute.

        Raises:
            FieldIssue: the file cannot be read or matched to the labs (at ``path``).
        """
        try:
            return self._read(names, self.seed if self.seed is not None else seed).communities
        except (OSError, ValueError) as exc:
            raise FieldIssue([("path", str(exc))]) from None

    def build(self, names: Sequence[str], seed: int | None) -> Topology:
        return self._read(names, seed)


TOPOLOGY_KINDS = topology_kinds()
"""The built-in kinds (more may be registered later: use :func:`topology_kinds`)."""
RANDOM_TOPOLOGY_KINDS = tuple(kind for kind, spec in TOPOLOGY_SPECS.items() if spec.random)
