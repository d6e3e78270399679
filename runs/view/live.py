"""``labnet live SCENARIO``: Mesa's SolaraViz on a running :class:`~labnet.simulation.ExplorationNetwork`.

:class:`LiveExplorationNetwork` is the network built from a scenario and three user parameters
(topology, clock periods, seed), so SolaraViz can rebuild it on *Reset* from its keyword
arguments. The page shows the same network view as the replay (:mod:`labnet.runs.view.app`):
the edges lit are the transfers of the tick the model has just run; below it the labs'
best-so-far curves. Step, play and reset are SolaraViz's.

Run it with ``labnet live SCENARIO`` or ``LABNET_LIVE_SCENARIO=SCENARIO solara run labnet.runs.view.live:Page``.
"""
from __future__ import annotations

import functools
import os

import solara

from labnet.runs.config.scenario import Scenario, ScenarioError, resolve, scenario_from_argument, validate_scenario
from labnet.runs.config.build import build_space, build_topology, load_lab_pools
from labnet.runs.view.app import CurvesSvg, NetworkSvg, legend_html
from labnet.runs.view.data import (
    VIEW_HEIGHT, VIEW_WIDTH, best_so_far_curves, curve_paths, edge_drawing, edges_at_tick, layout_positions,
    network_frame, node_table, property_colors, topology_path,
)
from labnet.simulation.network import ExplorationNetwork

SCENARIO_ENV = "LABNET_LIVE_SCENARIO"
"""Environment variable naming the scenario (file or built-in name) the live page runs."""
DATA_ENV = "LABNET_LIVE_DATA"
"""Environment variable with the dataset file of a b2/csv scenario (``--data``)."""

AS_SCENARIO = "scenario"
"""The topology parameter's value meaning: the scenario's own topology."""
LIVE_TOPOLOGIES = (AS_SCENARIO, "complete", "ring", "line", "star", "isolated")
"""Topologies the live page offers (those that need no further parameter), besides the scenario's."""

__all__ = ["LiveExplorationNetwork", "live_scenario", "parse_periods", "model_params", "Page"]


def parse_periods(text: str) -> list[int]:
    """``"1, 2, 4"`` -> ``[1, 2, 4]`` (clock periods in ticks, >= 1); ``""`` -> ``[]`` (the scenario's).

    Raises:
        ScenarioError: a value that is not a whole number >= 1 (names the ``periods`` parameter).
    """
    values = [v.strip() for v in str(text or "").replace(";", ",").split(",") if v.strip()]
    try:
        periods = [int(v) for v in values]
    except ValueError:
        raise ScenarioError(f"periods = {text!r}: expected whole numbers >= 1 separated by commas, e.g. 1,2,4") from None
    if any(p < 1 for p in periods):
        raise ScenarioError(f"periods = {text!r}: every period must be >= 1 tick")
    return periods


def live_scenario(scenario: Scenario, topology: str = AS_SCENARIO, periods: str = "", seed: int | None = None) -> Scenario:
    """The scenario with the live page's parameters applied (a new, validated object).

    Args:
        topology: :data:`AS_SCENARIO` (keep), or a kind of :data:`LIVE_TOPOLOGIES`.
        periods: clock periods (ticks) given to the labs in order, cycled (``"1,3"``: 1, 3, 1, ...);
            empty keeps the scenario's.
        seed: the trial seed (None keeps the scenario's).

    Raises:
        ScenarioError: an unknown topology or bad periods (names the parameter).
    """
    if topology not in LIVE_TOPOLOGIES:
        raise ScenarioError(f"topology = {topology!r}: expected one of {', '.join(LIVE_TOPOLOGIES)}")
    raw = scenario.to_dict()
    if topology != AS_SCENARIO:
        raw["topology"] = {"kind": topology}
    chosen = parse_periods(periods)
    if chosen:
        for i, lab in enumerate(raw["labs"]):
            lab["period_ticks"] = chosen[i % len(chosen)]
    if seed is not None:
        raw["seed"] = int(seed)
    return validate_scenario(raw)


class LiveExplorationNetwork(ExplorationNetwork):
    """The exploration network of a scenario, built from keyword parameters (for SolaraViz's *Reset*).

    Args:
        scenario: the scenario (resolved; its dataset path set for b2/csv).
        topology, periods, seed: see :func:`live_scenario`; the network runs trial seed ``seed``.

    ``running`` turns False once the scenario's horizon (``horizon_ticks``) is reached.
    """

    def __init__(self, scenario: Scenario, topology: str = AS_SCENARIO, periods: str = "", seed: int = 0) -> None:
        resolved = live_scenario(scenario, topology, periods, seed)
        space = _space(scenario)
        super().__init__(
            space, resolved.lab_specs(), build_topology(resolved), resolved.learner, seed=int(seed),
            pools=load_lab_pools(resolved, space),
        )
        self.scenario = resolved
        self.horizon_ticks = int(resolved.horizon_ticks)
        self.running = self.tick < self.horizon_ticks

    def step(self) -> None:
        """One tick of the network (no-op past the horizon)."""
        if self.tick >= self.horizon_ticks:
            self.running = False
            return
        super().step()
        self.running = self.tick < self.horizon_ticks


