"""Fixtures shared by the CLI tests."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest


@pytest.fixture
def console_script() -> Path:
    """The installed ``fedquant`` command (beside this interpreter, else on PATH)."""
    beside = Path(sys.executable).parent / "fedquant"
    if beside.exists():
        return beside
    found = shutil.which("fedquant")
    if found is None:
        pytest.skip("the fedquant console script is not installed")
    return Path(found)
