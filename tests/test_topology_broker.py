"""Topology builders, the model broker's delivery semantics, and the transfer log."""
from __future__ import annotations

from dataclasses import dataclass

import networkx as nx
import numpy as np
import pandas as pd
import pytest

from labnet.environment import ModelBroker, Topology, TransferLog

LABS = ("a", "b", "c", "d")


def edge_set(topology: Topology) -> set[tuple[str, str]]:
    return {(source, target) for source, target, _ in topology.edges()}


# ----------------------------------------------------------------------------- topology


def test_isolated_and_complete() -> None:
    assert edge_set(Topology.isolated(LABS)) == set()
    complete = Topology.complete(LABS, latency_ticks=2)
    assert edge_set(complete) == {(q, p) for q in LABS for p in LABS if q != p}
    assert complete.max_latency == 2
    assert complete.in_neighbors("c") == [("a", 2), ("b", 2), ("d", 2)]
    assert complete.in_degree("c") == 3


def test_ring_directions() -> None:
    one_way = Topology.ring(LABS, bidirectional=False)
    assert edge_set(one_way) == {("a", "b"), ("b", "c"), ("c", "d"), ("d", "a")}
    assert one_way.in_neighbors("a") == [("d", 0)]
    both = Topology.ring(LABS)
    assert edge_set(both) == edge_set(one_way) | {(p, q) for q, p in edge_set(one_way)}
    assert edge_set(Topology.ring(("a", "b"))) == {("a", "b"), ("b", "a")}
    assert edge_set(Topology.ring(("a",))) == set()


def test_star_and_line() -> None:
    star = Topology.star(LABS, hub="b", bidirectional=False)
    assert edge_set(star) == {("b", "a"), ("b", "c"), ("b", "d")}
    assert edge_set(Topology.star(LABS)) == {("a", "b"), ("a", "c"), ("a", "d"), ("b", "a"), ("c", "a"), ("d", "a")}
    assert edge_set(Topology.line(LABS, bidirectional=False)) == {("a", "b"), ("b", "c"), ("c", "d")}
    with pytest.raises(ValueError, match="hub 'z' is not one of the labs"):
        Topology.star(LABS, hub="z")


def test_grid_and_random_builders() -> None:
    grid = Topology.grid(LABS, n_rows=2)  # a b / c d
    assert edge_set(grid) == {("a", "b"), ("b", "a"), ("c", "d"), ("d", "c"), ("a", "c"), ("c", "a"), ("b", "d"), ("d", "b")}
    names = [f"lab{i}" for i in range(12)]
    small_world = Topology.watts_strogatz(names, k=4, p=0.2, seed=1)
    assert small_world.names == tuple(names)
    assert all(small_world.has_edge(p, q) for q, p in edge_set(small_world))  # undirected → both ways
    assert Topology.barabasi_albert(names, m=2, seed=1) == Topology.barabasi_albert(names, m=2, seed=1)
    directed = Topology.erdos_renyi(names, p=0.3, seed=2, directed=True)
    assert any(not directed.has_edge(p, q) for q, p in edge_set(directed))


def test_from_edges_accepts_tuples_triples_and_dicts() -> None:
    topology = Topology.from_edges(
        LABS, [("a", "b"), ("b", "c", 3), {"source": "d", "target": "a", "latency_ticks": 1}, {"source": "c", "target": "a"}]
    )
    assert topology.edges() == [("a", "b", 0), ("b", "c", 3), ("c", "a", 0), ("d", "a", 1)]  # topology order
    assert topology.latency("b", "c") == 3
    assert topology.in_neighbors("a") == [("c", 0), ("d", 1)]
    assert topology.in_neighbors("b") == [("a", 0)] and topology.in_neighbors("d") == []
    assert topology.max_latency == 3
    graph = topology.graph
    graph.remove_edge("a", "b")  # a copy: the topology is unchanged
    assert topology.has_edge("a", "b") and graph.edges["b", "c"]["latency_ticks"] == 3


def test_from_networkx_maps_int_nodes_and_doubles_undirected_edges() -> None:
    undirected = nx.path_graph(3)
    topology = Topology.from_networkx(undirected, names=["x", "y", "z"])
    assert edge_set(topology) == {("x", "y"), ("y", "x"), ("y", "z"), ("z", "y")}
    directed = nx.DiGraph([(0, 1)])
    directed.edges[0, 1]["latency_ticks"] = 4
    mapped = Topology.from_networkx(directed, names={0: "src", 1: "dst"})
    assert mapped.edges() == [("src", "dst", 4)]
    assert Topology.from_networkx(directed).names == ("0", "1")


def test_topology_errors_name_the_problem() -> None:
    with pytest.raises(ValueError, match="edge 'a' -> 'z': unknown lab 'z'"):
        Topology.from_edges(LABS, [("a", "z")])
    with pytest.raises(ValueError, match="edge 'a' -> 'a': self-loops are not allowed"):
        Topology.from_edges(LABS, [("a", "a")])
    with pytest.raises(ValueError, match="edge 'a' -> 'b': latency_ticks = -1 is negative"):
        Topology.from_edges(LABS, [("a", "b", -1)])
    with pytest.raises(ValueError, match="latency_ticks = 1.5: expected an integer"):
        Topology.complete(LABS, latency_ticks=1.5)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="edge 'a' -> 'b' is given more than once"):
        Topology.from_edges(LABS, [("a", "b"), ("a", "b", 2)])
    with pytest.raises(ValueError, match="lab name 'a' occurs more than once"):
        Topology.isolated(["a", "a"])
    with pytest.raises(ValueError, match="unknown lab 'q'"):
        Topology.isolated(LABS).in_neighbors("q")
    # topology kinds by name are the scenario's registry: tests/test_topologies.py, tests/test_one_declaration.py


