"""Mesa agents: the exploration systems of a lab network (imported on first use).

- :mod:`.lab`: :class:`ExplorationLab`, :class:`BayesianOptimizationLab` (the paper's loop),
  :class:`RandomSearchLab`; :mod:`.strategies`: the registry ``strategy -> lab class``;
- :mod:`.plan`, :mod:`.candidates`, :mod:`.step_record`: an action's plan, its candidate
  models, and the typed log record;
- :mod:`.protocols`: what a lab needs of the material space, the oracle, the broker and the
  transfer log; :mod:`.neighbour_selection`: which neighbours' models a lab tries;
- :mod:`.spec`: :class:`LabSpec`, a lab as data.
"""
from labnet._lazy import lazy_exports

_EXPORTS = {
    "BayesianOptimizationLab": "labnet.agents.lab",
    "ExplorationLab": "labnet.agents.lab",
    "LabContext": "labnet.agents.lab",
    "RandomSearchLab": "labnet.agents.lab",
    "LAB_STRATEGIES": "labnet.agents.strategies",
    "lab_class": "labnet.agents.strategies",
    "ActionPlan": "labnet.agents.plan",
    "Plan": "labnet.agents.plan",
    "Candidate": "labnet.agents.candidates",
    "ScratchCandidate": "labnet.agents.candidates",
    "TransferCandidate": "labnet.agents.candidates",
    "NeighbourCandidate": "labnet.agents.candidates",
    "PoolCandidate": "labnet.agents.candidates",
    "StepRecord": "labnet.agents.step_record",
    "Decision": "labnet.agents.step_record",
    "MaterialView": "labnet.agents.protocols",
    "Measurer": "labnet.agents.protocols",
    "ModelExchange": "labnet.agents.protocols",
    "TransferRecorder": "labnet.agents.protocols",
    "LabSpec": "labnet.agents.spec",
    "MIN_INITIAL_POINTS": "labnet.agents.spec",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
