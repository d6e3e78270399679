"""The world of a lab network: material spaces, datasets, oracles, topology, model broker, transfer log.

No dependency on Mesa, torch or numba: numpy, pandas and networkx only (the Mesa model of the
network is :mod:`labnet.simulation`). Names are imported on first use.
"""
from labnet._lazy import lazy_exports

_EXPORTS = {
    "ModelBroker": "labnet.environment.broker",
    "load_b2": "labnet.environment.datasets",
    "load_csv": "labnet.environment.datasets",
    "synthetic_world": "labnet.environment.datasets",
    "DataError": "labnet.environment.errors",
    "UnknownPropertyError": "labnet.environment.errors",
    "MaterialSpace": "labnet.environment.material_space",
    "Oracle": "labnet.environment.oracle",
    "Topology": "labnet.environment.topology",
    "read_topology": "labnet.environment.topology_io",
    "TransferLog": "labnet.environment.transfer_log",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
