"""The names of the until-decided stopping rule's alpha-spending functions, and nothing else.

:mod:`labnet.runs.execution.until_decided` implements them; the ``labnet`` command's
``--spending`` choices read them from here, so that building the command's help imports
neither pandas nor scipy. This module imports only :mod:`typing`.
"""
from __future__ import annotations

from typing import Literal, get_args

Spending = Literal["obrien-fleming", "pocock"]
"""Lan-DeMets alpha-spending type: O'Brien-Fleming-like or Pocock-like."""
SPENDING_FUNCTIONS: tuple[str, ...] = get_args(Spending)
