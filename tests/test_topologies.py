"""Networks at scale: topology kinds, topology files, latency rules, generated labs, lab table."""
from __future__ import annotations

from collections import Counter
from pathlib import Path

import pandas as pd
import pytest
import yaml

from labnet.environment import Topology
from labnet.environment.topology_io import SUFFIX_FORMATS, read_topology, write_edge_list, write_graphml
from labnet.runs.config.build import LAB_TABLE_COLUMNS, build_topology, lab_table
from labnet.runs.execution.runner import run_scenario
from labnet.runs.config.topologies import TOPOLOGY_FILE_SUFFIXES
from labnet.runs.config.scenario import (
    ScenarioError,
    check_properties,
    load_builtin,
    load_scenario,
    resolve,
)

NAMES = [f"lab{i:02d}" for i in range(12)]
UNIFORM_0_5 = {"rule": "uniform_int", "low": 0, "high": 5}


def edge_set(topology: Topology) -> set[tuple[str, str]]:
    return {(source, target) for source, target, _ in topology.edges()}


def is_symmetric(topology: Topology) -> bool:
    return all(topology.has_edge(p, q) and topology.latency(p, q) == latency for q, p, latency in topology.edges())


def scenario_with(topology: dict | None = None, labs: object = None, **extra) -> dict:
    """A scenario mapping: by default 12 generated labs on the three properties of the synthetic world."""
    data = {"name": "t", "labs": labs if labs is not None else {"count": 12, "property": "P0"}, **extra}
    if topology is not None:
        data["topology"] = topology
    return data


def error_of(data: dict) -> str:
    with pytest.raises(ScenarioError) as info:
        load_scenario(data)
    return str(info.value)


# --------------------------------------------------------------------------- builders


def test_random_regular_gives_every_lab_the_same_degree() -> None:
    topology = Topology.random_regular(NAMES, degree=3, seed=4)
    assert {topology.in_degree(lab) for lab in NAMES} == {3}
    assert {len(topology.out_neighbors(lab)) for lab in NAMES} == {3}
    assert is_symmetric(topology) and len(topology.edges()) == 12 * 3
    with pytest.raises(ValueError, match=r"degree = 3: degree × number of labs \(11\) must be even"):
        Topology.random_regular(NAMES[:11], degree=3)


def test_stochastic_block_with_p_in_1_and_p_out_0_is_complete_inside_blocks_only() -> None:
    topology = Topology.stochastic_block(NAMES, [3, 4, 5], p_in=1.0, p_out=0.0, seed=0)
    blocks = [NAMES[:3], NAMES[3:7], NAMES[7:]]
    assert edge_set(topology) == {(q, p) for block in blocks for q in block for p in block if q != p}
    assert topology.communities == {name: b for b, block in enumerate(blocks) for name in block}
    assert topology.graph.nodes["lab05"]["community"] == 1
    with pytest.raises(ValueError, match=r"block_sizes = \[3, 4\]: expected sizes summing to the number of labs \(12\)"):
        Topology.stochastic_block(NAMES, [3, 4], p_in=1.0, p_out=0.0)


def test_stochastic_block_between_blocks_only_with_p_out() -> None:
    between = Topology.stochastic_block(NAMES, [6, 6], p_in=0.0, p_out=1.0, seed=0)
    assert all((names.index(q) < 6) != (names.index(p) < 6) for q, p in edge_set(between) for names in [NAMES])
    assert len(edge_set(between)) == 2 * 6 * 6


def test_barabasi_albert_has_m_times_n_minus_m_links() -> None:
    for m in (1, 2, 3):
        topology = Topology.barabasi_albert(NAMES, m=m, seed=5)
        assert len(topology.edges()) == 2 * m * (len(NAMES) - m)  # each link both ways
        assert is_symmetric(topology)
        assert min(topology.in_degree(lab) for lab in NAMES) >= m
    with pytest.raises(ValueError, match=r"m = 12: expected an integer >= 1 and < the number of labs"):
        Topology.barabasi_albert(NAMES, m=12)


