"""``labnet view RUN_DIR`` and ``labnet live SCENARIO``: the browser views (Solara servers)."""
from __future__ import annotations

import argparse
import sys

PROG = "labnet"


def _add_server_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default: %(default)s)")
    parser.add_argument("--port", type=int, default=8765, help="port (default: %(default)s; 0 = a free one)")


def add_view_command(subcommands: argparse._SubParsersAction) -> None:
    view = subcommands.add_parser(
        "view", help="replay a run directory in the browser (network, tick slider, curves, matrix, lab detail)",
        description="Serve a Solara app on a recorded run: the transfer network tick by tick, each lab's "
        "best-so-far curve, the source x target transfer matrix over a tick window and a lab's detail.")
    view.add_argument("run_dir", metavar="RUN_DIR", help="a run directory written by labnet run/reproduce")
    _add_server_arguments(view)
    view.set_defaults(handler=_view)


def add_live_command(subcommands: argparse._SubParsersAction) -> None:
    live = subcommands.add_parser(
        "live", help="watch a scenario's network run in the browser (Mesa SolaraViz: step, play, reset)",
        description="Serve Mesa's SolaraViz on a running ExplorationNetwork of SCENARIO; topology, clock "
        "periods and seed are model parameters.")
    live.add_argument("scenario", nargs="?", metavar="SCENARIO", help="scenario file or built-in name (default: default)")
    live.add_argument("--data", metavar="PATH", help="dataset file for b2/csv scenarios")
    _add_server_arguments(live)
    live.set_defaults(handler=_live)


def _serve(app: str, env: dict, args: argparse.Namespace) -> int:
    from labnet.runs.view.serve import start_server

    process, url = start_server(app, env, host=args.host, port=args.port or None)
    print(f"{PROG}: serving {url} (Ctrl-C stops)", file=sys.stderr)
    try:
        return process.wait()
    except KeyboardInterrupt:
        process.terminate()
        process.wait()
        return 0


def _view(args: argparse.Namespace) -> int:
    from labnet.runs.view.data import ViewInputError, read_view_run

    try:
        read_view_run(args.run_dir)  # a bad directory: a clear error here, not a blank page
    except ViewInputError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 2
    return _serve("labnet.runs.view.app:Page", {"LABNET_VIEW_RUN_DIR": str(args.run_dir)}, args)


def _live(args: argparse.Namespace) -> int:
    env = {"LABNET_LIVE_SCENARIO": args.scenario or "default"}
    if args.data:
        env["LABNET_LIVE_DATA"] = args.data
    return _serve("labnet.runs.view.live:Page", env, args)
