"""The layers the imports prove (docs/architecture.md).

Bottom up: ``labnet.models`` and ``labnet.environment`` (independent of each other) ->
``labnet.agents`` -> ``labnet.simulation`` -> ``labnet.runs.config`` -> ``labnet.runs.reports``
-> ``labnet.runs.execution`` -> ``labnet.runs.studies`` / ``labnet.runs.view`` ->
``labnet.runs.cli`` -> ``labnet`` (the public API). Every import, at module level or inside a
function, under ``TYPE_CHECKING`` or not, and every lazy export, points down or within its own
floor, and no module imports itself through others (no circles). The world loads without Mesa,
torch or numba; validating a scenario loads neither torch nor Mesa.
"""
from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import networkx as nx
import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
FOLDERS = {"labnet": "labnet", "models": "labnet.models", "environment": "labnet.environment",
           "agents": "labnet.agents", "simulation": "labnet.simulation", "runs": "labnet.runs"}
FLOORS = (  # (floor, rank): a module may import only modules of a lower rank or of its own floor
    ("labnet._lazy", -1),
    ("labnet._files", -1),
    ("labnet._version", -1),
    ("labnet.models", 0),
    ("labnet.environment", 0),
    ("labnet.agents", 1),
    ("labnet.simulation", 2),
    ("labnet.runs.config", 3),
    ("labnet.runs.reports", 4),
    ("labnet.runs.execution", 5),
    ("labnet.runs.studies", 6),
    ("labnet.runs.view", 6),
    ("labnet.runs.cli", 7),
    ("labnet.runs", 8),
    ("labnet", 9),
)


def module_files() -> dict[str, Path]:
    found = {}
    for folder, package in FOLDERS.items():
        for path in sorted((REPO_ROOT / folder).rglob("*.py")):
            parts = [p for p in path.relative_to(REPO_ROOT / folder).with_suffix("").parts if p != "__init__"]
            found[".".join([package, *parts])] = path
    return found


MODULES = module_files()


def imported_by(name: str, path: Path) -> set[str]:
    """labnet modules that ``name`` imports anywhere in its file (lazy-export tables included)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package[: len(package) - node.level + 1] + ([node.module] if node.module else []))
            for alias in node.names:
                found.add(f"{base}.{alias.name}" if f"{base}.{alias.name}" in MODULES else base)
        elif isinstance(node, ast.Assign) and any(getattr(t, "id", "") == "_EXPORTS" for t in node.targets):
            found.update(v.value for v in ast.walk(node.value) if isinstance(v, ast.Constant) and isinstance(v.value, str))
    return {m for m in found if m in MODULES and m != name}


def floor_of(module: str) -> tuple[str, int]:
    for floor, rank in FLOORS:
        if module == floor or module.startswith(floor + "."):
            return floor, rank
    raise AssertionError(f"{module} is on no floor: add its package to FLOORS and docs/architecture.md")


def import_graph() -> nx.DiGraph:
    graph = nx.DiGraph()
    graph.add_nodes_from(MODULES)
    for name, path in MODULES.items():
        graph.add_edges_from((name, target) for target in imported_by(name, path))
    return graph


def test_every_module_is_on_a_floor():
    for module in MODULES:
        floor_of(module)


def test_no_import_circles():
    circles = [sorted(c) for c in nx.strongly_connected_components(import_graph()) if len(c) > 1]
    assert circles == []


def test_no_upward_imports():
    upward = []
    for source, target in import_graph().edges:
        (source_floor, source_rank), (target_floor, target_rank) = floor_of(source), floor_of(target)
        if target_rank > source_rank or (target_rank == source_rank and target_floor != source_floor):
            upward.append(f"{source} -> {target}")
    assert upward == []


def loaded_after(code: str) -> list[str]:
    script = f"import sys\n{code}\nprint(sorted(m for m in ('torch', 'mesa', 'numba') if m in sys.modules))"
    done = subprocess.run([sys.executable, "-c", script], cwd=REPO_ROOT, capture_output=True, text=True, timeout=120,
                          env={"PYTHONPATH": str(REPO_ROOT), "PATH": "/usr/bin:/bin"})
    assert done.returncode == 0, done.stderr
    return eval(done.stdout.strip().splitlines()[-1])


def test_the_world_imports_without_mesa_torch_or_numba():
    world = [m for m in MODULES if m.startswith("labnet.environment")]
    assert loaded_after("\n".join(f"import {m}" for m in world)) == []


@pytest.mark.parametrize("scenario", ["default", "paper_b2", "ba100", "sim2real"])
def test_validating_a_scenario_imports_neither_torch_nor_mesa(scenario):
    loaded = loaded_after(f"from labnet.runs.config.scenario import load_builtin\nload_builtin({scenario!r})")
    assert "torch" not in loaded and "mesa" not in loaded
