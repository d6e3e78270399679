"""Topologies from and to files: GraphML and plain edge lists.

GraphML (``.graphml``, ``.xml``): nodes are labs; optional edge attribute
``latency_ticks`` (integer >= 0) and node attribute ``community`` (integer >= 0). The file
says whether it is directed (``edgedefault``); an undirected edge is used both ways.

Edge list (``.csv``, ``.txt``, ``.edges``): one edge per line, ``source target
[latency_ticks]``, separated by whitespace or (when the line contains one) commas; blank
lines and lines starting with ``#`` are skipped, and so is a first line ``source target
[latency_ticks]`` (a header). Undirected by default: each line is a link used both ways,
and a pair may appear only once; ``directed=True`` reads each line as ``source → target``.

Node ids become lab names by the first rule that fits:

1. every node id is a lab name: the same lab (labs the file does not mention have no edges);
2. every node id is an integer in [0, N): node i is ``names[i]`` (N = number of labs);
3. the file has exactly N nodes: the i-th node (GraphML: declaration order; edge list:
   first appearance) is ``names[i]``.

Edges without their own latency get ``latency_ticks`` (fixed, or drawn per link from the
rule, seeded by ``seed``, in file order).
"""
from __future__ import annotations

import numbers
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from xml.etree.ElementTree import ParseError

import networkx as nx

from .topology import Edge, LatencyTicks, Topology, latency_sampler

GRAPH_FORMATS = ("graphml", "edge_list")
SUFFIX_FORMATS = {".graphml": "graphml", ".xml": "graphml", ".csv": "edge_list", ".txt": "edge_list", ".edges": "edge_list"}
"""File suffix (lower case) -> format."""

_INTEGER = re.compile(r"^[0-9]+$")


def infer_format(path: str | Path) -> str:
    """``"graphml"`` or ``"edge_list"`` from the file's suffix; ``ValueError`` for other suffixes."""
    suffix = Path(path).suffix.lower()
    if suffix not in SUFFIX_FORMATS:
        known = ", ".join(SUFFIX_FORMATS)
        raise ValueError(f"{path}: cannot tell the format from the suffix {suffix!r} (known: {known}); give the format")
    return SUFFIX_FORMATS[suffix]


def read_topology(
    path: str | Path,
    names: Sequence[str] | None = None,
    format: str | None = None,
    directed: bool | None = None,
    latency_ticks: LatencyTicks = 0,
    seed: int | None = 0,
) -> Topology:
    """Read a topology from a GraphML file or an edge list.

    Args:
        path: the file.
        names: the labs, in topology order; None: the file's node ids, in file order.
        format: ``"graphml"`` or ``"edge_list"``; None: from the suffix (:data:`SUFFIX_FORMATS`).
        directed: edge lists: False/None = each line is used both ways, True = source → target.
            GraphML files say this themselves: None or the file's own value only.
        latency_ticks: latency of edges without their own (fixed or a rule, see
            :func:`labnet.environment.topology.latency_sampler`).
        seed: seeds a latency rule.

    Returns:
        The topology; :attr:`Topology.communities` holds the GraphML ``community`` node attribute.

    Raises:
        FileNotFoundError: no such file.
        ValueError: an unreadable file, bad latency / community values, duplicate edges,
            or node ids that cannot be matched to ``names`` (messages start with the path).
    """
    path = Path(path)
    if format is None:
        format = infer_format(path)
    if format not in GRAPH_FORMATS:
        raise ValueError(f"format {format!r}: expected one of {', '.join(GRAPH_FORMATS)}")
    if not path.is_file():
        raise FileNotFoundError(f"topology file not found: {path}")
    if format == "graphml":
        nodes, links, file_directed, communities = _read_graphml(path)
        if directed is not None and directed != file_directed:
            kind = "directed" if file_directed else "undirected"
            raise ValueError(
                f"{path}: the GraphML file declares a {kind} graph; leave 'directed' unset or set it to {file_directed}"
            )
        directed = file_directed
    else:
        nodes, links = _read_edge_list(path, bool(directed))
        communities = {}
    mapping = _map_nodes(nodes, names, path)
    lab_names = list(names) if names is not None else list(nodes)
    draw = latency_sampler(latency_ticks, seed)
    edges: list[Edge] = []
    for source, target, latency in links:
        latency = draw() if latency is None else latency
        edges.append((mapping[source], mapping[target], latency))
        if not directed:
            edges.append((mapping[target], mapping[source], latency))
    try:
        return Topology(lab_names, edges, {mapping[node]: c for node, c in communities.items()})
    except ValueError as exc:
        raise ValueError(f"{path}: {exc}") from None


def write_graphml(topology: Topology, path: str | Path) -> None:
    """Write ``topology`` as a directed GraphML graph with ``latency_ticks`` and ``community`` attributes."""
    nx.write_graphml(topology.graph, str(path))


