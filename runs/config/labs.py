"""The labs of a scenario: one lab as written (:class:`LabConfig`) and a lab generator
(:class:`LabGenerator`), both derived from the one declaration of the lab fields,
:class:`labnet.agents.spec.LabSpec` (types, defaults and bounds, see
:func:`labnet.agents.spec.lab_field`).

``labs`` is either a list of labs or a generator mapping (``count``, ``name_prefix``, and each
lab field as a plain value or a rule of :mod:`labnet.runs.config.lab_rules`). Which rules fit a
field follows from its declared type: ``uniform_int`` for integer fields, ``uniform`` for number
fields, the categorical rules (``round_robin``, ``choice``/``random``, ``by_community``) for all.

:func:`lab_config_model` and :func:`lab_generator_model` build the two models for any
:class:`LabSpec` subclass; :data:`LabConfig` and :data:`LabGenerator` are those of ``LabSpec``.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import cache
from typing import Annotated, Any, ClassVar, Union

from pydantic import Discriminator, Field, Tag, TypeAdapter, ValidationError, create_model, model_validator

from labnet.agents.spec import LabFieldInfo, LabSpec, lab_fields
from labnet.runs.config import lab_rules
from labnet.runs.config.errors import FieldIssue, StrictModel, describe
from labnet.runs.config.lab_rules import fixed_or_rule

POOL_SETTINGS = ("pool_top_k", "pool_every", "pool_scoring", "pool_cv_folds")
"""Lab fields that only mean something when the lab lists pools."""
SCALING_SELECTION_SETTINGS = ("neighbour_budget", "neighbour_retry_every")
"""Lab fields that only mean something with ``neighbour_selection: scaling``."""


def value_type(info: LabFieldInfo) -> Any:
    """The pydantic type of one value of a lab field: its declared type with its bounds."""
    bounds = info.constraint.bounds()
    return Annotated[info.type, Field(**bounds)] if bounds else info.type


def _default(info: LabFieldInfo) -> Any:
    return ... if info.required else info.default


class LabConfigBase(StrictModel):
    """One lab as written in a scenario; :meth:`to_spec` gives the :class:`LabSpec`.

    Field meanings and defaults are those of :class:`labnet.agents.spec.LabSpec` (the
    subclass named by ``spec_class``); ``community`` is the lab's community in the topology
    (filled from the topology when it knows it) and not part of the spec.
    """

    spec_class: ClassVar[type[LabSpec]] = LabSpec

    @model_validator(mode="after")
    def _spec_accepts(self) -> LabConfigBase:
        defaults = {info.name: info.default for info in lab_fields(self.spec_class)}
        if not self.pools:
            unused = [name for name in POOL_SETTINGS if getattr(self, name) != defaults[name]]
            if unused:
                raise FieldIssue([(name, "only used when 'pools' lists at least one pool directory") for name in unused])
        if self.neighbour_selection != "scaling":
            unused = [name for name in SCALING_SELECTION_SETTINGS if getattr(self, name) != defaults[name]]
            if unused:
                raise FieldIssue([(name, "only used when neighbour_selection is 'scaling'") for name in unused])
        duplicates = sorted({p for p in self.pools if self.pools.count(p) > 1})
        if duplicates:
            raise FieldIssue([("pools", f"pool listed more than once: {', '.join(duplicates)}")])
        self.to_spec()  # LabSpec's own checks; its ValueError surfaces at labs[i]
        return self

    def to_spec(self) -> LabSpec:
        """The lab as the simulation's :class:`LabSpec` (``community`` is dropped)."""
        return self.spec_class(**self.model_dump(exclude={"community"}))


@cache
def lab_config_model(spec_class: type[LabSpec] = LabSpec) -> type[LabConfigBase]:
    """The pydantic model of one lab written in a scenario, with a field per ``spec_class`` field."""
    fields: dict[str, Any] = {
        info.name: (value_type(info), _default(info)) for info in lab_fields(spec_class)
    }
    fields["community"] = (int | None, Field(None, ge=0))
    name = "LabConfig" if spec_class is LabSpec else f"LabConfig[{spec_class.__name__}]"
    model = create_model(name, __base__=LabConfigBase, __module__=__name__, **fields)
    model.spec_class = spec_class
    return model


