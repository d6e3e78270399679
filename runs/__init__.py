"""labnet runs: scenarios, the runner, analysis, plots and the ``labnet`` command.

Typical use::

    from runs import load_builtin, resolve, run_scenario
    result = run_scenario(resolve(load_builtin("default"), trials=1), "labnet-runs")
    print(result.summary)
"""
from runs.analysis import format_summary, observations_to_threshold, summarize, summary_markdown
from runs.build import Condition, build_space, build_topology, make_conditions, thresholds_for
from runs.plots import plot_best_so_far
from runs.runner import RunResult, resume_run, run_scenario
from runs.scenario import (
    Scenario,
    ScenarioError,
    builtin_scenario_names,
    check_properties,
    load_builtin,
    load_scenario,
    resolve,
)

__all__ = [
    "Condition",
    "RunResult",
    "Scenario",
    "ScenarioError",
    "build_space",
    "build_topology",
    "builtin_scenario_names",
    "check_properties",
    "format_summary",
    "load_builtin",
    "load_scenario",
    "make_conditions",
    "observations_to_threshold",
    "plot_best_so_far",
    "resolve",
    "resume_run",
    "run_scenario",
    "summarize",
    "summary_markdown",
    "thresholds_for",
]
