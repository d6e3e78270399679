"""File plumbing shared by every floor (pools in ``models``, checkpoints in ``simulation``, run files in ``runs``).

It lives at the package root beside :mod:`labnet._lazy` so that the lowest user
(:mod:`labnet.models.pool`) imports it without an upward import.
"""
from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path


def atomic_write(path: str | Path, write: Callable[[Path], object], fsync: bool = False) -> None:
    """Write ``path`` via a temporary file in the same directory and ``os.replace``.

    A crash or an exception in ``write`` leaves the previous ``path`` (or no file) intact,
    never a half-written one; the temporary file is removed when ``write`` raises.

    Args:
        path: the file to (re)write.
        write: called with the temporary path; must create and fill that file.
        fsync: flush the temporary file to the storage device before the rename, so the new
            content also survives a power loss or kernel crash (a killed process needs no fsync).
    """
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        write(tmp)
        if fsync:
            with open(tmp, "rb") as handle:
                os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
