"""The scenario file: one YAML document that fully describes a study.

A scenario names the dataset, the labs, the topology, the learner settings, the horizon,
the number of trials, the base seed and the baselines. It is validated when it is loaded
(pydantic v2, unknown keys rejected everywhere); every problem is reported as a
:class:`ScenarioError` whose message names the field path (``labs[1].period_ticks``) and
what was expected.

Typical use::

    scenario = resolve(load_scenario("study.yaml"), data="B2.csv", trials=3)
    scenario.lab_specs()        # -> list[LabSpec]
    scenario.learner            # -> LearnerConfig
    scenario.to_yaml("resolved.yaml")

Relative dataset and topology-file paths inside a scenario file are resolved against the
file's directory (so a study and its data can move together); ``--data`` paths are
resolved against the current directory.

The parts live in their own modules: the labs (:mod:`labnet.runs.config.labs`, derived from
:class:`labnet.agents.spec.LabSpec`), the topology kinds (:mod:`labnet.runs.config.topologies`),
the dataset kinds (:mod:`labnet.runs.config.datasets`), the error messages
(:mod:`labnet.runs.config.errors`) and YAML reading (:mod:`labnet.runs.config.yaml_io`).
A generated ``labs`` mapping is expanded into the concrete labs when the scenario is validated
(``scenario.labs`` is always a list of lab configs) and written back as the generator by
:meth:`Scenario.to_dict` / :meth:`Scenario.to_yaml`, so a written scenario reloads to the
same labs.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, PrivateAttr, ValidationError, create_model, field_serializer, field_validator, model_validator

from labnet.agents.spec import LabSpec
from labnet.models.config import LearnerConfig
from labnet.runs.config import lab_rules
from labnet.runs.config.builtins import BUILTIN_DIR, BUILTIN_PACKAGE, builtin_scenario_names
from labnet.runs.config.datasets import Dataset, SyntheticDataset
from labnet.runs.config.execution import Execution
from labnet.runs.config.errors import FieldIssue, ScenarioError, StrictModel, describe, format_validation_error
from labnet.runs.config.labs import LabConfigBase, LabGeneratorBase, labs_field
from labnet.runs.config.topologies import TopologyField, default_topology
from labnet.runs.config.yaml_io import dump_yaml, read_yaml_mapping

__all__ = [
    "BASELINES", "BUILTIN_DIR", "BUILTIN_PACKAGE", "Scenario", "ScenarioError", "builtin_scenario_names",
    "check_properties", "load_builtin", "load_scenario", "resolve", "scenario_from_argument", "scenario_model",
    "validate_scenario",
]

BASELINES = ("isolated", "random")


class Scenario(StrictModel):
    """A whole study. Defaults: the paper's learner, 300 ticks, 10 trials, both baselines.

    Attributes:
        name: used in the run directory's name (letters, digits, ``_ . -``).
        dataset: where the candidate materials and their hidden properties come from.
        labs: the exploration systems (names unique), always a list of lab configs
            once validated; written in the file as a list or as a lab generator
            (:mod:`labnet.runs.config.labs`).
        topology: the directed graph of model sharing: the spec of its ``kind``
            (:mod:`labnet.runs.config.topologies`).
        learner: ensemble training settings (:class:`labnet.models.config.LearnerConfig`).
        horizon_ticks: simulated ticks per run.
        trials: independent repeats; trial t uses seed ``seed + t`` in every condition.
        seed: base seed.
        baselines: conditions run beside the networked one: "isolated", "random".
        threshold_fraction: the headline metric's target, as a fraction of the property's best value.
        execution: where the ticks' training and predictions run (:mod:`labnet.runs.config.execution`;
            default local); the tables do not depend on it.
    """

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$", max_length=100)
    dataset: Dataset = Field(default_factory=SyntheticDataset)
    labs: labs_field(LabSpec)
    topology: TopologyField = Field(default_factory=default_topology)
    learner: LearnerConfig = Field(default_factory=LearnerConfig)
    horizon_ticks: int = Field(300, gt=0)
    trials: int = Field(10, ge=1)
    seed: int = Field(0, ge=0)
    baselines: list[Literal["isolated", "random"]] = Field(default_factory=lambda: list(BASELINES))
    threshold_fraction: float = Field(0.9, gt=0.0, le=1.0)
    execution: Execution = Field(default_factory=Execution)

    @field_validator("baselines")
    @classmethod
    def _unique_baselines(cls, value: list[str]) -> list[str]:
        duplicates = sorted({b for b in value if value.count(b) > 1})
        if duplicates:
            raise ValueError(f"duplicate baseline(s): {', '.join(duplicates)}")
        return value

    _lab_generator: LabGeneratorBase | None = PrivateAttr(None)
    _generated_labs: list[LabConfigBase] | None = PrivateAttr(None)

    @model_validator(mode="after")
    def _cross_references(self) -> Scenario:
        generator = self._generator_to_expand()
        issues: list[tuple[str, str]] = []
        first_index: dict[str, int] = {}
        if generator is None:
            for i, lab in enumerate(self.labs):
                if lab.name in first_index:
                    issues.append((f"labs[{i}].name", f"duplicate lab name {lab.name!r} (also labs[{first_index[lab.name]}])"))
                else:
                    first_index[lab.name] = i
        else:
            first_index = {name: i for i, name in enumerate(generator.names())}
        names = list(first_index)
        known = ", ".join(names) if len(names) <= 20 else ", ".join(names[:20]) + f", … ({len(names)} labs)"
        for where, name in self.topology.lab_references():
            if name not in first_index:
                issues.append((f"topology.{where}", f"unknown lab {name!r}; labs are: {known}"))
        issues += [(f"topology.{field}", message) for field, message in self.topology.issues_for(len(names))]
        if issues:
            raise FieldIssue(issues)
        try:
            communities = self.topology.communities_for(names, self.seed)
        except FieldIssue as exc:
            raise FieldIssue([(f"topology.{field}", message) for field, message in exc.issues]) from None
        if generator is not None:
            self._expand(generator, names, communities)
        else:
            self._fill_communities(communities)
        return self

    def _generator_to_expand(self) -> LabGeneratorBase | None:
        """The generator whose labs this validation must (re)draw, or None for a plain list.

        A validated scenario keeps its generator privately; on a later assignment (e.g. of
        ``seed``) the labs are drawn again unless ``labs`` itself was replaced by a list.
        """
        if isinstance(self.labs, LabGeneratorBase):
            return self.labs
        if self._lab_generator is not None and self.labs is self._generated_labs:
            return self._lab_generator
        self._lab_generator = self._generated_labs = None
        return None

    def _expand(self, generator: LabGeneratorBase, names: list[str], communities: dict[str, int]) -> None:
        needing = generator.community_fields()
        missing = [name for name in names if name not in communities]
        if needing and missing:
            raise FieldIssue([(
                f"labs.{field}",
                f"rule by_community needs the community of every lab, but lab {missing[0]!r} has none; "
                "use topology kind stochastic_block or a GraphML file with node attribute 'community'",
            ) for field in needing])
        try:
            labs = generator.expand(
                seed=generator.seed if generator.seed is not None else self.seed,
                communities=None if missing else [communities[name] for name in names],
            )
        except ValidationError as exc:  # a combination of fields no lab accepts, e.g. pool settings without pools
            issues: list[tuple[str, str]] = []
            for error in exc.errors():
                cause = (error.get("ctx") or {}).get("error")
                if isinstance(cause, FieldIssue):  # LabConfig's own checks name their fields
                    issues += [(f"labs.{sub}" if sub else "labs", msg) for sub, msg in cause.issues]
                else:
                    issues += [("labs", message) for _, message in describe(error, "")]
            raise FieldIssue(issues) from None
        object.__setattr__(self, "labs", labs)  # no re-validation: the labs were just built
        self._lab_generator = generator
        self._generated_labs = labs

    def _fill_communities(self, communities: dict[str, int]) -> None:
        issues = []
        labs = list(self.labs)
        for i, lab in enumerate(labs):
            known = communities.get(lab.name)
            if known is None:
                continue
            if lab.community is None:
                labs[i] = lab.model_copy(update={"community": known})
            elif lab.community != known:
                issues.append((f"labs[{i}].community", f"{lab.community} differs from the topology's community {known}"))
        if issues:
            raise FieldIssue(issues)
        object.__setattr__(self, "labs", labs)

    @field_serializer("labs", mode="wrap")
    def _labs_as_written(self, labs: Any, handler: Any, info: Any) -> Any:
        """A generated scenario writes its generator, not the drawn labs (they are redrawn on load)."""
        if self._lab_generator is not None and labs is self._generated_labs:
            return self._lab_generator.model_dump(mode=info.mode, exclude_none=info.exclude_none)
        return handler(labs)

    # ---- conversions

    @property
    def lab_generator(self) -> LabGeneratorBase | None:
        """The generator the labs were drawn from, or None when the scenario lists its labs."""
        return self._lab_generator

    def lab_field_path(self, index: int, field: str) -> str:
        """Where the user wrote lab ``index``'s ``field``: ``labs[i].field``, or ``labs.field`` when generated."""
        return f"labs.{field}" if self._lab_generator is not None else f"labs[{index}].{field}"

    @property
    def lab_names(self) -> list[str]:
        """Lab names in scenario order."""
        return [lab.name for lab in self.labs]

    def lab_specs(self) -> list[LabSpec]:
        """The labs as :class:`LabSpec` objects, in scenario order."""
        return [lab.to_spec() for lab in self.labs]

    @property
    def goals(self) -> dict[str, str]:
        """Lab name -> "maximize" | "minimize"."""
        return {lab.name: lab.goal for lab in self.labs}

    @property
    def conditions(self) -> list[str]:
        """Condition names in run order: "networked" then the baselines."""
        return ["networked", *self.baselines]

    def to_dict(self) -> dict[str, Any]:
        """Plain-data form (lists, not tuples; unset optional fields left out)."""
        return self.model_dump(mode="json", exclude_none=True)

    def to_yaml(self, path: str | Path | None = None) -> str:
        """The scenario with every default filled in, as YAML; also written to ``path`` if given."""
        text = dump_yaml(self.to_dict())
        if path is not None:
            Path(path).write_text(text, encoding="utf-8")
        return text


