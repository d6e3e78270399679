"""labnet: simulate networks of autonomous materials-exploration labs that share models.

The public Python API. Every name below is imported on first use, so ``import labnet`` is cheap
and the ``labnet`` command starts at once::

    from labnet import ExplorationNetwork, LabSpec, LearnerConfig, Topology, load_csv, run_scenario

The code lives in the repository's top-level folders, installed as subpackages of ``labnet``:
``agents/`` -> ``labnet.agents``, ``environment/`` -> ``labnet.environment``, ``models/`` ->
``labnet.models``, ``simulation/`` -> ``labnet.simulation``, ``runs/`` -> ``labnet.runs``
(``docs/architecture.md``). Nothing is installed under the bare names, so a user's own
``models.py`` or ``agents.py`` never shadows labnet, nor labnet theirs.
"""
from __future__ import annotations

from pathlib import Path

from labnet._blas import use_one_blas_thread
from labnet._version import __version__  # noqa: F401  (the same as pyproject.toml's version)

use_one_blas_thread()  # same bits on every machine: labnet/_blas.py

# Run from a source checkout without installing (benchmarks, spawned workers, Ray workers on
# this machine, the GPU machine): the subpackages are the checkout's top-level folders. An
# installed wheel has them inside this folder, and the checkout's pyproject.toml is not there.
_CHECKOUT = Path(__file__).resolve().parent.parent
if (_CHECKOUT / "pyproject.toml").is_file() and (_CHECKOUT / "agents" / "__init__.py").is_file():
    __path__.append(str(_CHECKOUT))  # noqa: F821  (the package's own __path__)

#: public name -> module that defines it
_EXPORTS = {
    # the world
    "MaterialSpace": "labnet.environment.material_space",
    "Oracle": "labnet.environment.oracle",
    "Topology": "labnet.environment.topology",
    "ModelBroker": "labnet.environment.broker",
    "TransferLog": "labnet.environment.transfer_log",
    "DataError": "labnet.environment.errors",
    "load_b2": "labnet.environment.datasets",
    "load_csv": "labnet.environment.datasets",
    "synthetic_world": "labnet.environment.datasets",
    # learning
    "LearnerConfig": "labnet.models.config",
    "TrainJob": "labnet.models.engine",
    "TrainResult": "labnet.models.engine",
    "train_jobs": "labnet.models.engine",
    "ModelSnapshot": "labnet.models.snapshot",
    # the labs and the network
    "LabSpec": "labnet.agents.spec",
    "BayesianOptimizationLab": "labnet.agents.lab",
    "RandomSearchLab": "labnet.agents.lab",
    "ExplorationNetwork": "labnet.simulation.network",
    # studies
    "Scenario": "labnet.runs.config.scenario",
    "ScenarioError": "labnet.runs.config.scenario",
    "load_scenario": "labnet.runs.config.scenario",
    "load_builtin": "labnet.runs.config.scenario",
    "resolve": "labnet.runs.config.scenario",
    "run_scenario": "labnet.runs.execution.runner",
    "resume_run": "labnet.runs.execution.runner",
    "RunResult": "labnet.runs.execution.runner",
    "observations_to_threshold": "labnet.runs.reports.analysis",
    "summarize": "labnet.runs.reports.analysis",
    "plot_best_so_far": "labnet.runs.reports.plots",
}

__all__ = ["__version__", *sorted(_EXPORTS)]

from labnet._lazy import lazy_exports  # noqa: E402  (after __path__ is complete)

__getattr__, _names = lazy_exports(__name__, _EXPORTS)


def __dir__() -> list[str]:
    return ["__version__", *_names()]