class LabGeneratorBase(StrictModel):
    """``labs`` written as rules: ``count`` labs named ``name_prefix`` + zero-padded index.

    Every lab field is a plain value or a rule of :mod:`labnet.runs.config.lab_rules` (``round_robin``,
    ``choice``/``random``, ``by_community``, ``uniform_int`` for integer fields,
    ``uniform`` for number fields). Draws are seeded by ``seed`` (None: the scenario's seed).
    """

    spec_class: ClassVar[type[LabSpec]] = LabSpec
    lab_config: ClassVar[type[LabConfigBase]]

    @classmethod
    def lab_field_infos(cls) -> tuple[LabFieldInfo, ...]:
        """The generated lab fields (every LabSpec field but ``name``)."""
        return tuple(info for info in lab_fields(cls.spec_class) if info.name != "name")

    @model_validator(mode="after")
    def _rule_values_fit_their_field(self) -> LabGeneratorBase:
        issues: list[tuple[str, str]] = []
        for info in self.lab_field_infos():
            field, rule = info.name, getattr(self, info.name)
            if isinstance(rule, lab_rules.CategoricalRule):
                checks = [(f"values[{i}]", v) for i, v in enumerate(rule.values)]
            elif isinstance(rule, (lab_rules.UniformIntRule, lab_rules.UniformRule)):
                wanted = "integer" if isinstance(rule, lab_rules.UniformIntRule) else "number"
                if info.kind != wanted:
                    hint = {"integer": "uniform_int", "number": "uniform"}.get(info.kind, "round_robin or choice")
                    issues.append((f"{field}.rule", f"{rule.rule!r} does not fit {field}; use {hint}"))
                    continue
                checks = [("low", rule.low), ("high", rule.high)]
            else:
                continue
            adapter = TypeAdapter(value_type(info))
            for where, value in checks:
                try:
                    adapter.validate_python(value)
                except ValidationError as exc:
                    for error in exc.errors():
                        issues.extend((f"{field}.{where}", message) for _, message in describe(error, ""))
        if issues:
            raise FieldIssue(issues)
        return self

    def names(self) -> list[str]:
        """The generated lab names, in order."""
        return lab_rules.generated_names(self.name_prefix, self.count)

    def community_fields(self) -> list[str]:
        """Fields whose rule is ``by_community``."""
        return [info.name for info in self.lab_field_infos() if lab_rules.needs_communities(getattr(self, info.name))]

    def expand(self, seed: int, communities: Sequence[int] | None) -> list[LabConfigBase]:
        """The concrete labs: every field drawn for ``count`` labs.

        Args:
            seed: seeds the draws (the generator's own ``seed`` when set is passed by the caller).
            communities: community of each lab in order, or None when unknown
                (then no field may use ``by_community``).
        """
        columns = {
            info.name: lab_rules.draw(getattr(self, info.name), self.count,
                                      lab_rules.field_rng(seed, info.name), communities)
            for info in self.lab_field_infos()
        }
        return [
            self.lab_config(
                name=name,
                community=None if communities is None else communities[i],
                **{field: values[i] for field, values in columns.items()},
            )
            for i, name in enumerate(self.names())
        ]


@cache
def lab_generator_model(spec_class: type[LabSpec] = LabSpec) -> type[LabGeneratorBase]:
    """The pydantic model of a lab generator for ``spec_class``: each lab field a value or a rule."""
    fields: dict[str, Any] = {"count": (int, Field(ge=1)), "name_prefix": (str, "lab")}
    for info in lab_fields(spec_class):
        if info.name != "name":
            fields[info.name] = (fixed_or_rule(value_type(info)), _default(info))
    fields["seed"] = (int | None, Field(None, ge=0))
    name = "LabGenerator" if spec_class is LabSpec else f"LabGenerator[{spec_class.__name__}]"
    model = create_model(name, __base__=LabGeneratorBase, __module__=__name__, **fields)
    model.spec_class = spec_class
    model.lab_config = lab_config_model(spec_class)
    return model


def _labs_form(value: Any) -> str:
    return "generator" if isinstance(value, (Mapping, LabGeneratorBase)) else "list"


def labs_field(spec_class: type[LabSpec] = LabSpec) -> Any:
    """The annotation of ``Scenario.labs``: a list of labs or a generator mapping."""
    return Annotated[
        Union[
            Annotated[list[lab_config_model(spec_class)], Field(min_length=1), Tag("list")],
            Annotated[lab_generator_model(spec_class), Tag("generator")],
        ],
        Discriminator(_labs_form),
    ]


LabConfig = lab_config_model(LabSpec)
"""One lab of a scenario (fields of :class:`LabSpec` plus ``community``)."""
LabGenerator = lab_generator_model(LabSpec)
"""``labs: {count: ..., <field>: value or rule}``."""