# --------------------------------------------------------------------------- loading


def load_scenario(source: str | Path | Mapping[str, Any] | Scenario, model: type[Scenario] | None = None) -> Scenario:
    """Load and validate a scenario from a YAML file path or a mapping.

    Args:
        model: the scenario class (default :class:`Scenario`; see :func:`scenario_model`).

    Raises:
        FileNotFoundError: the file does not exist.
        ScenarioError: the YAML is malformed or the scenario is invalid (message names the fields).
    """
    if isinstance(source, Scenario):
        return source
    if isinstance(source, Mapping):
        return validate_scenario(source, model=model)
    path = Path(source).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"scenario file not found: {path}")
    return _load_text(path.read_text(encoding="utf-8"), label=str(path), base_dir=path.resolve().parent, model=model)


def validate_scenario(
    data: Mapping[str, Any], label: str | None = None, base_dir: Path | None = None, model: type[Scenario] | None = None
) -> Scenario:
    """Validate a mapping as a :class:`Scenario`; errors become one :class:`ScenarioError`.

    Args:
        base_dir: directory that relative ``topology.path`` values are relative to (None: the cwd).
        model: the scenario class (default :class:`Scenario`; see :func:`scenario_model`).
    """
    model = Scenario if model is None else model
    if not isinstance(data, Mapping):
        raise ScenarioError(f"expected a mapping of scenario fields at the top level (got {type(data).__name__})", label)
    try:
        return model.model_validate(dict(data), context={"base_dir": base_dir})
    except ValidationError as exc:
        raise ScenarioError(format_validation_error(exc, model), label) from None


