"""Dataset kinds: where a scenario's candidate materials and their hidden properties come from.

Each kind is a small spec keyed on ``kind`` that loads itself (:meth:`load` returns the
:class:`labnet.environment.MaterialSpace`): ``synthetic`` (built in, no file), ``b2`` (the B2
alloy file of paper 1) and ``csv`` (any CSV with a header row). The environment is imported
only when a dataset is loaded. Every field is documented in docs/datasets.md.
"""
from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal, Union

from pydantic import Field

from labnet.runs.config.errors import ScenarioError, StrictModel

if TYPE_CHECKING:  # pragma: no cover
    from labnet.environment import MaterialSpace

Notify = Callable[[str], None]
"""Where a dataset reports what it chose or changed (one line each)."""


def print_notice(line: str) -> None:
    """The default :data:`Notify`: ``labnet: dataset: <line>`` on stderr."""
    print(f"labnet: dataset: {line}", file=sys.stderr)


class SyntheticDataset(StrictModel):
    """The built-in synthetic world (needs no file); properties are named P0, P1, ...

    ``sim_distortion`` (None = off) adds a simulated twin ``Pk_sim`` of every property: the truth
    plus a smooth systematic error of that many standard deviations plus ``sim_bias``
    (:func:`labnet.environment.datasets.synthetic_world`).
    """

    kind: Literal["synthetic"] = "synthetic"
    n_candidates: int = Field(2000, ge=2)
    n_descriptors: int = Field(16, ge=2)
    n_properties: int = Field(3, ge=1)
    correlation: float = Field(0.5, ge=-1.0, le=1.0)
    seed: int = Field(0, ge=0)
    sim_distortion: float | None = Field(None, ge=0.0)
    sim_bias: float = 0.0

    def load(self, notify: Notify = print_notice) -> MaterialSpace:
        """The synthetic world; ``ScenarioError`` at ``dataset.<parameter>`` for a combination it rejects."""
        from labnet.environment import DataError, synthetic_world

        try:
            return synthetic_world(**self.model_dump(exclude={"kind"}))
        except DataError:
            raise
        except ValueError as exc:
            raise ScenarioError(f"dataset.{exc}") from None


class _FileDataset(StrictModel):
    """A dataset read from a file; ``path`` may come from ``--data``."""

    kind: str
    path: str | None = None

    def _file(self) -> str:
        if self.path is None:
            raise ScenarioError(f"dataset.path: the {self.kind} dataset has no file; pass --data PATH")
        return self.path


class B2Dataset(_FileDataset):
    """The B2 alloy dataset of paper 1 (properties M, Sp, Tc, ...); ``path`` may come from ``--data``."""

    kind: Literal["b2"]

    def load(self, notify: Notify = print_notice) -> MaterialSpace:
        """The B2 file (:func:`labnet.environment.load_b2`)."""
        from labnet.environment import load_b2

        return load_b2(self._file())


class CsvDataset(_FileDataset):
    """Any CSV file: property columns plus a formula column and/or numeric feature columns.

    Attributes:
        path: the file (relative paths in a scenario file: against the file's folder).
        properties: the property columns (the hidden truth labs measure).
        formula_column: chemical formulas; the descriptor starts with their element fractions.
        feature_columns: numeric descriptor columns (after the element fractions when there is
            a formula column). None and no formula column: chosen automatically (every numeric
            column that is not a property, the id column or index-like), printed, and recorded
            here when the dataset is loaded (so a run's ``scenario.yaml`` names them).
        id_column: unique candidate labels (default: the file's 0-based data row numbers).
        missing: "error" (default): a missing value in a used column is an error that counts
            them per column; "drop": such rows are dropped and the count per column printed.
        duplicates: "error" (default): an input on several rows with different properties is an
            error; "mean": those rows become one candidate with the mean properties.
        allow_correlated_features: feature columns allowed to nearly copy a property
            (|Pearson| or |Spearman| >= 0.98 is refused otherwise).
        name: the material space's name (default: the file name without extension; recorded
            when the scenario is resolved, so a renamed copy of the file resumes the run).
    """

    kind: Literal["csv"]
    properties: list[str] = Field(min_length=1)
    formula_column: str | None = None
    feature_columns: list[str] | None = None
    id_column: str | None = None
    missing: Literal["error", "drop"] = "error"
    duplicates: Literal["error", "mean"] = "error"
    allow_correlated_features: list[str] = Field(default_factory=list)
    name: str | None = Field(None, min_length=1)

    def load(self, notify: Notify = print_notice) -> MaterialSpace:
        """The CSV file (:func:`labnet.environment.csv_dataset.read_csv_space`); what it chose or
        changed goes to ``notify``, and automatically chosen features are recorded in ``feature_columns``."""
        from labnet.environment.csv_dataset import read_csv_space

        space, report = read_csv_space(
            self._file(),
            self.properties,
            formula_column=self.formula_column,
            feature_columns=self.feature_columns,
            id_column=self.id_column,
            name=self.name,
            missing=self.missing,
            duplicates=self.duplicates,
            allow_correlated=self.allow_correlated_features,
        )
        for line in report.notices():
            notify(line)
        if report.automatic:
            self.feature_columns = list(report.features)
        return space

    def default_name(self) -> str | None:
        """The space's name when ``name`` is unset: the file name without extension."""
        return Path(self.path).stem if self.path is not None else None


DATASET_SPECS = (SyntheticDataset, B2Dataset, CsvDataset)
DATASET_KINDS = tuple(spec.model_fields["kind"].annotation.__args__[0] for spec in DATASET_SPECS)
Dataset = Annotated[Union[SyntheticDataset, B2Dataset, CsvDataset], Field(discriminator="kind")]
"""``Scenario.dataset``: one of the dataset kinds, selected by ``kind``."""
