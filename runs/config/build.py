"""From a validated scenario to the simulation's objects: material space, topology, conditions.

The environment package is imported lazily so that loading and validating scenarios
needs nothing beyond pydantic and PyYAML.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING

import pandas as pd

from labnet.agents.spec import LabSpec
from labnet.runs.config.scenario import Scenario, ScenarioError, check_properties

if TYPE_CHECKING:  # pragma: no cover
    from labnet.environment import MaterialSpace, Topology
    from labnet.models.pool import SourcePool


def build_space(scenario: Scenario) -> MaterialSpace:
    """Load the scenario's material space and check the labs against it.

    The dataset spec of the scenario's kind loads itself (:mod:`labnet.runs.config.datasets`).

    Raises:
        ScenarioError: no data path for a b2/csv dataset (pass ``--data PATH``), a
            synthetic-world parameter the generator rejects, a lab property missing from
            the dataset, a constant lab property, or more initial points than candidates.
            (Whether the labs' actions over the horizon fit is :func:`check_candidates_last`,
            called by runs and sweeps: studies that only read the space have no horizon.)
        DataError: the data file is missing or unusable (from :mod:`environment`).
    """
    space = scenario.dataset.load()
    check_properties(scenario, space.property_names)
    check_constant_properties(scenario, space)
    too_many = list(dict.fromkeys(
        f"{scenario.lab_field_path(i, 'initial_points')} = {lab.initial_points}: "
        f"more than the {len(space)} candidates of the dataset"
        for i, lab in enumerate(scenario.labs)
        if lab.initial_points > len(space)
    ))
    if too_many:
        raise ScenarioError(too_many)
    return space


SHOWN_LABS = 5
"""Labs named in one error (the rest are counted)."""


def check_constant_properties(scenario: Scenario, space: MaterialSpace) -> None:
    """Refuse a lab whose property has the same value for every candidate (its target would be
    "reached" by the first measurement of every lab, in every condition).

    Raises:
        ScenarioError: ``labs[i].property 'K': every one of the N candidates has the value 3``.
    """
    issues = list(dict.fromkeys(
        f"{scenario.lab_field_path(i, 'property')} {lab.property!r}: every one of the {len(space)} candidates has "
        f"the value {float(space.values(lab.property)[0]):g}; a constant property gives a lab nothing to find"
        for i, lab in enumerate(scenario.labs)
        if float(space.minimum(lab.property)) == float(space.maximum(lab.property))
    ))
    if issues:
        raise ScenarioError(issues)


def check_candidates_last(scenario: Scenario, n_candidates: int) -> None:
    """Refuse a lab that would run out of candidates: its initial points plus one acquisition
    per action over ``horizon_ticks`` must not exceed the candidates (each is measured once).

    Raises:
        ScenarioError: one line per lab (the first :data:`SHOWN_LABS`, then a count) naming the
            lab, its initial points, its actions over the horizon, the candidates, and the
            longest horizon that fits.
    """
    horizon = scenario.horizon_ticks
    issues = []
    for i, lab in enumerate(scenario.labs):
        actions = lab.to_spec().actions_within(horizon)
        need = lab.initial_points + actions
        if need <= n_candidates:
            continue
        fits = lab.phase_ticks + max(n_candidates - lab.initial_points, 0) * lab.period_ticks
        where = "labs" if scenario.lab_generator is not None else f"labs[{i}]"
        issues.append(
            f"{where}: lab {lab.name!r} needs {need} candidates ({lab.initial_points} initial points + {actions} "
            f"actions over horizon_ticks = {horizon} at period_ticks = {lab.period_ticks}), but the dataset has "
            f"{n_candidates}; use horizon_ticks <= {fits}, fewer initial points, a longer period or more candidates"
        )
    if len(issues) > SHOWN_LABS:
        issues = issues[:SHOWN_LABS] + [f"labs: … and {len(issues) - SHOWN_LABS} more labs that run out of candidates"]
    if issues:
        raise ScenarioError(issues)


def load_lab_pools(scenario: Scenario, space: MaterialSpace) -> dict[str, SourcePool]:
    """Load every pool a BO lab lists and check it against the material space.

    Returns pool path -> loaded pool (each directory loaded once), for ``ExplorationNetwork(pools=...)``.

    Raises:
        ScenarioError: ``labs[i].pools[j]: ...`` for a missing or unreadable pool, one built on
            other descriptors, or two pools of a lab with the same name; ``labs[i].pool_top_k``
            when it exceeds the lab's pool models.
    """
    from labnet.models.pool import PoolError, load_pool

    pools: dict[str, SourcePool] = {}
    issues: list[str] = []
    for i, lab in enumerate(scenario.labs):
        if lab.strategy != "bo" or not lab.pools:
            continue
        names: dict[str, int] = {}
        n_models = 0
        for j, path in enumerate(lab.pools):
            where = f"labs[{i}].pools[{j}]"
            try:
                pool = pools[path] if path in pools else load_pool(path)
                pool.check_descriptors(space.n_descriptors, space.descriptor_names)
            except PoolError as exc:
                issues.append(f"{where}: {exc}")
                continue
            pools[path] = pool
            if pool.name in names:
                issues.append(f"{where}: pool name {pool.name!r} is also the name of labs[{i}].pools[{names[pool.name]}]; "
                              f"names must differ (they label pool models in the logs)")
            names[pool.name] = j
            n_models += len(pool)
        if n_models and lab.pool_top_k > n_models:
            issues.append(f"labs[{i}].pool_top_k = {lab.pool_top_k}: more than the {n_models} models of the lab's pools")
    if issues:
        raise ScenarioError(issues)
    return pools


def build_topology(scenario: Scenario) -> Topology:
    """The scenario's (networked) topology over its labs, in scenario order.

    The topology spec of the scenario's kind builds the graph
    (:meth:`labnet.runs.config.topologies.TopologySpec.build`). Random graphs and latency
    rules are seeded by ``topology.seed``, or the scenario's ``seed`` when that is null (the
    same graph in every trial). Edges without their own ``latency_ticks`` get the topology's
    ``latency_ticks``.

    Raises:
        ScenarioError: the builder rejects the topology (message starts with ``topology``).
    """
    config = scenario.topology
    seed = config.seed if config.seed is not None else scenario.seed
    try:
        return config.build(scenario.lab_names, seed)
    except (OSError, ValueError) as exc:
        raise ScenarioError(f"topology: {exc}") from None


LAB_TABLE_COLUMNS = (
    "name", "property", "goal", "period_ticks", "initial_points", "noise_std", "bias", "strategy", "community",
)


def lab_table(scenario: Scenario) -> pd.DataFrame:
    """One row per lab, in scenario order (generated labs as drawn).

    Columns: :data:`LAB_TABLE_COLUMNS`; ``community`` is a nullable ``Int64`` (missing when
    the topology does not define communities).
    """
    rows = [{column: getattr(lab, column) for column in LAB_TABLE_COLUMNS} for lab in scenario.labs]
    table = pd.DataFrame(rows, columns=list(LAB_TABLE_COLUMNS))
    table["community"] = table["community"].astype("Int64")
    return table


def thresholds_for(scenario: Scenario, space: MaterialSpace) -> dict[str, float]:
    """Lab -> the headline metric's threshold (property units), goal-aware."""
    return {
        lab.name: float(space.threshold(lab.property, scenario.threshold_fraction, lab.goal))
        for lab in scenario.labs
    }


