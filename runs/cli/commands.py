"""The ``labnet`` command. Thin: parse arguments, call the library, report errors.

Subcommands: ``run``, ``reproduce`` (a paper's study end to end), ``figures`` (redraw the
figures and results table of a run directory), ``resume`` (finish an interrupted run),
``sweep``, ``graph``, ``scaling``, ``pool`` and ``power``.
Each subcommand is a ``_add_<name>_command(subparsers)`` that registers its arguments
and a handler ``(args) -> exit status``.

Start-up is cheap (``labnet --help`` well under a second): this module imports only the
standard library and light name lists (:mod:`labnet.runs.config.builtins`,
:mod:`labnet.runs.reports.catalog`, :mod:`labnet.runs.execution.sweep_backends`) at import
time; every handler imports what it needs (pydantic, pandas, torch, numba, Mesa) when it runs.
``benchmarks/bench_cli_startup.py`` measures it.

SIGTERM (and SIGHUP) stop the command as Ctrl-C does: a run in progress keeps what it has
computed and says how to resume it; the exit status is 128 + the signal number (130 for Ctrl-C).
"""
from __future__ import annotations

import argparse
import signal
import sys
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from labnet._version import __version__
from labnet.runs.cli import statistics
from labnet.runs.cli import engine_options
from labnet.runs.cli import view
from labnet.runs.config.builtins import builtin_scenario_names

