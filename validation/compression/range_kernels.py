"""The range quantizers' fused loops (numba): one pass from float32 coordinates to codes (or to the packed
message payload), and the gather that dequantizes codes (or a packed payload).

Each function works on the coordinates [start, stop) of whole arrays (the threads of ``dither.run_ranges``
call it on disjoint ranges) and computes every coordinate from its own value and index only, so the result
does not depend on the ranges. The float32 arithmetic is the numpy references' operation by operation (IEEE
round-to-nearest, no fused multiply-add, no reassociation: numba without ``fastmath``), so the codes are equal
bit for bit to:

- :func:`stochastic_codes`: ``stochastic.codes_from_dither`` with the dithers of ``keyed_dither`` (the
  formula code = ⌊fl(fl(v + k·2^-16) + (1/2 + 2^-17))⌋, v = fl(fl(x − m)·scale), of stochastic.py);
- :func:`deterministic_codes`: deterministic.py's ⌊fl(v + 1/2)⌋;
- :func:`gather`: ``QuantizedBlock.dequantize``'s formula, evaluated once per code value j = 0..s by numpy
  (the ``table``) and looked up per coordinate;
- :func:`stochastic_packed`, :func:`deterministic_packed`: the same codes, bit-packed as ``bitpack.pack``
  packs them (the fixed codec's payload) tile by tile, and :func:`gather_packed`, the inverse: the codes
  never exist as a whole array, so a 10^7-coordinate block moves 5 MB of codes (b = 4) instead of writing
  and reading 10 MB more.

The grid's power-of-two pre-scaling (``grid.Scale.shift``, only for ranges below s·2^-126) is applied as two
float32 multiplications by powers of two, ``pre1``·``pre2`` = 2^shift, each exact like ``np.ldexp``.
"""

from __future__ import annotations

import sys

import numpy as np

from fedquant.validation.compression.jit import njit
from fedquant.validation.compression.keyed_dither import GAMMA, MIX1, MIX2, PER_WORD
from fedquant.validation.compression.pack_kernels import pack, unpack

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
def min_max_keys(bits: np.ndarray, start: int, stop: int) -> tuple[np.int32, np.int32]:
    """(min, max) over start ≤ i < stop of the order keys of float32 values given by their int32 bit patterns.

    key(v) = v ^ ((v >> 31) & 0x7FFFFFFF) orders the float32 values as integers (IEEE total order:
    −NaN < −inf < … < −0.0 < +0.0 < … < +inf < +NaN) and is its own inverse. Integer min/max are exact and
    associative, so the result does not depend on how the range is split, and the loop vectorises with no
    ``fastmath``.
    """
    lo = np.int32(2**31 - 1)
    hi = np.int32(-(2**31))
    bs = bits[start:stop]
    for i in range(bs.size):
        v = bs[i]
        k = np.int32(v ^ ((v >> 31) & 0x7FFFFFFF))
        lo = np.int32(min(lo, k))
        hi = np.int32(max(hi, k))
    return lo, hi


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
def _stochastic_tile(x: np.ndarray, lower: np.float32, scale: np.float32, pre1: np.float32, pre2: np.float32,
                     shifted: bool, levels: np.float32, clip: bool, seed: np.uint64, a: int, n: int,
                     words: np.ndarray, out: np.ndarray) -> None:
    """out[i] = the stochastic code of x[a + i], 0 ≤ i < n ≤ TILE (a a multiple of 4; ``words``: TILE/4 scratch).

    The tile's words, then the codes reading the words' 16-bit quarters through an int16 view
    (little-endian, as ``keyed_dither``): two loops the compiler vectorises.
    """
    _fill_words(seed, a, n, words)
    dither = words.view(np.int16)
    xs = x[a: a + n]
    for i in range(n):
        out[i] = _round(_cell(xs[i], lower, scale, pre1, pre2, shifted), dither[i], levels, clip)