_SPACES: dict[str, object] = {}


def _space(scenario: Scenario):  # noqa: ANN202 - MaterialSpace (imported lazily by build)
    """The scenario's material space, built once per dataset (a reset reuses it)."""
    key = scenario.dataset.model_dump_json()
    if key not in _SPACES:
        _SPACES[key] = build_space(scenario)
    return _SPACES[key]


@functools.lru_cache(maxsize=16)
def _layout(names: tuple[str, ...], links: tuple[tuple[str, str], ...]) -> dict:
    return layout_positions(list(names), list(links))


def _nodes(model: LiveExplorationNetwork):  # noqa: ANN202 - DataFrame
    import pandas as pd

    labs = pd.DataFrame({"name": [a.name for a in model.agents], "property": [a.spec.property for a in model.agents],
                         "period_ticks": [a.spec.period_ticks for a in model.agents]})
    links = tuple((s, t) for s, t, _ in model.topology.edges())
    return labs, node_table(labs, _layout(tuple(labs["name"]), links)), links


def network_panel(model: LiveExplorationNetwork):  # noqa: ANN201 - a Solara element
    """The network view of the model after its last tick (edges: the transfers of that tick)."""
    labs, nodes, links = _nodes(model)
    last = model.tick - 1
    drawing = edge_drawing(edges_at_tick(model.transfer_table(), last), nodes) if last >= 0 else edge_drawing(
        edges_at_tick(model.transfer_table(), -1), nodes)
    with solara.Column() as column:
        NetworkSvg(nodes=network_frame(nodes), drawing=drawing, links=topology_path(nodes, links), tick=int(last),
                   caption=f"live · ticks run: {model.tick} · edges of tick {last}", selected_lab="",
                   width=VIEW_WIDTH, height=VIEW_HEIGHT)
        solara.HTML(unsafe_innerHTML=legend_html(property_colors(labs)))
    return column


def curves_panel(model: LiveExplorationNetwork):  # noqa: ANN201 - a Solara element
    """Every lab's best-so-far curve up to the model's current tick."""
    labs, _, _ = _nodes(model)
    colors = property_colors(labs)
    curves = curve_paths(best_so_far_curves(model.step_table(), labs["name"].tolist(), max(model.horizon_ticks - 1, 0)))
    with solara.Column() as column:
        solara.HTML(unsafe_innerHTML="<b>Best so far</b> per lab (dashed: last tick run)")
        CurvesSvg(curves=curves, colors={n: colors[p] for n, p in zip(labs["name"], labs["property"])},
                  tick=int(max(model.tick - 1, -1)), selected_lab="")
    return column


def model_params(scenario: Scenario) -> dict:
    """SolaraViz's ``model_params``: the scenario (fixed) and the three user parameters."""
    return {
        "scenario": scenario,
        "topology": {"type": "Select", "value": AS_SCENARIO, "values": list(LIVE_TOPOLOGIES), "label": "topology"},
        "periods": {"type": "InputText", "value": "", "label": "clock periods (ticks, e.g. 1,2,4; empty: scenario's)"},
        "seed": {"type": "SliderInt", "value": int(scenario.seed), "min": 0, "max": 99, "step": 1, "label": "seed"},
    }


def scenario_from_env() -> Scenario:
    """The scenario named by :data:`SCENARIO_ENV` (default: the built-in 'default'), with :data:`DATA_ENV`."""
    return resolve(scenario_from_argument(os.environ.get(SCENARIO_ENV) or None), data=os.environ.get(DATA_ENV) or None)


@solara.component
def Page():
    """The page ``solara run`` serves."""
    try:
        scenario = scenario_from_env()
    except (ScenarioError, FileNotFoundError) as exc:
        solara.Error(str(exc))
        return
    LivePage(scenario)


@solara.component
def LivePage(scenario: Scenario):
    """SolaraViz on a :class:`LiveExplorationNetwork` of ``scenario``."""
    from mesa.visualization import SolaraViz

    model = solara.use_memo(lambda: LiveExplorationNetwork(scenario=scenario, seed=int(scenario.seed)), [])
    SolaraViz(model, components=[(network_panel, 0), (curves_panel, 0)], model_params=model_params(scenario),
              name=f"labnet live · {scenario.name}", play_interval=200)
