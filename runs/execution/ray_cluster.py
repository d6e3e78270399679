"""Joining or starting Ray for labnet: shared by the sweep's Ray backend (points as tasks,
:mod:`labnet.runs.execution.sweep_backends`) and the Ray tick backend (a tick's work as tasks,
:mod:`labnet.runs.execution.ray_tick`).

Workers import labnet from the driver's source tree: through ``PYTHONPATH`` when every node of
the cluster is this machine, else uploaded as the tasks' ``working_dir``.
"""
from __future__ import annotations

import importlib
import logging
import os
from pathlib import Path
from typing import Any

PACKAGE = "labnet"
"""labnet's top-level package: what a Ray worker must be able to import."""


class RayUnavailable(ValueError):
    """Ray is not installed, or a local instance did not start (the message says which, and why)."""


def import_ray() -> Any:
    """The ``ray`` module.

    Raises:
        RayUnavailable: Ray is not installed (the message says how to install it).
    """
    try:
        import ray
    except ImportError:
        raise RayUnavailable("backend 'ray' needs Ray: pip install 'labnet[ray]' (or pip install 'ray>=2.9')") from None
    return ray


def ray_runtime_env(ray: Any) -> dict[str, Any]:
    """The runtime environment that lets Ray workers import labnet from this source tree.

    Every alive node on this machine (same IP as the driver): ``PYTHONPATH`` = the folder that
    holds labnet (the driver's ``PYTHONPATH`` kept after it). Otherwise that folder is uploaded
    as the workers' ``working_dir`` (caches, virtual environments, docs and run output excluded).
    """
    here = ray.util.get_node_ip_address()
    nodes = [node for node in ray.nodes() if node.get("Alive", True)]
    if all(node.get("NodeManagerAddress") == here for node in nodes):
        return local_runtime_env()
    return {"working_dir": _source_root(), "excludes": list(UPLOAD_EXCLUDES)}


UPLOAD_EXCLUDES = ("__pycache__", "*.pyc", ".git", ".venv", "docs", "labnet-runs", "*.egg-info", "build", "dist")


def local_runtime_env() -> dict[str, Any]:
    """Ray runtime environment for workers on this machine: ``PYTHONPATH`` leads to labnet's source tree."""
    existing = os.environ.get("PYTHONPATH")
    return {"env_vars": {"PYTHONPATH": os.pathsep.join([_source_root()] + ([existing] if existing else []))}}


def _source_root() -> str:
    """The folder holding the ``labnet`` package (a checkout's root, or site-packages)."""
    return str(Path(importlib.import_module(PACKAGE).__file__).resolve().parent.parent)


LOCAL_RAY_ATTEMPTS = 2
"""Tries to start a local Ray instance: on a saturated machine its raylet can miss Ray's fixed
30 s registration deadline once (``The current node timed out during startup``)."""


def start_local_ray(ray: Any, workers: int | None) -> None:
    """``ray.init(num_cpus=workers)`` without the dashboard, with labnet's runtime environment; retried once.

    Raises:
        RayUnavailable: Ray did not start (the message carries Ray's reason).
    """
    for attempt in range(1, LOCAL_RAY_ATTEMPTS + 1):
        try:
            ray.init(num_cpus=workers, include_dashboard=False, logging_level=logging.WARNING,
                     runtime_env=local_runtime_env())
            return
        except Exception as exc:  # noqa: BLE001 - Ray raises a bare Exception on a startup timeout
            ray.shutdown()
            if attempt == LOCAL_RAY_ATTEMPTS:
                raise RayUnavailable(f"could not start a local Ray instance ({attempt} attempts): {exc}") from exc
            logging.getLogger(__name__).warning("starting a local Ray instance failed (%s); trying again", exc)
