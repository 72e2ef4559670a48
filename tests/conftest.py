"""Fixtures shared by every test folder.

The user's numeric cache (``$FEDQUANT_CACHE_DIR`` or ``~/.cache/fedquant``) is left as it is: tests that read
formulas use it like any caller would. Only the cache tests redirect it, through ``fresh_cache``.
"""

from __future__ import annotations

import sys
import zlib
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest


@pytest.fixture
def fresh_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """An empty numeric cache in ``tmp_path``; this process forgets what it had loaded before and after."""
    from fedquant.theory import numeric

    monkeypatch.setenv("FEDQUANT_CACHE_DIR", str(tmp_path))
    numeric.clear_memory()
    yield tmp_path
    # runs before monkeypatch restores the variable; the next load reads the user's cache again
    numeric.clear_memory()


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
