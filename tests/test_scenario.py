"""Scenario schema: shipped scenarios, validation messages, overrides, CLI error handling."""
from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import yaml

from labnet.agents.spec import LabSpec
from labnet.models.config import LearnerConfig
from labnet.runs.cli import commands as cli
from labnet.runs.config.scenario import (
    Scenario,
    ScenarioError,
    builtin_scenario_names,
    check_properties,
    load_builtin,
    load_scenario,
    resolve,
)


def minimal(**overrides) -> dict:
    """A valid three-lab scenario as a mapping; keyword arguments replace top-level keys."""
    data = {
        "name": "t",
        "labs": [
            {"name": "A", "property": "P0"},
            {"name": "B", "property": "P1", "period_ticks": 2},
            {"name": "C", "property": "P2", "period_ticks": 4},
        ],
    }
    data.update(overrides)
    return data


def error_of(data: dict) -> str:
    with pytest.raises(ScenarioError) as info:
        load_scenario(data)
    return str(info.value)


# --------------------------------------------------------------------------- shipped scenarios


def test_builtin_scenarios_are_shipped():
    assert {"default", "paper_b2"} <= set(builtin_scenario_names())


def test_default_scenario_matches_its_description():
    scenario = load_builtin("default")
    assert scenario.dataset.kind == "synthetic"
    assert (scenario.dataset.n_candidates, scenario.dataset.n_descriptors, scenario.dataset.n_properties) == (2000, 16, 3)
    assert scenario.dataset.correlation == 0.6
    assert [(lab.name, lab.property, lab.period_ticks, lab.initial_points) for lab in scenario.labs] == [
        ("A", "P0", 1, 10),
        ("B", "P1", 2, 10),
        ("C", "P2", 4, 10),
    ]
    assert scenario.topology.kind == "complete"
    assert (scenario.horizon_ticks, scenario.trials) == (40, 2)
    assert scenario.baselines == ["isolated", "random"]
    assert scenario.learner == LearnerConfig()  # the paper's settings
    assert scenario.conditions == ["networked", "isolated", "random"]


def test_paper_b2_scenario_needs_data_and_takes_it_from_the_override(tmp_path):
    scenario = load_builtin("paper_b2")
    assert scenario.dataset.kind == "b2" and scenario.dataset.path is None
    assert [(lab.property, lab.period_ticks) for lab in scenario.labs] == [("M", 1), ("Tc", 3), ("Sp", 9)]
    assert (scenario.horizon_ticks, scenario.trials, scenario.threshold_fraction) == (300, 10, 0.9)
    with pytest.raises(ScenarioError, match=r"--data PATH"):
        resolve(scenario)
    resolved = resolve(scenario, data=tmp_path / "b2.csv")
    assert resolved.dataset.path == str((tmp_path / "b2.csv").resolve())
    assert scenario.dataset.path is None  # resolve returns a new object


def test_lab_specs_and_learner_are_the_shared_types():
    scenario = load_scenario(minimal(learner={"n_members": 4, "hidden_layers": [8, 8]}))
    specs = scenario.lab_specs()
    assert all(isinstance(spec, LabSpec) for spec in specs)
    assert specs[1] == LabSpec(name="B", property="P1", period_ticks=2)
    assert scenario.learner == LearnerConfig(n_members=4, hidden_layers=(8, 8))


def test_lab_schema_mirrors_labspec_fields():
    from labnet.runs.config.labs import LabConfig

    # community is the topology's, shown in the lab table; LabSpec (what a lab does) does not carry it
    assert list(LabConfig.model_fields) == [f.name for f in dataclasses.fields(LabSpec)] + ["community"]
    defaults = {f.name: f.default for f in dataclasses.fields(LabSpec) if f.default is not dataclasses.MISSING}
    assert {k: LabConfig.model_fields[k].default for k in defaults} == defaults


