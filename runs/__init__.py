"""labnet.runs: everything above one network, by role.

- :mod:`labnet.runs.config`: the scenario and sweep files and their validation;
- :mod:`labnet.runs.execution`: the runner, result streams, run state, sweeps and backends;
- :mod:`labnet.runs.studies`: paper reproductions, the scaling experiment, pool building;
- :mod:`labnet.runs.reports`: the headline metric, its statistics, tables and figures;
- :mod:`labnet.runs.cli`: the ``labnet`` command.

Typical use::

    from labnet import load_builtin, resolve, run_scenario
    result = run_scenario(resolve(load_builtin("default"), trials=1), "labnet-runs")
    print(result.summary)
"""
