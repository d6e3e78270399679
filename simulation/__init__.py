"""The Mesa model of a lab network and its checkpoints: the floor above the agents.

:class:`~labnet.simulation.network.ExplorationNetwork` is the Mesa ``Model`` (one ``step()`` is
one tick); :mod:`labnet.simulation.checkpoint` saves and loads a running one;
:mod:`labnet.simulation.tick_table` summarizes a network's tables per tick.
"""
from labnet._lazy import lazy_exports

_EXPORTS = {
    "ExplorationNetwork": "labnet.simulation.network",
    "tick_frame": "labnet.simulation.tick_table",
    "save_network": "labnet.simulation.checkpoint",
    "load_network": "labnet.simulation.checkpoint",
    "CheckpointError": "labnet.simulation.checkpoint",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
