"""QSGD with ℓ2-norm scaling (Alistarh, Grubic, Li, Tomioka, Vojnovic, NeurIPS 2017, §3.1 and Lemma 3.1).

Q_s(v)_i = ‖v‖₂ · sgn(v_i) · ξ_i, where with ℓ = ⌊s|v_i|/‖v‖₂⌋ the level ξ_i is (ℓ+1)/s with probability
s|v_i|/‖v‖₂ − ℓ and ℓ/s otherwise (docs/design.md §2). The code of a coordinate is the level ℓ or ℓ+1 ∈ [0, s]
plus a sign; side information is ‖v‖₂ as float32. Lemma 3.1: E[Q_s(v)] = v and
E‖Q_s(v) − v‖² ≤ min(d/s², √d/s)·‖v‖² (``numeric.qsgd_error_bound``); per coordinate the variance is that of
the two-point rounding between ℓ‖v‖/s and (ℓ+1)‖v‖/s (``numeric.rounding_variance``). Cost of the fixed-length
code: ``numeric.bits_qsgd`` = d(⌈log2(s+1)⌉ + 1) + 32, one sign bit per coordinate.

Computed like the stochastic range quantizer (quantize/stochastic.py, same dither and the same bound on the
rounding probability, |P(up) − frac| ≤ 2^-17 + ulp32(s + 1)) on y_i = |v_i|·s/‖v‖, with the norm taken as the
stored float32 value N ≥ max|v_i|: the dequantized value N·sgn(v_i)·code/s then has mean v_i up to that
resolution whatever the rounding of N. ‖v‖ is summed per 2^16-element slice in float32 (numpy einsum) and over
slices in float64, in a fixed order (the same norm for any thread count), rescaled by a power of two when
max|v| is outside [2^-50, 2^50] so that squares neither overflow nor underflow. The sign of a zero code is
stored as positive, so codes and signs are canonical.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from fedquant.errors import InvalidArgument
from fedquant.validation.compression.dither import CHUNK, dither_seed, run_dithered, run_ranges
from fedquant.validation.compression.grid import (
    Scale,
    block_range,
    check_block,
    check_levels,
    numpy_code_dtype,
    unit_scale,
)
from fedquant.validation.compression.quantized_block import QuantizedBlock, Quantizer
from fedquant.validation.compression.stochastic import DITHER_SCALE, HALF_PLUS, NO_CLIP_LEVELS

#: max|v| outside [2^-SAFE_EXP, 2^SAFE_EXP] is rescaled by a power of two before squaring
SAFE_EXP = 50


def _kernel(xs: np.ndarray, scale: Scale, levels: int, dither: np.ndarray, buf: np.ndarray, dv: np.ndarray,
            out: np.ndarray, signs: np.ndarray) -> None:
    np.abs(xs, out=buf)
    scale.apply(buf)
    np.multiply(dither, DITHER_SCALE, out=dv)
    np.add(buf, dv, out=buf)
    if levels <= NO_CLIP_LEVELS:
        np.add(buf, HALF_PLUS, out=out, casting="unsafe")
    else:
        np.add(buf, HALF_PLUS, out=buf)
        np.minimum(buf, np.float32(levels), out=out, casting="unsafe")
    np.less(xs, 0, out=signs)
    np.logical_and(signs, out, out=signs)  # a zero code carries no sign


def codes_from_dither(x: np.ndarray, norm: float, levels: int, dither: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(codes, signs) that :func:`quantize` gives x with stored norm ``norm`` (≥ max|x_i| > 0) and these dithers.

    The same kernel as :func:`quantize`, exposed so tests can enumerate every dither value.
    """
    x = np.ascontiguousarray(x, dtype=np.float32)
    dither = np.ascontiguousarray(dither, dtype=np.int16)
    assert x.shape == dither.shape and x.ndim == 1 and norm > 0
    out = np.empty(x.size, numpy_code_dtype(levels))
    signs = np.empty(x.size, bool)
    _kernel(x, unit_scale(np.float32(norm), levels), levels, dither, np.empty_like(x), np.empty_like(x), out,
            signs)
    return out, signs


def block_norm(x: torch.Tensor, amax: float) -> float:
    """‖x‖₂ as a float32 value ≥ max|x_i| (``amax``); fails at the door when it overflows float32."""
    xn = x.numpy()
    n = xn.size
    exp = 0 if 2.0**-SAFE_EXP <= amax <= 2.0**SAFE_EXP else math.frexp(amax)[1]
    partial = np.zeros(-(-n // CHUNK), np.float64)

    def work(start: int, stop: int) -> None:
        buf = np.empty(min(CHUNK, stop - start), np.float32) if exp else None
        for a in range(start, stop, CHUNK):
            xs = xn[a: min(a + CHUNK, stop)]
            if buf is not None:
                xs = np.ldexp(xs, -exp, out=buf[: xs.size])  # exact power-of-two scaling
            partial[a // CHUNK] = np.einsum("i,i->", xs, xs)

    run_ranges(n, work)
    norm = math.ldexp(math.sqrt(float(np.sum(partial))), exp)
    norm32 = np.float32(norm) if norm <= float(np.finfo(np.float32).max) else np.float32(np.inf)
    if not np.isfinite(norm32):
        raise InvalidArgument("x", "a vector whose ℓ2 norm is finite in float32", f"‖x‖₂ ≈ {norm:.4g}")
    return float(max(norm32, np.float32(amax)))


def quantize(x: torch.Tensor, levels: int, generator: torch.Generator | None = None) -> QuantizedBlock:
    """QSGD of the 1-D float32 block ``x`` with s levels: codes in [0, s], signs, and the float32 norm.

    ``generator`` is required (one draw of 63 bits seeds the dither). The zero vector gets codes 0, norm 0.
    """
    x = check_block(x)
    s = check_levels(levels)
    seed = dither_seed(generator)
    m, M = block_range(x, finite_range=False)
    n = x.numel()
    amax = max(-m, M)
    norm = 0.0
    # every code is written when amax > 0; np.empty can reuse freed memory where np.zeros maps fresh pages
    alloc = np.empty if amax > 0 else np.zeros
    codes, signs = alloc(n, numpy_code_dtype(s)), alloc(n, bool)
    if amax > 0:
        norm = block_norm(x, amax)
        xn = x.numpy()
        scale = unit_scale(np.float32(norm), s)
        run_dithered(n, seed, lambda a, b, dither, buf, dv: _kernel(xn[a:b], scale, s, dither, buf, dv, codes[a:b],
                                                                    signs[a:b]))
    return QuantizedBlock("qsgd", s, torch.from_numpy(codes), norm=norm, signs=torch.from_numpy(signs))


QUANTIZER = Quantizer(name="qsgd", unbiased=True, stochastic=True, fn=quantize)
