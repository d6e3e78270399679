"""Which neighbours' models a lab tries: all of them (paper 1) or a few, chosen from the fitted
scaling of each neighbour's transfer benefit.

Paper 1 fine-tunes the model of every in-neighbour at every action, so a lab with k neighbours
trains k + 1 ensembles per action. Most of them lose to the local model when the neighbours
measure unrelated properties. With ``neighbour_selection: scaling`` a lab keeps, per neighbour,
the ratio ``r = validation loss of the transferred model / validation loss of its own model``
of every try (below 1: the transfer helped), with the number ``n`` of training rows of the
neighbour's model, and fits the scaling law of paper 3,

    r(n) = D n^-alpha + C        (D, alpha, C >= 0; C is the transfer gap)

in log space (the ratios' noise is multiplicative). It predicts each neighbour's log ratio at the
size of the model the neighbour publishes now, and tries the ``budget`` neighbours with the
lowest lower confidence bound ``predicted log r - KAPPA * s / sqrt(tries)``. Here ``s`` is the
residual spread of all neighbours' log ratios about their fits. The bound favours neighbours
that are predicted to help and neighbours tried too rarely to know. Neighbours never tried
come first, in topology order; so do neighbours not tried for ``retry_every`` actions, longest
first. Selection on validation loss then works as before among the candidates tried, so negative
transfer stays blocked.

A neighbour with fewer than :data:`MIN_FIT_SIZES` distinct sizes is predicted by the mean of its
log ratios. The fit is a grid search (alpha on :data:`ALPHA_GRID`, C on fractions of the smallest
ratio, D in closed form), exact enough for ranking and about 100 µs per fit. The fit is redone only
when the neighbour gets a new point. :func:`labnet.models.scaling.fit_power_law` fits the same law with
bootstrap CIs for analysis, but it costs ~30 ms per fit, more than the training it would save.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Protocol

import numpy as np

from labnet.models.choices import NEIGHBOUR_SELECTIONS, NeighbourSelection  # noqa: F401  (declared once, light; re-exported)
MIN_FIT_SIZES = 4
"""Distinct neighbour sizes needed before the power law is fitted (it has 3 parameters)."""
ALPHA_GRID = np.linspace(0.0, 2.0, 41)
C_FRACTIONS = np.linspace(0.0, 0.95, 20)
"""C is searched as these fractions of the smallest mean ratio (so that r - C > 0)."""
KAPPA = 1.0
"""Width of the lower confidence bound, in standard errors."""
DEFAULT_SPREAD = 0.5
"""Spread of log ratios assumed until 8 residuals are known (measured: 0.5-0.6 in the Sim2Real network)."""


class NeighbourSelector(Protocol):
    """Which published neighbour models a lab tries at an action, and what it learns from each try."""

    def choose(self, available: Mapping[str, int], action: int) -> list[str]:
        """Names from ``available`` (name -> training rows of its current model) to try, in its order."""
        ...

    def record(self, source: str, n_source: int, ratio: float, action: int) -> None:
        """One try: the loss ratio (transferred / own) of ``source``'s model trained on ``n_source`` rows."""
        ...


class AllNeighbours:
    """``all`` (paper 1): every published neighbour model at every action; learns nothing."""

    def choose(self, available: Mapping[str, int], action: int) -> list[str]:
        return list(available)

    def record(self, source: str, n_source: int, ratio: float, action: int) -> None:
        return None


