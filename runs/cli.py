"""The ``labnet`` command. Thin: parse arguments, call the library, report errors.

Subcommands: ``run``, ``reproduce`` (a paper's study end to end) and ``figures`` (redraw the
figures and results table of a run directory); more to come: ``sweep``, ``graph``, ``resume``.
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
    _add_pool_command(subcommands)
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


def _add_pool_command(subcommands: argparse._SubParsersAction) -> None:
    pool = subcommands.add_parser(
        "pool",
        help="build or inspect a source-model pool (shotgun transfer learning)",
        description="Source-model pools: many pretrained networks of random pyramid architectures for one "
        "property, from which labs pick the most transferable by cross-validation (docs/pools.md).",
    )
    actions = pool.add_subparsers(dest="pool_command", metavar="ACTION", required=True)
    build = actions.add_parser(
        "build",
        help="train a pool (continues an interrupted build of the same settings)",
        description="Train N pyramid MLPs (3-6 hidden layers, first width 64-512, decreasing) on bootstrap "
        "draws of the dataset's rows with PyTorch Lightning; each model is saved as it finishes.",
    )
    build.add_argument("--property", required=True, metavar="P", help="the property the pool predicts")
    build.add_argument("--scenario", metavar="SCENARIO",
                       help="scenario file or built-in name whose dataset is used (default: the built-in 'default')")
    build.add_argument("--data", metavar="PATH", help="dataset file for b2/csv scenarios (overrides dataset.path)")
    build.add_argument("--out", required=True, metavar="POOL_DIR", help="the pool directory (created, or continued)")
    build.add_argument("--n-models", type=int, default=100, metavar="N", help="models in the pool (default: %(default)s)")
    build.add_argument("--seed", type=int, default=0, metavar="S", help="base seed (default: %(default)s)")
    build.add_argument("--sample-size", type=int, metavar="N", help="bootstrap draws per model (default: all rows)")
    build.add_argument("--name", metavar="NAME", help="name in logs, pool:<NAME>#<index> (default: the directory name)")
    build.add_argument("--epochs", type=int, default=100, metavar="E", help="maximum epochs per model (default: %(default)s)")
    build.add_argument("--depths", type=int, nargs=2, default=(3, 6), metavar=("MIN", "MAX"),
                       help="hidden layers per model (default: 3 6)")
    build.add_argument("--widths", type=int, nargs=2, default=(64, 512), metavar=("MIN", "MAX"),
                       help="range of the first hidden width; later layers are narrower (default: 64 512)")
    build.add_argument("--no-progress", action="store_true", help="no progress bar")
    build.set_defaults(handler=_pool_build)
    inspect = actions.add_parser("inspect", help="print a pool's models and scores; optionally plot them",
                                 description="Print one line per model (architecture, training rows, "
                                 "validation MSE and R2, time) and a summary.")
    inspect.add_argument("pool_dir", metavar="POOL_DIR")
    inspect.add_argument("--plot", metavar="PNG", help="also write validation R2 vs depth and width to this PNG")
    inspect.set_defaults(handler=_pool_inspect)


def _pool_build(args: argparse.Namespace) -> int:
    from models.pool import PoolError
    from models.pool_training import PoolArchitecture, PoolTraining
    from runs.pools import build_pool_for_scenario

    scenario = resolve(scenario_from_argument(args.scenario), data=args.data)
    try:
        architecture = PoolArchitecture(min_depth=args.depths[0], max_depth=args.depths[1],
                                        min_width=args.widths[0], max_width=args.widths[1])
        training = PoolTraining(epochs=args.epochs)
        report = build_pool_for_scenario(
            scenario, args.property, args.out, n_models=args.n_models, seed=args.seed, sample_size=args.sample_size,
            name=args.name, architecture=architecture, training=training, progress=not args.no_progress,
        )
    except (PoolError, ValueError) as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if report.built:
        print(f"trained {len(report.built)} models: {report.seconds_per_model:.1f} s wall, "
              f"{sum(report.cpu_seconds) / len(report.cpu_seconds):.1f} s CPU per model (mean)")
    if report.kept:
        print(f"kept {len(report.kept)} models already finished")
    print(f"pool: {report.path}")
    return 0


def _pool_inspect(args: argparse.Namespace) -> int:
    from models.pool import PoolError, load_pool
    from runs.pools import format_pool, plot_pool

    try:
        pool = load_pool(args.pool_dir)
    except PoolError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    print(format_pool(pool))
    if args.plot:
        print(f"plot: {plot_pool(pool, args.plot)}")
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
