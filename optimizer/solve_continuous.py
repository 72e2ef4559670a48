"""The continuous relaxation: real levels s_i ≥ 1 under the relaxed cost Σ u_i log2(s_i + 1) ≤ budget.

KKT (theory/budget.py): at a multiplier λ every item's level solves the stationarity equation
s³/(s+1) = κ_i, κ_i = ``numeric.kkt_kappa``(1, W_i, λ, u_i), then is clipped to [2^b_min − 1, 2^b_max − 1]
(the box constraints). The level is increasing in κ (ds/dκ > 0), so the spend is decreasing in λ and a
one-dimensional root search on log λ meets the budget; the problem is convex in b = log2(s+1), so this KKT
point is the global optimum. The root of the stationarity cubic is found by Newton's method on
``numeric.stationarity_residual`` from the upper bound sqrt(κ + √κ) (the cubic is convex and increasing
right of its root, so the iterates decrease monotonically to it).

How it is computed (the same optimum as a bracketing root search, in a few passes over the items):

* κ is proportional to 1/λ, so κ_i(λ) = κ_i(1)/λ with κ_i(1) computed once.
* Because the level is increasing in κ, clipping the level to [s_min, s_max] is clipping κ to
  [κ_lo, κ_hi] = [s_min³/(s_min + 1), s_max³/(s_max + 1)] (the κ whose stationary levels are the box ends):
  an item at a box end is known without iterating, and Newton only ever runs on κ ∈ [κ_lo, κ_hi], where it
  converges in a few steps (tiny κ, which would be clipped anyway, needed dozens).
* Newton's step s − residual/slope with residual = s³ − κ(s+1), slope = 3s² − κ simplifies to
  (2s³ + κ)/(3s² − κ) (tests check it against ``numeric``), evaluated with products instead of powers.
* The root search is Newton's method on x = ln λ, safeguarded by bisection inside a bracket known in closed
  form. Its derivative follows from implicit differentiation of the stationarity equation,
  ds/dκ = (s + 1)/(3s² − κ) and dκ/dx = −κ:  d spend/dx = −Σ_interior u_i κ_i / (ln 2 · (3s_i² − κ_i)).
  For s ≫ 1 the spend is nearly linear in x (s ≈ √κ), so it converges in a handful of evaluations.
* Every evaluation is one pass over the items in cache-sized chunks (all Newton iterations of a chunk run
  while it is in cache), so the memory traffic is that of reading W/u once per evaluation; after the first,
  each evaluation warm-starts Newton from the previous levels scaled by √(λ'/λ) (s ≈ √κ ∝ λ^{-1/2}).
* The search stops when the spend meets the budget to 4 ulps or the Newton step in x is below x's float64
  resolution (1e-15 + 4 eps |x|, the tolerance the bracketing search used); if the levels then spend a hair
  more than the budget (rounding), x moves to the feasible side by twice the Newton estimate of the excess,
  doubling until the budget holds. Cost: O(n) per evaluation, a handful of evaluations; no sort.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fedquant.optimizer.decision_items import unit_error
from fedquant.theory import numeric
from fedquant.theory.wire import levels_for_width

BUDGET_RTOL = 1e-12
#: items per chunk of a pass: 2^15 float64 (256 KiB per array) keeps a chunk's working set in L2
CHUNK = 1 << 15
_EPS = float(np.finfo(np.float64).eps)
_LN2 = float(np.log(2.0))


@dataclass(frozen=True)
class ContinuousSolution:
    levels: np.ndarray  # (n,) real levels s_i
    objective: float
    spend: float  # Σ u_i log2(s_i + 1)
    multiplier: float  # λ (0 when the budget does not bind)
    method: str


def newton_map(s: np.ndarray, kappa: np.ndarray) -> np.ndarray:
    """One Newton step on s³ − κ(s + 1): s − residual/slope = (2s³ + κ)/(3s² − κ) (``numeric``'s residual and
    slope, simplified; products instead of powers)."""
    s2 = s * s
    return (2.0 * s2 * s + kappa) / (3.0 * s2 - kappa)


def stationary_level(kappa: np.ndarray, iterations: int = 60, start: np.ndarray | None = None) -> np.ndarray:
    """The positive root of s³ − κ(s + 1) = 0, elementwise (Newton from above, to float64 precision).

    Newton starts from the upper bound sqrt(κ + √κ), or from ``start`` (a warm start from a nearby solution)
    where that lies within 10 % of the bound. Such a start is above 0.9·root > 0.9·√κ (s³ = κ(s+1) > κs), where
    the slope 3s² − κ is positive and the cubic convex, so a start below the root steps above it and the
    iterates then decrease monotonically to it, as from the bound.
    """
    kappa = np.asarray(kappa, dtype=np.float64)
    s = np.sqrt(kappa + np.sqrt(kappa))
    if start is not None:
        s = np.where(np.abs(start - s) <= 0.1 * s, start, s)
    for _ in range(iterations):
        s_new = newton_map(s, kappa)
        done = np.all(np.abs(s - s_new) <= 4 * _EPS * np.maximum(s_new, 1e-300))
        s = s_new
        if done:
            break
    return s


def box_kappa(level: float) -> float:
    """The κ whose stationary level is ``level``: κ = s³/(s + 1) (the stationarity equation solved for κ)."""
    return level**3 / (level + 1.0)


def levels_at(lam: float, weight: np.ndarray, unit_cost: np.ndarray, s_min: float, s_max: float) -> np.ndarray:
    """The KKT levels at multiplier λ: the stationary level of κ = ``kkt_kappa``(1, W, λ, u), clipped to the box."""
    kappa = numeric.kkt_kappa(1.0, np.asarray(weight, dtype=np.float64), lam, np.asarray(unit_cost, dtype=np.float64))
    return clipped_level(np.asarray(kappa, dtype=np.float64), float(s_min), float(s_max))


def clipped_level(kappa: np.ndarray, s_min: float, s_max: float) -> np.ndarray:
    """clip(stationary_level(κ), s_min, s_max), iterating only on κ clipped to [κ_lo, κ_hi] (``box_kappa``)."""
    k_lo, k_hi = box_kappa(s_min), box_kappa(s_max)
    s = stationary_level(np.clip(kappa, k_lo, k_hi))
    s = np.where(kappa <= k_lo, s_min, np.where(kappa >= k_hi, s_max, s))
    return np.clip(s, s_min, s_max)


class _Pass:
    """Chunked evaluation at one λ of the spend Σ u log2(s+1), its derivative in ln λ, and the levels.

    Items with κ ≤ κ_lo sit at s_min (log2(s_min + 1) = b_min exactly), items with κ ≥ κ_hi at s_max; only
    the others are iterated. The levels are written into ``out``.
    """

    def __init__(self, kappa_one: np.ndarray, unit_cost: np.ndarray, bits_min: int, bits_max: int) -> None:
        self.kappa_one, self.unit_cost = kappa_one, unit_cost  # κ_i at λ = 1, and u_i
        self.bits_min, self.bits_max = float(bits_min), float(bits_max)
        self.s_min, self.s_max = float(levels_for_width(bits_min)), float(levels_for_width(bits_max))
        self.k_lo, self.k_hi = box_kappa(self.s_min), box_kappa(self.s_max)
        n = kappa_one.size
        self.equal_cost = bool(n == 0 or np.all(unit_cost == unit_cost[0]))
        self.chunk_cost = np.add.reduceat(unit_cost, np.arange(0, n, CHUNK)) if n else np.zeros(0)
        self.last_lam: float | None = None  # the λ whose levels ``out`` held after the previous run

    def run(self, lam: float, out: np.ndarray) -> tuple[float, float]:
        """(Σ u log2(s+1), d/d ln λ of it) at multiplier ``lam``; the levels go to ``out``.

        When ``out`` holds the levels of the previous run (at λ'), Newton is warm-started from them scaled by
        √(λ'/λ) (s ≈ √κ ∝ λ^{-1/2}), so the runs of a converging root search take one or two steps each.
        """
        n = self.kappa_one.size
        spend = slope = 0.0
        inv = 1.0 / lam
        warm = None if self.last_lam is None else float(np.sqrt(self.last_lam / lam))
        for c, a in enumerate(range(0, n, CHUNK)):
            b = min(n, a + CHUNK)
            kappa = self.kappa_one[a:b] * inv
            s = out[a:b]
            at_top = kappa >= self.k_hi
            inside = np.flatnonzero((kappa > self.k_lo) & ~at_top)
            start = s[inside] * warm if warm is not None and inside.size else None
            s.fill(self.s_min)
            s[at_top] = self.s_max
            u = self.unit_cost[a:b]
            top_cost = float(np.count_nonzero(at_top)) * float(u[0]) if self.equal_cost else float(u[at_top].sum())
            spend += self.bits_min * float(self.chunk_cost[c]) + (self.bits_max - self.bits_min) * top_cost
            if inside.size:
                ki = kappa[inside]
                si = np.clip(stationary_level(ki, start=start), self.s_min, self.s_max)
                s[inside] = si
                ui = u[inside]
                spend += float(np.dot(ui, np.log2(si + 1.0) - self.bits_min))
                slope -= float(np.dot(ui, ki / (3.0 * si * si - ki))) / _LN2
        self.last_lam = lam
        return spend, slope


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

    n = weight.size
    if n == 0:
        return ContinuousSolution(np.zeros(0), 0.0, 0.0, 0.0, "no active blocks")
    total_cost = float(np.sum(unit_cost))  # log2(2^b) = b exactly, so the box ends spend b·Σu
    if total_cost * bits_max <= budget:
        top = np.full(n, s_max)
        return ContinuousSolution(top, value(top), spend(top), 0.0, "every item at bits_max")
    if total_cost * bits_min > budget * (1 + BUDGET_RTOL):
        raise ValueError(f"budget {budget} below the minimum {total_cost * bits_min}")
    kappa_one = np.asarray(numeric.kkt_kappa(1.0, weight, 1.0, unit_cost), dtype=np.float64)  # κ at λ = 1
    ev = _Pass(kappa_one, unit_cost, bits_min, bits_max)
    levels = np.empty(n)
    weighted = kappa_one > 0
    if not weighted.any():  # nothing to gain anywhere: the floor is optimal and the budget does not bind
        levels.fill(s_min)
        return ContinuousSolution(levels, value(levels), spend(levels), 0.0, "every item at bits_min (zero weights)")
    # bracket x = ln λ in closed form: below x_lo every weighted item sits at s_max, above x_hi all at s_min
    x_lo = float(np.log(np.min(kappa_one, where=weighted, initial=np.inf) / ev.k_hi)) - 1.0
    x_hi = float(np.log(np.max(kappa_one) / ev.k_lo)) + 1.0
    # (that spend exceeds the budget, checked above, unless some items have zero weight)
    if not weighted.all() and ev.run(float(np.exp(x_lo)), levels)[0] <= budget:
        return ContinuousSolution(levels, value(levels), spend(levels), 0.0, "every weighted item at bits_max")
    # start where the unclipped asymptotic levels s ≈ √κ would spend the budget, Σ u·½·log2(κ(1)/λ) = budget,
    # estimated on at most 2^16 evenly strided items (only a starting point: Newton does the rest)
    stride = max(1, n >> 16)
    k_sub, u_sub = kappa_one[::stride], unit_cost[::stride]
    k_sub, u_sub = k_sub[k_sub > 0], u_sub[k_sub > 0]
    share = float(u_sub.sum()) / float(unit_cost[::stride].sum())
    x = _LN2 * (float(np.dot(u_sub, np.log2(k_sub))) - 2.0 * budget * share) / float(u_sub.sum())
    x = min(max(x, x_lo), x_hi)
    lo, hi = x_lo, x_hi  # spend(lo) > budget ≥ spend(hi)
    x_eval, dg = x, 0.0  # the x whose levels ``levels`` holds, and the spend's slope there
    for _ in range(500):
        x_eval = x
        g, dg = ev.run(float(np.exp(x)), levels)
        g -= budget
        if abs(g) <= 4 * _EPS * budget:  # met to rounding: the levels of this evaluation are the answer
            break
        if g > 0:
            lo = x
        else:
            hi = x
        x_new = x - g / dg if dg < 0 else np.nan
        if not lo < x_new < hi:  # Newton left the bracket (or no item is interior): bisect
            x_new = 0.5 * (lo + hi)
        if abs(x_new - x) <= 1e-15 + 4 * _EPS * abs(x):  # the step is below the resolution of x
            break
        x = x_new
    # the spend is continuous and monotone in λ: if rounding left it a hair over the budget, step x to the
    # feasible side by twice the Newton estimate of the excess, doubling until the budget holds
    used = spend(levels)
    step = max(2.0 * (used - budget) / -dg if dg < 0 else 0.0, 1e-15 + 4 * _EPS * abs(x_eval))
    for _ in range(200):
        if used <= budget:
            break
        x_eval = min(x_eval + step, x_hi)
        ev.run(float(np.exp(x_eval)), levels)
        used = spend(levels)
        step *= 2.0
    return ContinuousSolution(levels, value(levels), used, float(np.exp(x_eval)),
                              "KKT stationarity (Newton) + root search on the multiplier")
