"""Transfer-graph analytics (runs.graph, runs.graph_plots, ``labnet graph``): exact numbers on
hand-made tables, and a real run of a tiny 5-lab ring through the runner and the CLI."""
from __future__ import annotations

import math
import re
from pathlib import Path

import networkx as nx
import numpy as np
import pandas as pd
import pytest

from labnet.runs.cli import commands as cli
from labnet.runs.reports.graph import (
    COMMUNITY_FLOWS_CSV,
    GRAPHML_FILE,
    LABS_CSV,
    NETWORK_PNG,
    PROPERTY_FLOWS_CSV,
    PROPERTY_FLOWS_PNG,
    SUMMARY_MD,
    GraphInputError,
    GraphRun,
    analyze_transfers,
    community_flows,
    lab_metrics,
    lab_metrics_by_trial,
    property_flows,
    read_graph_run,
    read_lab_table,
    reciprocity,
    transfer_bpm_share,
    transfer_graph,
    write_graph_outputs,
)
from labnet.runs.reports.graph_plots import plot_property_flows, plot_topology_comparison, plot_transfer_network
from labnet.runs.reports.topology_comparison import topology_comparison_table
from labnet.runs.execution.runner import run_scenario
from labnet.runs.config.scenario import load_scenario
from scenarios import RING_LINKS as RING_EDGES, five_lab_ring

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _is_png(path: Path) -> bool:
    return path.is_file() and path.read_bytes()[:8] == PNG_MAGIC


# --------------------------------------------------------------------------- hand-made tables

LABS = pd.DataFrame({
    "name": ["A", "B", "C"], "property": ["X", "X", "Y"], "goal": "maximize", "period_ticks": [1, 2, 4],
    "initial_points": 5, "noise_std": 0.0, "bias": 0.0, "strategy": "bo", "community": ["c1", "c2", "c2"],
})


def _events(source: str, target: str, attempts: int, selected: int, trial: int = 0) -> list[dict]:
    return [{"trial": trial, "condition": "networked", "tick": i, "source": source, "target": target,
             "source_property": None, "target_property": None, "selected": i < selected} for i in range(attempts)]


# A -> B: 3 built, 2 chosen; B -> A: 2, 1; A -> C: 4, 0; C -> A: 1, 1 (split over two trials)
TRANSFERS = pd.DataFrame(
    _events("A", "B", 2, 2, trial=0) + _events("A", "B", 1, 0, trial=1) + _events("B", "A", 2, 1, trial=1)
    + _events("A", "C", 4, 0, trial=0) + _events("C", "A", 1, 1, trial=1)
)


def _steps() -> pd.DataFrame:
    """A: 4 acquisitions, 2 with a transferred BPM; B: 2, both transferred; C: only initial points."""
    rows = []
    for lab, kinds in (("A", ["", "transfer", "scratch", "transfer", "scratch"]), ("B", ["", "transfer", "transfer"]),
                       ("C", ["", ""])):
        for n, kind in enumerate(kinds, 1):
            rows.append({"trial": 0, "condition": "networked", "lab": lab, "n_obs": n,
                         "phase": "initial" if kind == "" else "acquisition", "bpm_kind": kind})
    rows.append({"trial": 0, "condition": "isolated", "lab": "A", "n_obs": 2, "phase": "acquisition",
                 "bpm_kind": "scratch"})
    return pd.DataFrame(rows)


def _scenario():
    return load_scenario({"name": "hand", "labs": [{"name": n, "property": "P0"} for n in "ABC"]})


def test_graph_edges_carry_attempts_selected_and_rate():
    graph = transfer_graph(TRANSFERS, LABS)
    assert list(graph.nodes) == ["A", "B", "C"]
    assert graph.edges["A", "B"]["attempts"] == 3 and graph.edges["A", "B"]["selected"] == 2
    assert graph.edges["A", "B"]["selection_rate"] == pytest.approx(2 / 3)
    assert graph.edges["A", "C"]["selected"] == 0 and graph.edges["A", "C"]["selection_rate"] == 0.0
    assert graph.edges["C", "A"]["weight"] == 1  # weight = selected, as TransferLog.transfer_graph
    assert not graph.has_edge("B", "C")
    assert graph.nodes["C"] == {"property": "Y", "period_ticks": 4, "strategy": "bo", "community": "c2"}


