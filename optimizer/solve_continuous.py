"""The continuous relaxation: real levels s_i ≥ 1 under the relaxed cost Σ u_i log2(s_i + 1) ≤ budget.

KKT (theory/budget.py): at a multiplier λ every item's level solves the stationarity equation
s³/(s+1) = κ_i, κ_i = ``numeric.kkt_kappa``(1, W_i, λ, u_i), then is clipped to [2^b_min − 1, 2^b_max − 1]
(the box constraints). The level is increasing in κ (ds/dκ > 0), so the spend is decreasing in λ and a
one-dimensional root search on log λ meets the budget; the problem is convex in b = log2(s+1), so this KKT
point is the global optimum. The root of the stationarity cubic is found by Newton's method on
``numeric.stationarity_residual`` from the upper bound sqrt(κ + √κ) (the cubic is convex and increasing
right of its root, so the iterates decrease monotonically to it).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import brentq

from fedquant.optimizer.decision_items import unit_error
from fedquant.theory import numeric
from fedquant.theory.wire import levels_for_width

BUDGET_RTOL = 1e-12


@dataclass(frozen=True)
class ContinuousSolution:
    levels: np.ndarray  # (n,) real levels s_i
    objective: float
    spend: float  # Σ u_i log2(s_i + 1)
    multiplier: float  # λ (0 when the budget does not bind)
    method: str


def stationary_level(kappa: np.ndarray, iterations: int = 60) -> np.ndarray:
    """The positive root of s³ − κ(s + 1) = 0, elementwise (Newton from above, to float64 precision)."""
    kappa = np.asarray(kappa, dtype=np.float64)
    s = np.sqrt(kappa + np.sqrt(kappa))
    for _ in range(iterations):
        step = numeric.stationarity_residual(s, kappa) / numeric.stationarity_slope(s, kappa)
        s_new = s - step
        done = np.all(np.abs(step) <= 4 * np.finfo(np.float64).eps * np.maximum(s_new, 1e-300))
        s = s_new
        if done:
            break
    return s


def levels_at(lam: float, weight: np.ndarray, unit_cost: np.ndarray, s_min: float, s_max: float) -> np.ndarray:
    kappa = numeric.kkt_kappa(1.0, weight, lam, unit_cost)
    return np.clip(stationary_level(kappa), s_min, s_max)


def solve_continuous(weight: np.ndarray, unit_cost: np.ndarray, budget: float, bits_min: int,
                     bits_max: int) -> ContinuousSolution:
    """Minimise Σ W_i/s_i² subject to Σ u_i log2(s_i + 1) ≤ budget and the bit box; budget met to 1e-12."""
    weight = np.asarray(weight, dtype=np.float64)
    unit_cost = np.asarray(unit_cost, dtype=np.float64)
    s_min, s_max = levels_for_width(bits_min), levels_for_width(bits_max)

    def spend(levels: np.ndarray) -> float:
        return float(np.sum(unit_cost * np.log2(levels + 1.0)))

    def value(levels: np.ndarray) -> float:
        return float(np.sum(weight * unit_error(levels)))

    if weight.size == 0:
        return ContinuousSolution(np.zeros(0), 0.0, 0.0, 0.0, "no active blocks")
    top = np.full(weight.size, s_max)
    if spend(top) <= budget:
        return ContinuousSolution(top, value(top), spend(top), 0.0, "every item at bits_max")
    floor = np.full(weight.size, s_min)
    if spend(floor) > budget * (1 + BUDGET_RTOL):
        raise ValueError(f"budget {budget} below the minimum {spend(floor)}")

    def excess(log_lam: float) -> float:
        return spend(levels_at(float(np.exp(log_lam)), weight, unit_cost, s_min, s_max)) - budget

    # bracket log λ: at large λ every level sits at s_min (spend below budget), at small λ at s_max
    lo, hi = -50.0, 50.0
    while excess(lo) < 0:
        lo -= 50.0
    while excess(hi) > 0:
        hi += 50.0
    log_lam = brentq(excess, lo, hi, xtol=1e-15, rtol=4 * np.finfo(float).eps, maxiter=500)
    levels = levels_at(float(np.exp(log_lam)), weight, unit_cost, s_min, s_max)
    # the spend is continuous and monotone in λ: step to the feasible side if rounding left it a hair over
    if spend(levels) > budget:
        for scale in (1 + 1e-15, 1 + 1e-13, 1 + 1e-11):
            levels = levels_at(float(np.exp(log_lam)) * scale, weight, unit_cost, s_min, s_max)
            if spend(levels) <= budget:
                break
    return ContinuousSolution(levels, value(levels), spend(levels), float(np.exp(log_lam)),
                              "KKT stationarity (Newton) + root search on the multiplier")
