"""The public API is ``labnet``, and it works beside a user's own ``models.py``, ``agents.py``, ...

labnet installs nothing under the bare names of its folders (``models``, ``agents``,
``environment``, ``runs``, ``simulation``), so a user's modules of those names and labnet never
shadow each other. The script below is the README's Python example, run from a folder that holds
the user's own modules of every one of those names.
"""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]

USER_SCRIPT = textwrap.dedent(
    """
    import models, agents, environment, runs, simulation      # the user's own modules
    assert all(m.MINE for m in (models, agents, environment, runs, simulation))

    import numpy as np
    import pandas as pd
    from labnet import ExplorationNetwork, LabSpec, LearnerConfig, Topology, load_csv

    rng = np.random.default_rng(0)
    fractions = rng.dirichlet(np.ones(3), size=60)
    formulas = [f"Fe{a:.3f}Co{b:.3f}Ni{c:.3f}" for a, b, c in fractions]
    pd.DataFrame({"formula": formulas, "bandgap": fractions @ [1.0, 2.0, 0.5],
                  "density": fractions @ [7.9, 8.9, 8.9] + rng.normal(0, 0.01, 60)}).to_csv("my.csv", index=False)

    space = load_csv("my.csv", properties=["bandgap", "density"], formula_column="formula")
    labs = [LabSpec("gap-lab", "bandgap", period_ticks=1), LabSpec("dens-lab", "density", period_ticks=2)]
    net = ExplorationNetwork(space, labs, Topology.complete([l.name for l in labs]), LearnerConfig(epochs=5), seed=0)
    net.run(2)
    steps = net.step_table()
    assert len(steps) == 10 + 10 + 2 + 1, len(steps)
    print("ok", sorted(set(steps["lab"])), len(net.transfer_table()))
    """
)


def test_labnet_api_works_beside_the_users_own_models_agents_environment_runs(tmp_path):
    for name in ("models", "agents", "environment", "runs", "simulation"):
        (tmp_path / f"{name}.py").write_text(f"MINE = True  # the user's {name}.py\n")
    script = tmp_path / "study.py"
    script.write_text(USER_SCRIPT)
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    done = subprocess.run([sys.executable, str(script)], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.startswith("ok ['dens-lab', 'gap-lab']")


def test_labnet_exports_what_it_names():
    import labnet

    for name in labnet.__all__:
        assert getattr(labnet, name) is not None, name
