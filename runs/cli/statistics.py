"""CLI pieces of the statistics: ``labnet power`` and ``--until-decided`` on run, reproduce and sweep.

:mod:`labnet.runs.cli.commands` calls :func:`add_power_command` and
:func:`add_until_decided_arguments` when it builds the parser, and its handlers call
:func:`run_scenario_or_until_decided`, :func:`reproduce_kwargs`, :func:`sweep_or_until_decided`
and :func:`resume_or_continue` (one line each), so the statistics stay out of the command module.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from labnet.runs.cli.engine_options import lockstep_of
from typing import Any


def add_until_decided_arguments(parser: argparse.ArgumentParser, sweep: bool = False) -> None:
    """``--until-decided [--max-trials N] [--precision OBS] [--spending KIND]``, and for a sweep
    ``--decide conditions|topologies``."""
    from labnet.runs.config.stopping import SPENDING_FUNCTIONS

    group = parser.add_argument_group(
        "until decided", "add trials in batches (of the first look's trials) until every comparison (per lab: "
        "networked minus each baseline, RMST) has a CI that excludes 0 or is at most --precision wide on each "
        "side; group-sequential alpha spending keeps the 95 % coverage (docs/statistics.md)")
    group.add_argument("--until-decided", action="store_true", help="run until decided (see above)")
    group.add_argument("--max-trials", type=_whole_number, default=50, metavar="N",
                       help="most trials per condition (the last look; default: %(default)s)")
    group.add_argument("--precision", type=_positive_number, metavar="OBS",
                       help="also decided when the CI half-width is at most OBS observations")
    group.add_argument("--spending", choices=SPENDING_FUNCTIONS, default="obrien-fleming",
                       help="Lan-DeMets alpha-spending type (default: %(default)s)")
    if sweep:
        group.add_argument("--decide", choices=("conditions", "topologies"), default="conditions",
                           help="what a sweep decides: conditions (each point on its own, networked minus each "
                                "baseline) or topologies (the ranking of the topology axis by RMST, every pair of "
                                "topologies over the networks they share; every point gains trials together; "
                                "simultaneous intervals, docs/statistics.md); default: %(default)s")


def _whole_number(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 2, got {text!r}") from None
    if value < 2:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 2, got {value}")
    return value


def _positive_number(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of observations > 0, got {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected a number of observations > 0, got {text}")
    return value


def stopping_rule(args: argparse.Namespace) -> Any:
    """The :class:`StoppingRule` of ``--until-decided``, or None without it."""
    if not getattr(args, "until_decided", False):
        return None
    from labnet.runs.execution.until_decided import StoppingRule

    return StoppingRule(max_trials=args.max_trials, precision=args.precision, spending=args.spending)


def _refuse_engine_options_until_decided(args: argparse.Namespace, flags: tuple[str, ...]) -> None:
    """An until-decided study runs its trials serially with the engine recorded in its scenario:
    the given flags (``lockstep``; on resume also ``engine``, ``device``) would be ignored, so a
    set one is refused."""
    from labnet.runs.config.scenario import ScenarioError

    given = {"lockstep": lockstep_of(args), "engine": getattr(args, "engine", None),
             "device": getattr(args, "device", None)}
    ignored = [f"--{flag}" for flag in flags if given[flag]]
    if ignored:
        raise ScenarioError(f"{', '.join(ignored)}: not available for an until-decided study (its trials run "
                            f"serially with the engine recorded in its scenario); drop {' and '.join(ignored)}")


def run_scenario_or_until_decided(scenario: Any, args: argparse.Namespace) -> Any:
    """``labnet run``: :func:`run_scenario`, or the until-decided loop; returns the RunResult."""
    from labnet.runs.execution.runner import run_scenario

    rule = stopping_rule(args)
    if rule is None:
        return run_scenario(scenario, args.out, progress=not args.no_progress, workers=args.workers,
                            lockstep=lockstep_of(args))
    _refuse_engine_options_until_decided(args, ("lockstep",))
    from labnet.runs.execution.until_decided import run_until_decided

    result = run_until_decided(scenario, args.out, rule, progress=not args.no_progress, workers=args.workers)
    print(result.text())
    print()
    return result.run


def reproduce_kwargs(args: argparse.Namespace) -> dict[str, Any]:
    """Extra keyword arguments of :func:`labnet.runs.studies.reproduce.reproduce` (``until_decided``)."""
    return {"until_decided": stopping_rule(args)}


def sweep_or_until_decided(sweep: Any, args: argparse.Namespace) -> Any:
    """``labnet sweep``: :func:`run_sweep`, or every point until decided; returns the SweepResult."""
    from labnet.runs.execution.sweep import run_sweep

    options = {"backend": args.backend, "workers": args.workers, "ray_address": args.ray_address}
    rule = stopping_rule(args)
    if rule is None:
        return run_sweep(sweep, args.out, progress=not args.no_progress, **options)
    if getattr(args, "decide", "conditions") == "topologies":
        from labnet.runs.execution.until_ranked import sweep_until_ranked

        return sweep_until_ranked(sweep, args.out, rule, progress=not args.no_progress, **options)
    from labnet.runs.execution.until_decided import sweep_until_decided

    return sweep_until_decided(sweep, args.out, rule, progress=not args.no_progress, **options)


def resume_or_continue(args: argparse.Namespace) -> Any:
    """``labnet resume``: finish the run; an until-decided study continues its loop. Returns the RunResult."""
    from labnet.runs.execution.runner import resume_run
    from labnet.runs.execution.until_decided import continue_until_decided, is_until_decided

    if not is_until_decided(args.run_dir):
        return resume_run(args.run_dir, progress=not args.no_progress, data=args.data, workers=args.workers,
                          engine=getattr(args, "engine", None), device=getattr(args, "device", None),
                          lockstep=lockstep_of(args), execution=_recorded_execution_with(args))
    _refuse_engine_options_until_decided(args, ("lockstep", "engine", "device"))
    result = continue_until_decided(args.run_dir, progress=not args.no_progress, data=args.data, workers=args.workers)
    print(result.text())
    print()
    return result.run


def _recorded_execution_with(args: argparse.Namespace) -> dict | None:
    """``labnet resume``'s tick-backend options applied to the run's recorded ``execution`` (None: none given)."""
    from labnet.runs.cli.engine_options import execution_overrides

    if execution_overrides(args) is None:
        return None
    from labnet.runs.config.scenario import load_scenario
    from labnet.runs.execution.runner import SCENARIO_FILE

    try:
        recorded = load_scenario(Path(args.run_dir) / SCENARIO_FILE).execution.model_dump(exclude_none=True)
    except FileNotFoundError:
        recorded = {}  # resume_run reports the missing file
    return execution_overrides(args, recorded)


# --------------------------------------------------------------------------- labnet power


def add_power_command(subcommands: argparse._SubParsersAction) -> None:
    """``labnet power RUN_DIR [--effect OBS] [--power P] [--alpha A]``."""
    power = subcommands.add_parser(
        "power",
        help="how many trials an effect needs at the spread a run observed (paired)",
        description="For each lab and comparison (networked minus each baseline) of a run directory: the "
        "observed paired RMST difference and its per-trial spread, the power the run's N has, and the trials "
        "per condition a two-sided paired test needs to detect --effect (default: the observed difference; for "
        "a paper reproduction also the paper's). Writes RUN_DIR/power.csv.",
    )
    power.add_argument("run_dir", metavar="RUN_DIR", help="a run directory written by labnet run/reproduce")
    power.add_argument("--effect", type=float, metavar="OBS",
                       help="the RMST difference to detect, in observations (default: the observed one)")
    power.add_argument("--power", type=float, default=0.8, metavar="P", help="power wanted (default: %(default)s)")
    power.add_argument("--alpha", type=float, default=0.05, metavar="A",
                       help="two-sided level of the test (default: %(default)s)")
    power.set_defaults(handler=_power)


def _power(args: argparse.Namespace) -> int:
    from labnet.runs.reports.power import POWER_CSV, format_power, paper_effects_of, power_table, read_observations

    for name, value in (("--power", args.power), ("--alpha", args.alpha)):
        if not 0 < value < 1:
            print(f"labnet: error: {name} = {value}: expected a number in (0, 1)", file=sys.stderr)
            return 2
    if args.effect is not None and args.effect == 0:
        print("labnet: error: --effect = 0: expected a non-zero difference in observations", file=sys.stderr)
        return 2
    observations = read_observations(args.run_dir)
    paper = paper_effects_of(args.run_dir) if args.effect is None else None
    table = power_table(observations, effect=args.effect, alpha=args.alpha, power=args.power, paper_effects=paper)
    table.to_csv(Path(args.run_dir) / POWER_CSV, index=False)
    print(format_power(table, alpha=args.alpha, power=args.power))
    print(f"wrote {Path(args.run_dir) / POWER_CSV}")
    return 0
