"""The registry of lab strategies: ``LabSpec.strategy`` -> the lab class that runs it.

Every class builds itself from what the network provides with
:meth:`ExplorationLab.create(model, spec, lab_index, oracle, context) <labnet.agents.lab.ExplorationLab.create>`.
Adding a strategy: subclass :class:`~labnet.agents.lab.ExplorationLab`, add it here and its
name to ``Strategy`` in :mod:`labnet.agents.spec`.
"""
from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from .lab import BayesianOptimizationLab, ExplorationLab, RandomSearchLab

LAB_STRATEGIES: Mapping[str, type[ExplorationLab]] = MappingProxyType({
    "bo": BayesianOptimizationLab,
    "random": RandomSearchLab,
})
"""Every strategy by name (keys: the values of :data:`labnet.agents.spec.Strategy`)."""


def lab_class(strategy: str) -> type[ExplorationLab]:
    """The lab class of ``strategy``.

    Raises:
        ValueError: an unknown strategy; the message lists the known ones.
    """
    found = LAB_STRATEGIES.get(strategy)
    if found is None:
        raise ValueError(f"strategy = {strategy!r}: expected one of {', '.join(LAB_STRATEGIES)}")
    return found
