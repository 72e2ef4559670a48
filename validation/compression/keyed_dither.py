"""The stochastic quantizer's dither: a counter-based generator, a pure function of (seed, coordinate index).

Coordinate i of a call with seed σ (the one 63-bit draw from the caller's ``torch.Generator``,
:func:`~fedquant.validation.compression.dither.dither_seed`) gets the int16 dither

    w_j = mix64(σ + (j + 1)·γ  mod 2^64),  j = ⌊i/4⌋        (γ = 0x9E3779B97F4A7C15)
    k_i = the (i mod 4)-th little-endian 16-bit quarter of w_j, read as two's complement ∈ [−2^15, 2^15)

with mix64 the SplitMix64 finaliser (Stafford's "Mix13": z ^= z >> 30; z *= 0xBF58476D1CE4E5B9;
z ^= z >> 27; z *= 0x94D049BB133111EB; z ^= z >> 31). w_0, w_1, … is exactly the output stream of SplitMix64
seeded with σ (Steele, Lea & Flood, "Fast splittable pseudorandom number generators", OOPSLA 2014; Vigna's
reference splitmix64.c), so the dither of any coordinate is computed directly from its index: the codes
cannot depend on how a block is cut into chunks or threads, and a kernel needs no generator state.

Why this is adequate. SplitMix64 passes TestU01's BigCrush (Steele et al. 2014, §5) and the mixer is a
bijection of the 64-bit counter with full avalanche, so the quarters of one word and the words of adjacent
coordinates are, for this use, independent uniform 16-bit values. The quantizer only needs, per coordinate,
a dither uniform on the 2^16 values (the exact rounding probability ⌊2^16·frac + ½⌋/2^16 of stochastic.py
then follows, checked there by enumerating all 2^16 values) and independence between coordinates (for the
variance Σ(x − ℓ)(u − x)). tests/validation/compression/test_keyed_dither.py checks both statistically: a
chi-square over the 2^16 values and correlations between neighbouring coordinates and neighbouring seeds.
Streams of two seeds overlap only if σ' − σ ≡ tγ (mod 2^64) with |t| below the number of words, probability
≈ 2·(d/4)/2^64 per pair of calls (< 10^-12 for d = 10^7). It is not cryptographic, which nothing here needs.

This module is the numpy reference (vectorised uint64 arithmetic, wrapping like the hardware); the fused
kernels of ``range_kernels.py`` compute the same words one at a time.
"""

from __future__ import annotations

import numpy as np

#: SplitMix64's increment (the golden ratio, odd) and the two multipliers of its finaliser
GAMMA = 0x9E3779B97F4A7C15
MIX1 = 0xBF58476D1CE4E5B9
MIX2 = 0x94D049BB133111EB
#: 16-bit dithers per 64-bit word
PER_WORD = 4


def mix64(z: np.ndarray) -> np.ndarray:
    """SplitMix64's finaliser of uint64 values (wrapping arithmetic)."""
    z = z.astype(np.uint64, copy=True)
    z ^= z >> np.uint64(30)
    z *= np.uint64(MIX1)
    z ^= z >> np.uint64(27)
    z *= np.uint64(MIX2)
    z ^= z >> np.uint64(31)
    return z


def words(seed: int, first: int, count: int) -> np.ndarray:
    """w_first, …, w_{first+count−1}: the SplitMix64 outputs of ``seed`` at those positions (uint64)."""
    assert 0 <= seed < 1 << 64 and first >= 0 and count >= 0
    j = np.arange(first, first + count, dtype=np.uint64)
    return mix64(np.uint64(seed) + (j + np.uint64(1)) * np.uint64(GAMMA))


def keyed_dither(seed: int, start: int, count: int) -> np.ndarray:
    """The int16 dithers k_start, …, k_{start+count−1} of ``seed`` (module docstring), any ``start`` ≥ 0."""
    first = start // PER_WORD
    last = -(-(start + count) // PER_WORD)
    quarters = words(seed, first, last - first).astype("<u8", copy=False).view("<i2")
    offset = start - PER_WORD * first
    return quarters[offset: offset + count].copy()
