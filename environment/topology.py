"""Who may use whose models: a directed graph over lab names with delivery latencies.

An edge ``q → p`` means lab p may use the models that lab q publishes; its attribute
``latency_ticks`` (int >= 0) delays delivery: a model q publishes at tick t is usable
by p from tick ``t + 1 + latency_ticks`` (see :mod:`labnet.environment.broker`).

Builders (class methods): ``isolated``, ``complete``, ``ring``, ``star``, ``line``, ``grid``,
``watts_strogatz``, ``barabasi_albert``, ``erdos_renyi``, ``random_regular``,
``stochastic_block``, :meth:`Topology.from_edges` and :meth:`Topology.from_networkx` (a graph
object). Files (GraphML or an edge list) are read and written by
:mod:`labnet.environment.topology_io` (``read_topology``, ``write_graphml``,
``write_edge_list``), which builds on this module. A scenario's topology kinds (``kind:``)
are the specs of :mod:`labnet.runs.config.topologies`.

Latencies: every builder takes ``latency_ticks``, either a fixed integer or a rule
``{"rule": "uniform_int", "low": a, "high": b}`` drawn once per link (an undirected link
gets one draw for both directions) from a generator seeded by ``seed``. Random builders
are deterministic given ``seed``; the graph and the latencies use separate streams, so
drawing latencies does not change the graph.

Communities: a topology may know the community (an integer >= 0) of some or all labs
(:attr:`Topology.communities`): the stochastic block model's blocks, or a GraphML node
attribute ``community``.
"""
from __future__ import annotations

import numbers
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from typing import Any

import networkx as nx
import numpy as np

Edge = tuple[str, str, int]
"""(source, target, latency_ticks)."""

LatencyTicks = int | Mapping[str, Any]
"""A fixed latency in ticks, or a rule ``{"rule": "uniform_int", "low": int, "high": int}`` (inclusive)."""

LATENCY_RULES = ("uniform_int",)

_LATENCY_STREAM = 0x1A7E
"""Mixed into the seed of latency draws so they are independent of the graph's own draws."""


