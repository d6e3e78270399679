"""The ``labnet`` command. Thin: parse arguments, call the library, report errors.

Subcommands: ``run`` (more to come: ``reproduce``, ``sweep``, ``graph``, ``resume``).
Each subcommand is a ``_add_<name>_command(subparsers)`` that registers its arguments
and a handler ``(args) -> exit status``.
"""
from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from runs.scenario import Scenario, ScenarioError, builtin_scenario_names, load_builtin, load_scenario, resolve

PROG = "labnet"
EXIT_USAGE = 2


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every subcommand registered."""
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Simulate networks of autonomous materials-exploration labs that share models.",
    )
    subcommands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    _add_run_command(subcommands)
    return parser


def _add_run_command(subcommands: argparse._SubParsersAction) -> None:
    run = subcommands.add_parser(
        "run",
        help="run a scenario (trials x conditions) and write a run directory",
        description="Run every trial of a scenario in the networked condition and its baselines; "
        "write tables, a summary and plots to a new run directory.",
    )
    run.add_argument(
        "scenario",
        nargs="?",
        metavar="SCENARIO",
        help="scenario YAML file, or the name of a built-in scenario "
        f"({', '.join(builtin_scenario_names())}); default: the built-in 'default'",
    )
    run.add_argument("--data", metavar="PATH", help="dataset file for b2/csv scenarios (overrides dataset.path)")
    run.add_argument("--trials", type=int, metavar="N", help="number of trials (overrides trials)")
    run.add_argument("--ticks", type=int, metavar="T", help="horizon in ticks (overrides horizon_ticks)")
    run.add_argument("--seed", type=int, metavar="S", help="base seed; trial t uses S + t (overrides seed)")
    run.add_argument("--out", default="labnet-runs", metavar="DIR", help="parent of the run directory (default: %(default)s)")
    run.add_argument("--no-progress", action="store_true", help="no progress bar")
    run.set_defaults(handler=_run)


def scenario_from_argument(reference: str | None) -> Scenario:
    """A scenario from a file path, a built-in name, or None (the built-in default).

    Raises:
        FileNotFoundError: neither an existing file nor a built-in name.
    """
    if reference is None:
        return load_builtin("default")
    path = Path(reference)
    if not path.exists() and reference in builtin_scenario_names():
        return load_builtin(reference)
    if not path.exists():
        raise FileNotFoundError(
            f"scenario file not found: {reference} (built-in scenarios: {', '.join(builtin_scenario_names())})"
        )
    return load_scenario(path)


def _run(args: argparse.Namespace) -> int:
    from runs.analysis import format_summary
    from runs.runner import run_scenario

    scenario = resolve(
        scenario_from_argument(args.scenario), data=args.data, trials=args.trials, ticks=args.ticks, seed=args.seed
    )
    result = run_scenario(scenario, args.out, progress=not args.no_progress)
    print(format_summary(result.summary))
    print()
    print(f"run directory: {result.run_dir}")
    return 0


def _user_errors() -> tuple[type[BaseException], ...]:
    """Exceptions that mean bad input (reported in one line, no traceback)."""
    errors: list[type[BaseException]] = [ScenarioError, FileNotFoundError]
    try:
        from environment import DataError
    except ImportError:  # pragma: no cover - environment is a sibling package
        pass
    else:
        errors.append(DataError)
    return tuple(errors)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``labnet`` / ``python -m runs``; returns the exit status."""
    args = build_parser().parse_args(argv)
    try:
        return args.handler(args)
    except _user_errors() as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted (finished trials are kept in the run directory)", file=sys.stderr)
        return 130
