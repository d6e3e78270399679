"""Dataset kinds: where a scenario's candidate materials and their hidden properties come from.

Each kind is a small spec keyed on ``kind`` that loads itself (:meth:`load` returns the
:class:`labnet.environment.MaterialSpace`): ``synthetic`` (built in, no file), ``b2`` (the B2
alloy file of paper 1) and ``csv`` (any CSV with a header row). The environment is imported
only when a dataset is loaded. Every field is documented in docs/datasets.md.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Literal, Union

from pydantic import Field

from labnet.runs.config.errors import ScenarioError, StrictModel

if TYPE_CHECKING:  # pragma: no cover
    from labnet.environment import MaterialSpace


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

    def load(self) -> MaterialSpace:
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

    def load(self) -> MaterialSpace:
        """The B2 file (:func:`labnet.environment.load_b2`)."""
        from labnet.environment import load_b2

        return load_b2(self._file())


class CsvDataset(_FileDataset):
    """Any CSV file: property columns plus a formula column and/or numeric feature columns.

    Attributes:
        path: the file (relative paths in a scenario file: against the file's folder).
        properties: the property columns (the hidden truth labs measure).
        formula_column: chemical formulas; the descriptor gets the element fractions.
        feature_columns: numeric descriptor columns (with a formula column: appended after the
            element fractions). None with no formula column: chosen automatically (every numeric
            column that is not a property, the id column or index-like) and recorded here when
            the run starts.
        id_column: unique candidate labels (default: row numbers).
    """

    kind: Literal["csv"]
    properties: list[str] = Field(min_length=1)
    formula_column: str | None = None
    feature_columns: list[str] | None = None
    id_column: str | None = None

    def load(self) -> MaterialSpace:
        """The CSV file (:func:`labnet.environment.load_csv`)."""
        from labnet.environment import load_csv

        return load_csv(
            self._file(),
            self.properties,
            formula_column=self.formula_column,
            feature_columns=self.feature_columns,
            id_column=self.id_column,
        )


DATASET_SPECS = (SyntheticDataset, B2Dataset, CsvDataset)
DATASET_KINDS = tuple(spec.model_fields["kind"].annotation.__args__[0] for spec in DATASET_SPECS)
Dataset = Annotated[Union[SyntheticDataset, B2Dataset, CsvDataset], Field(discriminator="kind")]
"""``Scenario.dataset``: one of the dataset kinds, selected by ``kind``."""
