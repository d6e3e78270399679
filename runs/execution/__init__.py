"""Execution: from a validated scenario to run directories (the runner, its streams and state, sweeps and their backends)."""