def test_directed_random_graphs_are_asymmetric_undirected_ones_symmetric() -> None:
    for directed in (False, True):
        er = Topology.erdos_renyi(NAMES, p=0.3, seed=2, directed=directed)
        sbm = Topology.stochastic_block(NAMES, [6, 6], p_in=0.6, p_out=0.2, seed=2, directed=directed)
        assert is_symmetric(er) is not directed
        assert is_symmetric(sbm) is not directed


def test_grid_shape() -> None:
    topology = Topology.grid(NAMES, n_rows=3)  # 3 rows x 4 columns, row-major
    degrees = Counter(topology.in_degree(lab) for lab in NAMES)
    assert degrees == {2: 4, 3: 6, 4: 2}  # corners, border, interior
    assert len(topology.edges()) == 2 * (3 * 3 + 2 * 4)
    assert topology.has_edge("lab00", "lab01") and topology.has_edge("lab00", "lab04")
    assert not topology.has_edge("lab03", "lab04")  # end of row 0 is not linked to the start of row 1


@pytest.mark.parametrize(
    "build",
    [
        lambda seed: Topology.watts_strogatz(NAMES, k=4, p=0.3, seed=seed),
        lambda seed: Topology.barabasi_albert(NAMES, m=2, seed=seed),
        lambda seed: Topology.erdos_renyi(NAMES, p=0.3, seed=seed),
        lambda seed: Topology.random_regular(NAMES, degree=3, seed=seed),
        lambda seed: Topology.stochastic_block(NAMES, [6, 6], p_in=0.7, p_out=0.1, seed=seed),
        lambda seed: Topology.complete(NAMES, latency_ticks=UNIFORM_0_5, seed=seed),
    ],
    ids=["watts_strogatz", "barabasi_albert", "erdos_renyi", "random_regular", "stochastic_block", "latency_rule"],
)
def test_random_builders_are_deterministic_given_the_seed(build) -> None:
    assert build(7) == build(7)
    assert build(7) != build(8)


def test_latency_rule_draws_one_latency_per_link_in_range_without_changing_the_graph() -> None:
    fixed = Topology.barabasi_albert(NAMES, m=2, seed=3)
    drawn = Topology.barabasi_albert(NAMES, m=2, seed=3, latency_ticks=UNIFORM_0_5)
    assert edge_set(drawn) == edge_set(fixed)  # latencies come from their own stream
    latencies = [latency for _, _, latency in drawn.edges()]
    assert set(latencies) <= set(range(6)) and len(set(latencies)) > 1
    assert is_symmetric(drawn)  # a link has one latency, both ways
    directed = Topology.ring(NAMES, bidirectional=False, latency_ticks={"rule": "uniform_int", "low": 2, "high": 2})
    assert {latency for _, _, latency in directed.edges()} == {2}
    with pytest.raises(ValueError, match="latency_ticks: low = 3 is larger than high = 1"):
        Topology.complete(NAMES, latency_ticks={"rule": "uniform_int", "low": 3, "high": 1})


# --------------------------------------------------------------------------- files


def test_graphml_round_trip_keeps_latencies_and_communities(tmp_path: Path) -> None:
    original = Topology.stochastic_block(NAMES, [5, 7], p_in=0.8, p_out=0.2, seed=1, latency_ticks=UNIFORM_0_5)
    write_graphml(original, tmp_path / "net.graphml")
    loaded = read_topology(tmp_path / "net.graphml", NAMES)
    assert loaded == original and loaded.communities == original.communities
    assert loaded.latency(*original.edges()[0][:2]) == original.edges()[0][2]
    # node ids are lab names: the labs may be listed in another order
    assert edge_set(read_topology(tmp_path / "net.graphml", NAMES[::-1])) == edge_set(original)


