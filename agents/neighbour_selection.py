"""Which neighbours' models a lab tries: all of them (paper 1) or a few, chosen from the fitted
scaling of each neighbour's transfer benefit.

Paper 1 fine-tunes the model of every in-neighbour at every action, so a lab with k neighbours
trains k + 1 ensembles per action. Most of them lose to the local model when the neighbours
measure unrelated properties. With ``neighbour_selection: scaling`` a lab keeps, per neighbour,
the ratio ``r = validation loss of the transferred model / validation loss of its own model``
of every try (below 1: the transfer helped), with the number ``n`` of training rows of the
neighbour's model. It fits ``r(n) = D n^-alpha + C`` (:func:`models.scaling.fit_power_law`, the
scaling law of paper 3, with ``C`` the transfer gap) and predicts each neighbour's ratio at the
size of the model it publishes now. It then tries at most ``budget`` neighbours per action, in this
order:

1. the neighbour with the lowest predicted ratio (exploit), when the budget is 2 or more;
2. neighbours never tried, in topology order (explore);
3. neighbours not tried for ``retry_every`` actions, longest first (keep the fits current);
4. the remaining neighbours by predicted ratio.

With a budget of 1 the single slot goes to exploration (2, 3) whenever a neighbour is untried
or stale, else to the best predicted neighbour.

A neighbour with fewer than 3 distinct sizes tried is predicted by the mean of its ratios; the
fit is redone only when the neighbour gets a new point. Selection on validation loss then works
as before among the candidates tried, so negative transfer stays blocked.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

NeighbourSelection = Literal["all", "scaling"]
NEIGHBOUR_SELECTIONS: tuple[str, ...] = ("all", "scaling")
MIN_FIT_SIZES = 3
"""Distinct neighbour sizes needed before the power law is fitted (it has 3 parameters)."""


@dataclass
class _History:
    """One neighbour's tries: its model's training rows and the loss ratio, and when it was last tried."""

    n: list[int] = field(default_factory=list)
    ratio: list[float] = field(default_factory=list)
    last_action: int = -1
    fit: tuple[float, float, float] | None = None  # (D, alpha, C) of the latest fit
    fitted_points: int = 0  # len(n) when ``fit`` was made


class ScalingNeighbourSelector:
    """Chooses up to ``budget`` neighbours per action from the fitted scaling of their transfer benefit.

    Args:
        budget: neighbours tried per action (>= 1).
        retry_every: a neighbour not tried for this many actions is tried again (>= 1).

    Plain data, so it pickles with the lab (checkpoints).
    """

    def __init__(self, budget: int, retry_every: int) -> None:
        if budget < 1 or retry_every < 1:
            raise ValueError(f"budget = {budget}, retry_every = {retry_every}: expected integers >= 1")
        self.budget = int(budget)
        self.retry_every = int(retry_every)
        self.history: dict[str, _History] = {}

    def record(self, source: str, n_source: int, ratio: float, action: int) -> None:
        """One try of ``source``'s model (trained on ``n_source`` rows) at the lab's ``action``."""
        if not np.isfinite(ratio) or ratio <= 0:
            return  # a degenerate loss (e.g. 0 / 0) says nothing about the neighbour
        entry = self.history.setdefault(source, _History())
        entry.n.append(int(n_source))
        entry.ratio.append(float(ratio))
        entry.last_action = action

    def predicted_ratio(self, source: str, n_source: int) -> float | None:
        """Predicted loss ratio of ``source``'s model at ``n_source`` rows; None when never tried."""
        entry = self.history.get(source)
        if entry is None or not entry.ratio:
            return None
        if len(set(entry.n)) < MIN_FIT_SIZES:
            return float(np.mean(entry.ratio))
        if entry.fitted_points != len(entry.n):
            entry.fit = _fit(entry.n, entry.ratio)
            entry.fitted_points = len(entry.n)
        if entry.fit is None:
            return float(np.mean(entry.ratio[-MIN_FIT_SIZES:]))
        D, alpha, C = entry.fit
        return float(D * float(n_source) ** -alpha + C)

    def choose(self, available: Mapping[str, int], action: int) -> list[str]:
        """The neighbours to try at ``action``: names from ``available`` (name -> rows of its
        current model), in ``available``'s order."""
        names = list(available)
        if len(names) <= self.budget:
            return names
        predicted = {name: self.predicted_ratio(name, available[name]) for name in names}
        known = sorted((name for name in names if predicted[name] is not None),
                       key=lambda name: (predicted[name], names.index(name)))
        untried = [name for name in names if predicted[name] is None]
        stale = sorted((name for name in known if action - self.history[name].last_action >= self.retry_every),
                       key=lambda name: (self.history[name].last_action, names.index(name)))
        explore = untried + stale
        if self.budget >= 2 and known:  # the best known neighbour keeps a slot while others are explored
            order = known[:1] + explore + known[1:]
        else:
            order = explore + known
        chosen = set(list(dict.fromkeys(order))[: self.budget])  # dict.fromkeys: first place of each name
        return [name for name in names if name in chosen]


def _fit(n: list[int], ratio: list[float]) -> tuple[float, float, float] | None:
    """(D, alpha, C) of ``r(n) = D n^-alpha + C`` over the mean ratio per size; None if it fails."""
    from models.scaling import ScalingFitError, fit_power_law

    sizes = np.asarray(n, dtype=np.float64)
    values = np.asarray(ratio, dtype=np.float64)
    unique = np.unique(sizes)
    means = np.array([values[sizes == size].mean() for size in unique])
    try:
        fit = fit_power_law(unique, means, n_bootstrap=0)
    except (ScalingFitError, ValueError, FloatingPointError):
        return None
    return fit.params["D"], fit.params["alpha"], fit.params["C"]