@dataclass
class _History:
    """One neighbour's tries: its model's training rows and log loss ratio, and when it was last tried."""

    n: list[int] = field(default_factory=list)
    log_ratio: list[float] = field(default_factory=list)
    last_action: int = -1
    fit: tuple[float, float, float] | None = None  # (D, alpha, C) of the latest fit
    fitted_points: int = 0  # len(n) when ``fit`` was made
    residuals: list[float] = field(default_factory=list)  # of the latest fit (or about the mean)


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
        entry.log_ratio.append(float(np.log(ratio)))
        entry.last_action = action

    def predicted_ratio(self, source: str, n_source: int) -> float | None:
        """Predicted loss ratio of ``source``'s model at ``n_source`` rows; None when never tried."""
        log_ratio = self._predicted_log_ratio(source, n_source)
        return None if log_ratio is None else float(np.exp(log_ratio))

    def _predicted_log_ratio(self, source: str, n_source: int) -> float | None:
        entry = self.history.get(source)
        if entry is None or not entry.log_ratio:
            return None
        if entry.fitted_points != len(entry.n):
            entry.fit, entry.residuals = _fit(entry.n, entry.log_ratio)
            entry.fitted_points = len(entry.n)
        if entry.fit is None:
            return float(np.mean(entry.log_ratio))
        D, alpha, C = entry.fit
        return float(np.log(D * float(n_source) ** -alpha + C))

    def spread(self) -> float:
        """Residual standard deviation of log ratios about their fits, pooled over neighbours."""
        residuals = [r for entry in self.history.values() for r in entry.residuals]
        return float(np.std(residuals)) if len(residuals) >= 8 else DEFAULT_SPREAD

    def choose(self, available: Mapping[str, int], action: int) -> list[str]:
        """The neighbours to try at ``action``: names from ``available`` (name -> rows of its
        current model), in ``available``'s order."""
        names = list(available)
        if len(names) <= self.budget:
            return names
        position = {name: i for i, name in enumerate(names)}  # ties keep topology order
        predicted = {name: self._predicted_log_ratio(name, available[name]) for name in names}
        untried = [name for name in names if predicted[name] is None]
        known = [name for name in names if predicted[name] is not None]
        stale = sorted((name for name in known if action - self.history[name].last_action >= self.retry_every),
                       key=lambda name: (self.history[name].last_action, position[name]))
        spread = self.spread()
        bound = {name: predicted[name] - KAPPA * spread / np.sqrt(len(self.history[name].n)) for name in known}
        ranked = sorted(known, key=lambda name: (bound[name], position[name]))
        order = list(dict.fromkeys(untried + stale + ranked))  # first place of each name
        chosen = set(order[: self.budget])
        return [name for name in names if name in chosen]


def _fit(n: list[int], log_ratio: list[float]) -> tuple[tuple[float, float, float] | None, list[float]]:
    """((D, alpha, C), residuals) of ``log r = log(D n^-alpha + C)`` over the mean log ratio per size.

    Fewer than :data:`MIN_FIT_SIZES` sizes: (None, residuals about the mean).
    """
    sizes = np.asarray(n, dtype=np.float64)
    values = np.asarray(log_ratio, dtype=np.float64)
    unique = np.unique(sizes)
    if unique.size < MIN_FIT_SIZES:
        return None, list(values - values.mean())
    y = np.array([values[sizes == size].mean() for size in unique])  # mean log ratio per size
    log_n = np.log(unique)
    C = C_FRACTIONS * float(np.exp(y).min())  # [c]
    excess = np.log(np.maximum(np.exp(y)[None, :] - C[:, None], 1e-300))  # log(r - C), [c, k]
    # for each (C, alpha): log D = mean(log(r - C) + alpha log n), the least-squares intercept
    log_D = excess.mean(axis=1)[:, None] + ALPHA_GRID[None, :] * log_n.mean()  # [c, a]
    curve = np.exp(log_D[:, :, None] - ALPHA_GRID[None, :, None] * log_n[None, None, :]) + C[:, None, None]
    sse = ((np.log(curve) - y[None, None, :]) ** 2).sum(axis=2)  # [c, a]
    ci, ai = np.unravel_index(int(np.argmin(sse)), sse.shape)
    D, alpha, c = float(np.exp(log_D[ci, ai])), float(ALPHA_GRID[ai]), float(C[ci])
    fitted = np.log(D * sizes ** -alpha + c)
    return (D, alpha, c), list(values - fitted)


NEIGHBOUR_SELECTORS: Mapping[str, Callable[[int, int], NeighbourSelector]] = MappingProxyType({
    "all": lambda budget, retry_every: AllNeighbours(),
    "scaling": ScalingNeighbourSelector,
})
"""Every neighbour selection by name (keys: :data:`NEIGHBOUR_SELECTIONS`): ``(budget, retry_every)`` -> selector."""


def neighbour_selector(selection: str, budget: int, retry_every: int) -> NeighbourSelector:
    """The selector of ``selection`` ("all" or "scaling") with the lab's budget and retry period.

    Raises:
        ValueError: an unknown selection; the message lists the known ones.
    """
    make = NEIGHBOUR_SELECTORS.get(selection)
    if make is None:
        raise ValueError(f"neighbour_selection = {selection!r}: expected one of {', '.join(NEIGHBOUR_SELECTORS)}")
    return make(budget, retry_every)
