"""Deterministic rounding to the nearest point of the block's [min, max] grid, as in FedDQ's code.

Same grid and side information as the stochastic quantizer (m + jR/s, j = 0..s, m and M as float32; cost
``numeric.bits_fixed``), but each coordinate goes to its nearest grid point (ties up): code = ⌊v + 1/2⌋ with
v = (x − m)·s/R. FedDQ's released code rounds deterministically (docs/design.md §4: its ResNet script computes
min + Δ·round((x − min)/Δ)); the result is biased, and every coordinate moves at most half a cell, so
‖Q(x) − x‖² ≤ d R²/(4s²) on every draw — the same expression as the stochastic quantizer's expectation bound
(``numeric.quantization_error_bound``; theory step ``quantizer.deterministic``). In float32 the bound holds up
to the rounding of v and of the grid (a few ulp of max(|m|, |M|) per coordinate).

No randomness: the ``generator`` argument is accepted for a uniform interface and ignored.
"""

from __future__ import annotations

import numpy as np
import torch

from fedquant.validation.compression.dither import CHUNK, run_ranges
from fedquant.validation.compression.grid import range_grid
from fedquant.validation.compression.quantized_block import QuantizedBlock, Quantizer

HALF = np.float32(0.5)


def quantize(x: torch.Tensor, levels: int, generator: torch.Generator | None = None) -> QuantizedBlock:
    """Nearest-grid-point rounding of the 1-D float32 block ``x`` on min(x) + j·R/s, j = 0..s (ties up).

    v ≤ s by construction of the scale (base.unit_scale), so ⌊v + 1/2⌋ ≤ s with no clipping. A zero-range
    block gets all codes 0 and dequantizes exactly.
    """
    g = range_grid(x, levels)
    s, m, M, codes, scale, xn = g.levels, g.lower, g.upper, g.codes, g.scale, g.x
    if scale is not None:
        lower = np.float32(m)

        def work(start: int, stop: int) -> None:
            buf = np.empty(min(CHUNK, stop - start), np.float32)
            for a in range(start, stop, CHUNK):
                b = min(a + CHUNK, stop)
                view = buf[: b - a]
                np.subtract(xn[a:b], lower, out=view)
                scale.apply(view)
                np.add(view, HALF, out=codes[a:b], casting="unsafe")  # ≥ 1/2 > 0: truncation is floor

        run_ranges(g.n, work)
    return QuantizedBlock("deterministic", s, torch.from_numpy(codes), lower=m, upper=M)


QUANTIZER = Quantizer(name="deterministic", unbiased=False, stochastic=False, fn=quantize)