@njit
def stochastic_codes(x: np.ndarray, lower: np.float32, scale: np.float32, pre1: np.float32, pre2: np.float32,
                     shifted: bool, levels: np.float32, clip: bool, seed: np.uint64, start: int, stop: int,
                     out: np.ndarray) -> None:
    """out[i] = the stochastic code of x[i] with the keyed dither k_i of ``seed``, start ≤ i < stop.

    ``start`` is a multiple of 4 (a word boundary); the work goes TILE coordinates at a time, so a tile's
    words stay in L1.
    """
    words = np.empty(TILE // PER_WORD, np.uint64)
    for a in range(start, stop, TILE):
        n = min(TILE, stop - a)
        _stochastic_tile(x, lower, scale, pre1, pre2, shifted, levels, clip, seed, a, n, words, out[a: a + n])


@njit
def stochastic_packed(x: np.ndarray, lower: np.float32, scale: np.float32, pre1: np.float32, pre2: np.float32,
                      shifted: bool, levels: np.float32, clip: bool, seed: np.uint64, bits: int, start: int,
                      stop: int, codes: np.ndarray, out: np.ndarray) -> None:
    """The codes of :func:`stochastic_codes` on [start, stop), written straight into the packed stream ``out``.

    Per TILE: the tile's codes into ``codes`` (TILE scratch of the codes' dtype, in L1), then
    ``pack_kernels.pack`` of them at ``bits`` bits from byte a·b/8 — the bytes ``bitpack.pack`` writes for
    the whole code array, with no code array in memory. ``start`` is a multiple of 8 (CHUNK-aligned ranges).
    """
    words = np.empty(TILE // PER_WORD, np.uint64)
    for a in range(start, stop, TILE):
        n = min(TILE, stop - a)
        _stochastic_tile(x, lower, scale, pre1, pre2, shifted, levels, clip, seed, a, n, words, codes)
        pack(codes, bits, 0, n, out[a * bits // 8:])


@njit
def deterministic_codes(x: np.ndarray, lower: np.float32, scale: np.float32, pre1: np.float32,
                        pre2: np.float32, shifted: bool, start: int, stop: int, out: np.ndarray) -> None:
    """out[i] = ⌊fl(v_i + 1/2)⌋ for start ≤ i < stop (v_i ≤ s by the rounded-down scale: no clipping)."""
    xs = x[start:stop]
    os = out[start:stop]
    for i in range(stop - start):
        os[i] = np.int32(_cell(xs[i], lower, scale, pre1, pre2, shifted) + HALF)


@njit
def deterministic_packed(x: np.ndarray, lower: np.float32, scale: np.float32, pre1: np.float32,
                         pre2: np.float32, shifted: bool, bits: int, start: int, stop: int, codes: np.ndarray,
                         out: np.ndarray) -> None:
    """The codes of :func:`deterministic_codes` on [start, stop) packed into ``out`` (as :func:`stochastic_packed`)."""
    for a in range(start, stop, TILE):
        n = min(TILE, stop - a)
        deterministic_codes(x[a: a + n], lower, scale, pre1, pre2, shifted, 0, n, codes)
        pack(codes, bits, 0, n, out[a * bits // 8:])


@njit
def fill_dither(seed: np.uint64, start: int, stop: int, out: np.ndarray) -> None:
    """out[i] = k_i, the int16 dither of coordinate i, for start ≤ i < stop (start a multiple of 4).

    The first loop of :func:`_stochastic_tile` alone (what the dither costs), into an int16 array.
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


@njit
def gather_packed(table: np.ndarray, data: np.ndarray, bits: int, start: int, stop: int, codes: np.ndarray,
                  out: np.ndarray) -> np.int64:
    """out[i] = table[code i of the packed stream ``data``] for start ≤ i < stop; returns the largest code.

    Per TILE: ``pack_kernels.unpack`` of the tile into ``codes`` (TILE scratch, in L1), then :func:`gather`:
    ``bitpack.unpack`` followed by ``gather`` with no code array in memory. A code above the table's last
    index is looked up as that index (the caller rejects the message from the returned largest code).
    """
    top = np.int64(0)
    for a in range(start, stop, TILE):
        n = min(TILE, stop - a)
        top = max(top, unpack(data[a * bits // 8:], bits, 0, n, codes))
        gather(table, codes, 0, n, out[a: a + n])
    return top
