"""Unbiased stochastic uniform quantizer on the block's own range (docs/design.md §2; theory/quantizer.py).

On a block x ∈ R^d with m = min x, M = max x, R = M − m and s intervals, the grid is m + jR/s, j = 0..s. A
coordinate between its neighbours ℓ ≤ x ≤ u rounds to u with probability (x − ℓ)/(u − ℓ), to ℓ otherwise, so
E[Q(x)] = x and E‖Q(x) − x‖² = Σ_i (x_i − ℓ_i)(u_i − x_i) ≤ d R²/(4s²) (``numeric.rounding_variance``,
``numeric.quantization_error_bound``). Side information: m and M as float32; cost ``numeric.bits_fixed``.

How it is computed (the hot path; docs/design.md §7: the naive version is RNG-bound):

    v_i   = fl((x_i − m)·s/R) ∈ [0, s]                    (float32; the scale is rounded down so v ≤ s)
    code_i = ⌊ fl(fl(v_i + k_i·2^-16) + (1/2 + 2^-17)) ⌋    (k_i uniform on the 2^16 integers [−2^15, 2^15))

i.e. code = ⌊v + U⌋ with U = (k + 2^15 + 1/2)/2^16 uniform on 2^16 points centred in (0, 1). In exact
arithmetic P(code = ⌊v⌋ + 1) = ⌊2^16·frac(v) + 1/2⌋/2^16, which differs from the exact frac(v) by at most
2^-17; the two float32 additions move the threshold by at most ulp(s + 1). So

    |P(round up) − frac(v)| ≤ 2^-17 + ulp32(s + 1)            (≤ 2^-16 for s ≤ 63; 2^-17 + 2^-19 at s = 15)

and the bias |E[Q(x)_i] − x_i| is at most that many steps R/s, plus the float32 rounding of v and of the grid
(a few ulp of max(|m|, |M|), the resolution of the float32 output itself). The tests check both exactly, by
enumerating all 2^16 dithers (tests/validation/compression/test_quantizers.py).

The dither k_i is a pure function of (σ, i): σ is one 63-bit draw from the caller's ``torch.Generator``
(dither.dither_seed), k_i a 16-bit quarter of the SplitMix64 output ⌊i/4⌋ of σ (keyed_dither.py, which also
says why that generator is adequate). ``quantize`` computes the codes in one fused pass per coordinate —
float32 x_i, v_i, the keyed dither, the rounding — (range_kernels.stochastic_codes, numba) over CHUNK-aligned
ranges on ``torch.get_num_threads()`` threads; the codes equal :func:`codes_from_dither` (the numpy reference
of the formula above) with k = keyed_dither(σ, 0, d), whatever the thread count.
"""

from __future__ import annotations

import numpy as np
import torch

from fedquant.validation.compression.dither import DITHER_BITS, dither_seed
from fedquant.validation.compression.grid import Scale, float32_width, numpy_code_dtype, range_grid, unit_scale
from fedquant.validation.compression.jit import kernels
from fedquant.validation.compression.quantized_block import QuantizedBlock, Quantizer

#: k·2^-16 maps the int16 dither onto [−1/2, 1/2)
DITHER_SCALE = np.float32(2.0**-DITHER_BITS)
#: the centring constant 1/2 + 2^-17 (exact in float32)
HALF_PLUS = np.float32(0.5 + 2.0 ** -(DITHER_BITS + 1))
#: up to this many intervals ⌊fl(v + U)⌋ ≤ s without clipping (v + U < s + 1 stays below s + 1 in float32)
NO_CLIP_LEVELS = 127


def _kernel(xs: np.ndarray, lower: np.float32, scale: Scale, levels: int, dither: np.ndarray,
            buf: np.ndarray, dv: np.ndarray, out: np.ndarray) -> None:
    """Codes of one slice into ``out`` (the formula of the module docstring, numpy); buf, dv: float32 scratch."""
    np.subtract(xs, lower, out=buf)
    scale.apply(buf)
    np.multiply(dither, DITHER_SCALE, out=dv)
    np.add(buf, dv, out=buf)
    if levels <= NO_CLIP_LEVELS:
        np.add(buf, HALF_PLUS, out=out, casting="unsafe")  # ≥ 2^-17 > 0, so truncation is floor
    else:
        np.add(buf, HALF_PLUS, out=buf)
        np.minimum(buf, np.float32(levels), out=out, casting="unsafe")


def codes_from_dither(x: np.ndarray, lower: float, upper: float, levels: int,
                      dither: np.ndarray) -> np.ndarray:
    """The codes ``quantize`` gives x on the grid [lower, upper] with the given int16 dithers (one per x_i).

    The numpy reference of the formula (module docstring), a few vectorised passes; ``quantize``'s fused kernel
    gives the same codes for the keyed dithers. Exposed so tests can enumerate all 2^16 dithers and compute the
    exact expectation of the quantizer. ``lower < upper`` (a zero range has no randomness).
    """
    x = np.ascontiguousarray(x, dtype=np.float32)
    dither = np.ascontiguousarray(dither, dtype=np.int16)
    assert x.shape == dither.shape and x.ndim == 1 and lower < upper
    scale = unit_scale(float32_width(lower, upper), levels)
    out = np.empty(x.size, numpy_code_dtype(levels))
    _kernel(x, np.float32(lower), scale, levels, dither, np.empty_like(x), np.empty_like(x), out)
    return out


def _dither_args(s: int, seed: int) -> tuple:
    """(s, clip, σ): the stochastic kernels' arguments after the grid's."""
    return np.float32(s), s > NO_CLIP_LEVELS, np.uint64(seed)


def quantize(x: torch.Tensor, levels: int, generator: torch.Generator | None = None) -> QuantizedBlock:
    """Stochastic rounding of the 1-D float32 block ``x`` to the grid min(x) + j·R/s, j = 0..s.

    ``generator`` is required (one draw of 63 bits seeds the dither). A block with zero range (all values
    equal) gets all codes 0 and dequantizes exactly. Codes: :func:`~base.code_dtype` (uint8 for s ≤ 255).
    """
    g = range_grid(x, levels)
    seed = dither_seed(generator)
    codes = g.fill_codes(kernels("range_kernels").stochastic_codes, *_dither_args(g.levels, seed))
    return QuantizedBlock("stochastic", g.levels, torch.from_numpy(codes), lower=g.lower, upper=g.upper)


def quantize_packed(x: torch.Tensor, levels: int, generator: torch.Generator | None,
                    out: np.ndarray) -> tuple[float, float]:
    """:func:`quantize`'s codes bit-packed straight into ``out`` (``bitpack.pack``'s bytes); returns (m, M).

    The same checks, the same one draw from ``generator`` and the same codes, with no code array in memory
    (range_kernels.stochastic_packed): what ``fixed_codec.quantize_encode`` writes as the payload.
    """
    g = range_grid(x, levels)
    seed = dither_seed(generator)
    g.fill_packed(out, kernels("range_kernels").stochastic_packed, *_dither_args(g.levels, seed))
    return g.lower, g.upper


QUANTIZER = Quantizer(name="stochastic", unbiased=True, stochastic=True, fn=quantize, packed=quantize_packed)
