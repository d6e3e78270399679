"""Rules that give each generated lab a value of one of its fields (scenario ``labs: {count: ...}``).

A field of a lab generator is either a plain value (every lab gets it) or a rule mapping:

- ``{rule: round_robin, values: [a, b, c]}``: lab i gets ``values[i mod len(values)]``;
- ``{rule: choice, values: [...], weights: [...]}`` (``random`` is another name for
  ``choice``): an independent seeded draw per lab, weights optional (relative, >= 0);
- ``{rule: by_community, values: [...]}``: a lab of community c gets ``values[c mod len(values)]``
  (communities come from the topology);
- ``{rule: uniform_int, low, high}``: an integer drawn uniformly from [low, high] (integer fields);
- ``{rule: uniform, low, high}``: a number drawn uniformly from [low, high] (number fields).

Draws use one :class:`random.Random` per field, seeded from (seed, field name), so changing
the rule of one field does not change the values drawn for another.
"""
from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag, model_validator

LAB_RULE_NAMES = ("round_robin", "choice", "random", "by_community", "uniform_int", "uniform")


class _Rule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RoundRobinRule(_Rule):
    """Lab i gets ``values[i mod len(values)]``."""

    rule: Literal["round_robin"]
    values: list[Any] = Field(min_length=1)


class ChoiceRule(_Rule):
    """Each lab gets an independent seeded draw from ``values`` (``weights``: relative, optional)."""

    rule: Literal["choice", "random"]
    values: list[Any] = Field(min_length=1)
    weights: list[Annotated[float, Field(ge=0.0)]] | None = None

    @model_validator(mode="after")
    def _weights_fit(self) -> ChoiceRule:
        if self.weights is not None:
            if len(self.weights) != len(self.values):
                raise ValueError(f"weights: {len(self.weights)} weights for {len(self.values)} values")
            if sum(self.weights) <= 0:
                raise ValueError("weights: at least one weight must be > 0")
        return self


class ByCommunityRule(_Rule):
    """A lab of community c gets ``values[c mod len(values)]``."""

    rule: Literal["by_community"]
    values: list[Any] = Field(min_length=1)


class UniformIntRule(_Rule):
    """An integer drawn uniformly from [low, high] per lab."""

    rule: Literal["uniform_int"]
    low: int
    high: int

    @model_validator(mode="after")
    def _ordered(self) -> UniformIntRule:
        if self.low > self.high:
            raise ValueError(f"low = {self.low} is larger than high = {self.high}")
        return self


class UniformRule(_Rule):
    """A number drawn uniformly from [low, high] per lab."""

    rule: Literal["uniform"]
    low: float
    high: float

    @model_validator(mode="after")
    def _ordered(self) -> UniformRule:
        if self.low > self.high:
            raise ValueError(f"low = {self.low} is larger than high = {self.high}")
        return self


LabRule = Annotated[
    Union[RoundRobinRule, ChoiceRule, ByCommunityRule, UniformIntRule, UniformRule], Field(discriminator="rule")
]
"""Any lab rule, selected by its ``rule`` key."""

CategoricalRule = (RoundRobinRule, ChoiceRule, ByCommunityRule)
"""Rules that pick from a list of ``values``."""


def _fixed_or_rule(value: Any) -> str:
    return "rule" if isinstance(value, (Mapping, _Rule)) else "fixed"


def fixed_or_rule(fixed_type: Any) -> Any:
    """The annotation of a generator field: a plain value of ``fixed_type`` or a :data:`LabRule`."""
    return Annotated[
        Union[Annotated[fixed_type, Tag("fixed")], Annotated[LabRule, Tag("rule")]],
        Discriminator(_fixed_or_rule),
    ]


def is_rule(value: Any) -> bool:
    """True for a rule object, False for a plain value."""
    return isinstance(value, _Rule)


def needs_communities(value: Any) -> bool:
    """True when the field's values depend on the labs' communities."""
    return isinstance(value, ByCommunityRule)


def draw(value: Any, n: int, rng: random.Random, communities: Sequence[int] | None = None) -> list[Any]:
    """The field's value for each of ``n`` labs.

    Args:
        value: a plain value or a rule.
        n: number of labs.
        rng: the field's generator (advanced by choice / uniform draws only).
        communities: community of each lab (needed by ``by_community`` only).

    Raises:
        ValueError: ``by_community`` without communities.
    """
    if isinstance(value, RoundRobinRule):
        return [value.values[i % len(value.values)] for i in range(n)]
    if isinstance(value, ChoiceRule):
        return rng.choices(value.values, weights=value.weights, k=n)
    if isinstance(value, ByCommunityRule):
        if communities is None or len(communities) != n:
            raise ValueError("rule by_community needs the community of every lab")
        return [value.values[c % len(value.values)] for c in communities]
    if isinstance(value, UniformIntRule):
        return [rng.randint(value.low, value.high) for _ in range(n)]
    if isinstance(value, UniformRule):
        return [rng.uniform(value.low, value.high) for _ in range(n)]
    return [value] * n


def field_rng(seed: int, field: str) -> random.Random:
    """The generator of one field's draws: seeded by the string ``labnet-labs:{seed}:{field}``."""
    return random.Random(f"labnet-labs:{seed}:{field}")


def generated_names(prefix: str, count: int) -> list[str]:
    """``prefix`` + index zero-padded to the width of ``count - 1`` (``lab00`` … ``lab29`` for 30)."""
    width = len(str(count - 1))
    return [f"{prefix}{i:0{width}d}" for i in range(count)]