def load_builtin(name: str = "default") -> Scenario:
    """Load a shipped scenario by name (``"default"``, ``"paper_b2"``, ...)."""
    names = builtin_scenario_names()
    if name not in names:
        raise ScenarioError(f"unknown built-in scenario {name!r}; available: {', '.join(names)}")
    text = resources.files(BUILTIN_PACKAGE).joinpath(BUILTIN_DIR, f"{name}.yaml").read_text(encoding="utf-8")
    return _load_text(text, label=f"built-in scenario {name!r}", base_dir=None)


def scenario_from_argument(reference: str | None) -> Scenario:
    """A scenario from a file path, a built-in name, or None (the built-in default).

    Raises:
        FileNotFoundError: neither an existing file nor a built-in name.
    """
    if reference is None:
        return load_builtin("default")
    path = Path(reference)
    if not path.exists() and reference in builtin_scenario_names():
        return load_builtin(reference)
    if not path.exists():
        raise FileNotFoundError(
            f"scenario file not found: {reference} (built-in scenarios: {', '.join(builtin_scenario_names())})"
        )
    return load_scenario(path)


def _load_text(text: str, label: str, base_dir: Path | None, model: type[Scenario] | None = None) -> Scenario:
    data = read_yaml_mapping(text, label, "scenario", "'name' and 'labs'")
    scenario = validate_scenario(data, label, base_dir, model)
    path = getattr(scenario.dataset, "path", None)
    if base_dir is not None and path is not None and not Path(path).expanduser().is_absolute():
        scenario.dataset.path = str((base_dir / Path(path).expanduser()).resolve())
    if base_dir is not None:  # pool directories, like the dataset, are relative to the scenario file
        for lab in scenario.labs:
            if lab.pools:
                lab.pools = _absolute_pools(lab.pools, base_dir)
        generator = scenario._lab_generator
        if generator is not None and generator.pools:  # what to_dict() writes, e.g. a run's scenario.yaml
            if isinstance(generator.pools, lab_rules.CategoricalRule):
                generator.pools = generator.pools.model_copy(
                    update={"values": [_absolute_pools(v, base_dir) for v in generator.pools.values]})
            elif not lab_rules.is_rule(generator.pools):
                generator.pools = _absolute_pools(generator.pools, base_dir)
    return scenario