def write_edge_list(topology: Topology, path: str | Path, directed: bool = True) -> None:
    """Write one ``source target latency_ticks`` line per edge (comma-separated with a header for ``.csv``).

    Args:
        directed: True: every directed edge. False: every link once (``a b`` for a ↔ b, a
            before b in topology order), to be read back with ``directed=False``; the
            topology must then be symmetric with equal latencies both ways.

    Raises:
        ValueError: a lab name with whitespace, a comma or a leading ``#``; an asymmetric
            topology with ``directed=False``.
    """
    for name in topology.names:
        if re.search(r"[\s,]", name) or name.startswith("#"):
            raise ValueError(f"lab name {name!r} cannot be written to an edge list (whitespace, comma or leading '#')")
    order = {name: i for i, name in enumerate(topology.names)}
    rows: list[Edge] = []
    for source, target, latency in topology.edges():
        if directed:
            rows.append((source, target, latency))
            continue
        if not topology.has_edge(target, source) or topology.latency(target, source) != latency:
            raise ValueError(
                f"edge {source!r} -> {target!r} has no reverse edge with the same latency; write with directed=True"
            )
        if order[source] < order[target]:
            rows.append((source, target, latency))
    separator = "," if Path(path).suffix.lower() == ".csv" else " "
    lines = [separator.join(("source", "target", "latency_ticks"))]
    if separator == " ":
        lines[0] = "# " + lines[0] + (" (directed)" if directed else " (each line used both ways)")
    lines += [separator.join((source, target, str(latency))) for source, target, latency in rows]
    Path(path).write_text("\n".join(lines) + "\n", encoding="utf-8")


# --------------------------------------------------------------------------- reading


Link = tuple[str, str, int | None]
"""(source node, target node, latency_ticks or None when the file gives none)."""


def _read_graphml(path: Path) -> tuple[list[str], list[Link], bool, dict[str, int]]:
    try:
        graph = nx.read_graphml(str(path))
    except (ParseError, nx.NetworkXError, ValueError, KeyError) as exc:
        raise ValueError(f"{path}: not a readable GraphML file: {exc}") from None
    if graph.is_multigraph():
        raise ValueError(f"{path}: parallel edges (the same pair more than once) are not allowed")
    nodes = [str(node) for node in graph.nodes]
    links: list[Link] = []
    for u, v, data in graph.edges(data=True):
        latency = data.get("latency_ticks")
        links.append((str(u), str(v), None if latency is None else _integer(latency, f"{path}: edge {u!r} -> {v!r}: latency_ticks")))
    communities = {
        str(node): _integer(community, f"{path}: node {node!r}: community")
        for node, community in graph.nodes(data="community")
        if community is not None
    }
    return nodes, links, graph.is_directed(), communities


def _read_edge_list(path: Path, directed: bool) -> tuple[list[str], list[Link]]:
    nodes: dict[str, None] = {}
    links: list[Link] = []
    seen: dict[tuple[str, str], int] = {}
    first_data_line = True
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        fields = [field.strip() for field in line.split(",")] if "," in line else line.split()
        if len(fields) == 3 and fields[2] == "":
            fields = fields[:2]
        if first_data_line and [f.lower() for f in fields[:2]] == ["source", "target"]:
            first_data_line = False
            continue
        first_data_line = False
        where = f"{path}: line {number}"
        if len(fields) not in (2, 3) or not all(fields[:2]):
            raise ValueError(f"{where}: expected 'source target [latency_ticks]' (got {raw.strip()!r})")
        source, target = fields[0], fields[1]
        latency = _integer(fields[2], f"{where}: latency_ticks") if len(fields) == 3 else None
        key = (source, target) if directed else tuple(sorted((source, target)))
        if key in seen:
            what = f"edge {source} -> {target}" if directed else f"link {source} - {target}"
            raise ValueError(f"{where}: {what} is listed more than once (also line {seen[key]})")
        seen[key] = number
        nodes.setdefault(source)
        nodes.setdefault(target)
        links.append((source, target, latency))
    return list(nodes), links


def _integer(value: Any, what: str) -> int:
    """An integer >= 0 from an int, an integral float or a string of digits; ``ValueError`` naming ``what``."""
    if isinstance(value, str) and _INTEGER.match(value.strip()):
        return int(value.strip())
    if not isinstance(value, bool) and isinstance(value, numbers.Real) and value >= 0 and int(value) == value:
        return int(value)
    raise ValueError(f"{what} = {value!r}: expected an integer >= 0")


def _map_nodes(nodes: list[str], names: Sequence[str] | None, path: Path) -> dict[str, str]:
    """File node id -> lab name, by the rules in the module docstring."""
    if names is None:
        return {node: node for node in nodes}
    names = list(names)
    known = set(names)
    if all(node in known for node in nodes):
        return {node: node for node in nodes}
    if all(_INTEGER.match(node) and int(node) < len(names) for node in nodes):
        return {node: names[int(node)] for node in nodes}
    if len(nodes) == len(names):
        return dict(zip(nodes, names))
    unknown = next(node for node in nodes if node not in known)
    raise ValueError(
        f"{path}: node {unknown!r} is not a lab name, the node ids are not integers 0..{len(names) - 1}, "
        f"and the file has {len(nodes)} nodes for {len(names)} labs, so they cannot be matched in order"
    )