def test_strengths_degrees_and_transfer_bpm_share_exactly():
    metrics = lab_metrics(transfer_graph(TRANSFERS, LABS), _steps()[lambda s: s.condition == "networked"])
    m = metrics.set_index("lab")
    assert m.loc["A", ["out_strength_selected", "out_strength_attempts", "in_strength_selected",
                       "in_strength_attempts"]].tolist() == [2, 7, 2, 3]
    assert m.loc["B", ["out_strength_selected", "out_strength_attempts", "in_strength_selected",
                       "in_strength_attempts"]].tolist() == [1, 2, 2, 3]
    assert m.loc["C", ["out_strength_selected", "out_strength_attempts", "in_strength_selected",
                       "in_strength_attempts"]].tolist() == [1, 1, 0, 4]
    assert m.loc["A", ["in_degree", "out_degree", "in_degree_selected", "out_degree_selected"]].tolist() == [2, 2, 2, 1]
    assert m.loc["C", ["in_degree", "out_degree", "in_degree_selected", "out_degree_selected"]].tolist() == [1, 1, 0, 1]
    assert m.loc["A", ["n_acquisitions", "n_transfer_bpm"]].tolist() == [4, 2]
    assert m.loc["A", "transfer_bpm_share"] == 0.5 and m.loc["B", "transfer_bpm_share"] == 1.0
    assert math.isnan(m.loc["C", "transfer_bpm_share"])  # no acquisition: no share


def _power_iteration_pagerank(graph: nx.DiGraph, alpha: float = 0.85) -> dict[str, float]:
    """Independent PageRank: row-normalized weights, dangling rows uniform, iterate to convergence."""
    nodes = list(graph.nodes)
    n = len(nodes)
    w = nx.to_numpy_array(graph, nodelist=nodes, weight="selected")
    out = w.sum(axis=1, keepdims=True)
    p = np.where(out > 0, w / np.where(out > 0, out, 1), 1.0 / n)
    r = np.full(n, 1.0 / n)
    for _ in range(1000):
        r = (1 - alpha) / n + alpha * p.T @ r
    return dict(zip(nodes, r))


def test_pagerank_matches_an_independent_power_iteration_and_sums_to_one():
    graph = transfer_graph(TRANSFERS, LABS)
    metrics = lab_metrics(graph, _steps()).set_index("lab")
    expected = _power_iteration_pagerank(graph)
    expected_source = _power_iteration_pagerank(graph.reverse(copy=True))
    for lab in "ABC":
        assert metrics.loc[lab, "pagerank"] == pytest.approx(expected[lab], abs=1e-6)
        assert metrics.loc[lab, "pagerank_as_source"] == pytest.approx(expected_source[lab], abs=1e-6)
    assert metrics["pagerank"].sum() == pytest.approx(1.0)
    assert metrics["pagerank_as_source"].sum() == pytest.approx(1.0)
    # A receives chosen models from both others; C's models reach only A
    assert metrics.loc["A", "pagerank"] > metrics.loc["C", "pagerank"]


def test_pagerank_without_any_selection_or_edge_is_uniform():
    never_chosen = TRANSFERS.assign(selected=False)
    for transfers in (never_chosen, TRANSFERS.iloc[:0]):
        metrics = lab_metrics(transfer_graph(transfers, LABS), _steps())
        assert metrics["pagerank"].tolist() == pytest.approx([1 / 3] * 3)
        assert metrics["pagerank_as_source"].tolist() == pytest.approx([1 / 3] * 3)


def test_reciprocity_of_a_known_graph():
    r = reciprocity(transfer_graph(TRANSFERS, LABS))
    assert r.unweighted == pytest.approx(2 / 3)  # A->B and B->A mutual; C->A not (A->C never chosen)
    assert r.weighted == pytest.approx(2 / 4)  # min(2,1) + min(1,2) + min(1,0) over 2+1+1
    assert r.unweighted_attempts == 1.0  # every attempted edge has its reverse
    empty = reciprocity(transfer_graph(TRANSFERS.iloc[:0], LABS))
    assert math.isnan(empty.unweighted) and math.isnan(empty.weighted) and math.isnan(empty.unweighted_attempts)


def test_property_flows_use_lab_properties_where_the_events_have_none():
    flows = property_flows(TRANSFERS, LABS).set_index(["source_property", "target_property"])
    assert flows.loc[("X", "X"), ["attempts", "selected"]].tolist() == [5, 3]
    assert flows.loc[("X", "X"), "selection_rate"] == pytest.approx(0.6)
    assert flows.loc[("X", "Y"), ["attempts", "selected", "selection_rate"]].tolist() == [4, 0, 0.0]
    assert flows.loc[("Y", "X"), ["attempts", "selected", "selection_rate"]].tolist() == [1, 1, 1.0]
    assert bool(flows.loc[("X", "X"), "same_property"]) and not bool(flows.loc[("X", "Y"), "same_property"])
    assert flows["attempts"].sum() == len(TRANSFERS)
    # a property recorded on the event wins over the lab table
    relabelled = TRANSFERS.assign(source_property=np.where(TRANSFERS["source"] == "C", "Z", None))
    assert ("Z", "X") in set(zip(*property_flows(relabelled, LABS)[["source_property", "target_property"]].T.values))


