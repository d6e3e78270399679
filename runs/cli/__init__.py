"""The ``labnet`` command line."""
from labnet.runs.cli.commands import main

__all__ = ["main"]