def test_to_yaml_round_trips_with_every_default_filled(tmp_path):
    scenario = load_scenario(minimal(topology={"kind": "ring"}))
    text = scenario.to_yaml(tmp_path / "s.yaml")
    data = yaml.safe_load(text)
    assert data["learner"]["hidden_layers"] == [100, 100, 10]
    assert data["topology"] == {"kind": "ring", "bidirectional": True, "latency_ticks": 0}
    assert data["horizon_ticks"] == 300 and data["trials"] == 10
    assert load_scenario(tmp_path / "s.yaml") == scenario


def test_relative_data_path_in_a_file_is_relative_to_the_file(tmp_path):
    folder = tmp_path / "study"
    folder.mkdir()
    (folder / "s.yaml").write_text(
        yaml.safe_dump(minimal(dataset={"kind": "csv", "path": "data/x.csv", "properties": ["P0", "P1", "P2"]}))
    )
    scenario = load_scenario(folder / "s.yaml")
    assert scenario.dataset.path == str((folder / "data" / "x.csv").resolve())


# --------------------------------------------------------------------------- validation messages


def test_unknown_key_is_named_with_a_suggestion():
    message = error_of(minimal(trails=3))
    assert "trails: unknown key" in message and "did you mean 'trials'" in message


def test_unknown_key_inside_a_lab_and_the_learner():
    data = minimal()
    data["labs"][2]["colour"] = "red"
    data["learner"] = {"n_member": 3}
    message = error_of(data)
    assert "labs[2].colour: unknown key" in message
    assert "learner.n_member: unknown key" in message and "n_members" in message


def test_unknown_topology_kind_lists_known_kinds():
    message = error_of(minimal(topology={"kind": "mesh"}))
    assert "topology.kind" in message and "'mesh'" in message
    for kind in ("isolated", "complete", "ring", "star", "edges"):
        assert kind in message


def test_unknown_lab_in_edges_is_named():
    message = error_of(minimal(topology={"kind": "edges", "edges": [["A", "B"], {"source": "Z", "target": "C"}]}))
    assert "topology.edges[1].source" in message and "'Z'" in message
    assert "labs are: A, B, C" in message


def test_edges_accept_lists_with_latency_and_mappings():
    scenario = load_scenario(
        minimal(topology={"kind": "edges", "latency_ticks": 2, "edges": [["A", "B"], ["B", "C", 5], {"source": "C", "target": "A"}]})
    )
    edges = scenario.topology.edges
    assert [(e.source, e.target, e.latency_ticks) for e in edges] == [("A", "B", None), ("B", "C", 5), ("C", "A", None)]


def test_topology_fields_must_fit_the_kind():
    assert "topology.edges: required" in error_of(minimal(topology={"kind": "edges"}))
    assert "topology.hub: only used when kind is 'star'" in error_of(minimal(topology={"kind": "ring", "hub": "A"}))
    assert "topology.hub: unknown lab 'Q'" in error_of(minimal(topology={"kind": "star", "hub": "Q"}))


@pytest.mark.parametrize("period", [0, -3])
def test_period_must_be_positive(period):
    data = minimal()
    data["labs"][1]["period_ticks"] = period
    message = error_of(data)
    assert f"labs[1].period_ticks: must be > 0 (got {period})" in message


def test_too_few_initial_points():
    data = minimal()
    data["labs"][0]["initial_points"] = 4
    assert "labs[0].initial_points: must be >= 5 (got 4)" in error_of(data)


def test_duplicate_lab_names():
    data = minimal()
    data["labs"][2]["name"] = "A"
    assert "labs[2].name: duplicate lab name 'A' (also labs[0])" in error_of(data)


def test_learner_config_errors_name_the_field():
    assert "learner.n_members" in error_of(minimal(learner={"n_members": 1}))
    assert "learner.frozen_layers" in error_of(minimal(learner={"hidden_layers": [5], "frozen_layers": 2}))


def test_dataset_errors_name_the_field():
    assert "dataset.kind: unknown kind 'sql'" in error_of(minimal(dataset={"kind": "sql"}))
    assert "dataset.properties: required" in error_of(minimal(dataset={"kind": "csv", "path": "x.csv"}))
    assert "dataset.n_candidates" in error_of(minimal(dataset={"kind": "synthetic", "n_candidates": "many"}))


