"""The range quantizers' fused loops (numba): one pass from float32 coordinates to codes, and the gather that
dequantizes them.

Each function works on the coordinates [start, stop) of whole arrays (the threads of ``dither.run_ranges``
call it on disjoint ranges) and computes every coordinate from its own value and index only, so the result
does not depend on the ranges. The float32 arithmetic is the numpy references' operation by operation (IEEE
round-to-nearest, no fused multiply-add, no reassociation: numba without ``fastmath``), so the codes are equal
bit for bit to:

- :func:`stochastic_codes`: ``stochastic.codes_from_dither`` with the dithers of ``keyed_dither`` (the
  formula code = ⌊fl(fl(v + k·2^-16) + (1/2 + 2^-17))⌋, v = fl(fl(x − m)·scale), of stochastic.py);
- :func:`deterministic_codes`: deterministic.py's ⌊fl(v + 1/2)⌋;
- :func:`gather`: ``QuantizedBlock.dequantize``'s formula, evaluated once per code value j = 0..s by numpy
  (the ``table``) and looked up per coordinate.

The grid's power-of-two pre-scaling (``grid.Scale.shift``, only for ranges below s·2^-126) is applied as two
float32 multiplications by powers of two, ``pre1``·``pre2`` = 2^shift, each exact like ``np.ldexp``.
"""

from __future__ import annotations

import sys

import numpy as np

from fedquant.validation.compression.jit import njit
from fedquant.validation.compression.keyed_dither import GAMMA, MIX1, MIX2, PER_WORD

#: k·2^-16 maps the int16 dither onto [−1/2, 1/2); the centring constant 1/2 + 2^-17 (both exact in float32)
DITHER_SCALE = np.float32(2.0**-16)
HALF_PLUS = np.float32(0.5 + 2.0**-17)
HALF = np.float32(0.5)

_GAMMA, _MIX1, _MIX2 = np.uint64(GAMMA), np.uint64(MIX1), np.uint64(MIX2)
_ONE, _S27, _S30, _S31 = np.uint64(1), np.uint64(27), np.uint64(30), np.uint64(31)
_LOW16, _SIGN16 = np.uint64(0xFFFF), np.uint64(0x8000)
#: coordinates per tile of :func:`stochastic_codes` (its words stay in L1); a multiple of 4
TILE = 2048
assert sys.byteorder == "little", "the int16 view of the dither words assumes a little-endian machine"


@njit
def word(seed: np.uint64, j: np.uint64) -> np.uint64:
    """w_j = mix64(σ + (j + 1)·γ): SplitMix64's j-th output (keyed_dither.py)."""
    z = seed + (j + _ONE) * _GAMMA
    z = (z ^ (z >> _S30)) * _MIX1
    z = (z ^ (z >> _S27)) * _MIX2
    return z ^ (z >> _S31)


@njit
def _cell(xi: np.float32, lower: np.float32, scale: np.float32, pre1: np.float32, pre2: np.float32,
          shifted: bool) -> np.float32:
    """v = fl(fl(fl(x − m)·2^shift)·scale) in float32."""
    y = xi - lower
    if shifted:
        y = (y * pre1) * pre2
    return y * scale


@njit
def _round(v: np.float32, k: int, levels: np.float32, clip: bool) -> np.int32:
    """⌊fl(fl(v + k·2^-16) + (1/2 + 2^-17))⌋, clipped to s when ``clip`` (the sum is > 0: truncation = floor).

    Truncated to int32 (codes ≤ 2^16 − 1), which vectorises (float32 → int64 does not, on AVX2).
    """
    u = (v + np.float32(k) * DITHER_SCALE) + HALF_PLUS
    if clip and u > levels:
        u = levels
    return np.int32(u)


@njit
def _fill_words(seed: np.uint64, a: int, n: int, words: np.ndarray) -> None:
    """words[t] = the dither word j = a/4 + t of ``seed`` for the ⌈n/4⌉ words covering coordinates a..a+n−1."""
    j0 = a // PER_WORD
    for t in range(-(-n // PER_WORD)):
        words[t] = word(seed, np.uint64(j0 + t))


@njit
def stochastic_codes(x: np.ndarray, lower: np.float32, scale: np.float32, pre1: np.float32, pre2: np.float32,
                     shifted: bool, levels: np.float32, clip: bool, seed: np.uint64, start: int, stop: int,
                     out: np.ndarray) -> None:
    """out[i] = the stochastic code of x[i] with the keyed dither k_i of ``seed``, start ≤ i < stop.

    ``start`` is a multiple of 4 (a word boundary). Per TILE coordinates: the TILE/4 words, then the codes
    reading the words' 16-bit quarters through an int16 view (little-endian, as ``keyed_dither``), two loops
    the compiler vectorises.
    """
    words = np.empty(TILE // PER_WORD, np.uint64)
    dither = words.view(np.int16)
    for a in range(start, stop, TILE):
        n = min(TILE, stop - a)
        _fill_words(seed, a, n, words)
        xs = x[a: a + n]
        os = out[a: a + n]
        for i in range(n):
            os[i] = _round(_cell(xs[i], lower, scale, pre1, pre2, shifted), dither[i], levels, clip)


@njit
def deterministic_codes(x: np.ndarray, lower: np.float32, scale: np.float32, pre1: np.float32,
                        pre2: np.float32, shifted: bool, start: int, stop: int, out: np.ndarray) -> None:
    """out[i] = ⌊fl(v_i + 1/2)⌋ for start ≤ i < stop (v_i ≤ s by the rounded-down scale: no clipping)."""
    xs = x[start:stop]
    os = out[start:stop]
    for i in range(stop - start):
        os[i] = np.int32(_cell(xs[i], lower, scale, pre1, pre2, shifted) + HALF)


@njit
def fill_dither(seed: np.uint64, start: int, stop: int, out: np.ndarray) -> None:
    """out[i] = k_i, the int16 dither of coordinate i, for start ≤ i < stop (start a multiple of 4).

    The first loop of :func:`stochastic_codes` alone (what the dither costs), into an int16 array.
    """
    words = np.empty(TILE // PER_WORD, np.uint64)
    dither = words.view(np.int16)
    for a in range(start, stop, TILE):
        n = min(TILE, stop - a)
        _fill_words(seed, a, n, words)
        out[a: a + n] = dither[:n]


@njit
def gather(table: np.ndarray, codes: np.ndarray, start: int, stop: int, out: np.ndarray) -> bool:
    """out[i] = table[codes[i]] for start ≤ i < stop; False (and out unspecified) if a code is outside the table."""
    top = np.uint64(table.size - 1)
    cs = codes[start:stop]
    os = out[start:stop]
    bad = False
    for i in range(stop - start):
        c = np.uint64(cs[i])  # a negative code wraps to a huge value
        if c > top:
            bad = True
            c = top
        os[i] = table[c]
    return not bad