@dataclass(frozen=True)
class Condition:
    """One arm of the comparison: what the network is built from in a trial.

    Attributes:
        name: "networked", "isolated" or "random".
        labs: the labs as run in this condition.
        topology: who may use whose models.
        isolated_candidates: lab -> number of from-scratch ensembles per action (isolated
            baseline only; None otherwise).
    """

    name: str
    labs: tuple[LabSpec, ...]
    topology: Topology
    isolated_candidates: dict[str, int] | None = None


def make_conditions(scenario: Scenario, networked_topology: Topology) -> list[Condition]:
    """The scenario's conditions in run order (networked first, then the baselines).

    - networked: the scenario's labs on its topology;
    - isolated: no edges; every BO lab chooses among ``1 + in-degree`` from-scratch
      ensembles, as many candidates as it has in the networked condition (paper: 3); under
      ``learner.protocol: authors_code`` it trains one (the authors' ``no_transfer`` mode);
    - random: every lab searches at random (no models, so no edges).
    """
    from labnet.environment import Topology

    labs = tuple(scenario.lab_specs())
    names = scenario.lab_names
    conditions = [Condition("networked", labs, networked_topology)]
    for baseline in scenario.baselines:
        if baseline == "isolated":
            single = scenario.learner.rules.isolated_single
            candidates = {lab.name: 1 if single else 1 + networked_topology.in_degree(lab.name)
                          for lab in labs if lab.strategy == "bo"}
            conditions.append(Condition("isolated", labs, Topology.isolated(names), candidates))
        elif baseline == "random":
            random_labs = tuple(dataclasses.replace(lab, strategy="random") for lab in labs)
            conditions.append(Condition("random", random_labs, Topology.isolated(names)))
        else:  # pragma: no cover - the schema admits only the two above
            raise ScenarioError(f"baselines: unknown baseline {baseline!r}")
    return conditions
