"""The names of the learning choices a scenario may make, and nothing else.

Scenario validation (:mod:`labnet.runs.config`) and :class:`labnet.agents.spec.LabSpec` check
lab fields against these tuples; the modules that implement the choices
(:mod:`labnet.models.transfer` with torch, :mod:`labnet.models.pool_selection` with numba,
:mod:`labnet.agents.neighbour_selection`) import their names from here. This module imports
only :mod:`typing`, so validating a scenario loads neither torch nor numba.
"""
from __future__ import annotations

from typing import Literal, get_args

TransferMode = Literal["finetune_frozen", "finetune_full", "featurizer_rf"]
"""How a source model becomes a candidate (:mod:`labnet.models.transfer`)."""
TRANSFER_MODES: tuple[str, ...] = get_args(TransferMode)
DEFAULT_TRANSFER_MODE: TransferMode = "finetune_frozen"
"""Paper 1: the source's hidden layers frozen, the output layer fine-tuned."""

PoolScoring = Literal["ridge_probe", "transfer_cv"]
"""How the models of a source pool are ranked (:mod:`labnet.models.pool_selection`)."""
POOL_SCORINGS: tuple[str, ...] = get_args(PoolScoring)
DEFAULT_POOL_SCORING: PoolScoring = "ridge_probe"

NeighbourSelection = Literal["all", "scaling"]
"""Which in-neighbours' models a lab tries per action (:mod:`labnet.agents.neighbour_selection`)."""
NEIGHBOUR_SELECTIONS: tuple[str, ...] = get_args(NeighbourSelection)
DEFAULT_NEIGHBOUR_SELECTION: NeighbourSelection = "all"

Strategy = Literal["bo", "random"]
"""A lab's strategy: the paper's Bayesian-optimization loop, or random search (baseline)."""
STRATEGIES: tuple[str, ...] = get_args(Strategy)

Goal = Literal["maximize", "minimize"]
"""Whether a lab looks for large or small values of its property."""
GOALS: tuple[str, ...] = get_args(Goal)

LearnerProtocol = Literal["paper_text", "authors_code"]
"""Which reading of paper 1 a learner follows where the paper's text and the authors' released code
differ or the text is silent (docs/algorithm.md → The two protocols;
:data:`labnet.models.config.PROTOCOL_RULES` says what each one decides)."""
LEARNER_PROTOCOLS: tuple[str, ...] = get_args(LearnerProtocol)
DEFAULT_LEARNER_PROTOCOL: LearnerProtocol = "paper_text"