def _latency(value: Any, edge: tuple[Any, Any]) -> int:
    """Validated latency in ticks; ``ValueError`` naming the edge otherwise."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or int(value) != value:
        raise ValueError(f"edge {edge[0]!r} -> {edge[1]!r}: latency_ticks = {value!r}: expected an integer >= 0")
    if value < 0:
        raise ValueError(f"edge {edge[0]!r} -> {edge[1]!r}: latency_ticks = {value!r} is negative; expected >= 0")
    return int(value)


def latency_sampler(latency_ticks: LatencyTicks, seed: int | None = 0) -> Callable[[], Any]:
    """A callable giving the latency of the next link: the fixed value, or a seeded draw from the rule.

    Args:
        latency_ticks: an integer (validated per edge by :class:`Topology`) or
            ``{"rule": "uniform_int", "low": int >= 0, "high": int >= low}``.
        seed: seeds the draws of a rule (None: not reproducible); unused for a fixed value.

    Raises:
        ValueError: a malformed rule (message starts with ``latency_ticks``).
    """
    if not isinstance(latency_ticks, Mapping):
        return lambda: latency_ticks
    rule = dict(latency_ticks)
    if rule.get("rule") not in LATENCY_RULES:
        raise ValueError(
            f"latency_ticks: rule {rule.get('rule')!r} is unknown; expected one of {', '.join(LATENCY_RULES)}"
        )
    if set(rule) != {"rule", "low", "high"}:
        raise ValueError(f"latency_ticks: rule uniform_int takes exactly the keys rule, low, high (got {sorted(rule)})")
    low, high = rule["low"], rule["high"]
    for key, value in (("low", low), ("high", high)):
        if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 0:
            raise ValueError(f"latency_ticks.{key} = {value!r}: expected an integer >= 0")
    if low > high:
        raise ValueError(f"latency_ticks: low = {low} is larger than high = {high}")
    rng = np.random.default_rng(None if seed is None else [_LATENCY_STREAM, seed])
    return lambda: int(rng.integers(low, high + 1))


def _describe(names: Sequence[str]) -> str:
    shown = ", ".join(repr(name) for name in names[:20])
    return shown + (f", … ({len(names)} labs)" if len(names) > 20 else "")


class Topology:
    """A directed graph over lab names; immutable once built.

    Args:
        names: the labs, unique non-empty strings; their order is the topology order
            (used for neighbour lists and edge listings).
        edges: (source, target, latency_ticks) triples.
        communities: lab -> community (integer >= 0) for the labs whose community is
            known (e.g. the blocks of a stochastic block model); others are left out.

    Raises:
        ValueError: duplicate or empty names, an edge to or from an unknown lab, a
            self-loop, a duplicate edge, a negative / non-integer latency, or a
            community of an unknown lab / not an integer >= 0.
    """

    def __init__(
        self, names: Sequence[str], edges: Iterable[Edge] = (), communities: Mapping[str, int] | None = None
    ) -> None:
        names = tuple(names)
        if not names:
            raise ValueError("names: expected at least one lab")
        for name in names:
            if not isinstance(name, str) or not name:
                raise ValueError(f"lab name {name!r}: expected a non-empty string")
        if len(set(names)) != len(names):
            duplicate = next(name for name in names if names.count(name) > 1)
            raise ValueError(f"lab name {duplicate!r} occurs more than once")
        self._names = names
        self._order = {name: i for i, name in enumerate(names)}
        graph = nx.DiGraph()
        graph.add_nodes_from(names)
        for source, target, latency in edges:
            for lab in (source, target):
                if lab not in self._order:
                    raise ValueError(
                        f"edge {source!r} -> {target!r}: unknown lab {lab!r}; known labs: {_describe(names)}"
                    )
            if source == target:
                raise ValueError(f"edge {source!r} -> {target!r}: self-loops are not allowed")
            if graph.has_edge(source, target):
                raise ValueError(f"edge {source!r} -> {target!r} is given more than once")
            graph.add_edge(source, target, latency_ticks=_latency(latency, (source, target)))
        self._communities: dict[str, int] = {}
        for lab, community in (communities or {}).items():
            if lab not in self._order:
                raise ValueError(f"community of unknown lab {lab!r}; known labs: {_describe(names)}")
            if isinstance(community, bool) or not isinstance(community, numbers.Integral) or community < 0:
                raise ValueError(f"lab {lab!r}: community = {community!r}: expected an integer >= 0")
            self._communities[lab] = int(community)
            graph.nodes[lab]["community"] = int(community)
        self._graph = graph
        self._in = {
            lab: sorted(
                ((source, graph.edges[source, lab]["latency_ticks"]) for source in graph.predecessors(lab)),
                key=lambda pair: self._order[pair[0]],
            )
            for lab in names
        }
        self._out = {
            lab: sorted(
                ((target, graph.edges[lab, target]["latency_ticks"]) for target in graph.successors(lab)),
                key=lambda pair: self._order[pair[0]],
            )
            for lab in names
        }

    # ------------------------------------------------------------------ queries

    @property
    def names(self) -> tuple[str, ...]:
        """The labs, in topology order."""
        return self._names

    @property
    def graph(self) -> nx.DiGraph:
        """A copy of the graph (nodes = lab names, edge attribute ``latency_ticks``, node
        attribute ``community`` where known)."""
        return self._graph.copy()

    @property
    def communities(self) -> dict[str, int]:
        """Lab -> community for the labs whose community is known (empty if none), in topology order."""
        return {lab: self._communities[lab] for lab in self._names if lab in self._communities}

    @property
    def max_latency(self) -> int:
        """Largest edge latency in ticks (0 without edges)."""
        return max((latency for _, _, latency in self.edges()), default=0)

    def _check_lab(self, lab: str) -> None:
        if lab not in self._order:
            raise ValueError(f"unknown lab {lab!r}; known labs: {_describe(self._names)}")

    def in_neighbors(self, lab: str) -> list[tuple[str, int]]:
        """Labs whose models ``lab`` may use, as (source, latency_ticks), in topology order."""
        self._check_lab(lab)
        return list(self._in[lab])

    def out_neighbors(self, lab: str) -> list[tuple[str, int]]:
        """Labs that may use ``lab``'s models, as (target, latency_ticks), in topology order."""
        self._check_lab(lab)
        return list(self._out[lab])

    def in_degree(self, lab: str) -> int:
        """Number of labs whose models ``lab`` may use."""
        self._check_lab(lab)
        return len(self._in[lab])

    def latency(self, source: str, target: str) -> int:
        """Latency in ticks of the edge source → target; ``KeyError`` if there is no such edge."""
        if not self._graph.has_edge(source, target):
            raise KeyError(f"no edge {source!r} -> {target!r}")
        return int(self._graph.edges[source, target]["latency_ticks"])

    def has_edge(self, source: str, target: str) -> bool:
        """True when ``target`` may use ``source``'s models."""
        return self._graph.has_edge(source, target)

    def edges(self) -> list[Edge]:
        """All edges as (source, target, latency_ticks), sorted by topology order of source, then target."""
        return [(source, target, latency) for source in self._names for target, latency in self._out[source]]

    def __len__(self) -> int:
        return len(self._names)

    def __contains__(self, lab: object) -> bool:
        return lab in self._order

    def __eq__(self, other: object) -> bool:
        """Same labs in the same order, same edges with the same latencies, same communities."""
        if not isinstance(other, Topology):
            return NotImplemented
        return (
            self._names == other._names
            and set(self.edges()) == set(other.edges())
            and self._communities == other._communities
        )

    def __repr__(self) -> str:
        return f"Topology(n_labs={len(self._names)}, n_edges={self._graph.number_of_edges()})"

    # ------------------------------------------------------------------ builders

    @classmethod
    def isolated(cls, names: Sequence[str]) -> Topology:
        """No edges: every lab learns alone."""
        return cls(names)

    @classmethod
    def _from_links(
        cls,
        names: Sequence[str],
        links: Iterable[tuple[str, str]],
        both_ways: bool,
        latency_ticks: LatencyTicks,
        seed: int | None,
        communities: Mapping[str, int] | None = None,
    ) -> Topology:
        """Edges from links (q, p): one latency per link; ``both_ways`` adds p → q with the same latency."""
        draw = latency_sampler(latency_ticks, seed)
        edges: list[Edge] = []
        for q, p in links:
            latency = draw()
            edges.append((q, p, latency))
            if both_ways:
                edges.append((p, q, latency))
        return cls(names, edges, communities)

    @classmethod
    def complete(cls, names: Sequence[str], latency_ticks: LatencyTicks = 0, seed: int | None = 0) -> Topology:
        """Every lab may use every other lab's models. ``seed`` only seeds a latency rule."""
        names = tuple(names)
        links = [(names[i], names[j]) for i in range(len(names)) for j in range(i + 1, len(names))]
        return cls._from_links(names, links, True, latency_ticks, seed)

    @classmethod
    def ring(
        cls,
        names: Sequence[str],
        bidirectional: bool = True,
        latency_ticks: LatencyTicks = 0,
        seed: int | None = 0,
    ) -> Topology:
        """names[i] → names[i+1] (cyclically); with ``bidirectional`` also names[i+1] → names[i]."""
        names = tuple(names)
        n = len(names)
        # two labs bidirectionally: one link (a–b), not a–b and b–a twice
        n_links = n if not bidirectional or n > 2 else n - 1
        links = [(names[i], names[(i + 1) % n]) for i in range(n_links) if names[i] != names[(i + 1) % n]]
        return cls._from_links(names, links, bidirectional, latency_ticks, seed)

    @classmethod
    def line(
        cls,
        names: Sequence[str],
        bidirectional: bool = True,
        latency_ticks: LatencyTicks = 0,
        seed: int | None = 0,
    ) -> Topology:
        """A path names[0] → names[1] → …; with ``bidirectional`` also the reverse edges."""
        names = tuple(names)
        return cls._from_links(names, zip(names, names[1:]), bidirectional, latency_ticks, seed)

    @classmethod
    def star(
        cls,
        names: Sequence[str],
        hub: str | None = None,
        bidirectional: bool = True,
        latency_ticks: LatencyTicks = 0,
        seed: int | None = 0,
    ) -> Topology:
        """hub → every other lab; with ``bidirectional`` also every lab → hub. Hub defaults to names[0]."""
        names = tuple(names)
        if not names:
            raise ValueError("names: expected at least one lab")
        hub = names[0] if hub is None else hub
        if hub not in names:
            raise ValueError(f"hub {hub!r} is not one of the labs; known labs: {_describe(names)}")
        links = [(hub, leaf) for leaf in names if leaf != hub]
        return cls._from_links(names, links, bidirectional, latency_ticks, seed)

    @classmethod
    def grid(
        cls, names: Sequence[str], n_rows: int, latency_ticks: LatencyTicks = 0, seed: int | None = 0
    ) -> Topology:
        """names laid out row-major on an n_rows × (N / n_rows) grid; 4-neighbours linked both ways."""
        names = tuple(names)
        if isinstance(n_rows, bool) or not isinstance(n_rows, int) or n_rows < 1 or len(names) % n_rows:
            raise ValueError(f"n_rows = {n_rows!r}: expected a positive divisor of the number of labs ({len(names)})")
        n_cols = len(names) // n_rows
        links: list[tuple[str, str]] = []
        for r in range(n_rows):
            for c in range(n_cols):
                for neighbor in ((r, c + 1), (r + 1, c)):
                    if neighbor[0] < n_rows and neighbor[1] < n_cols:
                        links.append((names[r * n_cols + c], names[neighbor[0] * n_cols + neighbor[1]]))
        return cls._from_links(names, links, True, latency_ticks, seed)

    @classmethod
    def watts_strogatz(
        cls,
        names: Sequence[str],
        k: int = 2,
        p: float = 0.1,
        seed: int | None = 0,
        latency_ticks: LatencyTicks = 0,
    ) -> Topology:
        """Small world (undirected, both directions): ring of k nearest neighbours, rewired with probability p.

        Args:
            k: each lab's number of ring neighbours before rewiring (even, < number of labs).
            p: rewiring probability of each ring edge, in [0, 1].
        """
        names = tuple(names)
        n = len(names)
        _check_int("k", k, 2, n - 1, "an even integer >= 2 and < the number of labs", n)
        if k % 2:
            raise ValueError(f"k = {k}: expected an even integer (k/2 ring neighbours on each side)")
        _check_probability("p", p)
        return cls._from_int_graph(names, nx.watts_strogatz_graph(n, k, p, seed=seed), latency_ticks, seed)

    @classmethod
    def barabasi_albert(
        cls, names: Sequence[str], m: int = 1, seed: int | None = 0, latency_ticks: LatencyTicks = 0
    ) -> Topology:
        """Scale-free preferential attachment (undirected, both directions), m edges per new lab.

        The graph has ``m · (N − m)`` undirected links (networkx's generator: a star over the
        first m + 1 labs, then each later lab attaches to m existing labs).
        """
        names = tuple(names)
        n = len(names)
        _check_int("m", m, 1, n - 1, "an integer >= 1 and < the number of labs", n)
        return cls._from_int_graph(names, nx.barabasi_albert_graph(n, m, seed=seed), latency_ticks, seed)

    @classmethod
    def erdos_renyi(
        cls,
        names: Sequence[str],
        p: float = 0.5,
        seed: int | None = 0,
        directed: bool = False,
        latency_ticks: LatencyTicks = 0,
    ) -> Topology:
        """G(n, p) random graph; undirected edges become both directions unless ``directed``
        (then each ordered pair is an edge with probability p)."""
        names = tuple(names)
        _check_probability("p", p)
        graph = nx.gnp_random_graph(len(names), p, seed=seed, directed=directed)
        return cls._from_int_graph(names, graph, latency_ticks, seed)

    @classmethod
    def random_regular(
        cls, names: Sequence[str], degree: int, seed: int | None = 0, latency_ticks: LatencyTicks = 0
    ) -> Topology:
        """Uniform random ``degree``-regular graph (undirected, both directions): every lab has
        exactly ``degree`` neighbours. Needs degree < N and degree · N even."""
        names = tuple(names)
        n = len(names)
        _check_int("degree", degree, 0, n - 1, "an integer >= 0 and < the number of labs", n)
        if (degree * n) % 2:
            raise ValueError(f"degree = {degree}: degree × number of labs ({n}) must be even")
        return cls._from_int_graph(names, nx.random_regular_graph(degree, n, seed=seed), latency_ticks, seed)

    @classmethod
    def stochastic_block(
        cls,
        names: Sequence[str],
        block_sizes: Sequence[int],
        p_in: float,
        p_out: float,
        seed: int | None = 0,
        directed: bool = False,
        latency_ticks: LatencyTicks = 0,
    ) -> Topology:
        """Stochastic block model: communities of consecutive labs, linked with probability
        ``p_in`` inside a community and ``p_out`` between communities.

        The first ``block_sizes[0]`` labs form community 0, the next ``block_sizes[1]``
        community 1, and so on (:attr:`communities`). Undirected (both directions) unless
        ``directed`` (then each ordered pair is drawn independently).
        """
        names = tuple(names)
        sizes = list(block_sizes)
        for i, size in enumerate(sizes):
            _check_int(f"block_sizes[{i}]", size, 1, None, "an integer >= 1", len(names))
        if not sizes or sum(sizes) != len(names):
            raise ValueError(f"block_sizes = {sizes}: expected sizes summing to the number of labs ({len(names)})")
        _check_probability("p_in", p_in)
        _check_probability("p_out", p_out)
        probabilities = [[p_in if i == j else p_out for j in range(len(sizes))] for i in range(len(sizes))]
        graph = nx.stochastic_block_model(sizes, probabilities, seed=seed, directed=directed)
        communities = {names[node]: int(block) for node, block in graph.nodes(data="block")}
        return cls._from_int_graph(names, graph, latency_ticks, seed, communities)

    @classmethod
    def _from_int_graph(
        cls,
        names: tuple[str, ...],
        graph: nx.Graph,
        latency_ticks: LatencyTicks,
        seed: int | None,
        communities: Mapping[str, int] | None = None,
    ) -> Topology:
        """Node i of a networkx generator's graph is names[i]; undirected links go both ways."""
        links = [(names[u], names[v]) for u, v in graph.edges()]
        return cls._from_links(names, links, not graph.is_directed(), latency_ticks, seed, communities)

    @classmethod
    def from_edges(
        cls, names: Sequence[str], edges: Iterable[Any], latency_ticks: LatencyTicks = 0, seed: int | None = 0
    ) -> Topology:
        """Edges given as ``(source, target)``, ``(source, target, latency_ticks)`` or
        ``{"source": ..., "target": ..., "latency_ticks": ...}``; an edge without its own
        latency gets ``latency_ticks`` (fixed, or drawn from the rule seeded by ``seed``)."""
        draw = latency_sampler(latency_ticks, seed)
        normalized: list[Edge] = []
        for edge in edges:
            if isinstance(edge, Mapping):
                unknown = set(edge) - {"source", "target", "latency_ticks"}
                if unknown or "source" not in edge or "target" not in edge:
                    raise ValueError(
                        f"edge {dict(edge)!r}: expected keys 'source', 'target' and optionally 'latency_ticks'"
                    )
                latency = edge["latency_ticks"] if edge.get("latency_ticks") is not None else draw()
                normalized.append((edge["source"], edge["target"], latency))
            elif isinstance(edge, Sequence) and not isinstance(edge, str) and len(edge) in (2, 3):
                normalized.append((edge[0], edge[1], edge[2] if len(edge) == 3 else draw()))
            else:
                raise ValueError(
                    f"edge {edge!r}: expected (source, target), (source, target, latency_ticks) "
                    "or a dict with 'source', 'target', 'latency_ticks'"
                )
        return cls(names, normalized)

    @classmethod
    def from_networkx(
        cls, graph: nx.Graph, names: Sequence[str] | Mapping[Hashable, str] | None = None
    ) -> Topology:
        """Any networkx graph; undirected edges become both directions.

        Args:
            graph: ``nx.Graph`` or ``nx.DiGraph``; edge attribute ``latency_ticks`` (default 0).
            names: lab names. None: ``str(node)`` for each node, in ``graph.nodes`` order.
                A mapping: node → name. A sequence containing exactly the graph's nodes: only
                sets the order. Any other sequence of ``len(graph)`` names: the i-th node of
                ``graph.nodes`` (e.g. integer node i of networkx generators) becomes names[i].
        """
        nodes = list(graph.nodes)
        if names is None:
            mapping = {node: str(node) for node in nodes}
            order = [mapping[node] for node in nodes]
        elif isinstance(names, Mapping):
            missing = [node for node in nodes if node not in names]
            if missing:
                raise ValueError(f"names: no name given for graph node {missing[0]!r}")
            mapping = {node: names[node] for node in nodes}
            order = [mapping[node] for node in nodes]
        else:
            order = list(names)
            if set(order) == set(nodes) and len(order) == len(nodes):
                mapping = {node: node for node in nodes}
            elif len(order) == len(nodes):
                mapping = dict(zip(nodes, order))
            else:
                raise ValueError(f"names: {len(order)} names for a graph with {len(nodes)} nodes")
        edges: list[Edge] = []
        for u, v, data in graph.edges(data=True):
            latency = data.get("latency_ticks", 0)
            edges.append((mapping[u], mapping[v], latency))
            if not graph.is_directed():
                edges.append((mapping[v], mapping[u], latency))
        return cls(order, edges)


def _check_int(name: str, value: Any, low: int, high: int | None, expected: str, n_labs: int) -> None:
    """``ValueError`` unless ``value`` is an int in [low, high] (high None: no upper bound)."""
    if (
        isinstance(value, bool)
        or not isinstance(value, numbers.Integral)
        or value < low
        or (high is not None and value > high)
    ):
        raise ValueError(f"{name} = {value!r}: expected {expected} ({n_labs} labs)")


def _check_probability(name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0.0 <= value <= 1.0:
        raise ValueError(f"{name} = {value!r}: expected a probability in [0, 1]")
