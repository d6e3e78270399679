"""``labnet view RUN_DIR`` and ``labnet live SCENARIO``: the browser views (Solara servers).

Registered by :func:`labnet.runs.cli.commands.build_parser`; the handlers import Solara and the
view modules only when they run, so ``labnet --help`` stays fast.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

__all__ = ["add_view_command", "add_live_command"]


def add_view_command(subcommands: argparse._SubParsersAction) -> None:
    """``labnet view RUN_DIR [--port P] [--no-browser]``."""
    view = subcommands.add_parser(
        "view",
        help="open a recorded run in the browser (network over time, curves, transfer matrix, lab detail)",
        description="Serve the replay app (Solara) on a run directory at http://127.0.0.1:PORT/ and open it "
        "in the browser; Ctrl-C stops the server.",
    )
    view.add_argument("run_dir", metavar="RUN_DIR", help="a run directory written by labnet run/reproduce")
    _add_server_arguments(view)
    view.set_defaults(handler=_view)


def add_live_command(subcommands: argparse._SubParsersAction) -> None:
    """``labnet live SCENARIO [--port P] [--no-browser] [--data PATH]``."""
    live = subcommands.add_parser(
        "live",
        help="run a scenario in Mesa's SolaraViz (step, play, reset) and watch the network",
        description="Serve Mesa's SolaraViz on an ExplorationNetwork built from SCENARIO (topology, clock "
        "periods and seed as model parameters) at http://127.0.0.1:PORT/; Ctrl-C stops the server.",
    )
    live.add_argument("scenario", nargs="?", metavar="SCENARIO",
                      help="scenario YAML file or built-in name (default: the built-in 'default')")
    live.add_argument("--data", metavar="PATH", help="dataset file for b2/csv scenarios (overrides dataset.path)")
    _add_server_arguments(live)
    live.set_defaults(handler=_live)


def _add_server_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--port", type=int, default=8765, metavar="P", help="TCP port (default: %(default)s)")
    parser.add_argument("--host", default="127.0.0.1", metavar="HOST", help="address to serve on (default: %(default)s)")
    parser.add_argument("--no-browser", action="store_true", help="do not open a browser")


def _view(args: argparse.Namespace) -> int:
    from labnet.runs.view.data import ViewInputError, read_view_run

    run_dir = Path(args.run_dir)
    try:
        read_view_run(run_dir)  # a clear error here, not a blank page
    except ViewInputError as exc:
        print(f"labnet: error: {exc}", file=sys.stderr)
        return 2
    return _serve("labnet.runs.view.app:Page", {"LABNET_VIEW_RUN_DIR": str(run_dir.resolve())}, args)


def _live(args: argparse.Namespace) -> int:
    from labnet.runs.config.scenario import resolve, scenario_from_argument

    resolve(scenario_from_argument(args.scenario), data=args.data)  # validate before serving
    env = {"LABNET_LIVE_SCENARIO": args.scenario or ""}
    if args.data:
        env["LABNET_LIVE_DATA"] = str(Path(args.data).resolve())
    return _serve("labnet.runs.view.live:Page", env, args)


def _serve(app: str, env: dict[str, str], args: argparse.Namespace) -> int:
    import webbrowser

    from labnet.runs.view.assets import AssetError, install_assets
    from labnet.runs.view.serve import start_server, wait_until_serving

    try:
        install_assets()
    except AssetError as exc:
        print(f"labnet: warning: {exc}", file=sys.stderr)
    process, url = start_server(app, env, host=args.host, port=args.port)
    try:
        wait_until_serving(url, process)
        print(f"labnet: serving {url} (Ctrl-C stops)")
        if not args.no_browser:
            webbrowser.open(url)
        return process.wait()
    except RuntimeError as exc:
        print(f"labnet: error: {exc}", file=sys.stderr)
        return 1
    finally:
        if process.poll() is None:
            process.terminate()
            process.wait(timeout=10)


def add_graph_view_arguments(graph: argparse.ArgumentParser) -> None:
    """``labnet graph``'s shareable views: ``--html``, ``--window A:B``, ``--animate``."""
    graph.add_argument("--html", action="store_true",
                       help="write OUT/network.html: one self-contained offline HTML file with a time slider")
    graph.add_argument("--window", metavar="A:B", help="write OUT/graph_ticks_A-B.png: the graph of ticks A..B")
    graph.add_argument("--animate", action="store_true", help="write OUT/network.gif: one frame per tick")


def wants_graph_views(args: argparse.Namespace) -> bool:
    return bool(getattr(args, "html", False) or getattr(args, "window", None) or getattr(args, "animate", False))


def graph_views(args: argparse.Namespace) -> int:
    """Write the views asked for (one trial: ``--trial N``, default 0); exit status."""
    from labnet.runs.view.animation import write_gif, write_window_png
    from labnet.runs.view.data import ViewInputError, parse_window, read_view_run, tick_range
    from labnet.runs.view.html import write_html

    trial = 0 if args.trial is None else args.trial
    try:
        run = read_view_run(args.run_dir)
        out = Path(args.out) if args.out else run.path / "graph"
        written = []
        if args.html:
            written.append(write_html(run, args.condition, trial, out / "network.html"))
        if args.window:
            start, stop = parse_window(args.window, tick_range(run))
            written.append(write_window_png(run, args.condition, trial, (start, stop),
                                            out / f"graph_ticks_{start}-{stop}.png"))
        if args.animate:
            written.append(write_gif(run, args.condition, trial, out / "network.gif"))
    except ViewInputError as exc:
        print(f"labnet: error: {exc}", file=sys.stderr)
        return 2
    for path in written:
        print(f"wrote {path}")
    return 0
