"""Each configurable concept is declared once: adding a lab field or a topology kind.

Edits each addition takes (counted as places in the code a developer must touch):

- **A lab field: one edit.** The field is declared once, as an attribute of
  :class:`labnet.agents.spec.LabSpec` with its constraints (``lab_field(default, ge=..., le=...)``).
  From that one line follow: the dataclass's own check, the scenario's lab field with its
  bounds (``labs[i].batch_size``), the lab generator's field, which generator rules fit it
  (``uniform_int`` for an int field) and the bounds of the rule's ``low``/``high``/``values``.
  In the project the line goes into ``LabSpec``; this test declares it on a subclass and gets
  the scenario class from :func:`labnet.runs.config.scenario.scenario_model` (the documented
  extension point), so the shipped schema stays untouched.
- **A topology kind: two edits.** (1) A spec class with ``kind: Literal["name"]``, its fields
  and its ``build`` method; (2) its registration (``@register_topology``). Validation (unknown
  fields reported as belonging to another kind, required fields, ``seed`` rules), the
  ``topology:`` dispatch, the written scenario and :func:`labnet.runs.config.build.build_topology`
  follow from the registry.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import pytest

from labnet.agents.spec import LabSpec, lab_field
from labnet.environment import Topology
from labnet.runs.config.errors import FieldIssue
from labnet.runs.config.scenario import ScenarioError, scenario_model, validate_scenario
from labnet.runs.config.topologies import TOPOLOGY_SPECS, TopologySpec, register_topology, topology_kinds
from labnet.runs.config.build import build_topology


# --------------------------------------------------------------------------- a new lab field: one edit


@dataclass(frozen=True)
class BatchLabSpec(LabSpec):
    """A lab that could measure several candidates per action."""

    batch_size: int = lab_field(1, ge=1, le=8)  # the one edit


def _error(data: dict, model: type) -> str:
    with pytest.raises(ScenarioError) as caught:
        validate_scenario(data, model=model)
    return str(caught.value)


def test_a_lab_field_declared_once_reaches_specs_lists_generators_and_rules() -> None:
    model = scenario_model(BatchLabSpec)
    listed = validate_scenario({"name": "t", "labs": [{"name": "A", "property": "P0", "batch_size": 4},
                                                      {"name": "B", "property": "P1"}]}, model=model)
    specs = listed.lab_specs()
    assert [type(s) for s in specs] == [BatchLabSpec, BatchLabSpec]
    assert [s.batch_size for s in specs] == [4, 1]

    generated = validate_scenario({"name": "t", "labs": {
        "count": 12, "property": "P0", "batch_size": {"rule": "uniform_int", "low": 2, "high": 8}}}, model=model)
    sizes = [spec.batch_size for spec in generated.lab_specs()]
    assert all(2 <= size <= 8 for size in sizes) and len(set(sizes)) > 1
    again = validate_scenario(generated.to_dict(), model=model)  # written as the generator, redrawn the same
    assert [spec.batch_size for spec in again.lab_specs()] == sizes

    # bad values name the field, for a listed lab, a plain generated value, a rule bound and a rule kind
    assert "labs[0].batch_size: must be <= 8 (got 9)" in _error(
        {"name": "t", "labs": [{"name": "A", "property": "P0", "batch_size": 9}]}, model)
    assert "labs.batch_size: must be >= 1 (got 0)" in _error(
        {"name": "t", "labs": {"count": 3, "property": "P0", "batch_size": 0}}, model)
    assert "labs.batch_size.high: must be <= 8 (got 12)" in _error(
        {"name": "t", "labs": {"count": 3, "property": "P0",
                               "batch_size": {"rule": "uniform_int", "low": 1, "high": 12}}}, model)
    assert "labs.batch_size.rule: 'uniform' does not fit batch_size; use uniform_int" in _error(
        {"name": "t", "labs": {"count": 3, "property": "P0",
                               "batch_size": {"rule": "uniform", "low": 1, "high": 2}}}, model)
    # the dataclass checks the same declaration when built directly (agents do not import pydantic)
    with pytest.raises(ValueError, match=r"lab 'A': batch_size = 0: expected an integer >= 1"):
        BatchLabSpec(name="A", property="P0", batch_size=0)
    # the shipped scenario does not know the field
    assert "labs[0].batch_size: unknown key" in _error(
        {"name": "t", "labs": [{"name": "A", "property": "P0", "batch_size": 2}]}, scenario_model(LabSpec))


# --------------------------------------------------------------------------- a new topology kind: two edits


class WheelTopology(TopologySpec):  # edit 1: the spec (fields, checks, build)
    """A hub linked both ways to every lab, and the other labs in a ring (``spokes_only``: no ring)."""

    kind: Literal["wheel"]
    spokes_only: bool = False

    def issues_for(self, n_labs: int) -> list[tuple[str, str]]:
        return [] if n_labs >= 4 else [("kind", f"a wheel needs at least 4 labs (got {n_labs})")]

    def build(self, names, seed):
        hub, rim = names[0], list(names[1:])
        links = [(hub, lab) for lab in rim]
        if not self.spokes_only:
            links += [(rim[i], rim[(i + 1) % len(rim)]) for i in range(len(rim))]
        edges = [e for q, p in links for e in ((q, p), (p, q))]
        return Topology.from_edges(names, edges, latency_ticks=self.latency_dict(), seed=seed)


@pytest.fixture()
def wheel():
    register_topology(WheelTopology)  # edit 2: the registration
    yield WheelTopology
    del TOPOLOGY_SPECS["wheel"]


def test_a_registered_topology_kind_is_validated_and_built_from_a_scenario(wheel) -> None:
    assert "wheel" in topology_kinds()
    scenario = validate_scenario({"name": "t", "labs": {"count": 6, "property": "P0"},
                                  "topology": {"kind": "wheel", "latency_ticks": 2}})
    assert isinstance(scenario.topology, WheelTopology)
    assert scenario.to_dict()["topology"] == {"kind": "wheel", "latency_ticks": 2, "spokes_only": False}
    topology = build_topology(scenario)
    assert topology.in_degree("lab0") == 5 and topology.in_degree("lab3") == 3
    assert topology.latency("lab0", "lab1") == 2
    spokes = build_topology(validate_scenario({"name": "t", "labs": {"count": 6, "property": "P0"},
                                               "topology": {"kind": "wheel", "spokes_only": True}}))
    assert spokes.in_degree("lab3") == 1

    def error(topology: dict, count: int = 6) -> str:
        with pytest.raises(ScenarioError) as caught:
            validate_scenario({"name": "t", "labs": {"count": count, "property": "P0"}, "topology": topology})
        return str(caught.value)

    assert "topology.spokes_only: only used when kind is 'wheel' (kind is 'ring')" in error(
        {"kind": "ring", "spokes_only": True})
    assert "topology.hub: only used when kind is 'star' (kind is 'wheel')" in error({"kind": "wheel", "hub": "lab0"})
    assert "topology.kind: a wheel needs at least 4 labs (got 3)" in error({"kind": "wheel"}, count=3)
    assert "topology.seed: only used by the random kinds" in error({"kind": "wheel", "seed": 3})
    assert "topology.spokes_only: input should be a valid boolean" in error({"kind": "wheel", "spokes_only": "x"})


def test_an_unregistered_kind_lists_the_registered_ones() -> None:
    with pytest.raises(ScenarioError, match=r"topology.kind: unknown kind 'wheel'; expected one of 'isolated', "):
        validate_scenario({"name": "t", "labs": {"count": 6, "property": "P0"}, "topology": {"kind": "wheel"}})
    assert issubclass(FieldIssue, ValueError)


def test_validating_a_scenario_imports_neither_torch_nor_mesa_nor_numba() -> None:
    """The choice names live in models/choices.py, the kinds import the environment only to build."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    code = ("import sys; from labnet.runs.config.scenario import load_builtin, validate_scenario; "
            "load_builtin('default'); load_builtin('paper_b2'); "
            "validate_scenario({'name': 't', 'labs': {'count': 8, 'property': 'P0', "
            "'transfer_mode': {'rule': 'round_robin', 'values': ['finetune_full', 'featurizer_rf']}}, "
            "'topology': {'kind': 'barabasi_albert', 'm': 2}}); "
            "print(sorted(m for m in ('torch', 'mesa', 'numba') if m in sys.modules))")
    root = Path(__file__).resolve().parents[1]
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=root, check=True,
                         env={**os.environ, "PYTHONPATH": str(root)})
    assert out.stdout.strip() == "[]", out.stderr