# ----------------------------------------------------------------------------- broker


@dataclass(frozen=True)
class Snap:
    owner: str
    tick: int
    label: str = ""


def test_snapshot_usable_from_next_tick() -> None:
    broker = ModelBroker(Topology.complete(("q", "p")))
    snapshot = Snap("q", 5)
    broker.publish("q", snapshot)
    assert broker.available_for("p", 5) == {}
    assert broker.available_for("p", 6) == {"q": snapshot}
    assert broker.available_for("q", 6) == {}  # own snapshots are not delivered to oneself


def test_latency_delays_arrival() -> None:
    broker = ModelBroker(Topology.from_edges(("q", "p"), [("q", "p", 2)]))
    broker.publish("q", Snap("q", 5))
    assert broker.available_for("p", 7) == {}
    assert broker.available_for("p", 8)["q"].tick == 5


def test_direction_is_respected() -> None:
    broker = ModelBroker(Topology.from_edges(("q", "p"), [("q", "p")]))
    broker.publish("q", Snap("q", 0))
    broker.publish("p", Snap("p", 0))
    assert list(broker.available_for("p", 1)) == ["q"]
    assert broker.available_for("q", 1) == {}


def test_latest_arrived_snapshot_wins_and_order_follows_topology() -> None:
    topology = Topology.from_edges(("p", "fast", "slow"), [("slow", "p", 3), ("fast", "p", 0)])
    broker = ModelBroker(topology)
    for tick in range(10):
        broker.publish("fast", Snap("fast", tick))
        broker.publish("slow", Snap("slow", tick))
        arrived = broker.available_for("p", tick)
        assert list(arrived) == [name for name in ("fast", "slow") if name in arrived]
        if tick >= 1:
            assert arrived["fast"].tick == tick - 1
        if tick >= 4:
            assert arrived["slow"].tick == tick - 4
        else:
            assert "slow" not in arrived


def test_same_tick_republication_replaces_and_older_tick_is_rejected() -> None:
    broker = ModelBroker(Topology.complete(("q", "p")))
    broker.publish("q", Snap("q", 3, "first"))
    broker.publish("q", Snap("q", 3, "second"))
    assert broker.available_for("p", 4)["q"].label == "second"
    with pytest.raises(ValueError, match="tick = 2 is older than its last publication at tick 3"):
        broker.publish("q", Snap("q", 2))
    with pytest.raises(ValueError, match="unknown lab 'z'"):
        broker.publish("z", Snap("z", 4))
    with pytest.raises(ValueError, match="cannot publish a snapshot owned by 'p'"):
        broker.publish("q", Snap("p", 4))


def test_pruning_bounds_memory_and_keeps_answers_correct() -> None:
    names = ("q", "near", "far")
    topology = Topology.from_edges(names, [("q", "near", 0), ("q", "far", 4)])
    broker = ModelBroker(topology)
    reference: list[Snap] = []  # everything ever published, to compute the right answer naively
    rng = np.random.default_rng(0)
    for tick in range(60):
        if rng.random() < 0.6:  # irregular publication clock
            snapshot = Snap("q", tick)
            broker.publish("q", snapshot)
            reference.append(snapshot)
        assert len(broker.stored("q")) <= topology.max_latency + 2
        for lab, latency in (("near", 0), ("far", 4)):
            arrived = [s for s in reference if s.tick + 1 + latency <= tick]
            expected = arrived[-1] if arrived else None
            assert broker.available_for(lab, tick).get("q") == expected
    with pytest.raises(ValueError, match="pruned"):
        broker.available_for("far", 2)


# ----------------------------------------------------------------------------- transfer log


def test_transfer_log_frame_and_graph() -> None:
    log = TransferLog()
    empty = log.to_frame()
    assert list(empty.columns) == [
        "tick", "source", "target", "source_property", "target_property",
        "validation_loss", "local_validation_loss", "selected",
    ]
    assert len(empty) == 0 and len(log) == 0
    log.record(1, "Sp", "Tc", 0.4, 0.5, True, source_property="Sp", target_property="Tc")
    log.record(2, "Sp", "Tc", 0.6, 0.5, False)
    log.record(2, "M", "Tc", 0.3, 0.5, True)
    log.record(3, "M", "Sp", 0.9, 0.2, False)
    frame = log.to_frame()
    assert len(log) == 4 and len(frame) == 4
    assert frame["selected"].dtype == bool and frame["tick"].dtype == np.int64
    assert frame.loc[0, "source_property"] == "Sp" and pd.isna(frame.loc[1, "source_property"])
    assert frame["validation_loss"].tolist() == [0.4, 0.6, 0.3, 0.9]
    graph = log.transfer_graph(nodes=["Sp", "Tc", "M", "lonely"])
    assert graph.edges["Sp", "Tc"] == {"weight": 1, "attempts": 2}
    assert graph.edges["M", "Tc"] == {"weight": 1, "attempts": 1}
    assert graph.edges["M", "Sp"] == {"weight": 0, "attempts": 1}
    assert not graph.has_edge("Tc", "Sp") and "lonely" in graph