PROG = "labnet"
EXIT_USAGE = 2
STOP_SIGNALS = ("SIGTERM", "SIGHUP")
"""Signals that stop the command like Ctrl-C (those the platform has)."""


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every subcommand registered."""
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Simulate networks of autonomous materials-exploration labs that share models.",
        epilog=f"'{PROG} COMMAND --help' describes a command's arguments.",
    )
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    subcommands = parser.add_subparsers(dest="command", metavar="COMMAND")
    _add_run_command(subcommands)
    _add_reproduce_command(subcommands)
    _add_figures_command(subcommands)
    _add_resume_command(subcommands)
    _add_sweep_command(subcommands)
    _add_graph_command(subcommands)
    _add_scaling_command(subcommands)
    _add_pool_command(subcommands)
    statistics.add_power_command(subcommands)
    view.add_view_command(subcommands)
    view.add_live_command(subcommands)
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
    _add_workers_argument(run)
    engine_options.add_engine_options(run, lockstep=True)
    engine_options.add_protocol_option(run)
    engine_options.add_backend_options(run)
    run.add_argument("--no-progress", action="store_true", help="no progress bar")
    statistics.add_until_decided_arguments(run)
    run.set_defaults(handler=_run)


def _add_workers_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--workers", type=_positive_int, default=1, metavar="N",
        help="run (trial, condition) units in up to N local processes (no more than the cores, nor than one "
        "per 4 units that train), each with cores/N engine threads; same results as 1 (default: %(default)s)",
    )


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {value}")
    return value


def _run(args: argparse.Namespace) -> int:
    from labnet.runs.config.scenario import resolve, scenario_from_argument

    scenario = resolve(
        scenario_from_argument(args.scenario), data=args.data, trials=args.trials, ticks=args.ticks, seed=args.seed
    )
    scenario = engine_options.with_learner_options(scenario, args)
    scenario = engine_options.with_backend_options(scenario, args)
    result = statistics.run_scenario_or_until_decided(scenario, args)
    print(result.report.text())
    print()
    print(f"run directory: {result.run_dir}")
    return 0


def _add_reproduce_command(subcommands: argparse._SubParsersAction) -> None:
    from labnet.runs.reports.catalog import STUDIES

    studies = ", ".join(STUDIES)
    reproduce = subcommands.add_parser(
        "reproduce",
        help=f"reproduce a paper's study and draw its figures ({studies})",
        description="Run a paper's study (paper1: labs M, Tc, Sp on the B2 dataset, networked vs isolated vs "
        "random search, 10 trials of 300 ticks, the paper's hyperparameters) and write its figures, the "
        "transfer graph and a results table beside the paper's values into a new run directory. "
        "The full paper1 study takes about 1 h on 2 cores with --workers 2.",
    )
    reproduce.add_argument("study", nargs="?", metavar="STUDY", help=f"the study to reproduce ({studies})")
    reproduce.add_argument("--data", metavar="PATH", help="the dataset file (paper1: B2_20220520_full.csv); required")
    reproduce.add_argument("--trials", type=int, metavar="N", help="number of trials (default: the paper's, 10)")
    reproduce.add_argument("--ticks", type=int, metavar="T", help="horizon in ticks (default: the paper's, 300)")
    reproduce.add_argument("--out", default="labnet-runs", metavar="DIR",
                           help="parent of the run directory (default: %(default)s)")
    _add_workers_argument(reproduce)
    engine_options.add_engine_options(reproduce)
    engine_options.add_protocol_option(reproduce)
    engine_options.add_backend_options(reproduce)
    reproduce.add_argument("--no-progress", action="store_true", help="no progress bar")
    # quick checks and tests only: fewer training epochs than the paper's 100
    reproduce.add_argument("--epochs", type=int, metavar="E", help=argparse.SUPPRESS)
    statistics.add_until_decided_arguments(reproduce)
    reproduce.set_defaults(handler=_reproduce)


def _reproduce(args: argparse.Namespace) -> int:
    from labnet.runs.studies.reproduce import command_line, reproduce, study_module

    study_module(args.study)  # unknown or missing study: an error naming the available ones
    learner = {"epochs": args.epochs} if args.epochs is not None else None
    learner = {**(learner or {}), **engine_options.learner_overrides(args)} or None
    result = reproduce(
        args.study, data=args.data, trials=args.trials, ticks=args.ticks, out=args.out, learner=learner,
        progress=not args.no_progress, command=command_line(getattr(args, "argv", None) or sys.argv[1:]),
        workers=args.workers, execution=engine_options.execution_overrides(args), **statistics.reproduce_kwargs(args),
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
    _add_moved_data_argument(figures)
    figures.set_defaults(handler=_figures)


def _add_moved_data_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", metavar="PATH",
                        help="the dataset file, if the path recorded in RUN_DIR/scenario.yaml has moved")


def _print_written(out: Path, files: Iterable[str]) -> None:
    """``wrote to OUT:`` and one indented line per written file name."""
    print(f"wrote to {out}:")
    for name in files:
        print(f"  {name}")


def _figures(args: argparse.Namespace) -> int:
    import pandas as pd

    from labnet.runs.studies.reproduce import RESULTS_CSV, draw_run

    files = draw_run(args.run_dir, data=args.data)
    print(_results_text(pd.read_csv(files[RESULTS_CSV])))
    print()
    _print_written(Path(args.run_dir), files)
    return 0


def _add_sweep_command(subcommands: argparse._SubParsersAction) -> None:
    from labnet.runs.execution.sweep_backends import BACKENDS, DEFAULT_OUT

    sweep = subcommands.add_parser(
        "sweep",
        help="run a scenario over a grid of topologies, sizes, seeds or any scenario field",
        description="Run every point of a sweep file (the cartesian product of its axes) into "
        "OUT/<sweep name>/, one run directory per point, and collect the results in one tidy table "
        "(sweep_results.parquet/.csv). Running it again into the same directory skips finished points.",
    )
    sweep.add_argument("sweep_file", metavar="SWEEP.yaml", help="the sweep file (see examples/sweeps/)")
    sweep.add_argument("--backend", choices=BACKENDS, help="where points run (default: the sweep file's backend, "
                       "else serial); --tick-backend ray instead spreads each point's ticks over Ray")
    sweep.add_argument("--workers", type=int, metavar="N", help="processes/ray: points at once (default: the sweep "
                       "file's workers, else every core)")
    sweep.add_argument("--ray-address", metavar="ADDR", help="with --backend ray or --tick-backend ray: join this "
                       "Ray cluster (e.g. 'auto' after 'ray start --head'); default: start a local Ray instance")
    sweep.add_argument("--out", default=DEFAULT_OUT, metavar="DIR", help="parent of the sweep directory "
                       "(default: %(default)s)")
    sweep.add_argument("--no-progress", action="store_true", help="no per-point progress lines")
    statistics.add_until_decided_arguments(sweep, sweep=True)
    engine_options.add_engine_options(sweep)
    engine_options.add_backend_options(sweep, flag="--tick-backend")
    sweep.set_defaults(handler=_sweep)


def _sweep(args: argparse.Namespace) -> int:
    from labnet.runs.execution.sweep import RANKING_MD, format_summary_by_point, load_sweep, summary_by_point
    from labnet.runs.execution.sweep_backends import SweepError

    try:
        sweep = load_sweep(args.sweep_file)
        sweep = engine_options.sweep_with_engine_options(sweep, args)
        sweep = engine_options.sweep_with_backend_options(sweep, args)
        result = statistics.sweep_or_until_decided(sweep, args)
    except SweepError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    print(format_summary_by_point(summary_by_point(result.results, sweep.axes)))
    print("(rmst: restricted mean observations to threshold, each lab up to its own horizon tau (tau_min..tau_max), "
          "unreached runs counted as their tau; mean_obs: over the runs that reached it; initial points included; "
          "CIs in topology_comparison.csv)")
    if result.ranking is not None:
        print(f"topologies ranked ({RANKING_MD}): {result.ranking.verdict}")
    print()
    print(f"sweep directory: {result.sweep_dir}")
    for path in (result.results_parquet_path, result.results_csv_path, result.points_csv_path, *result.extra_files):
        print(f"  {path.name}")
    if result.failed:
        print(f"{PROG}: {len(result.failed)} point(s) failed (see {result.points_csv_path.name}); run the same "
              f"command again to retry them:", file=sys.stderr)
        for point_id, error in result.failed.items():
            print(f"  {point_id}: {error}", file=sys.stderr)
        return 1
    return 0


def _add_graph_command(subcommands: argparse._SubParsersAction) -> None:
    graph = subcommands.add_parser(
        "graph",
        help="who transfers to whom: the transfer graph of a run directory and its metrics",
        description="Aggregate a run's transfer events into a weighted directed graph (edge source -> target: "
        "target built a candidate from source's model; selected = times it was chosen as the best model) and "
        "write graph.graphml, per-lab metrics (strengths, degrees, PageRank, share of steps won by a "
        "transferred model), flows between properties and communities, graph_summary.md and two figures.",
    )
    graph.add_argument("run_dir", metavar="RUN_DIR", help="a run directory written by labnet run/reproduce")
    graph.add_argument("--condition", default="networked", metavar="NAME",
                       help="the condition to analyse (default: %(default)s)")
    graph.add_argument("--trial", default="all", type=_trial_argument, metavar="N|all",
                       help="one trial, or all trials pooled (default: %(default)s)")
    graph.add_argument("--out", metavar="DIR",
                       help="output directory (default: RUN_DIR/graph, or RUN_DIR/graph-<condition>[-trial<N>])")
    view.add_graph_view_arguments(graph)
    graph.set_defaults(handler=_graph)


def _trial_argument(value: str) -> int | None:
    """``all`` -> None (every trial pooled); a non-negative integer -> that trial."""
    if value.strip().lower() == "all":
        return None
    try:
        trial = int(value)
    except ValueError:
        trial = -1
    if trial < 0:
        raise argparse.ArgumentTypeError(f"expected a trial number >= 0 or 'all' (got {value!r})")
    return trial


def _graph(args: argparse.Namespace) -> int:
    from labnet.runs.reports.graph import (GraphInputError, analyze_transfers, default_out_dir, read_graph_run, summary_text,
                            write_graph_outputs)

    if view.wants_graph_views(args):
        return view.graph_views(args)
    trial = args.trial  # None: every trial pooled (argparse converts the default "all" too)
    try:
        run = read_graph_run(args.run_dir)
        analysis = analyze_transfers(run, condition=args.condition, trial=trial)
    except GraphInputError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    out = Path(args.out) if args.out else default_out_dir(run.path, args.condition, trial)
    files = write_graph_outputs(analysis, out)
    print(summary_text(analysis))
    print()
    _print_written(out, files)
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
    _add_moved_data_argument(resume)
    _add_workers_argument(resume)
    engine_options.add_engine_options(resume, lockstep=True)
    engine_options.add_backend_options(resume)
    resume.add_argument("--no-progress", action="store_true", help="no progress bar")
    resume.set_defaults(handler=_resume)


def _resume(args: argparse.Namespace) -> int:
    from labnet.simulation.checkpoint import CheckpointError
    from labnet.runs.studies.reproduce import RUN_INFO
    from labnet.runs.execution.run_state import RunDirError
    from labnet.runs.execution.tick_stream import StreamError

    try:
        result = statistics.resume_or_continue(args)
    except (RunDirError, CheckpointError, StreamError) as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if result.already_finished:
        print(f"{result.run_dir}: this run has already finished; nothing to resume")
    else:
        print(result.report.text())
        print()
    print(f"run directory: {result.run_dir}")
    if (result.run_dir / RUN_INFO).is_file():  # started by `labnet reproduce`
        print(f"redraw the study's figures and results table with: {PROG} figures {result.run_dir}")
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
    from labnet.models.pool import PoolError
    from labnet.models.pool_training import PoolArchitecture, PoolTraining
    from labnet.runs.studies.pools import build_pool_for_scenario

    from labnet.runs.config.scenario import resolve, scenario_from_argument

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
    from labnet.models.pool import PoolError, load_pool
    from labnet.runs.studies.pools import format_pool, plot_pool

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
    """The results table as aligned text (:func:`labnet.runs.studies.reproduce.results_text`)."""
    from labnet.runs.studies.reproduce import results_text

    return results_text(results)


def _size_list(text: str) -> list[int]:
    """``"16,32,64"`` or ``"16"`` -> [16, 32, 64] / [16] (argparse type; used with nargs="+")."""
    try:
        return [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected integers separated by spaces or commas (got {text!r})") from None


def _add_scaling_command(subcommands: argparse._SubParsersAction) -> None:
    scaling = subcommands.add_parser(
        "scaling",
        help="measure how transfer-learning error scales with source and target data size (paper 3)",
        description="Pretrain ensembles on n samples of a source property, fine-tune them on m samples of a "
        "target property, and measure the test error on a held-out target test set, over grids of n and m "
        "and many random repeats; direct learning on the m target samples is the baseline. Fits "
        "R(n) = D n^-alpha + C per m and R(n, m) = (A n^-alpha + B) m^-beta + eps with bootstrap CIs, and "
        "the marginal rate of substitution. Writes scaling_raw.csv (after every step: an interrupted run "
        "resumes with the same command), scaling_fits.csv/.md, scaling_vs_n.png and scaling_vs_m.png.",
    )
    scaling.add_argument("--source", required=True, metavar="P", help="source property (pretraining)")
    scaling.add_argument("--target", required=True, metavar="Q", help="target property (fine-tuning and test)")
    scaling.add_argument("--data", metavar="PATH", help="the B2 CSV; with --scenario, that scenario's b2/csv file")
    scaling.add_argument("--scenario", metavar="SCENARIO", help="take the dataset of this scenario (file or built-in "
                         "name); default without --data: the built-in sim2real world (P0 and its twin P0_sim)")
    scaling.add_argument("--n-grid", type=_size_list, nargs="+", metavar="N",
                         help="source sizes (default: 32, 64, ... doubling up to 4096 or the pool size)")
    scaling.add_argument("--m-grid", type=_size_list, nargs="+", metavar="M", help="target sizes (default: 10 20 40 80)")
    scaling.add_argument("--repeats", type=int, default=10, metavar="R", help="random splits (default: %(default)s)")
    scaling.add_argument("--members", type=int, default=4, metavar="K", help="ensemble members (default: %(default)s)")
    scaling.add_argument("--epochs", type=int, default=100, metavar="E",
                         help="epochs of fine-tuning and direct learning (default: %(default)s)")
    scaling.add_argument("--pretrain-epochs", type=int, metavar="E",
                         help="epochs of pretraining on the source data (default: --epochs)")
    scaling.add_argument("--frozen-layers", type=int, default=2, metavar="L",
                         help="hidden layers frozen when fine-tuning (default: %(default)s)")
    scaling.add_argument("--test-fraction", type=float, default=0.2, metavar="F",
                         help="share of materials held out as the target test set (default: %(default)s)")
    scaling.add_argument("--seed", type=int, default=0, metavar="S", help="base seed (default: %(default)s)")
    scaling.add_argument("--bootstrap", type=int, default=1000, metavar="B",
                         help="bootstrap resamples of the fits (default: %(default)s)")
    scaling.add_argument("--out", metavar="DIR", help="output directory (default: labnet-scaling/SOURCE-to-TARGET)")
    scaling.add_argument("--no-progress", action="store_true", help="no progress bar")
    scaling.set_defaults(handler=_scaling)


def _scaling(args: argparse.Namespace) -> int:
    import time
    from datetime import datetime, timezone

    started = time.perf_counter()  # before the heavy imports (torch, numba) and the data load
    from labnet.runs.studies.scaling import ScalingDesign, ScalingError, check_design, load_space, log_grid, n_test_for, run_scaling
    from labnet.runs.studies.scaling_report import write_report

    try:
        if args.bootstrap < 0:
            raise ScalingError(f"--bootstrap: expected an integer >= 0 (got {args.bootstrap})")
        space, label = load_space(args.data, args.scenario)
        pool = len(space) - n_test_for(len(space), args.test_fraction) if 0 < args.test_fraction < 1 else len(space)
        n_grid = [n for group in args.n_grid for n in group] if args.n_grid else None
        if n_grid is None:
            top = min(4096, pool)
            n_grid = [32 * 2**k for k in range(13) if 32 * 2**k <= top] or list(log_grid(5, max(5, top), 4))
        m_grid = [m for group in args.m_grid for m in group] if args.m_grid else [10, 20, 40, 80]
        design = ScalingDesign(
            source=args.source, target=args.target, n_grid=tuple(n_grid), m_grid=tuple(m_grid), repeats=args.repeats,
            n_members=args.members, epochs=args.epochs, pretrain_epochs=args.pretrain_epochs,
            frozen_layers=args.frozen_layers,
            test_fraction=args.test_fraction, seed=args.seed, dataset=label,
        )
        check_design(design, space.property_names, len(space))
        out = Path(args.out) if args.out else Path("labnet-scaling") / f"{args.source}-to-{args.target}"
        run = run_scaling(space, design, out, progress=not args.no_progress)
        command = "labnet " + " ".join(getattr(args, "argv", None) or sys.argv[1:])
        details = [
            f"dataset: {label}",
            f"command: `{command}`",
            f"date: {datetime.now(timezone.utc).strftime('%Y-%m-%d %H:%M UTC')}; wall time of this invocation: "
            f"{time.perf_counter() - started:.0f} s"
            + (f" (resumed: {len(run.resumed_steps)} steps were already done)" if run.resumed_steps else ""),
        ]
        report = write_report(out, run.raw, design, details=details, n_bootstrap=args.bootstrap)
    except ScalingError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    print(report.files["scaling_fits.md"].read_text(encoding="utf-8"))
    _print_written(out, ("scaling_design.json", "scaling_raw.csv", *report.files))
    return 0


def _user_errors() -> tuple[type[BaseException], ...]:
    """Exceptions that mean bad input (reported in one line, no traceback)."""
    from labnet.runs.config.scenario import ScenarioError
    from labnet.runs.execution.ray_cluster import RayUnavailable
    from labnet.runs.studies.reproduce import StudyError

    errors: list[type[BaseException]] = [ScenarioError, FileNotFoundError, StudyError, RayUnavailable]
    try:
        from labnet.environment import DataError
    except ImportError:  # pragma: no cover - environment is a sibling package
        pass
    else:
        errors.append(DataError)
    return tuple(errors)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``labnet`` / ``python -m labnet.runs``; returns the exit status.

    Without a command: the help, exit status 0. Ctrl-C, SIGTERM and SIGHUP: a one-line message
    (a run adds what it keeps and how to resume it), exit status 128 + the signal number.
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    args.argv = list(argv) if argv is not None else sys.argv[1:]
    try:
        with _stop_signals_interrupt():
            return args.handler(args)
    except KeyboardInterrupt as exc:
        name = str(exc.args[0]) if exc.args else "SIGINT"
        print(f"{PROG}: stopped by {name}" + (" (Ctrl-C)" if name == "SIGINT" else ""), file=sys.stderr)
        for note in getattr(exc, "__notes__", ()):  # e.g. what a run keeps and how to resume it
            print(note, file=sys.stderr)
        return 128 + getattr(signal, name, signal.SIGINT)
    except _user_errors() as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE


@contextmanager
def _stop_signals_interrupt() -> Iterator[None]:
    """While active (main thread only), :data:`STOP_SIGNALS` raise ``KeyboardInterrupt(<signal name>)``
    in the main thread, so every ``except KeyboardInterrupt`` / ``finally`` of a run cleans up
    as for Ctrl-C and the process exits normally (no leaked semaphores, no orphaned workers)."""
    previous: dict[int, object] = {}
    if threading.current_thread() is threading.main_thread():
        for name in STOP_SIGNALS:
            number = getattr(signal, name, None)
            if number is not None:
                previous[number] = signal.signal(number, _raise_interrupt)
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)


def _raise_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(signal.Signals(signum).name)