def test_hand_written_undirected_graphml_maps_nodes_in_order(tmp_path: Path) -> None:
    (tmp_path / "g.xml").write_text(
        """<?xml version="1.0" encoding="UTF-8"?>
<graphml xmlns="http://graphml.graphdrawing.org/xmlns">
  <key id="lat" for="edge" attr.name="latency_ticks" attr.type="int"/>
  <key id="com" for="node" attr.name="community" attr.type="int"/>
  <graph edgedefault="undirected">
    <node id="n0"><data key="com">1</data></node>
    <node id="n1"><data key="com">0</data></node>
    <node id="n2"><data key="com">1</data></node>
    <edge source="n0" target="n1"><data key="lat">4</data></edge>
    <edge source="n1" target="n2"/>
  </graph>
</graphml>
""",
        encoding="utf-8",
    )
    topology = read_topology(tmp_path / "g.xml", ["a", "b", "c"], latency_ticks=1)
    assert topology.edges() == [("a", "b", 4), ("b", "a", 4), ("b", "c", 1), ("c", "b", 1)]
    assert topology.communities == {"a": 1, "b": 0, "c": 1}
    with pytest.raises(ValueError, match="declares a undirected graph|declares an? undirected graph"):
        read_topology(tmp_path / "g.xml", ["a", "b", "c"], directed=True)
    with pytest.raises(ValueError, match="cannot be matched in order"):
        read_topology(tmp_path / "g.xml", ["a", "b"])


def test_edge_list_round_trips_undirected_and_directed(tmp_path: Path) -> None:
    undirected = Topology.watts_strogatz(NAMES, k=4, p=0.2, seed=2, latency_ticks=UNIFORM_0_5)
    write_edge_list(undirected, tmp_path / "u.edges", directed=False)
    assert read_topology(tmp_path / "u.edges", NAMES) == undirected
    directed = Topology.erdos_renyi(NAMES, p=0.3, seed=2, directed=True, latency_ticks=UNIFORM_0_5)
    write_edge_list(directed, tmp_path / "d.csv")
    assert (tmp_path / "d.csv").read_text().startswith("source,target,latency_ticks\n")
    assert read_topology(tmp_path / "d.csv", NAMES, directed=True) == directed
    with pytest.raises(ValueError, match="has no reverse edge"):
        write_edge_list(directed, tmp_path / "x.txt", directed=False)


