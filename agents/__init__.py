"""Mesa agents: the exploration systems of a lab network (imported on first use)."""
from labnet._lazy import lazy_exports

_EXPORTS = {
    "BayesianOptimizationLab": "labnet.agents.lab",
    "Candidate": "labnet.agents.lab",
    "ExplorationLab": "labnet.agents.lab",
    "ModelExchange": "labnet.agents.lab",
    "RandomSearchLab": "labnet.agents.lab",
    "LabSpec": "labnet.agents.spec",
    "MIN_INITIAL_POINTS": "labnet.agents.spec",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