def _absolute_pools(pools: Sequence[str], base_dir: Path) -> tuple[str, ...]:
    return tuple(p if Path(p).expanduser().is_absolute() else str((base_dir / Path(p).expanduser()).resolve())
                 for p in pools)


def resolve(
    scenario: Scenario,
    data: str | Path | None = None,
    trials: int | None = None,
    ticks: int | None = None,
    seed: int | None = None,
) -> Scenario:
    """Apply command-line overrides and make the scenario ready to run (returns a new object).

    Args:
        data: dataset file (``--data``) for b2/csv datasets; resolved against the current directory.
        trials, ticks, seed: replace ``trials``, ``horizon_ticks``, ``seed``.

    Raises:
        ScenarioError: a bad override, ``--data`` for a synthetic dataset, or a b2/csv dataset
            without a path (the message tells the user to pass ``--data PATH``).
    """
    issues = []
    for flag, value, minimum in (("--trials", trials, 1), ("--ticks", ticks, 1), ("--seed", seed, 0)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < minimum):
            issues.append(f"{flag}: expected an integer >= {minimum} (got {value!r})")
    if data is not None and scenario.dataset.kind == "synthetic":
        issues.append("--data: the scenario's dataset is synthetic (built in) and reads no file; "
                      "use a scenario with dataset kind 'b2' or 'csv'")
    if issues:
        raise ScenarioError(issues)

    raw = scenario.to_dict()
    if data is not None:
        raw["dataset"]["path"] = str(Path(data).expanduser().resolve())
    for key, value in (("trials", trials), ("horizon_ticks", ticks), ("seed", seed)):
        if value is not None:
            raw[key] = value
    resolved = validate_scenario(raw, model=type(scenario))
    if resolved.dataset.kind in ("b2", "csv") and resolved.dataset.path is None:
        raise ScenarioError(
            f"dataset.path: the {resolved.dataset.kind} dataset of scenario {resolved.name!r} has no file; "
            f"pass --data PATH (or set dataset.path in the scenario)"
        )
    if resolved.dataset.kind == "csv" and resolved.dataset.name is None:
        # the space's name is part of its fingerprint: fix it now, so that a run resumed with a
        # renamed or moved copy of the file (--data) finds the same material space
        resolved.dataset.name = resolved.dataset.default_name()
    return resolved


def check_properties(scenario: Scenario, property_names: Iterable[str]) -> None:
    """Check every lab's property exists in the loaded material space.

    Raises:
        ScenarioError: ``labs[i].property 'Foo' not in dataset; available: ...`` (one line per bad lab).
    """
    available = tuple(property_names)
    issues = list(dict.fromkeys(  # a generator's labs share one path: report each missing property once
        f"{scenario.lab_field_path(i, 'property')} {lab.property!r} not in dataset; available: {', '.join(available)}"
        for i, lab in enumerate(scenario.labs)
        if lab.property not in available
    ))
    if issues:
        raise ScenarioError(issues)


@cache
def scenario_model(spec_class: type[LabSpec] = LabSpec) -> type[Scenario]:
    """The scenario class whose labs are ``spec_class`` (a :class:`LabSpec` subclass with more fields).

    The extension point for a new lab field: declare it once on a ``LabSpec`` subclass with
    :func:`labnet.agents.spec.lab_field`; this gives the scenario that accepts it in a lab
    list and in a lab generator (with the rules its type allows), checks its bounds, and whose
    :meth:`Scenario.lab_specs` are ``spec_class`` objects. Pass it as ``model=`` to
    :func:`load_scenario` / :func:`validate_scenario`.
    """
    if spec_class is LabSpec:
        return Scenario
    return create_model(f"Scenario[{spec_class.__name__}]", __base__=Scenario, __module__=__name__,
                        labs=(labs_field(spec_class), ...))
