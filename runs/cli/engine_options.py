"""``--engine`` / ``--device``: which training engine a command's learners use.

Registered on ``run``, ``reproduce``, ``resume`` and ``sweep`` by :func:`add_engine_options`; the
values become a learner override of the resolved scenario (``learner.engine``, ``learner.device``),
so the run directory's ``scenario.yaml`` records what trained (``auto`` is resolved:
:func:`labnet.models.devices.resolve_engine`).

* ``--engine E`` alone: engine E on its default device (``auto``: CUDA for torch when a GPU is present).
* ``--device D`` alone: the scenario's torch engine stays torch on D; any other engine becomes
  ``auto`` (so ``--device cuda`` means torch on CUDA and ``--device cpu`` the numba engine).

``--protocol P`` (``run`` and ``reproduce``, :func:`add_protocol_option`) is the other learner
override a command line makes: ``learner.protocol``, ``paper_text`` or ``authors_code``
(docs/algorithm.md → The two protocols).
"""
from __future__ import annotations

import argparse
import dataclasses
from typing import TYPE_CHECKING

from labnet.models.choices import LEARNER_PROTOCOLS
from labnet.models.config import DEVICES, ENGINES

if TYPE_CHECKING:  # pragma: no cover
    from labnet.runs.config.scenario import Scenario
    from labnet.runs.config.sweep_spec import Sweep


def add_engine_options(parser: argparse.ArgumentParser, lockstep: bool = False) -> None:
    """Add ``--engine`` and ``--device`` to a subcommand's parser (both default to the scenario's),
    and ``--lockstep`` where the subcommand runs a run directory (``run``, ``resume``)."""
    parser.add_argument(
        "--engine", choices=ENGINES, metavar="|".join(ENGINES),
        help="training engine (overrides learner.engine): numba (fused CPU kernel), torch (stacked members on "
        "CPU or CUDA) or auto (torch on CUDA when a GPU is present, else numba); default: the scenario's, auto",
    )
    parser.add_argument(
        "--device", choices=DEVICES, metavar="|".join(DEVICES),
        help="where the torch engine runs (overrides learner.device); --device cuda alone selects the torch "
        "engine; default: the scenario's, auto",
    )
    if lockstep:
        parser.add_argument(
            "--lockstep", action="store_true",
            help="step every (trial, condition) network together in this process, each tick's jobs of all of them "
            "in one engine call (pays on a GPU); same run directory as without",
        )


def add_protocol_option(parser: argparse.ArgumentParser) -> None:
    """Add ``--protocol`` (overrides ``learner.protocol``; default: the scenario's)."""
    parser.add_argument(
        "--protocol", choices=LEARNER_PROTOCOLS, metavar="|".join(LEARNER_PROTOCOLS),
        help="paper 1 as its text states it (paper_text) or as the authors' released code runs it where the "
        "text is silent or differs (authors_code: 64/16/20 split, last-epoch selection loss with L2, last-epoch "
        "weights, 2 outputs, one isolated ensemble, event order within a tick); overrides learner.protocol; "
        "default: the scenario's, paper_text",
    )


def protocol_override(args: argparse.Namespace) -> dict[str, str]:
    """``{"protocol": ...}`` when ``--protocol`` was given, else empty (a learner-override mapping)."""
    protocol = getattr(args, "protocol", None)
    return {} if protocol is None else {"protocol": protocol}


def with_protocol_option(scenario: "Scenario", args: argparse.Namespace) -> "Scenario":
    """``scenario`` with ``--protocol`` applied to its learner (unchanged without it)."""
    override = protocol_override(args)
    if not override or scenario.learner.protocol == override["protocol"]:
        return scenario
    return scenario.model_copy(update={"learner": dataclasses.replace(scenario.learner, **override)})


def lockstep_of(args: argparse.Namespace) -> bool:
    """``--lockstep`` (False where the subcommand has none).

    Raises:
        ScenarioError: ``--lockstep`` with ``--workers`` > 1.
    """
    from labnet.runs.config.scenario import ScenarioError  # here: `labnet --help` imports no pydantic

    lockstep = bool(getattr(args, "lockstep", False))
    if lockstep and getattr(args, "workers", 1) != 1:
        raise ScenarioError(f"--lockstep steps every network in one process; drop --workers {args.workers}")
    return lockstep


def learner_overrides(args: argparse.Namespace) -> dict[str, str]:
    """``{"engine": ..., "device": ...}`` of the options given, for a learner-override mapping
    (``reproduce``); a missing one is ``auto``. Empty when neither was given."""
    engine, device = getattr(args, "engine", None), getattr(args, "device", None)
    if engine is None and device is None:
        return {}
    return {"engine": engine or "auto", "device": device or "auto"}


def with_engine_options(scenario: "Scenario", args: argparse.Namespace) -> "Scenario":
    """``scenario`` with ``--engine`` / ``--device`` applied to its learner (:func:`with_engine`).

    Raises:
        ScenarioError: ``learner.<field> = ...: expected ...`` for a combination that cannot run.
    """
    from labnet.models.engines import trainer_for, with_engine
    from labnet.runs.config.scenario import ScenarioError

    engine, device = getattr(args, "engine", None), getattr(args, "device", None)
    try:
        learner = with_engine(scenario.learner, engine, device)
        trainer_for(learner)  # a device this machine lacks: reported here, before any work
    except ValueError as exc:
        given = " ".join(f"--{name} {value}" for name, value in (("engine", engine), ("device", device)) if value)
        raise ScenarioError(f"{exc} (from {given})") from None
    return scenario if learner == scenario.learner else scenario.model_copy(update={"learner": learner})


def sweep_with_engine_options(sweep: "Sweep", args: argparse.Namespace) -> "Sweep":
    """``sweep`` with ``--engine`` / ``--device`` applied to every point's scenario."""
    if not learner_overrides(args):
        return sweep
    points = [dataclasses.replace(point, scenario=with_engine_options(point.scenario, args)) for point in sweep.points]
    return dataclasses.replace(sweep, points=points)
