"""Start a Solara app of this package as a server process (behind ``labnet view`` and ``labnet live``).

The app module reads what to show from environment variables (``LABNET_VIEW_RUN_DIR`` for the
replay, ``LABNET_LIVE_SCENARIO`` for the live view), so the server is a plain ``solara run``.
"""
from __future__ import annotations

import importlib.util
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from pathlib import Path

__all__ = ["free_port", "solara_command", "start_server", "wait_until_serving"]


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port free on ``host`` right now."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def solara_command(app: str, host: str, port: int) -> list[str]:
    """``python -m solara run APP --host HOST --port PORT --production --no-open``."""
    return [sys.executable, "-m", "solara", "run", app, "--host", host, "--port", str(port), "--production",
            "--no-open", "--log-level", "warning"]


def start_server(app: str, env: Mapping[str, str], host: str = "127.0.0.1", port: int | None = None,
                 quiet: bool = False) -> tuple[subprocess.Popen, str]:
    """Start ``solara run APP`` with ``env`` added to the environment; returns (process, URL).

    The caller stops it (``process.terminate()``). ``quiet``: discard the server's output.
    """
    port = free_port(host) if port is None else port
    environment = {**os.environ, **env, "SOLARA_TELEMETRY_MIXPANEL_ENABLE": "False"}
    # the server imports labnet as this process does (a checkout run without installing, too)
    root = str(Path(importlib.util.find_spec("labnet").origin).resolve().parents[1])
    environment["PYTHONPATH"] = os.pathsep.join([root, *filter(None, [os.environ.get("PYTHONPATH")])])
    out = subprocess.DEVNULL if quiet else None
    process = subprocess.Popen(solara_command(app, host, port), env=environment, stdout=out, stderr=out)
    return process, f"http://{host}:{port}/"


def wait_until_serving(url: str, process: subprocess.Popen, timeout_s: float = 60.0) -> None:
    """Block until ``url`` answers.

    Raises:
        RuntimeError: the server exited, or did not answer within ``timeout_s`` seconds.
    """
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the Solara server exited with status {process.returncode} before serving {url}")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except (urllib.error.URLError, OSError):
            time.sleep(0.25)
    raise RuntimeError(f"the Solara server did not answer at {url} within {timeout_s:.0f} s")