def test_community_flows_and_unknown_communities():
    flows = community_flows(TRANSFERS, LABS).set_index(["source_community", "target_community"])
    assert flows.loc[("c1", "c2"), ["attempts", "selected"]].tolist() == [7, 2]
    assert flows.loc[("c2", "c1"), ["attempts", "selected"]].tolist() == [3, 2]
    assert flows.loc[("c2", "c1"), "selection_rate"] == pytest.approx(2 / 3)
    assert community_flows(TRANSFERS, LABS.assign(community="")) is None
    partial = community_flows(TRANSFERS, LABS.assign(community=["c1", "", ""]))
    assert set(partial["target_community"]) == {"c1", "(none)"}


def test_transfer_bpm_share_ignores_initial_points():
    shares = transfer_bpm_share(_steps()[lambda s: s.condition == "networked"], ["A", "B", "C", "D"])
    assert shares["n_acquisitions"].tolist() == [4, 2, 0, 0]
    assert shares["n_transfer_bpm"].tolist() == [2, 2, 0, 0]


def test_analysis_pools_or_selects_trials_and_exports_graphml(tmp_path):
    run = GraphRun(tmp_path, _scenario(), _steps(), TRANSFERS, LABS)
    pooled = analyze_transfers(run)
    assert pooled.attempts == len(TRANSFERS) and pooled.selected == int(TRANSFERS["selected"].sum())
    assert (pooled.n_acquisitions, pooled.n_transfer_bpm) == (6, 4)
    assert pooled.transfer_bpm_share == pytest.approx(4 / 6)
    one = analyze_transfers(run, trial=0)
    assert one.trials == [0] and one.graph.edges["A", "B"]["attempts"] == 2 and not one.graph.has_edge("B", "A")
    isolated = analyze_transfers(run, condition="isolated")
    assert isolated.graph.number_of_edges() == 0 and isolated.transfer_bpm_share == 0.0
    with pytest.raises(GraphInputError, match="random.*networked, isolated"):
        analyze_transfers(run, condition="random")
    with pytest.raises(GraphInputError, match="--trial 5"):
        analyze_transfers(run, trial=5)

    files = write_graph_outputs(pooled, tmp_path / "out")
    for name in (GRAPHML_FILE, LABS_CSV, PROPERTY_FLOWS_CSV, COMMUNITY_FLOWS_CSV, SUMMARY_MD):
        assert files[name].is_file(), name
    assert _is_png(files[NETWORK_PNG]) and _is_png(files[PROPERTY_FLOWS_PNG])
    loaded = nx.read_graphml(files[GRAPHML_FILE])
    assert loaded.is_directed() and set(loaded.nodes) == {"A", "B", "C"}
    edge = loaded.edges["A", "B"]
    assert (edge["attempts"], edge["selected"]) == (3, 2) and edge["selection_rate"] == pytest.approx(2 / 3)
    node = loaded.nodes["C"]
    assert (node["property"], node["period_ticks"], node["community"]) == ("Y", 4, "c2")
    assert node["transfer_bpm_share"] == -1.0  # NaN written as -1
    assert sum(loaded.nodes[n]["pagerank"] for n in loaded) == pytest.approx(1.0)
    labs_csv = pd.read_csv(files[LABS_CSV])
    assert labs_csv["in_strength_selected"].tolist() == [2, 2, 0]
    summary = files[SUMMARY_MD].read_text()
    assert "Transfers between communities" in summary and "| X | Y | 4 | 0 |" in summary


def test_lab_table_file_errors_name_the_file_and_column(tmp_path):
    path = tmp_path / "labs.csv"
    path.write_text("name,property\nA,P0\n")
    with pytest.raises(GraphInputError, match="labs.csv: missing column.*period_ticks"):
        read_lab_table(path)
    path.write_text("name,property,period_ticks,community\nA,P0,1,west\nB,P1,fast,\n")
    with pytest.raises(GraphInputError, match="period_ticks, row 3 .*'B'"):
        read_lab_table(path)
    path.write_text("name,property,period_ticks,community\nA,P0,1,west\nB,P1,3,\n")
    table = read_lab_table(path)
    assert table["community"].tolist() == ["west", ""] and table["period_ticks"].tolist() == [1, 3]
    assert table["strategy"].tolist() == ["bo", "bo"]


