"""Published numbers of paper 1, for the ``labnet reproduce paper1`` comparison table.

Source: *Networking autonomous material exploration systems through transfer learning*,
npj Computational Materials (2025), https://doi.org/10.1038/s41524-025-01851-8.
Three labs on the B2 alloy dataset (KKR-CPA; NIMS MDR doi:10.48505/nims.5364):
magnetic moment M every tick, Curie temperature Tc every 3 ticks, spin polarization Sp
every 9 ticks; 10 random initial points each; 300 ticks; complete topology; 10 trials.

``MEAN_OBSERVATIONS_TO_90`` holds the paper's mean number of observations until the
best-so-far reaches 90 % of the dataset's maximum, per lab and condition, as quoted in
docs/algorithm.md. The paper reports no random-search value, and no significant difference for M.
labnet counts the 10 initial points in its own numbers (docs/algorithm.md, Metrics).
"""
from __future__ import annotations

STUDY = "paper1"
"""The study name of ``labnet reproduce``."""

SCENARIO = "paper_b2"
"""The built-in scenario (``runs/scenarios/paper_b2.yaml``) that is the paper's study."""

HORIZON_TICKS = 300
"""The paper's horizon (the authors' code runs 300 ticks)."""

TRIALS = 10
"""Trials behind the paper's means."""

CITATION = (
    "Networking autonomous material exploration systems through transfer learning, "
    "npj Comput. Mater. (2025), doi:10.1038/s41524-025-01851-8"
)

MEAN_OBSERVATIONS_TO_90: dict[str, dict[str, float]] = {
    "Sp": {"networked": 17.4, "isolated": 24.9},
    "Tc": {"networked": 27.4, "isolated": 31.8},
    "M": {"networked": 19.5, "isolated": 20.2},
}
"""Lab (= property) -> condition -> mean observations to 90 % of the maximum (10 trials)."""

PROPERTY_UNITS: dict[str, str] = {"M": "μB", "Tc": "K", "Sp": "dimensionless"}
"""Units of the B2 target properties (M per formula unit; Sp = spin polarization at E_F)."""

PROPERTY_NAMES: dict[str, str] = {
    "M": "magnetic moment M",
    "Tc": "Curie temperature Tc",
    "Sp": "spin polarization Sp",
}
"""Readable names of the B2 target properties, for axis labels."""


def paper_value(lab: str, condition: str) -> float | None:
    """The paper's mean observations to 90 % for ``lab`` in ``condition`` (None if not reported)."""
    return MEAN_OBSERVATIONS_TO_90.get(lab, {}).get(condition)
