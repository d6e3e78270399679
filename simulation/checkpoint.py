"""Checkpoints of a running :class:`~labnet.simulation.network.ExplorationNetwork`, written atomically.

A checkpoint is one pickle holding the whole Mesa model between two ticks: labs (observations,
step logs, oracle random streams, neighbour-selection and pool-ranking state), the broker's
published snapshots, the transfer log and the model's own random generators. No action is in
progress between two ticks (a plan lives only inside ``ExplorationNetwork.step``). Loading it and running on gives exactly
the results of a run that never stopped (the simulation's randomness is keyed by
(seed, lab, tick), and all of it is in the pickle).

The material space is NOT stored: it is large (B2: 16,908 x 39 descriptors) and the same for
every tick, so the pickler writes a reference to it and to its arrays (``persistent_id``), and
:func:`load_network` re-attaches the space it is given, after checking its fingerprint
(:func:`space_fingerprint`) against the one recorded at save time, so a changed dataset file
is reported instead of silently giving different results.

Pickles run code when loaded: load only checkpoints your own runs wrote. A checkpoint is
tied to the labnet code that wrote it (classes are stored by name); resume with the same version.
"""
from __future__ import annotations

import hashlib
import pickle
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

import numpy as np

from labnet._files import atomic_write
from labnet.environment.material_space import MaterialSpace

if TYPE_CHECKING:  # pragma: no cover - typing only (network imports mesa and models)
    from .network import ExplorationNetwork

CHECKPOINT_FORMAT = 2
"""Version of the checkpoint layout; bumped when it changes incompatibly (2: step logs hold
``StepRecord`` s, labs keep no plan between ticks, no DataCollector)."""


class CheckpointError(ValueError):
    """A checkpoint that cannot be loaded: unreadable, another format, or another material space."""


def space_fingerprint(space: MaterialSpace) -> str:
    """SHA-256 (hex) over the space's name, ids, descriptors and property values.

    Two spaces with the same fingerprint give the same simulation; computing it reads
    every array once (B2: about 10 ms).
    """
    digest = hashlib.sha256()
    digest.update(repr((space.name, len(space), space.n_descriptors, space.descriptor_names)).encode())
    digest.update("\x00".join(str(i) for i in space.ids).encode())
    digest.update(np.ascontiguousarray(space.descriptors).tobytes())
    for name in space.property_names:
        digest.update(name.encode() + b"\x00")
        digest.update(np.ascontiguousarray(space.values(name)).tobytes())
    return digest.hexdigest()


def _space_references(space: MaterialSpace) -> dict[int, tuple[str, ...]]:
    """id(object) -> persistent reference, for the space and every array of it a lab may hold."""
    references: dict[int, tuple[str, ...]] = {
        id(space): ("space",),
        id(space.ids): ("ids",),
        id(space.descriptors): ("descriptors",),
    }
    for name in space.property_names:
        references[id(space.values(name))] = ("values", name)
    return references


class _NetworkPickler(pickle.Pickler):
    """Pickles everything except the material space and its arrays, which become references."""

    def __init__(self, file: BinaryIO, space: MaterialSpace) -> None:
        super().__init__(file, protocol=pickle.HIGHEST_PROTOCOL)
        self._references = _space_references(space)
        self._keep_alive = space  # the ids above stay valid while the space lives

    def persistent_id(self, obj: Any) -> tuple[str, ...] | None:
        return self._references.get(id(obj))


class _NetworkUnpickler(pickle.Unpickler):
    """Resolves the space references written by :class:`_NetworkPickler` against a given space."""

    def __init__(self, file: BinaryIO, space: MaterialSpace) -> None:
        super().__init__(file)
        self._space = space

    def persistent_load(self, reference: tuple[str, ...]) -> Any:
        kind = reference[0]
        if kind == "space":
            return self._space
        if kind == "ids":
            return self._space.ids
        if kind == "descriptors":
            return self._space.descriptors
        if kind == "values":
            return self._space.values(reference[1])
        raise pickle.UnpicklingError(f"unknown persistent reference {reference!r}")