# --------------------------------------------------------------------------- plots


def test_plots_write_pngs_for_small_large_and_empty_graphs(tmp_path):
    graph = transfer_graph(TRANSFERS, LABS)
    assert _is_png(plot_transfer_network(graph, tmp_path / "small.png", title="small"))
    assert _is_png(plot_property_flows(property_flows(TRANSFERS, LABS), tmp_path / "flows.png"))
    assert _is_png(plot_property_flows(property_flows(TRANSFERS.iloc[:0], LABS), tmp_path / "no_flows.png"))
    # 60 labs on a ring of chosen transfers plus attempt-only chords: names only for the highlighted labs
    n = 60
    labs = pd.DataFrame({"name": [f"L{i}" for i in range(n)], "property": [f"P{i % 7}" for i in range(n)],
                         "period_ticks": [1 + i % 4 for i in range(n)], "strategy": "bo", "community": ""})
    rows = [{"source": f"L{i}", "target": f"L{(i + 1) % n}", "selected": True} for i in range(n)]
    rows += [{"source": f"L{i}", "target": f"L{(i + 7) % n}", "selected": False} for i in range(n)]
    big = transfer_graph(pd.DataFrame(rows), labs)
    assert _is_png(plot_transfer_network(big, tmp_path / "big.png", highlight=["L0", "L1"]))
    assert _is_png(plot_transfer_network(transfer_graph(pd.DataFrame(rows[:0], columns=["source", "target",
                                                                                         "selected"]), labs),
                                         tmp_path / "edgeless.png"))


def _sweep_table() -> pd.DataFrame:
    rows = []
    for topology, networked, isolated in (("ring", [10, 20, np.nan], [30, np.nan, np.nan]),
                                          ("complete", [8, 12, 16], [20, 24, np.nan])):
        for condition, values in (("networked", networked), ("isolated", isolated)):
            for i, value in enumerate(values):
                rows.append({"topology": topology, "condition": condition, "lab": f"L{i}", "trial": 0,
                             "n_obs_to_threshold": value, "reached": not math.isnan(value)})
    return pd.DataFrame(rows)


def test_topology_comparison_table_numbers():
    table = topology_comparison_table(_sweep_table()).set_index(["topology", "condition"])
    ring = table.loc[("ring", "networked")]
    assert (ring["n"], ring["n_reached"]) == (3, 2)
    assert ring["reached_share"] == pytest.approx(2 / 3)
    assert ring["mean"] == 15.0 and ring["median"] == 15.0
    assert 10.0 <= ring["ci_low"] <= 15.0 <= ring["ci_high"] <= 20.0
    iso = table.loc[("ring", "isolated")]
    assert (iso["mean"], iso["ci_low"], iso["ci_high"], iso["reached_share"]) == (30.0, 30.0, 30.0, pytest.approx(1 / 3))
    assert table.loc[("complete", "networked"), "median"] == 12.0
    assert list(table.index.get_level_values(0).unique()) == ["ring", "complete"]  # order of appearance
    with pytest.raises(ValueError, match="missing column.*topology"):
        topology_comparison_table(_sweep_table().drop(columns="topology"))


def test_topology_comparison_plot(tmp_path):
    assert _is_png(plot_topology_comparison(_sweep_table(), tmp_path / "topologies.png"))
    never = _sweep_table().assign(n_obs_to_threshold=np.nan, reached=False)
    assert _is_png(plot_topology_comparison(never, tmp_path / "never.png"))
    with pytest.raises(ValueError, match="no row has condition"):
        plot_topology_comparison(_sweep_table().assign(condition="random"), tmp_path / "x.png")


# --------------------------------------------------------------------------- a real run

RING = five_lab_ring("graph-ring", trials=2)


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    return run_scenario(load_scenario(RING), tmp_path_factory.mktemp("graph_runs"), progress=False).run_dir


