"""The ``labnet`` command. Thin: parse arguments, call the library, report errors.

Subcommands: ``run``, ``reproduce`` (a paper's study end to end), ``figures`` (redraw the
figures and results table of a run directory) and ``resume`` (finish an interrupted run);
more to come: ``sweep``, ``graph``.
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
    _add_reproduce_command(subcommands)
    _add_figures_command(subcommands)
    _add_resume_command(subcommands)
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


def _add_reproduce_command(subcommands: argparse._SubParsersAction) -> None:
    from runs.reproduce import STUDIES

    studies = ", ".join(STUDIES)
    reproduce = subcommands.add_parser(
        "reproduce",
        help=f"reproduce a paper's study and draw its figures ({studies})",
        description="Run a paper's study (paper1: labs M, Tc, Sp on the B2 dataset, networked vs isolated vs "
        "random search, 10 trials of 300 ticks, the paper's hyperparameters) and write its figures, the "
        "transfer graph and a results table beside the paper's values into a new run directory. "
        "The full paper1 study takes about 1.5 h on 2 cores.",
    )
    reproduce.add_argument("study", nargs="?", metavar="STUDY", help=f"the study to reproduce ({studies})")
    reproduce.add_argument("--data", metavar="PATH", help="the dataset file (paper1: B2_20220520_full.csv); required")
    reproduce.add_argument("--trials", type=int, metavar="N", help="number of trials (default: the paper's, 10)")
    reproduce.add_argument("--ticks", type=int, metavar="T", help="horizon in ticks (default: the paper's, 300)")
    reproduce.add_argument("--out", default="labnet-runs", metavar="DIR",
                           help="parent of the run directory (default: %(default)s)")
    reproduce.add_argument("--no-progress", action="store_true", help="no progress bar")
    # quick checks and tests only: fewer training epochs than the paper's 100
    reproduce.add_argument("--epochs", type=int, metavar="E", help=argparse.SUPPRESS)
    reproduce.set_defaults(handler=_reproduce)


def _reproduce(args: argparse.Namespace) -> int:
    from runs.reproduce import command_line, reproduce, study_module

    study_module(args.study)  # unknown or missing study: an error naming the available ones
    learner = {"epochs": args.epochs} if args.epochs is not None else None
    result = reproduce(
        args.study, data=args.data, trials=args.trials, ticks=args.ticks, out=args.out, learner=learner,
        progress=not args.no_progress, command=command_line(getattr(args, "argv", None) or sys.argv[1:]),
    )
    print(_results_text(result.results))
    print()
    print(f"run directory: {result.run_dir}")
    for name in result.files:
        print(f"  {name}")
    return 0


def _add_figures_command(subcommands: argparse._SubParsersAction) -> None:
    figures = subcommands.add_parser(
        "figures",
        help="(re)draw the figures and results table of a run directory",
        description="Redraw the figures (best so far, validation loss, generalization error, property "
        "correlations, transfer graph), transfer_counts.csv and results.csv/.md of an existing run "
        "directory, finished or interrupted, without recomputing anything.",
    )
    figures.add_argument("run_dir", metavar="RUN_DIR", help="a run directory written by labnet run/reproduce")
    figures.add_argument("--data", metavar="PATH",
                         help="the dataset file, if the path recorded in RUN_DIR/scenario.yaml has moved")
    figures.set_defaults(handler=_figures)


def _figures(args: argparse.Namespace) -> int:
    import pandas as pd

    from runs.reproduce import RESULTS_CSV, draw_run

    files = draw_run(args.run_dir, data=args.data)
    print(_results_text(pd.read_csv(files[RESULTS_CSV])))
    print()
    print(f"wrote to {Path(args.run_dir)}:")
    for name in files:
        print(f"  {name}")
    return 0


def _add_resume_command(subcommands: argparse._SubParsersAction) -> None:
    resume = subcommands.add_parser(
        "resume",
        help="finish an interrupted run directory",
        description="Continue an interrupted `labnet run`: every (trial, condition) in progress restarts from "
        "its last checkpoint, those not started run, and the tables, summary and plot are rebuilt. The "
        "result is identical to that of an uninterrupted run.",
    )
    resume.add_argument("run_dir", metavar="RUN_DIR", help="a run directory written by labnet run")
    resume.add_argument("--data", metavar="PATH",
                        help="the dataset file, if the path recorded in RUN_DIR/scenario.yaml has moved")
    resume.add_argument("--no-progress", action="store_true", help="no progress bar")
    resume.set_defaults(handler=_resume)


def _resume(args: argparse.Namespace) -> int:
    from environment.checkpoint import CheckpointError
    from runs.analysis import format_summary
    from runs.reproduce import RUN_INFO
    from runs.run_state import RunDirError
    from runs.runner import resume_run
    from runs.tick_stream import StreamError

    try:
        result = resume_run(args.run_dir, progress=not args.no_progress, data=args.data)
    except (RunDirError, CheckpointError, StreamError) as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if result.already_finished:
        print(f"{result.run_dir}: this run has already finished; nothing to resume")
    else:
        print(format_summary(result.summary))
        print()
    print(f"run directory: {result.run_dir}")
    if (result.run_dir / RUN_INFO).is_file():  # started by `labnet reproduce`
        print(f"redraw the study's figures and results table with: {PROG} figures {result.run_dir}")
    return 0


def _results_text(results: object) -> str:
    """The results table as aligned text (lab, condition, reached, mean, CI, paper, difference, p)."""
    import pandas as pd

    table = pd.DataFrame(results)

    def num(value: object, fmt: str = "{:.1f}") -> str:
        return "-" if value is None or pd.isna(value) else fmt.format(float(value))

    rows = [("lab", "condition", "reached", "mean obs", "95% CI", "paper", "diff", "p (net vs iso)")]
    previous = None
    for rec in table.to_dict("records"):
        first = rec["lab"] != previous
        previous = rec["lab"]
        ci = "-" if pd.isna(rec["ci_low"]) else f"[{num(rec['ci_low'])}, {num(rec['ci_high'])}]"
        rows.append((str(rec["lab"]) if first else "", str(rec["condition"]), str(rec["reached"]),
                     num(rec["mean_obs"]), ci, num(rec["paper_mean_obs"]), num(rec["diff_vs_paper"], "{:+.1f}"),
                     num(rec["p_networked_vs_isolated"], "{:.3f}") if first else ""))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(c.ljust(w) if i < 2 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths))).rstrip()
             for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines + ["(observations include the initial random points; mean over the trials that reached "
                              "the target)"])


def _user_errors() -> tuple[type[BaseException], ...]:
    """Exceptions that mean bad input (reported in one line, no traceback)."""
    from runs.reproduce import StudyError

    errors: list[type[BaseException]] = [ScenarioError, FileNotFoundError, StudyError]
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
    args.argv = list(argv) if argv is not None else sys.argv[1:]
    try:
        return args.handler(args)
    except _user_errors() as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted (finished trials are kept in the run directory)", file=sys.stderr)
        return 130
