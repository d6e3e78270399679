"""The views' data logic (runs.view.data) without a browser: exact numbers on hand-made tables,
and consistency with the tables of a real 5-lab ring run."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from labnet.runs.view.data import (
    ATTEMPTED, CHOSEN, VIEW_HEIGHT, VIEW_WIDTH, ViewInputError, best_so_far_curves, conditions_of, curve_paths,
    edge_drawing, edges_at_tick, edges_in_window, lab_detail, layout_positions, node_table, parse_window,
    property_matrix, read_view_run, select_view_rows, tick_range, transfer_matrix, trials_of,
)
from view_ring import RING, RING_LINKS, make_ring_run

LABS = pd.DataFrame({"name": ["A", "B", "C"], "property": ["X", "X", "Y"], "period_ticks": [1, 2, 4]})


def _transfers(rows: list[tuple[int, str, str, bool]]) -> pd.DataFrame:
    return pd.DataFrame([{"trial": 0, "condition": "networked", "tick": t, "source": s, "target": g, "selected": k}
                         for t, s, g, k in rows])


EVENTS = _transfers([(1, "A", "B", True), (1, "C", "B", False), (1, "B", "A", False),
                     (2, "A", "B", False), (2, "A", "B", True), (3, "C", "A", True)])


def test_edges_at_a_tick_are_the_transfer_rows_of_that_tick():
    edges = edges_at_tick(EVENTS, 1)
    assert edges.to_dict("records") == [
        {"source": "A", "target": "B", "attempts": 1, "selected": 1, "state": CHOSEN},
        {"source": "B", "target": "A", "attempts": 1, "selected": 0, "state": ATTEMPTED},
        {"source": "C", "target": "B", "attempts": 1, "selected": 0, "state": ATTEMPTED},
    ]
    assert edges_at_tick(EVENTS, 2).to_dict("records") == [
        {"source": "A", "target": "B", "attempts": 2, "selected": 1, "state": CHOSEN}]
    assert edges_at_tick(EVENTS, 0).empty and edges_at_tick(EVENTS.iloc[0:0], 1).empty


def test_window_pools_ticks_both_ends_included():
    edges = edges_in_window(EVENTS, 1, 2).set_index(["source", "target"])
    assert edges.loc[("A", "B"), "attempts"] == 3 and edges.loc[("A", "B"), "selected"] == 2
    assert ("C", "A") not in edges.index
    assert len(edges_in_window(EVENTS, 0, 3)) == 4


def test_transfer_matrix_counts_every_lab_in_order():
    selected = transfer_matrix(EVENTS, ["A", "B", "C"], 1, 3)
    assert list(selected.index) == list(selected.columns) == ["A", "B", "C"]
    assert selected.to_numpy().tolist() == [[0, 2, 0], [0, 0, 0], [1, 0, 0]]
    attempts = transfer_matrix(EVENTS, ["A", "B", "C"], 1, 1, value="attempts")
    assert attempts.to_numpy().tolist() == [[0, 1, 0], [1, 0, 0], [0, 1, 0]]
    assert transfer_matrix(EVENTS, ["A", "B", "C"], 5, 9).to_numpy().sum() == 0
    with pytest.raises(ViewInputError, match="value 'x'"):
        transfer_matrix(EVENTS, ["A"], 0, 1, value="x")


def test_property_matrix_sums_labs_by_property():
    matrix = property_matrix(EVENTS, LABS, 0, 3, value="attempts")
    assert list(matrix.index) == ["X", "Y"]
    assert matrix.loc["X", "X"] == 4 and matrix.loc["Y", "X"] == 2 and matrix.loc["X", "Y"] == 0


def test_parse_window():
    assert parse_window("2:5") == (2, 5)
    assert parse_window(":3", (0, 9)) == (0, 3) and parse_window("4:", (0, 9)) == (4, 9)
    for bad in ("3", "a:b", "5:2", "-1:2"):
        with pytest.raises(ViewInputError, match="--window"):
            parse_window(bad)
    with pytest.raises(ViewInputError, match="outside the run's ticks 0:9"):
        parse_window("20:30", (0, 9))


def test_nodes_are_coloured_by_property_and_sized_by_speed():
    positions = layout_positions(["A", "B", "C"], [("A", "B"), ("B", "C")])
    nodes = node_table(LABS, positions)
    assert nodes["color"].iloc[0] == nodes["color"].iloc[1] != nodes["color"].iloc[2]
    assert nodes["speed"].tolist() == [1.0, 0.5, 0.25]
    area = nodes["radius"].to_numpy() ** 2
    np.testing.assert_allclose(area / area[0], [1.0, 0.5, 0.25], rtol=1e-3)  # area proportional to speed
    assert ((nodes["x"] >= 0) & (nodes["x"] <= VIEW_WIDTH) & (nodes["y"] >= 0) & (nodes["y"] <= VIEW_HEIGHT)).all()
    assert layout_positions(["A", "B", "C"], [("A", "B"), ("B", "C")]) == positions  # stable


def test_edge_drawing_one_element_per_edge_or_aggregated():
    nodes = node_table(LABS, layout_positions(["A", "B", "C"], [("A", "B"), ("B", "C")]))
    edges = edges_at_tick(EVENTS, 1)
    drawn = edge_drawing(edges, nodes)
    assert not drawn["aggregated"] and (drawn["n_chosen"], drawn["n_attempted"]) == (1, 2)
    assert [(e["source"], e["target"], e["state"]) for e in drawn["edges"]] == [
        ("A", "B", CHOSEN), ("B", "A", ATTEMPTED), ("C", "B", ATTEMPTED)]
    ab, ba = drawn["edges"][0]["d"], drawn["edges"][1]["d"]
    assert ab != ba  # the two directions are two arcs
    many = edge_drawing(edges, nodes, limit=2)
    assert many["aggregated"] and many["edges"] == []
    assert many["paths"][CHOSEN].count("M") == 1 and many["paths"][ATTEMPTED].count("M") == 2


def test_best_so_far_curves_carry_values_forward():
    steps = pd.DataFrame({"tick": [-1, -1, 0, 2, -1], "lab": ["A", "A", "A", "A", "B"], "n_obs": [1, 2, 3, 4, 1],
                          "best_so_far": [0.1, 0.3, 0.5, 0.9, 0.2]})
    curves = best_so_far_curves(steps, ["A", "B", "C"], 3)
    assert list(curves.index) == [-1, 0, 1, 2, 3]
    assert curves["A"].tolist() == [0.3, 0.5, 0.5, 0.9, 0.9]
    assert curves["B"].tolist() == [0.2] * 5 and curves["C"].isna().all()
    paths = curve_paths(curves)
    assert len(paths["labs"]["A"].split()) == 5 and paths["labs"]["C"] == ""
    assert paths["y_min"] == 0.2 and paths["y_max"] == 0.9
    assert paths["x_of_tick"][-1] < paths["x_of_tick"][3]


# --------------------------------------------------------------------------- a real run


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    return read_view_run(make_ring_run(tmp_path_factory.mktemp("view_runs")))


def test_real_run_selectors_and_ticks(run):
    assert conditions_of(run) == ["networked", "isolated"]
    assert trials_of(run, "networked") == [0]
    assert tick_range(run) == (0, RING["horizon_ticks"] - 1)
    assert set(run.links) == RING_LINKS
    with pytest.raises(ViewInputError, match="condition 'random'.*networked, isolated"):
        select_view_rows(run, "random", 0)
    with pytest.raises(ViewInputError, match="trial 3.*has trial\\(s\\) 0"):
        select_view_rows(run, "networked", 3)


def test_real_run_edges_match_transfers_parquet_tick_by_tick(run):
    steps, transfers = select_view_rows(run, "networked", 0)
    raw = pd.read_parquet(run.path / "transfers.parquet")
    raw = raw[raw["condition"] == "networked"]
    total = 0
    for tick in range(RING["horizon_ticks"]):
        rows = raw[raw["tick"] == tick]
        edges = edges_at_tick(transfers, tick)
        assert set(zip(edges["source"], edges["target"])) == set(zip(rows["source"], rows["target"]))
        chosen = set(zip(rows.loc[rows["selected"], "source"], rows.loc[rows["selected"], "target"]))
        assert set(zip(edges.loc[edges["state"] == CHOSEN, "source"], edges.loc[edges["state"] == CHOSEN, "target"])) == chosen
        assert set(zip(edges["source"], edges["target"])) <= RING_LINKS
        total += int(edges["attempts"].sum())
    assert total == len(raw) > 0
    _, isolated = select_view_rows(run, "isolated", 0)
    assert isolated.empty  # the isolated baseline transfers nothing


def test_real_run_lab_detail(run):
    steps, transfers = select_view_rows(run, "networked", 0)
    detail = lab_detail(steps, transfers, run.labs, "A")
    rows = steps[steps["lab"] == "A"]
    assert (detail.property, detail.period_ticks) == ("P0", 1)
    assert len(detail.measurements) == len(rows) == RING["labs"][0]["initial_points"] + RING["horizon_ticks"]
    assert detail.choices["tick"].tolist() == list(range(RING["horizon_ticks"]))
    assert set(detail.choices["bpm_source"]) <= {"A", "B", "E"}  # itself or its ring neighbours
    acted = rows[rows["bpm_source"] != ""]
    n_candidates = sum(len(json.loads(text)) for text in acted["candidate_losses"])
    assert len(detail.candidate_losses) == n_candidates
    chosen = detail.candidate_losses[detail.candidate_losses["chosen"]]
    assert chosen["tick"].tolist() == detail.choices["tick"].tolist()  # one chosen candidate per step
    np.testing.assert_allclose(chosen["validation_loss"], detail.choices["bpm_validation_loss"])
    assert chosen["candidate"].tolist() == detail.choices["bpm_source"].tolist()
    into_a = transfers[transfers["target"] == "A"]
    assert detail.sources["attempts"].sum() == len(into_a)
    assert detail.sources["selected"].sum() == int(into_a["selected"].sum())
    with pytest.raises(ViewInputError, match="lab 'Z'"):
        lab_detail(steps, transfers, run.labs, "Z")


def test_read_view_run_errors(tmp_path):
    with pytest.raises(ViewInputError, match="not found"):
        read_view_run(tmp_path / "missing")
    with pytest.raises(ViewInputError, match="no scenario.yaml"):
        read_view_run(tmp_path)
