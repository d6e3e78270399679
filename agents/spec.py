"""What a lab is, as data: the scenario's description of one exploration system."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

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

    def __post_init__(self) -> None:
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

    def acts_at(self, tick: int) -> bool:
        """True when the lab's clock fires at ``tick``."""
        return tick >= self.phase_ticks and (tick - self.phase_ticks) % self.period_ticks == 0


MIN_INITIAL_POINTS = 5
