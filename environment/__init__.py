"""The environment of a lab network: material spaces, oracles, topology, model broker, transfer log.

No dependency on Mesa, torch or ``runs``: numpy, pandas and networkx only.
"""
from .broker import ModelBroker
from .datasets import load_b2, load_csv, synthetic_world
from .errors import DataError, UnknownPropertyError
from .material_space import MaterialSpace
from .oracle import Oracle
from .topology import BUILDERS, Topology, build_topology
from .transfer_log import TransferLog


__all__ = [
    "ExplorationNetwork",
    "BUILDERS",
    "DataError",
    "MaterialSpace",
    "ModelBroker",
    "Oracle",
    "Topology",
    "TransferLog",
    "UnknownPropertyError",
    "build_topology",
    "load_b2",
    "load_csv",
    "synthetic_world",
]

from .network import ExplorationNetwork  # noqa: E402  (after the pieces it is built from)
