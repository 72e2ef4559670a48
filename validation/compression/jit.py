"""numba compilation of the compression kernels: cached on disk when possible, never required to be.

Every kernel is ``numba.njit(nogil=True, cache=True)`` with IEEE semantics (no ``fastmath``: the float32
formulas must round exactly like their numpy references). ``nogil`` lets the threads of
:func:`~fedquant.validation.compression.dither.run_ranges` run the kernels in parallel; numba's own threading
layer (OpenMP here) is not used, so nothing changes for forked worker processes or for callers quantizing from
several Python threads at once.

The on-disk cache (numba's ``cache=True``: next to the source in ``__pycache__``, else the user's cache
directory, or ``NUMBA_CACHE_DIR``) turns the first-call compilation of a fresh process (~1–2 s for all the
kernels) into a load of a few milliseconds. When no writable cache location exists (a read-only install and
home), numba refuses ``cache=True`` at decoration time; :func:`njit` then compiles without the cache, so a
read-only install is slower to start but works the same.

numba itself is imported when the first kernel module is loaded (:func:`kernels`), not by
``import fedquant.validation.compression``: it costs a few hundred milliseconds.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from functools import cache
from types import ModuleType
from typing import Any, TypeVar

F = TypeVar("F", bound=Callable[..., Any])


def njit(fn: F) -> F:
    """``numba.njit(nogil=True, cache=True)`` of ``fn``; without the cache where numba has nowhere to write it."""
    import numba

    try:
        return numba.njit(nogil=True, cache=True)(fn)
    except RuntimeError:  # "cannot cache function …: no locator available" (no writable cache directory)
        return numba.njit(nogil=True)(fn)


@cache
def kernels(name: str) -> ModuleType:
    """The kernel module ``fedquant.validation.compression.<name>``, imported (and numba with it) on first use."""
    return importlib.import_module(f"fedquant.validation.compression.{name}")
