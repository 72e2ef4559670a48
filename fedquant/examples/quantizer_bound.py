"""The block bound E‖Q(x) − x‖² ≤ d R²/(4s²) of the stochastic range quantizer, on its worst-case block.

Claim (theory step ``quantizer.block``; docs/design.md §2): the per-coordinate variance (x − ℓ)(u − x) is at
most δ²/4 (δ = R/s, attained at the middle of a cell: step ``quantizer.cell_max``), so

    E‖Q(x) − x‖² ≤ d R²/(4s²)                  (``numeric.quantization_error_bound(d, R, s)``).
"""

from __future__ import annotations

import numpy as np
import torch

from fedquant.examples.agreement import Agreement
from fedquant.theory import numeric
from fedquant.validation.compression import get_quantizer
from fedquant.validation.rng import numpy_rng, torch_generator

#: relative tolerance of the bound (justified in :func:`run`)
TOLERANCE = 0.0
#: float32 slack per dequantized value, in ulp of max(|m|, |M|) (the grid allowance of the quantizer tests)
GRID_ULPS = 16


def midpoint_block(d: int, levels: int, seed: int) -> np.ndarray:
    """d float32 values on [−1, 1]: the two endpoints −1 and 1, and d − 2 cell midpoints −1 + (j + ½)·2/s."""
    cells = numpy_rng(seed, stream="data").integers(0, levels, size=d - 2)
    mid = -1.0 + (cells + 0.5) * (2.0 / levels)
    return np.concatenate([[-1.0, 1.0], mid]).astype(np.float32)


def run(d: int = 1000, levels: int = 15, draws: int = 200, seed: int = 0) -> Agreement:
    """Mean of ‖Q(x) − x‖² over ``draws`` dithers against d R²/(4s²), a bound, where it is nearly attained.

    Claim: E‖Q(x) − x‖² ≤ d R²/(4s²) for every block. The block here is the bound's worst case: its d − 2
    interior coordinates sit at cell midpoints, where (x − ℓ)(u − x) = δ²/4 is the maximum, and its two
    extreme coordinates m = −1 and M = 1 are grid points with zero error. At a midpoint both outcomes are
    δ/2 away, so every draw has the same error (d − 2)δ²/4 up to float32 rounding: the measured ratio is
    (d − 2)/d, 0.998 at the defaults. The midpoints' cells are drawn by ``numpy_rng(seed, stream="data")``,
    the dithers by ``torch_generator(seed, stream="quantize")``.

    Source: theory/quantizer.py (steps ``quantizer.cell_max`` and ``quantizer.block``), docs/design.md §2.

    Tolerance: 0. The bound holds exactly in expectation, and here almost surely: with g = 16 ulp of
    max(|m|, |M|) the float32 slack of a dequantized value, each interior error is at most (δ/2 + g)², so
    measured ≤ (d − 2)(δ/2 + g)², which is below d δ²/4 as long as (1 − 2/d)(1 + 2g/δ)² < 1. The run
    checks that margin (about 2e-3 against 4e-5 at the defaults) and raises ValueError otherwise.
    """
    if d < 3 or not 1 <= levels <= 2**16 - 1:
        raise ValueError(f"d ≥ 3 and 1 ≤ levels ≤ 65535, got d = {d}, levels = {levels}")
    x32 = midpoint_block(d, levels, seed)
    x = torch.from_numpy(x32)
    lower, upper = float(x32.min()), float(x32.max())
    width = float(np.float32(upper) - np.float32(lower))
    step = width / levels
    g = GRID_ULPS * float(np.spacing(np.float32(max(abs(lower), abs(upper)))))
    worst = (1 - 2 / d) * (1 + 2 * g / step) ** 2
    if worst >= 1:
        raise ValueError(f"float32 slack (worst ratio {worst:.6f}) could exceed the bound: use a larger d or "
                         "fewer levels")
    quantize = get_quantizer("stochastic")
    gen = torch_generator(seed, stream="quantize")
    blocks = [quantize(x, levels, gen) for _ in range(draws)]
    errors = np.array([q.squared_error(x) for q in blocks])
    predicted = float(numeric.quantization_error_bound(d, width, levels))
    assert all(q.error_bound == predicted for q in blocks), "QuantizedBlock.error_bound is the theory's formula"
    return Agreement(
        claim="stochastic quantizer: E‖Q(x) − x‖² ≤ d R²/(4s²), on cell midpoints (nearly attained)",
        measured=float(errors.mean()),
        predicted=predicted,
        tolerance=TOLERANCE,
        kind="bound",
        note=(f"d = {d}, s = {levels}, {draws} draws; attainable ratio (d − 2)/d = {(d - 2) / d:.6f}; "
              f"worst float32 ratio {worst:.6f}; spread of the draws max − min = "
              f"{float(errors.max() - errors.min()):.2e}"),
    )
