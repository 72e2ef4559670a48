"""Fixtures shared by every test folder.

Tests that read formulas use ``fedquant.theory.numeric`` like any caller would: its functions come from the
module shipped in the package (theory/generated.py); nothing is cached on disk.
"""

from __future__ import annotations

import sys
import zlib

import numpy as np
import pytest
from hypothesis import HealthCheck, settings

# One hypothesis profile for every machine: no per-example deadline (a slower CPU must not turn a property
# into a failure) and derandomised examples (the same examples on every run and every machine).
settings.register_profile("fedquant", deadline=None, derandomize=True,
                          suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("fedquant")


@pytest.fixture
def rng(request: pytest.FixtureRequest) -> np.random.Generator:
    """A generator seeded by the test's id: every test has its own fixed stream."""
    return np.random.default_rng(zlib.crc32(request.node.nodeid.encode()))


@pytest.fixture(autouse=True)
def _torch_single_thread() -> None:
    """One torch thread (as OMP_NUM_THREADS=1) once some test has imported torch; never imports it here."""
    torch = sys.modules.get("torch")
    if torch is not None and torch.get_num_threads() != 1:
        torch.set_num_threads(1)
