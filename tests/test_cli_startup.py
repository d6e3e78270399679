"""The ``labnet`` command starts at once: bare command, --version, --help under a second
(nothing heavy imported until a command runs), and the first run says it compiles the kernel."""
from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

import labnet
from labnet.runs.cli import commands as cli

REPO_ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("torch", "numba", "mesa", "pandas", "scipy", "matplotlib", "pydantic", "sklearn", "networkx")
HELP_SECONDS = 1.0


def labnet_command(*args: str, env: dict[str, str] | None = None, timeout: float = 60) -> subprocess.CompletedProcess:
    """``python -m labnet.runs ARGS`` in a fresh interpreter, this checkout first on the path."""
    env = {**os.environ, **(env or {}),
           "PYTHONPATH": os.pathsep.join([str(REPO_ROOT), os.environ.get("PYTHONPATH", "")])}
    return subprocess.run([sys.executable, "-m", "labnet.runs", *args], env=env, capture_output=True, text=True,
                          timeout=timeout, check=False)


def python_code(code: str, env: dict[str, str] | None = None, timeout: float = 120) -> str:
    env = {**os.environ, **(env or {}),
           "PYTHONPATH": os.pathsep.join([str(REPO_ROOT), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=timeout,
                          check=True)
    return done.stdout.strip()


def test_bare_labnet_prints_the_help_and_exits_0():
    done = labnet_command()
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("usage: labnet") and "run" in done.stdout and "resume" in done.stdout
    assert done.stderr == ""


def test_bare_labnet_in_process(capsys):
    assert cli.main([]) == 0
    assert "COMMAND --help" in capsys.readouterr().out


def test_version_is_the_package_version():
    done = labnet_command("--version")
    assert done.returncode == 0 and done.stdout.strip() == f"labnet {labnet.__version__}"


def test_help_imports_nothing_heavy_for_any_command():
    """Building the whole parser (every subcommand's arguments and help) imports none of the heavy
    libraries: each handler imports what it needs when it runs."""
    code = ("import sys; from labnet.runs.cli import commands; commands.build_parser().format_help(); "
            f"print(','.join(m for m in {HEAVY!r} if m in sys.modules))")
    assert python_code(code) == ""


def test_help_takes_under_a_second():
    times = []
    for _ in range(3):  # the best of three: a shared machine's hiccups are not start-up time
        start = time.perf_counter()
        done = labnet_command("--help", timeout=30)
        times.append(time.perf_counter() - start)
        assert done.returncode == 0 and "usage: labnet" in done.stdout
    assert min(times) < HELP_SECONDS, f"labnet --help took {times} s"


@pytest.mark.parametrize("command", ["run", "reproduce", "figures", "resume", "sweep", "graph", "scaling", "pool", "power"])
def test_every_command_has_its_help(command, capsys):
    with pytest.raises(SystemExit) as exited:
        cli.main([command, "--help"])
    assert exited.value.code == 0
    assert capsys.readouterr().out.startswith(f"usage: labnet {command}")


def test_run_help_names_the_built_in_scenarios(capsys):
    from labnet.runs.config.scenario import builtin_scenario_names

    with pytest.raises(SystemExit):
        cli.main(["run", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert all(name in out for name in builtin_scenario_names())


# --------------------------------------------------------------------------- the kernel compile


def test_an_empty_numba_cache_is_detected_and_a_filled_one_too(tmp_path):
    from labnet.models.kernel_cache import compile_kernel

    compile_kernel()  # this checkout's cache now holds the kernel (compiled here once, else loaded)
    code = "from labnet.models.kernel_cache import kernel_is_cached; print(kernel_is_cached())"
    assert python_code(code) == "True"
    assert python_code(code, env={"NUMBA_CACHE_DIR": str(tmp_path)}) == "False"


TINY = {
    "name": "tiny",
    "dataset": {"kind": "synthetic", "n_candidates": 60, "n_descriptors": 4, "n_properties": 1, "seed": 1},
    "labs": [{"name": "A", "property": "P0", "period_ticks": 1, "initial_points": 5}],
    "topology": {"kind": "complete"},
    "learner": {"n_members": 2, "epochs": 2, "patience": 2},
    "horizon_ticks": 2,
    "trials": 1,
    "baselines": [],
}


@pytest.mark.parametrize("cached", [False, True])
def test_a_run_says_it_compiles_the_kernel_before_its_progress_bar(cached, tmp_path, monkeypatch, capsys):
    from labnet.models import kernel_cache
    from labnet.runs.config.scenario import load_scenario
    from labnet.runs.execution.runner import KERNEL_NOTICE, run_scenario

    monkeypatch.setattr(kernel_cache, "kernel_is_cached", lambda: cached)
    run_scenario(load_scenario(TINY), tmp_path, progress=True)
    err = capsys.readouterr().err
    if cached:
        assert KERNEL_NOTICE not in err and "compiled in" not in err
    else:
        notice = err.index(KERNEL_NOTICE)
        assert err.index("labnet: compiled in", notice) < err.index("tick")  # the bar starts after it
