"""What a lab is, as data: the scenario's description of one exploration system."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from labnet.agents.neighbour_selection import NEIGHBOUR_SELECTIONS, NeighbourSelection
from labnet.models.pool_selection import POOL_SCORINGS, PoolScoring
from labnet.models.transfer import DEFAULT_TRANSFER_MODE, TRANSFER_MODES, TransferMode

Strategy = Literal["bo", "random"]
Goal = Literal["maximize", "minimize"]


@dataclass(frozen=True)
class LabSpec:
    """One lab of the network.

    Attributes:
        name: unique lab name (node of the topology).
        property: the material property the lab optimizes (a column of the material space).
        goal: "maximize" or "minimize".
        period_ticks: the lab acts at ticks phase_ticks, phase_ticks + period, ... (paper: M 1, Tc 3, Sp 9).
        initial_points: random candidates measured before the first action (seeded per lab).
        strategy: "bo" (the paper's closed loop) or "random" (random-search baseline).
        noise_std: standard deviation of Gaussian measurement noise, in the property's units.
        bias: constant offset added to every measurement, in the property's units.
        phase_ticks: offset of the lab's first action.
        transfer_mode: how a source model becomes a candidate: "finetune_frozen" (paper 1),
            "finetune_full" or "featurizer_rf" (models/transfer.py).
        pools: directories of source-model pools the lab draws candidates from (may be empty).
        pool_top_k: pool models transferred per action: the k best by cross-validation.
        pool_every: re-rank the pool every this many actions (the top k are kept in between).
        pool_scoring: "ridge_probe" (cheap proxy, default) or "transfer_cv" (models/pool_selection.py).
        pool_cv_folds: folds of the cross-validation (fewer when the lab has fewer training points).
        neighbour_selection: "all" (paper 1: fine-tune every in-neighbour's model at every action)
            or "scaling": at most ``neighbour_budget`` neighbours per action, chosen from the fitted
            scaling of each one's transfer benefit (agents/neighbour_selection.py).
        neighbour_budget: neighbours tried per action under "scaling".
        neighbour_retry_every: under "scaling", a neighbour not tried for this many actions is tried again.
    """

    name: str
    property: str
    goal: Goal = "maximize"
    period_ticks: int = 1
    initial_points: int = 10
    strategy: Strategy = "bo"
    noise_std: float = 0.0
    bias: float = 0.0
    phase_ticks: int = 0
    transfer_mode: TransferMode = DEFAULT_TRANSFER_MODE
    pools: tuple[str, ...] = ()
    pool_top_k: int = 1
    pool_every: int = 1
    pool_scoring: PoolScoring = "ridge_probe"
    pool_cv_folds: int = 5
    neighbour_selection: NeighbourSelection = "all"
    neighbour_budget: int = 2
    neighbour_retry_every: int = 10

    def __post_init__(self) -> None:
        object.__setattr__(self, "pools", tuple(str(p) for p in self.pools))
        if not self.name:
            raise ValueError("lab.name: expected a non-empty string")
        if self.goal not in ("maximize", "minimize"):
            raise ValueError(f"lab {self.name!r}: goal = {self.goal!r}: expected 'maximize' or 'minimize'")
        if self.strategy not in ("bo", "random"):
            raise ValueError(f"lab {self.name!r}: strategy = {self.strategy!r}: expected 'bo' or 'random'")
        if int(self.period_ticks) != self.period_ticks or self.period_ticks <= 0:
            raise ValueError(f"lab {self.name!r}: period_ticks = {self.period_ticks!r}: expected an integer > 0")
        if self.phase_ticks < 0:
            raise ValueError(f"lab {self.name!r}: phase_ticks = {self.phase_ticks!r}: expected an integer >= 0")
        if self.noise_std < 0:
            raise ValueError(f"lab {self.name!r}: noise_std = {self.noise_std!r}: expected a number >= 0")
        if self.initial_points < MIN_INITIAL_POINTS:
            raise ValueError(
                f"lab {self.name!r}: initial_points = {self.initial_points!r}: expected at least "
                f"{MIN_INITIAL_POINTS} so that an 80/20 split leaves >= 4 training and >= 1 validation points"
            )

        if self.transfer_mode not in TRANSFER_MODES:
            raise ValueError(
                f"lab {self.name!r}: transfer_mode = {self.transfer_mode!r}: expected one of {', '.join(TRANSFER_MODES)}"
            )
        if self.pool_scoring not in POOL_SCORINGS:
            raise ValueError(
                f"lab {self.name!r}: pool_scoring = {self.pool_scoring!r}: expected one of {', '.join(POOL_SCORINGS)}"
            )
        if self.neighbour_selection not in NEIGHBOUR_SELECTIONS:
            raise ValueError(
                f"lab {self.name!r}: neighbour_selection = {self.neighbour_selection!r}: expected one of "
                f"{', '.join(NEIGHBOUR_SELECTIONS)}"
            )
        for name, minimum in (("pool_top_k", 1), ("pool_every", 1), ("pool_cv_folds", 2), ("neighbour_budget", 1),
                              ("neighbour_retry_every", 1)):
            value = getattr(self, name)
            if isinstance(value, bool) or int(value) != value or value < minimum:
                raise ValueError(f"lab {self.name!r}: {name} = {value!r}: expected an integer >= {minimum}")

    def acts_at(self, tick: int) -> bool:
        """True when the lab's clock fires at ``tick``."""
        return tick >= self.phase_ticks and (tick - self.phase_ticks) % self.period_ticks == 0


MIN_INITIAL_POINTS = 5
