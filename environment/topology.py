"""Who may use whose models: a directed graph over lab names with delivery latencies.

An edge ``q → p`` means lab p may use the models that lab q publishes; its attribute
``latency_ticks`` (int >= 0) delays delivery: a model q publishes at tick t is usable
by p from tick ``t + 1 + latency_ticks`` (see :mod:`environment.broker`).

Builders (also in :data:`BUILDERS`, called as ``BUILDERS[kind](names, **params)``):
``isolated``, ``complete``, ``ring``, ``star``, ``line``, ``grid``, ``watts_strogatz``,
``barabasi_albert``, ``erdos_renyi``, ``edges`` (= :meth:`Topology.from_edges`).
:meth:`Topology.from_networkx` takes a graph object and is not in ``BUILDERS``.
"""
from __future__ import annotations

import numbers
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from typing import Any

import networkx as nx

Edge = tuple[str, str, int]
"""(source, target, latency_ticks)."""


def _latency(value: Any, edge: tuple[Any, Any]) -> int:
    """Validated latency in ticks; ``ValueError`` naming the edge otherwise."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or int(value) != value:
        raise ValueError(f"edge {edge[0]!r} -> {edge[1]!r}: latency_ticks = {value!r}: expected an integer >= 0")
    if value < 0:
        raise ValueError(f"edge {edge[0]!r} -> {edge[1]!r}: latency_ticks = {value!r} is negative; expected >= 0")
    return int(value)


def _describe(names: Sequence[str]) -> str:
    shown = ", ".join(repr(name) for name in names[:20])
    return shown + (f", … ({len(names)} labs)" if len(names) > 20 else "")


class Topology:
    """A directed graph over lab names; immutable once built.

    Args:
        names: the labs, unique non-empty strings; their order is the topology order
            (used for neighbour lists and edge listings).
        edges: (source, target, latency_ticks) triples.

    Raises:
        ValueError: duplicate or empty names, an edge to or from an unknown lab, a
            self-loop, a duplicate edge, or a negative / non-integer latency.
    """

    def __init__(self, names: Sequence[str], edges: Iterable[Edge] = ()) -> None:
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
        """A copy of the graph (nodes = lab names, edge attribute ``latency_ticks``)."""
        return self._graph.copy()

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
        if not isinstance(other, Topology):
            return NotImplemented
        return self._names == other._names and set(self.edges()) == set(other.edges())

    def __repr__(self) -> str:
        return f"Topology(n_labs={len(self._names)}, n_edges={self._graph.number_of_edges()})"

    # ------------------------------------------------------------------ builders

    @classmethod
    def isolated(cls, names: Sequence[str]) -> Topology:
        """No edges: every lab learns alone."""
        return cls(names)

    @classmethod
    def complete(cls, names: Sequence[str], latency_ticks: int = 0) -> Topology:
        """Every lab may use every other lab's models."""
        names = tuple(names)
        return cls(names, [(q, p, latency_ticks) for q in names for p in names if q != p])

    @classmethod
    def ring(cls, names: Sequence[str], bidirectional: bool = True, latency_ticks: int = 0) -> Topology:
        """names[i] → names[i+1] (cyclically); with ``bidirectional`` also names[i+1] → names[i]."""
        names = tuple(names)
        pairs: dict[tuple[str, str], None] = {}
        n = len(names)
        for i in range(n):
            following = names[(i + 1) % n]
            pairs[(names[i], following)] = None
            if bidirectional:
                pairs[(following, names[i])] = None
        return cls(names, [(q, p, latency_ticks) for q, p in pairs if q != p])

    @classmethod
    def line(cls, names: Sequence[str], bidirectional: bool = True, latency_ticks: int = 0) -> Topology:
        """A path names[0] → names[1] → …; with ``bidirectional`` also the reverse edges."""
        names = tuple(names)
        edges: list[Edge] = []
        for q, p in zip(names, names[1:]):
            edges.append((q, p, latency_ticks))
            if bidirectional:
                edges.append((p, q, latency_ticks))
        return cls(names, edges)

    @classmethod
    def star(
        cls,
        names: Sequence[str],
        hub: str | None = None,
        bidirectional: bool = True,
        latency_ticks: int = 0,
    ) -> Topology:
        """hub → every other lab; with ``bidirectional`` also every lab → hub. Hub defaults to names[0]."""
        names = tuple(names)
        if not names:
            raise ValueError("names: expected at least one lab")
        hub = names[0] if hub is None else hub
        if hub not in names:
            raise ValueError(f"hub {hub!r} is not one of the labs; known labs: {_describe(names)}")
        edges: list[Edge] = []
        for leaf in names:
            if leaf != hub:
                edges.append((hub, leaf, latency_ticks))
                if bidirectional:
                    edges.append((leaf, hub, latency_ticks))
        return cls(names, edges)

    @classmethod
    def grid(cls, names: Sequence[str], n_rows: int, latency_ticks: int = 0) -> Topology:
        """names laid out row-major on an n_rows × (N / n_rows) grid; 4-neighbours linked both ways."""
        names = tuple(names)
        if isinstance(n_rows, bool) or not isinstance(n_rows, int) or n_rows < 1 or len(names) % n_rows:
            raise ValueError(f"n_rows = {n_rows!r}: expected a positive divisor of the number of labs ({len(names)})")
        n_cols = len(names) // n_rows
        edges: list[Edge] = []
        for r in range(n_rows):
            for c in range(n_cols):
                here = names[r * n_cols + c]
                for neighbor in ((r, c + 1), (r + 1, c)):
                    if neighbor[0] < n_rows and neighbor[1] < n_cols:
                        there = names[neighbor[0] * n_cols + neighbor[1]]
                        edges += [(here, there, latency_ticks), (there, here, latency_ticks)]
        return cls(names, edges)

    @classmethod
    def watts_strogatz(
        cls, names: Sequence[str], k: int = 2, p: float = 0.1, seed: int | None = 0, latency_ticks: int = 0
    ) -> Topology:
        """Small world (undirected, both directions): ring of k nearest neighbours, rewired with probability p."""
        names = tuple(names)
        graph = nx.watts_strogatz_graph(len(names), k, p, seed=seed)
        return cls._from_int_graph(names, graph, latency_ticks)

    @classmethod
    def barabasi_albert(
        cls, names: Sequence[str], m: int = 1, seed: int | None = 0, latency_ticks: int = 0
    ) -> Topology:
        """Scale-free preferential attachment (undirected, both directions), m edges per new lab."""
        names = tuple(names)
        graph = nx.barabasi_albert_graph(len(names), m, seed=seed)
        return cls._from_int_graph(names, graph, latency_ticks)

    @classmethod
    def erdos_renyi(
        cls,
        names: Sequence[str],
        p: float = 0.5,
        seed: int | None = 0,
        directed: bool = False,
        latency_ticks: int = 0,
    ) -> Topology:
        """G(n, p) random graph; undirected edges become both directions unless ``directed``."""
        names = tuple(names)
        graph = nx.gnp_random_graph(len(names), p, seed=seed, directed=directed)
        return cls._from_int_graph(names, graph, latency_ticks)

    @classmethod
    def _from_int_graph(cls, names: tuple[str, ...], graph: nx.Graph, latency_ticks: int) -> Topology:
        nx.set_edge_attributes(graph, latency_ticks, "latency_ticks")
        return cls.from_networkx(graph, names)

    @classmethod
    def from_edges(cls, names: Sequence[str], edges: Iterable[Any]) -> Topology:
        """Edges given as ``(source, target)``, ``(source, target, latency_ticks)`` or
        ``{"source": ..., "target": ..., "latency_ticks": ...}`` (latency optional, default 0)."""
        normalized: list[Edge] = []
        for edge in edges:
            if isinstance(edge, Mapping):
                unknown = set(edge) - {"source", "target", "latency_ticks"}
                if unknown or "source" not in edge or "target" not in edge:
                    raise ValueError(
                        f"edge {dict(edge)!r}: expected keys 'source', 'target' and optionally 'latency_ticks'"
                    )
                normalized.append((edge["source"], edge["target"], edge.get("latency_ticks", 0)))
            elif isinstance(edge, Sequence) and not isinstance(edge, str) and len(edge) in (2, 3):
                normalized.append((edge[0], edge[1], edge[2] if len(edge) == 3 else 0))
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


Builder = Callable[..., Topology]

BUILDERS: dict[str, Builder] = {
    "isolated": Topology.isolated,
    "complete": Topology.complete,
    "ring": Topology.ring,
    "line": Topology.line,
    "star": Topology.star,
    "grid": Topology.grid,
    "watts_strogatz": Topology.watts_strogatz,
    "barabasi_albert": Topology.barabasi_albert,
    "erdos_renyi": Topology.erdos_renyi,
    "edges": Topology.from_edges,
}
"""Topology kind → builder, each called as ``builder(names, **params)``."""


def build_topology(kind: str, names: Sequence[str], **params: Any) -> Topology:
    """``BUILDERS[kind](names, **params)``; ``ValueError`` listing the known kinds if unknown."""
    try:
        builder = BUILDERS[kind]
    except (KeyError, TypeError):
        raise ValueError(f"unknown topology {kind!r}; known: {', '.join(BUILDERS)}") from None
    return builder(names, **params)
