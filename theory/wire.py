"""The wire format's numbers, shared by the formulas and the code that realises them (no sympy, so it imports fast).

Side information is float32: two endpoints (m, M) per block for the range quantizers, one norm for QSGD.
A code of b bits holds the s + 1 values 0..s of a grid with s intervals, so s = 2^b − 1 and, for any level
s ≥ 1 (an integer or a real level of the relaxed problem), b = ⌈log2(s + 1)⌉ is the width that holds it.
"""

from __future__ import annotations

import numpy as np

#: bits of one float32
FLOAT_BITS = 32
#: side information per block of the range quantizer: the two float32 endpoints m and M of the range
SIDE_INFO_BITS = 2 * FLOAT_BITS
#: side information per block of the QSGD quantizer: one float32 norm
QSGD_SIDE_INFO_BITS = FLOAT_BITS
#: allowance for float rounding in ⌈log2 x⌉: x within a relative 1e-12·ln 2 of a power of two counts as it
#: (log2 of a level computed in float64 carries a relative error of a few 1e-16; levels that differ from a
#: power of two by less than this are the same code width on purpose)
CEIL_SLACK = 1e-12


def levels_for_width(bits: float | np.ndarray) -> float | np.ndarray:
    """s = 2^b − 1: the most intervals a b-bit code can index (b = 0 gives 0: nothing coded)."""
    return 2.0**bits - 1.0


def ceil_log2(x: float | np.ndarray) -> float | np.ndarray:
    """⌈log2 x⌉ for x > 0, with the rounding allowance ``CEIL_SLACK``."""
    return np.ceil(np.log2(x) - CEIL_SLACK)


def width_for_levels(levels: float | np.ndarray) -> float | np.ndarray:
    """b = ⌈log2(s + 1)⌉, the code width a level s ≥ 0 needs (0 for s = 0: nothing coded)."""
    return ceil_log2(np.asarray(levels, dtype=np.float64) + 1.0)
