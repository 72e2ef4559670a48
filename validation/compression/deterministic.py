"""Deterministic rounding to the nearest point of the block's [min, max] grid, as in FedDQ's code.

Same grid and side information as the stochastic quantizer (m + jR/s, j = 0..s, m and M as float32; cost
``numeric.bits_fixed``), but each coordinate goes to its nearest grid point (ties up): code = ⌊v + 1/2⌋ with
v = (x − m)·s/R. FedDQ's released code rounds deterministically (docs/design.md §4: its ResNet script computes
min + Δ·round((x − min)/Δ)); the result is biased, and every coordinate moves at most half a cell, so
‖Q(x) − x‖² ≤ d R²/(4s²) on every draw — the same expression as the stochastic quantizer's expectation bound
(``numeric.quantization_error_bound``; theory step ``quantizer.deterministic``). In float32 the bound holds up
to the rounding of v and of the grid (a few ulp of max(|m|, |M|) per coordinate).

No randomness: the ``generator`` argument is accepted for a uniform interface and ignored.

Computed in one fused pass per coordinate (range_kernels.deterministic_codes, numba, float32 operation by
operation as numpy: v = fl(fl(x − m)·scale), code = ⌊fl(v + 1/2)⌋) on ``torch.get_num_threads()`` threads;
:func:`codes_reference` is the same formula in numpy passes, the codes before the fused kernel, bit for bit.
"""

from __future__ import annotations

import numpy as np
import torch

from fedquant.validation.compression.grid import float32_width, numpy_code_dtype, range_grid, unit_scale
from fedquant.validation.compression.jit import kernels
from fedquant.validation.compression.quantized_block import QuantizedBlock, Quantizer

HALF = np.float32(0.5)


def quantize(x: torch.Tensor, levels: int, generator: torch.Generator | None = None) -> QuantizedBlock:
    """Nearest-grid-point rounding of the 1-D float32 block ``x`` on min(x) + j·R/s, j = 0..s (ties up).

    v ≤ s by construction of the scale (base.unit_scale), so ⌊v + 1/2⌋ ≤ s with no clipping. A zero-range
    block gets all codes 0 and dequantizes exactly.
    """
    g = range_grid(x, levels)
    codes = g.fill_codes(kernels("range_kernels").deterministic_codes)
    return QuantizedBlock("deterministic", g.levels, torch.from_numpy(codes), lower=g.lower, upper=g.upper)


def quantize_packed(x: torch.Tensor, levels: int, generator: torch.Generator | None,
                    out: np.ndarray) -> tuple[float, float]:
    """:func:`quantize`'s codes bit-packed straight into ``out`` (``bitpack.pack``'s bytes); returns (m, M)."""
    g = range_grid(x, levels)
    g.fill_packed(out, kernels("range_kernels").deterministic_packed)
    return g.lower, g.upper


def codes_reference(x: np.ndarray, lower: float, upper: float, levels: int) -> np.ndarray:
    """The codes of x on [lower, upper] (lower < upper) by numpy, pass by pass: ⌊fl(v + 1/2)⌋ with v as above.

    The reference the fused kernel (range_kernels.deterministic_codes) is tested against, bit for bit.
    """
    x = np.ascontiguousarray(x, dtype=np.float32)
    assert x.ndim == 1 and lower < upper
    scale = unit_scale(float32_width(lower, upper), levels)
    buf = x - np.float32(lower)
    scale.apply(buf)
    out = np.empty(x.size, numpy_code_dtype(levels))
    np.add(buf, HALF, out=out, casting="unsafe")  # ≥ 1/2 > 0: truncation is floor
    return out


QUANTIZER = Quantizer(name="deterministic", unbiased=False, stochastic=False, fn=quantize,
                      packed=quantize_packed)