def test_hand_written_edge_list_integer_ids_default_latency_and_errors(tmp_path: Path) -> None:
    path = tmp_path / "net.txt"
    path.write_text("# a comment\nsource target latency_ticks\n0 1 3\n\n1   2\n", encoding="utf-8")
    topology = read_topology(path, ["a", "b", "c", "d"], latency_ticks=2)
    assert topology.edges() == [("a", "b", 3), ("b", "a", 3), ("b", "c", 2), ("c", "b", 2)]
    assert topology.in_degree("d") == 0  # integer ids index the labs; d is not in the file
    path.write_text("a b\nb a\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"line 2: link b - a is listed more than once \(also line 1\)"):
        read_topology(path, ["a", "b"])
    assert len(read_topology(path, ["a", "b"], directed=True).edges()) == 2
    path.write_text("a b x\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"line 1: latency_ticks = 'x': expected an integer >= 0"):
        read_topology(path, ["a", "b"])
    with pytest.raises(FileNotFoundError):
        read_topology(tmp_path / "missing.csv", ["a", "b"])


# --------------------------------------------------------------------------- scenario topology kinds


@pytest.mark.parametrize(
    ("config", "n_edges"),
    [
        ({"kind": "line"}, 2 * 11),
        ({"kind": "line", "bidirectional": False}, 11),
        ({"kind": "grid", "n_rows": 2}, 2 * (2 * 5 + 6)),
        ({"kind": "watts_strogatz", "k": 4, "p": 0.0}, 2 * 24),
        ({"kind": "barabasi_albert", "m": 2}, 2 * 2 * 10),
        ({"kind": "erdos_renyi", "p": 1.0}, 12 * 11),
        ({"kind": "random_regular", "degree": 5}, 12 * 5),
        ({"kind": "stochastic_block", "block_sizes": [4, 8], "p_in": 1.0, "p_out": 0.0}, 4 * 3 + 8 * 7),
        ({"kind": "stochastic_block", "n_blocks": 3, "p_in": 1.0, "p_out": 0.0, "directed": True}, 3 * 4 * 3),
    ],
)
def test_scenario_topology_kinds_build(config: dict, n_edges: int) -> None:
    topology = build_topology(load_scenario(scenario_with(config)))
    assert topology.names == tuple(NAMES)
    assert len(topology.edges()) == n_edges


def test_scenario_topology_seed_defaults_to_the_scenario_seed() -> None:
    ba = {"kind": "barabasi_albert", "m": 2}
    by_scenario_seed = build_topology(load_scenario(scenario_with(ba, seed=4)))
    assert by_scenario_seed == build_topology(load_scenario(scenario_with({**ba, "seed": 4}, seed=0)))
    assert by_scenario_seed != build_topology(load_scenario(scenario_with(ba, seed=5)))
    with_rule = load_scenario(scenario_with({"kind": "ring", "latency_ticks": UNIFORM_0_5, "seed": 1}))
    latencies = {latency for _, _, latency in build_topology(with_rule).edges()}
    assert latencies <= set(range(6)) and len(latencies) > 1


def test_scenario_file_topology_relative_path_and_communities(tmp_path: Path) -> None:
    folder = tmp_path / "study"
    (folder / "nets").mkdir(parents=True)
    sbm = Topology.stochastic_block(NAMES, [6, 6], p_in=0.9, p_out=0.1, seed=3, latency_ticks=UNIFORM_0_5)
    write_graphml(sbm, folder / "nets" / "sbm.graphml")
    labs = {"count": 12, "property": {"rule": "by_community", "values": ["P0", "P1"]}}
    (folder / "s.yaml").write_text(yaml.safe_dump(scenario_with({"kind": "file", "path": "nets/sbm.graphml"}, labs)))
    scenario = load_scenario(folder / "s.yaml")
    assert scenario.topology.path == str((folder / "nets" / "sbm.graphml").resolve())
    assert scenario.topology.format == "graphml"
    assert TOPOLOGY_FILE_SUFFIXES == SUFFIX_FORMATS  # the schema infers formats as the reader does
    assert [lab.community for lab in scenario.labs] == [0] * 6 + [1] * 6
    assert [lab.property for lab in scenario.labs] == ["P0"] * 6 + ["P1"] * 6
    assert build_topology(scenario) == sbm
    (folder / "nets" / "sbm.graphml").rename(folder / "nets" / "moved.graphml")
    assert "topology.path: topology file not found" in error_of(scenario.to_dict())


def test_listed_labs_get_their_community_from_the_topology() -> None:
    labs = [{"name": name, "property": "P0"} for name in NAMES[:4]]
    sbm = {"kind": "stochastic_block", "block_sizes": [1, 3], "p_in": 1.0, "p_out": 0.0}
    scenario = load_scenario(scenario_with(sbm, labs))
    assert [lab.community for lab in scenario.labs] == [0, 1, 1, 1]
    assert all("community" not in vars(spec) for spec in scenario.lab_specs())
    labs[2]["community"] = 0
    assert "labs[2].community: 0 differs from the topology's community 1" in error_of(scenario_with(sbm, labs))


# --------------------------------------------------------------------------- generated labs


def test_generated_names_are_zero_padded_to_the_width_of_count_minus_1() -> None:
    def names(count: int, **extra) -> list[str]:
        return load_scenario(scenario_with(labs={"count": count, "property": "P0", **extra})).lab_names

    assert names(30)[:2] == ["lab00", "lab01"] and names(30)[-1] == "lab29"
    assert names(10) == [f"lab{i}" for i in range(10)]
    assert names(101)[0] == "lab000" and names(1) == ["lab0"]
    assert names(3, name_prefix="robot-") == ["robot-0", "robot-1", "robot-2"]


def test_round_robin_choice_and_fixed_values() -> None:
    labs = {
        "count": 7,
        "property": {"rule": "round_robin", "values": ["P0", "P1", "P2"]},
        "period_ticks": {"rule": "choice", "values": [1, 3, 9], "weights": [0, 1, 1]},
        "initial_points": {"rule": "uniform_int", "low": 6, "high": 8},
        "noise_std": {"rule": "uniform", "low": 0.1, "high": 0.2},
        "strategy": {"rule": "round_robin", "values": ["bo", "bo", "random"]},
        "bias": 0.5,
    }
    scenario = load_scenario(scenario_with(labs=labs))
    assert [lab.property for lab in scenario.labs] == ["P0", "P1", "P2", "P0", "P1", "P2", "P0"]
    assert {lab.period_ticks for lab in scenario.labs} <= {3, 9}  # weight 0 never drawn
    assert all(6 <= lab.initial_points <= 8 and 0.1 <= lab.noise_std <= 0.2 for lab in scenario.labs)
    assert [lab.strategy for lab in scenario.labs][:3] == ["bo", "bo", "random"]
    assert {lab.bias for lab in scenario.labs} == {0.5} and {lab.goal for lab in scenario.labs} == {"maximize"}


def test_choice_is_seeded_by_the_generator_seed_or_the_scenario_seed() -> None:
    def periods(seed: int, generator_seed: int | None = None) -> list[int]:
        labs = {"count": 30, "property": "P0", "period_ticks": {"rule": "choice", "values": [1, 3, 9]}}
        if generator_seed is not None:
            labs["seed"] = generator_seed
        return [lab.period_ticks for lab in load_scenario(scenario_with(labs=labs, seed=seed)).labs]

    assert periods(0) == periods(0) and set(periods(0)) == {1, 3, 9}
    assert periods(0) != periods(1)
    assert periods(0, generator_seed=5) == periods(1, generator_seed=5) == periods(5)
    # --seed on the command line redraws labs whose generator seed is null
    scenario = load_scenario(scenario_with(labs={"count": 30, "property": "P0",
                                                 "period_ticks": {"rule": "choice", "values": [1, 3, 9]}}))
    assert [lab.period_ticks for lab in resolve(scenario, seed=1).labs] == periods(1)
    scenario.seed = 1  # assignment is validated: the labs are drawn again
    assert [lab.period_ticks for lab in scenario.labs] == periods(1) and scenario.lab_generator is not None
    scenario.labs = scenario.labs[:3]  # an explicit list replaces the generator
    assert scenario.lab_generator is None and yaml.safe_load(scenario.to_yaml())["labs"][0]["name"] == "lab00"


def test_by_community_follows_the_stochastic_block_order() -> None:
    labs = {"count": 12, "property": {"rule": "by_community", "values": ["P0", "P1"]},
            "period_ticks": {"rule": "by_community", "values": [1, 2, 4]}}
    sbm = {"kind": "stochastic_block", "n_blocks": 3, "p_in": 0.5, "p_out": 0.1}
    scenario = load_scenario(scenario_with(sbm, labs))
    assert [lab.community for lab in scenario.labs] == [0] * 4 + [1] * 4 + [2] * 4
    assert [lab.property for lab in scenario.labs] == ["P0"] * 4 + ["P1"] * 4 + ["P0"] * 4  # values cycle
    assert [lab.period_ticks for lab in scenario.labs] == [1] * 4 + [2] * 4 + [4] * 4
    message = error_of(scenario_with({"kind": "barabasi_albert", "m": 2}, labs))
    assert "labs.property: rule by_community needs the community of every lab" in message
    assert "labs.period_ticks: rule by_community" in message


def test_generated_scenario_writes_its_generator_and_reloads_to_the_same_labs(tmp_path: Path) -> None:
    labs = {"count": 20, "property": {"rule": "random", "values": ["P0", "P1", "P2"]},
            "period_ticks": {"rule": "choice", "values": [1, 2, 4]}, "noise_std": {"rule": "uniform", "low": 0, "high": 1}}
    scenario = load_scenario(scenario_with({"kind": "stochastic_block", "n_blocks": 2, "p_in": 0.5, "p_out": 0.1},
                                           labs, seed=3))
    written = yaml.safe_load(scenario.to_yaml(tmp_path / "s.yaml"))
    assert written["labs"]["count"] == 20 and written["labs"]["period_ticks"]["rule"] == "choice"
    reloaded = load_scenario(tmp_path / "s.yaml")
    assert reloaded.labs == scenario.labs and reloaded == scenario
    assert reloaded.lab_generator == scenario.lab_generator
    assert resolve(scenario).labs == scenario.labs


def test_lab_table_columns_and_nullable_community() -> None:
    sbm = {"kind": "stochastic_block", "block_sizes": [5, 7], "p_in": 1.0, "p_out": 0.0}
    table = lab_table(load_scenario(scenario_with(sbm)))
    assert list(table.columns) == list(LAB_TABLE_COLUMNS) == [
        "name", "property", "goal", "period_ticks", "initial_points", "noise_std", "bias", "strategy", "community"]
    assert str(table.community.dtype) == "Int64" and table.community.tolist() == [0] * 5 + [1] * 7
    plain = lab_table(load_builtin("default"))
    assert plain.name.tolist() == ["A", "B", "C"] and plain.community.isna().all()
    assert plain.period_ticks.tolist() == [1, 2, 4]


# --------------------------------------------------------------------------- validation messages


@pytest.mark.parametrize(
    ("topology", "labs", "expected"),
    [
        ({"kind": "barabasi_albert"}, None, "topology.m: required when kind is 'barabasi_albert'"),
        ({"kind": "barabasi_albert", "m": 12}, None, "topology.m: must be < the number of labs (12) (got 12)"),
        ({"kind": "barabasi_albert", "m": 2, "directed": True}, None, "topology.directed: barabasi_albert graphs are undirected"),
        ({"kind": "watts_strogatz", "k": 3, "p": 0.1}, None, "topology.k: must be even"),
        ({"kind": "watts_strogatz", "k": 4}, None, "topology.p: required when kind is 'watts_strogatz'"),
        ({"kind": "grid", "n_rows": 5}, None, "topology.n_rows: must divide the number of labs (12) (got 5)"),
        ({"kind": "random_regular", "degree": 12}, None, "topology.degree: must be < the number of labs (12)"),
        ({"kind": "stochastic_block", "p_in": 1, "p_out": 0}, None, "topology.block_sizes: required"),
        ({"kind": "stochastic_block", "block_sizes": [5, 5], "p_in": 1, "p_out": 0}, None,
         "topology.block_sizes: must sum to the number of labs (12)"),
        ({"kind": "erdos_renyi", "p": 1.5}, None, "topology.p: must be <= 1"),
        ({"kind": "ring", "seed": 1}, None, "topology.seed: only used by the random kinds"),
        ({"kind": "ring", "directed": True}, None, "topology.directed: only used when kind is"),
        ({"kind": "complete", "m": 2}, None, "topology.m: only used when kind is 'barabasi_albert' (kind is 'complete')"),
        ({"kind": "file", "path": "/no/such/net.graphml"}, None, "topology.path: topology file not found"),
        ({"kind": "file", "path": "net.json"}, None, "topology.format: cannot tell the format from the suffix '.json'"),
        ({"kind": "file", "path": "/x.graphml", "directed": True}, None, "topology.directed: a GraphML file declares"),
        ({"kind": "ring", "latency_ticks": {"rule": "uniform_int", "low": 3, "high": 1}}, None,
         "topology.latency_ticks.high: must be >= low (3) (got 1)"),
        ({"kind": "isolated", "latency_ticks": UNIFORM_0_5}, None, "topology.latency_ticks: an isolated topology"),
        (None, {"count": 4, "property": "P0", "period_ticks": {"rule": "choice", "values": [1, 0]}},
         "labs.period_ticks.values[1]: must be > 0 (got 0)"),
        (None, {"count": 4, "property": "P0", "period_ticks": {"rule": "often"}}, "labs.period_ticks.rule: unknown rule 'often'"),
        (None, {"count": 4, "property": "P0", "period_ticks": {"rule": "uniform", "low": 1, "high": 2}},
         "labs.period_ticks.rule: 'uniform' does not fit period_ticks; use uniform_int"),
        (None, {"count": 4, "property": "P0", "initial_points": 2}, "labs.initial_points: must be >= 5 (got 2)"),
        (None, {"count": 4, "property": "P0", "goal": {"rule": "round_robin", "values": ["maximize", "up"]}},
         "labs.goal.values[1]: unexpected value 'up'"),
        (None, {"count": 0, "property": "P0"}, "labs.count: must be >= 1 (got 0)"),
        (None, {"count": 4}, "labs.property: required field is missing"),
        (None, {"count": 4, "property": "P0", "periods": 2}, "labs.periods: unknown key (did you mean 'period_ticks'?)"),
    ],
)
def test_validation_errors_name_the_field(topology: dict | None, labs: dict | None, expected: str) -> None:
    assert expected in error_of(scenario_with(topology, labs))


def test_property_and_initial_point_checks_name_the_generator_field() -> None:
    scenario = load_scenario(scenario_with(labs={"count": 6, "property": {"rule": "round_robin", "values": ["P0", "P7"]}}))
    with pytest.raises(ScenarioError, match=r"^labs.property 'P7' not in dataset; available: P0, P1$"):
        check_properties(scenario, ["P0", "P1"])


# --------------------------------------------------------------------------- built-in and end to end


def test_builtin_ba100_scenario() -> None:
    scenario = load_builtin("ba100")
    assert len(scenario.labs) == 100 and scenario.lab_names[0] == "lab00" and scenario.lab_names[-1] == "lab99"
    assert Counter(lab.property for lab in scenario.labs) == {f"P{i}": 17 if i < 4 else 16 for i in range(6)}
    assert {lab.period_ticks for lab in scenario.labs} == {1, 3, 9}
    assert len(build_topology(scenario).edges()) == 2 * 2 * 98
    assert scenario.dataset.n_properties == 6


def test_generated_barabasi_albert_network_runs_end_to_end(tmp_path: Path) -> None:
    data = {
        "name": "ba12",
        "dataset": {"kind": "synthetic", "n_candidates": 200, "n_descriptors": 6, "n_properties": 3, "seed": 2},
        "labs": {"count": 12, "property": {"rule": "round_robin", "values": ["P0", "P1", "P2"]},
                 "period_ticks": {"rule": "choice", "values": [1, 2]}, "initial_points": 6},
        "topology": {"kind": "barabasi_albert", "m": 2, "latency_ticks": {"rule": "uniform_int", "low": 0, "high": 1}},
        "learner": {"n_members": 3, "epochs": 3, "patience": 3, "hidden_layers": [8, 8, 4]},
        "horizon_ticks": 3,
        "trials": 1,
        "baselines": ["isolated"],
    }
    scenario = load_scenario(data)
    result = run_scenario(scenario, tmp_path, progress=False)
    steps = pd.read_parquet(result.steps_path)
    assert set(steps.lab) == set(NAMES)
    assert set(steps.condition) == {"networked", "isolated"}
    transfers = pd.read_parquet(result.transfers_path)
    assert len(transfers) > 0 and set(transfers.source) <= set(NAMES)
    topology = build_topology(scenario)
    assert all(topology.has_edge(source, target) for source, target in zip(transfers.source, transfers.target))
    assert load_scenario(result.scenario_path).labs == scenario.labs
