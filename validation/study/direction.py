"""The direction of a level schedule: descending, flat or ascending.

For the code widths b_0..b_{T−1} of a schedule (bits per coordinate, per round), with A the mean over the first
third of the rounds and Z over the last third, the schedule is *descending* when Z − A ≤ −FLAT_BITS, *ascending*
when Z − A ≥ FLAT_BITS and *flat* otherwise. FLAT_BITS is half a bit: the smallest change of an integer code
width is one bit, and a schedule that moves by one bit in under half of its rounds is called flat.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

FLAT_BITS = 0.5
DIRECTIONS = ("descending", "flat", "ascending")


def change(widths: Sequence[float]) -> float:
    """Z − A: mean width of the last third of the rounds minus that of the first third."""
    b = np.asarray(widths, dtype=np.float64)
    if b.size < 3:
        raise ValueError(f"a schedule of at least 3 rounds, got {b.size}")
    k = b.size // 3
    return float(b[-k:].mean() - b[:k].mean())


def direction(widths: Sequence[float]) -> str:
    """descending | flat | ascending (module docstring)."""
    z = change(widths)
    if z <= -FLAT_BITS:
        return "descending"
    if z >= FLAT_BITS:
        return "ascending"
    return "flat"