def test_several_problems_are_reported_together_with_the_file_name(tmp_path):
    data = minimal(trials=0, threshold_fraction=1.5)
    data["labs"][0]["goal"] = "maximise"
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    message = str(info.value)
    assert str(path) in message
    assert "trials: must be >= 1 (got 0)" in message
    assert "threshold_fraction: must be <= 1" in message
    assert "labs[0].goal" in message and "'maximise'" in message
    assert len(info.value.issues) == 3


def test_missing_file_and_malformed_yaml(tmp_path):
    with pytest.raises(FileNotFoundError):
        load_scenario(tmp_path / "nope.yaml")
    (tmp_path / "broken.yaml").write_text("name: [unclosed\n")
    with pytest.raises(ScenarioError, match="not valid YAML"):
        load_scenario(tmp_path / "broken.yaml")
    (tmp_path / "list.yaml").write_text("- a\n- b\n")
    with pytest.raises(ScenarioError, match="expected a mapping"):
        load_scenario(tmp_path / "list.yaml")


# --------------------------------------------------------------------------- overrides and properties


def test_cli_overrides_apply():
    scenario = resolve(load_builtin("default"), trials=5, ticks=7, seed=42)
    assert (scenario.trials, scenario.horizon_ticks, scenario.seed) == (5, 7, 42)
    untouched = resolve(load_builtin("default"))
    assert (untouched.trials, untouched.horizon_ticks, untouched.seed) == (2, 40, 0)


def test_bad_overrides_are_scenario_errors():
    with pytest.raises(ScenarioError, match=r"--trials: expected an integer >= 1 \(got 0\)"):
        resolve(load_builtin("default"), trials=0)
    with pytest.raises(ScenarioError, match="--data: the scenario's dataset is synthetic"):
        resolve(load_builtin("default"), data="x.csv")


def test_check_properties_names_the_lab_and_lists_available():
    scenario = load_scenario(minimal())
    check_properties(scenario, ("P0", "P1", "P2"))
    with pytest.raises(ScenarioError) as info:
        check_properties(scenario, ("P0", "P1"))
    assert str(info.value) == "labs[2].property 'P2' not in dataset; available: P0, P1"


def test_unknown_property_against_the_synthetic_world():
    from labnet.environment import synthetic_world

    from labnet.runs.config.build import build_space

    data = minimal(dataset={"kind": "synthetic", "n_candidates": 50, "n_properties": 2})
    scenario = load_scenario(data)
    space = synthetic_world(n_candidates=50, n_properties=2)
    with pytest.raises(ScenarioError, match=r"labs\[2\]\.property 'P2' not in dataset; available: P0, P1"):
        check_properties(scenario, space.property_names)
    with pytest.raises(ScenarioError, match=r"labs\[2\]\.property 'P2'"):
        build_space(scenario)


# --------------------------------------------------------------------------- CLI error handling


def test_cli_reports_bad_input_without_traceback(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(minimal(topology={"kind": "mesh"})))
    assert cli.main(["run", str(bad), "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("labnet: error:") and "topology.kind" in err and "Traceback" not in err

    assert cli.main(["run", str(tmp_path / "missing.yaml")]) == 2
    assert "scenario file not found" in capsys.readouterr().err

    assert cli.main(["run", "paper_b2", "--out", str(tmp_path)]) == 2
    assert "--data PATH" in capsys.readouterr().err


def test_cli_scenario_argument_resolution(tmp_path):
    from labnet.runs.config.scenario import scenario_from_argument  # what `labnet run SCENARIO` calls

    assert scenario_from_argument(None).name == "default"
    assert scenario_from_argument("paper_b2").name == "paper_b2"
    path = tmp_path / "mine.yaml"
    path.write_text(yaml.safe_dump(minimal(name="mine")))
    assert scenario_from_argument(str(path)).name == "mine"
