"""The stochastic range quantizer's mean squared error equals the exact two-point variance.

Claim (theory step ``quantizer.block``; docs/design.md §2): for a block x ∈ R^d on the grid m + jR/s, a
coordinate between its grid neighbours ℓ_j ≤ x_j ≤ u_j rounds to u_j with probability (x_j − ℓ_j)/(u_j − ℓ_j),
so

    E‖Q(x) − x‖² = Σ_j (x_j − ℓ_j)(u_j − x_j)          (``numeric.rounding_variance``, summed).
"""

from __future__ import annotations

import math

import numpy as np
import torch

from fedquant.examples.agreement import Agreement
from fedquant.theory import numeric
from fedquant.validation.compression import get_quantizer
from fedquant.validation.rng import numpy_rng, torch_generator

#: relative tolerance of the equality (justified in :func:`run`)
TOLERANCE = 0.005
#: standard errors of the Monte Carlo mean that the tolerance must cover
Z = 4.0
#: float32 slack per dequantized value, in ulp of max(|m|, |M|) (the grid allowance of the quantizer tests)
GRID_ULPS = 16
#: bits of dither per coordinate (docs/design.md §2: the rounding probability is exact to 2^-17 + ulp32(s+1))
DITHER_BITS = 16


def grid_neighbours(x: np.ndarray, lower: float, upper: float, levels: int) -> tuple[np.ndarray, np.ndarray]:
    """(ℓ, u): the grid points m + jR/s around every x_j (float64; the top cell is closed at M)."""
    width = float(np.float32(upper) - np.float32(lower))  # R = fl32(M − m), as the quantizer computes it
    step = width / levels
    j = np.clip(np.floor((x - lower) / step), 0, levels - 1)
    return lower + j * step, lower + (j + 1) * step


def run(d: int = 512, levels: int = 7, draws: int = 2000, seed: int = 0) -> Agreement:
    """Mean of ‖Q(x) − x‖² over ``draws`` dithers against Σ_j (x_j − ℓ_j)(u_j − x_j), an equality.

    Claim: the stochastic quantizer (``get_quantizer("stochastic")``) is the two-point law of the derivation,
    so its mean squared error is the exact variance

        V = Σ_j (x_j − ℓ_j)(u_j − x_j),   ℓ_j = m + ⌊(x_j − m)s/R⌋·R/s,  u_j = ℓ_j + R/s.

    Setting: x has d float32 coordinates uniform on [−1, 1) (``numpy_rng(seed, stream="data")``); the
    dithers come from ``torch_generator(seed, stream="quantize")``, one 63-bit draw per call.

    Source: theory/quantizer.py (steps ``quantizer.variance`` and ``quantizer.block``), docs/design.md §2.

    Tolerance: 0.5 % relative, and the run checks that it covers three things computed from x (not from
    the draws), raising ValueError when the arguments make them exceed it:

    - Monte Carlo error, Z = 4 standard errors of the mean of ``draws`` draws. The standard error is exact:
      with a = x − ℓ and b = u − x, the coordinate's squared error is b² w.p. a/(a+b) and a² otherwise, so
      its variance is ab(a − b)² and Var‖Q(x) − x‖² = Σ_j a_j b_j (a_j − b_j)² (independent dithers). For x
      uniform within cells this is d δ⁴/30 against a mean d δ²/6: a relative error 1.1/√(d·draws), 0.11 %
      at the defaults, 0.43 % at four standard errors;
    - the dither's resolution: P(round up) is exact to ε = 2^-17 + ulp32(s + 1), which moves each term by
      at most ε·δ² (δ = R/s);
    - float32 grid rounding: each dequantized value is within 16 ulp of max(|m|, |M|) of the exact grid
      point, which moves each term by at most 2δg + g² (g that slack).
    """
    if d < 2 or draws < 2:
        raise ValueError(f"d ≥ 2 and draws ≥ 2, got d = {d}, draws = {draws}")
    x32 = numpy_rng(seed, stream="data").uniform(-1.0, 1.0, size=d).astype(np.float32)
    x = torch.from_numpy(x32)
    xd = x32.astype(np.float64)
    lower, upper = float(x32.min()), float(x32.max())
    ell, u = grid_neighbours(xd, lower, upper, levels)
    per_coord = np.asarray(numeric.rounding_variance(xd, ell, u), dtype=np.float64)
    predicted = float(per_coord.sum())
    a, b = xd - ell, u - xd
    se_rel = math.sqrt(float(np.sum(a * b * (a - b) ** 2)) / draws) / predicted
    step = (u - ell)[0]
    eps = 2.0**-(DITHER_BITS + 1) + float(np.spacing(np.float32(levels + 1)))
    dither_rel = d * eps * step**2 / predicted
    g = GRID_ULPS * float(np.spacing(np.float32(max(abs(lower), abs(upper)))))
    grid_rel = d * (2 * step * g + g * g) / predicted
    allowance = Z * se_rel + dither_rel + grid_rel
    if allowance > TOLERANCE:
        raise ValueError(f"{Z:g} standard errors + dither + float32 allowance = {allowance:.3g} exceed the stated "
                         f"tolerance {TOLERANCE}: use more draws or a larger d")
    quantize = get_quantizer("stochastic")
    gen = torch_generator(seed, stream="quantize")
    errors = np.array([quantize(x, levels, gen).squared_error(x) for _ in range(draws)])
    return Agreement(
        claim="stochastic quantizer: mean ‖Q(x) − x‖² = Σ_j (x_j − ℓ_j)(u_j − x_j)",
        measured=float(errors.mean()),
        predicted=predicted,
        tolerance=TOLERANCE,
        kind="equal",
        note=(f"d = {d}, s = {levels}, {draws} draws; relative standard error {se_rel:.2e} (exact); "
              f"{Z:g} SE + dither ({dither_rel:.1e}) + float32 grid ({grid_rel:.1e}) = {allowance:.2e} "
              f"≤ tolerance; |measured/predicted − 1| = {abs(errors.mean() / predicted - 1):.2e} "
              f"= {abs(errors.mean() / predicted - 1) / se_rel:.2f} SE"),
    )