@dataclass
class Checkpoint:
    """What :func:`load_network` returns.

    Attributes:
        network: the model, ready to continue at ``network.tick`` (the next tick to run).
        extra: the caller's data saved with it (e.g. stream positions), as given to :func:`save_network`.
    """

    network: "ExplorationNetwork"
    extra: dict[str, Any]


def save_network(
    network: "ExplorationNetwork",
    path: str | Path,
    extra: Mapping[str, Any] | None = None,
    fingerprint: str | None = None,
    fsync: bool = False,
) -> int:
    """Write a checkpoint of ``network`` (between two ticks) atomically to ``path``.

    Args:
        network: the model; its ``space`` is stored as a reference (see the module docstring).
        path: the checkpoint file; the previous one stays valid until the new one is complete.
        extra: small picklable data to store alongside (returned by :func:`load_network`).
        fingerprint: :func:`space_fingerprint` of ``network.space`` if already known (saves
            recomputing it at every tick).
        fsync: see :func:`labnet._files.atomic_write`.

    Returns:
        Size of the checkpoint, bytes.
    """
    header = {
        "format": CHECKPOINT_FORMAT,
        "space_fingerprint": fingerprint or space_fingerprint(network.space),
        "tick": int(network.tick),
        "extra": dict(extra or {}),
    }

    def write(tmp: Path) -> None:
        with open(tmp, "wb") as handle:
            pickler = _NetworkPickler(handle, network.space)
            pickler.dump(header)  # read and checked before the (large) network is unpickled
            pickler.clear_memo()
            pickler.dump(network)

    atomic_write(path, write, fsync=fsync)
    return Path(path).stat().st_size


def load_network(path: str | Path, space: MaterialSpace, fingerprint: str | None = None) -> Checkpoint:
    """Load a checkpoint written by :func:`save_network`, re-attaching ``space``.

    Args:
        path: the checkpoint file.
        space: the material space the checkpointed run used (rebuilt from its scenario).
        fingerprint: :func:`space_fingerprint` of ``space`` if already known.

    Raises:
        FileNotFoundError: no such file.
        CheckpointError: not a labnet checkpoint, another format version, or ``space`` differs
            from the space of the checkpointed run (e.g. the dataset file changed).
    """
    path = Path(path)
    with open(path, "rb") as handle:
        # one unpickler per part: the memo of the first pickle must not leak into the second
        header = _load_part(_NetworkUnpickler(handle, space), path)
        if not isinstance(header, dict) or "space_fingerprint" not in header:
            raise CheckpointError(f"{path}: not a labnet checkpoint")
        if header.get("format") != CHECKPOINT_FORMAT:
            raise CheckpointError(
                f"{path}: checkpoint format {header.get('format')!r}; this labnet reads format {CHECKPOINT_FORMAT}"
            )
        if header["space_fingerprint"] != (fingerprint or space_fingerprint(space)):
            raise CheckpointError(
                f"{path}: the material space differs from the one this run started with "
                f"(dataset file changed or replaced?); cannot continue the run"
            )
        network = _load_part(_NetworkUnpickler(handle, space), path)
    if int(getattr(network, "tick", -1)) != header["tick"]:
        raise CheckpointError(f"{path}: damaged checkpoint (header tick {header['tick']}, network tick "
                              f"{getattr(network, 'tick', None)!r})")
    return Checkpoint(network=network, extra=header["extra"])


def _load_part(unpickler: pickle.Unpickler, path: Path) -> Any:
    """The next pickle of a checkpoint file; :class:`CheckpointError` when it cannot be read."""
    try:
        return unpickler.load()
    except Exception as exc:  # unpickling raises many types for a damaged or foreign file
        raise CheckpointError(f"{path}: not a readable labnet checkpoint ({type(exc).__name__}: {exc})") from exc
