"""Mesa agents: the exploration systems of a lab network."""
from .lab import BayesianOptimizationLab, Candidate, ExplorationLab, ModelExchange, RandomSearchLab
from .spec import MIN_INITIAL_POINTS, LabSpec

__all__ = [
    "MIN_INITIAL_POINTS",
    "BayesianOptimizationLab",
    "Candidate",
    "ExplorationLab",
    "LabSpec",
    "ModelExchange",
    "RandomSearchLab",
]
