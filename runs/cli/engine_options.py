"""``--engine`` / ``--device``: which training engine a command's learners use; ``--backend`` /
``--ray-address`` / ``--ray-workers``: where a network's ticks run.

Registered on ``run``, ``reproduce``, ``resume`` and ``sweep`` by :func:`add_engine_options`; the
values become a learner override of the resolved scenario (``learner.engine``, ``learner.device``),
so the run directory's ``scenario.yaml`` records what trained (``auto`` is resolved:
:func:`labnet.models.devices.resolve_engine`).

* ``--engine E`` alone: engine E on its default device (``auto``: CUDA for torch when a GPU is present).
* ``--device D`` alone: the scenario's torch engine stays torch on D; any other engine becomes
  ``auto`` (so ``--device cuda`` means torch on CUDA and ``--device cpu`` the numba engine).

``--protocol P`` (``run`` and ``reproduce``, :func:`add_protocol_option`) is the other learner
override a command line makes: ``learner.protocol``, ``paper_text`` or ``authors_code``
(docs/algorithm.md → The two protocols). :func:`learner_overrides` and :func:`with_learner_options`
apply all three, as a mapping (``reproduce``) or to a scenario (``run``).

The tick backend (:func:`add_backend_options`, on ``run``, ``reproduce`` and ``resume``) overrides
the scenario's ``execution`` section (:mod:`labnet.runs.config.execution`): ``--backend ray``
shards every tick's training and predictions over a Ray cluster, ``--ray-address ADDR`` joins a
cluster instead of starting a local Ray, ``--ray-workers N`` sizes the local one; either of the
two implies ``--backend ray``. ``labnet sweep`` has the same as ``--tick-backend`` (its
``--backend`` says where the sweep's points run).
"""
from __future__ import annotations

import argparse
import dataclasses
from typing import TYPE_CHECKING

from labnet.models.choices import LEARNER_PROTOCOLS
from labnet.models.config import DEVICES, ENGINES
from labnet.runs.config.tick_backends import TICK_BACKENDS

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


def add_backend_options(parser: argparse.ArgumentParser, flag: str = "--backend") -> None:
    """Add ``--backend`` (``flag``), ``--ray-address`` and ``--ray-workers`` (default: the scenario's ``execution``).

    ``labnet sweep`` passes ``flag="--tick-backend"`` and has its own ``--ray-address``.
    """
    parser.add_argument(
        flag, dest="tick_backend", choices=TICK_BACKENDS, metavar="|".join(TICK_BACKENDS),
        help="where each tick's training and predictions run (overrides execution.backend): local (this process) "
        "or ray (sharded over a Ray cluster; same tables); default: the scenario's, local",
    )
    if flag == "--backend":
        parser.add_argument("--ray-address", metavar="ADDR", help="with --backend ray: join this Ray cluster (e.g. "
                            "'auto' after 'ray start --head'); default: start a local Ray instance for the run")
    parser.add_argument("--ray-workers", type=int, metavar="N", help="with --backend ray and no --ray-address: CPUs "
                        "of the local Ray instance (default: every core)")


def execution_overrides(args: argparse.Namespace, current: dict | None = None) -> dict | None:
    """The ``execution`` section the tick-backend options ask for, based on ``current`` (the
    scenario's, as a mapping); None when no option was given.

    ``--backend local`` drops the scenario's Ray fields; ``--ray-address`` / ``--ray-workers``
    imply ``ray`` and replace each other's (a joined cluster has its own CPUs).
    """
    backend = getattr(args, "tick_backend", None)
    address, workers = getattr(args, "ray_address", None), getattr(args, "ray_workers", None)
    if backend is None and address is None and workers is None:
        return None
    execution = dict(current or {})
    if backend == "local":
        execution = {}
    execution["backend"] = backend or ("ray" if address is not None or workers is not None else
                                       execution.get("backend", "local"))
    if address is not None:
        execution["ray_address"] = address
        if workers is None:
            execution.pop("ray_workers", None)
    if workers is not None:
        execution["ray_workers"] = workers
        if address is None:
            execution.pop("ray_address", None)
    return execution


def with_backend_options(scenario: "Scenario", args: argparse.Namespace) -> "Scenario":
    """``scenario`` with the tick-backend options applied to its ``execution`` section.

    Raises:
        ScenarioError: ``execution: ...`` for a combination that cannot run (named with the flags given).
    """
    from labnet.runs.config.scenario import ScenarioError
    from labnet.runs.execution.runner import with_execution

    execution = execution_overrides(args, scenario.execution.model_dump(exclude_none=True))
    try:
        return with_execution(scenario, execution)
    except ScenarioError as exc:
        raise ScenarioError(f"{exc} (from {_backend_flags(args)})") from None


def sweep_with_backend_options(sweep: "Sweep", args: argparse.Namespace) -> "Sweep":
    """``sweep`` with ``--tick-backend`` (and, with it, ``--ray-address`` / ``--ray-workers``) applied to every
    point's ``execution``; the sweep's own ``--ray-address`` is then the tick backend's, so it is consumed here.

    Raises:
        ScenarioError: a point's scenario with an ``execution`` that cannot run.
    """
    if getattr(args, "tick_backend", None) is None and getattr(args, "ray_workers", None) is None:
        return sweep
    tick_args = argparse.Namespace(tick_backend=args.tick_backend, ray_address=getattr(args, "ray_address", None),
                                   ray_workers=getattr(args, "ray_workers", None))
    if tick_args.tick_backend != "local":
        args.ray_address = None  # the points' ticks join the cluster; the points themselves run here
    points = [dataclasses.replace(point, scenario=with_backend_options(point.scenario, tick_args)) for point in sweep.points]
    return dataclasses.replace(sweep, points=points)


def _backend_flags(args: argparse.Namespace) -> str:
    given = (("backend", getattr(args, "tick_backend", None)), ("ray-address", getattr(args, "ray_address", None)),
             ("ray-workers", getattr(args, "ray_workers", None)))
    return " ".join(f"--{name} {value}" for name, value in given if value is not None)


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
    """The learner fields the options given override, for a learner-override mapping (``reproduce``):
    ``engine`` and ``device`` when either was given (a missing one is ``auto``), ``protocol`` when
    ``--protocol`` was. Empty when none was given."""
    engine, device = getattr(args, "engine", None), getattr(args, "device", None)
    protocol = getattr(args, "protocol", None)
    out = {} if engine is None and device is None else {"engine": engine or "auto", "device": device or "auto"}
    return out if protocol is None else {**out, "protocol": protocol}


def with_learner_options(scenario: "Scenario", args: argparse.Namespace) -> "Scenario":
    """``scenario`` with ``--engine`` / ``--device`` (:func:`with_engine`) and ``--protocol`` applied to its
    learner; the same object when they change nothing.

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
    protocol = getattr(args, "protocol", None)
    if protocol is not None and protocol != learner.protocol:
        learner = dataclasses.replace(learner, protocol=protocol)
    return scenario if learner == scenario.learner else scenario.model_copy(update={"learner": learner})


def sweep_with_engine_options(sweep: "Sweep", args: argparse.Namespace) -> "Sweep":
    """``sweep`` with ``--engine`` / ``--device`` applied to every point's scenario (``sweep`` has no ``--protocol``)."""
    if not learner_overrides(args):
        return sweep
    points = [dataclasses.replace(point, scenario=with_learner_options(point.scenario, args)) for point in sweep.points]
    return dataclasses.replace(sweep, points=points)