def test_real_run_graph_is_consistent_with_the_tables(run_dir):
    run = read_graph_run(run_dir)
    analysis = analyze_transfers(run)
    transfers = run.transfers[run.transfers["condition"] == "networked"]
    assert analysis.attempts == len(transfers) > 0
    assert set(analysis.graph.edges) <= RING_EDGES  # transfers only along the topology
    metrics = analysis.labs.set_index("lab")
    # every step won by a transferred model is exactly one selected transfer event into that lab
    assert (metrics["in_strength_selected"] == metrics["n_transfer_bpm"]).all()
    steps = run.steps[(run.steps["condition"] == "networked") & (run.steps["phase"] == "acquisition")]
    assert metrics["n_acquisitions"].to_dict() == steps.groupby("lab").size().to_dict()
    assert metrics["pagerank"].sum() == pytest.approx(1.0)
    assert analysis.community_flows is None  # no labs.csv: communities unknown
    per_trial = [analyze_transfers(run, trial=t) for t in (0, 1)]
    assert sum(a.attempts for a in per_trial) == analysis.attempts
    assert sum(a.selected for a in per_trial) == analysis.selected
    isolated = analyze_transfers(run, condition="isolated")
    assert isolated.graph.number_of_edges() == 0 and isolated.n_transfer_bpm == 0 and isolated.n_acquisitions > 0
    by_trial = lab_metrics_by_trial(run)
    assert sorted(set(by_trial["trial"])) == [0, 1] and len(by_trial) == 10
    summed = by_trial.groupby("lab")[["in_strength_selected", "out_strength_attempts", "n_acquisitions"]].sum()
    pooled = metrics[["in_strength_selected", "out_strength_attempts", "n_acquisitions"]]
    assert summed.loc[pooled.index].equals(pooled)


def test_cli_graph_writes_everything(run_dir, capsys):
    assert cli.main(["graph", str(run_dir)]) == 0
    out = capsys.readouterr().out
    assert "2 trials pooled" in out and "reciprocity" in out
    folder = run_dir / "graph"
    for name in (GRAPHML_FILE, LABS_CSV, PROPERTY_FLOWS_CSV, SUMMARY_MD):
        assert (folder / name).is_file(), name
    assert _is_png(folder / NETWORK_PNG) and _is_png(folder / PROPERTY_FLOWS_PNG)
    assert not (folder / COMMUNITY_FLOWS_CSV).exists()
    assert set(nx.read_graphml(folder / GRAPHML_FILE).nodes) == set("ABCDE")


def test_cli_graph_one_trial_with_communities_from_labs_csv(run_dir, tmp_path):
    labs = pd.DataFrame([{**lab, "goal": "maximize", "noise_std": 0.0, "bias": 0.0, "strategy": "bo",
                          "community": "west" if lab["name"] in "AB" else "east"} for lab in RING["labs"]])
    labs.to_csv(run_dir / "labs.csv", index=False)
    try:
        assert cli.main(["graph", str(run_dir), "--trial", "1", "--out", str(tmp_path / "g")]) == 0
    finally:
        (run_dir / "labs.csv").unlink()
    flows = pd.read_csv(tmp_path / "g" / COMMUNITY_FLOWS_CSV)
    assert set(flows["source_community"]) <= {"west", "east"}
    trial_one = pd.read_parquet(run_dir / "transfers.parquet").query("condition == 'networked' and trial == 1")
    assert flows["attempts"].sum() == len(trial_one)
    graph = nx.read_graphml(tmp_path / "g" / GRAPHML_FILE)
    assert graph.nodes["A"]["community"] == "west" and graph.graph["trials"] == "1"


def test_cli_graph_isolated_condition_goes_to_its_own_folder(run_dir):
    assert cli.main(["graph", str(run_dir), "--condition", "isolated"]) == 0
    assert _is_png(run_dir / "graph-isolated" / NETWORK_PNG)


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--condition", "random"], "--condition 'random': not in this run; conditions in .*: networked, isolated"),
        (["--trial", "7"], "--trial 7: condition 'networked' .* has trial\\(s\\) 0, 1"),
    ],
)
def test_cli_graph_unknown_condition_or_trial(run_dir, capsys, extra, message):
    assert cli.main(["graph", str(run_dir), *extra]) == cli.EXIT_USAGE
    assert re.search(message, capsys.readouterr().err)


def test_cli_graph_rejects_a_directory_that_is_not_a_run(tmp_path, capsys):
    assert cli.main(["graph", str(tmp_path)]) == cli.EXIT_USAGE
    assert "not a labnet run directory (no scenario.yaml)" in capsys.readouterr().err
    assert cli.main(["graph", str(tmp_path / "missing")]) == cli.EXIT_USAGE
    assert "run directory not found" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cli.main(["graph", str(tmp_path), "--trial", "last"])
    assert "expected a trial number >= 0 or 'all'" in capsys.readouterr().err
