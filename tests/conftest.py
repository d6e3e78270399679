"""Shared fixtures: the location of the B2 dataset (never copied into the repository)."""
from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:  # a checkout imports as labnet without installing (labnet/__init__.py)
    sys.path.insert(0, str(REPO_ROOT))

B2_PATH = REPO_ROOT.parent / "shared/data/b2/B2_20220520_full.csv"


@pytest.fixture(scope="session")
def b2_path() -> Path:
    """Path of ``B2_20220520_full.csv``; fails under CI (env var ``CI`` set) when missing, skips otherwise."""
    if not B2_PATH.is_file():
        message = f"B2 dataset not found at {B2_PATH}"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return B2_PATH
