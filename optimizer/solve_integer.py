"""Exact integer bit allocation: b_i ∈ [b_min, b_max] minimising Σ W_i/(2^{b_i} − 1)² under Σ u_i b_i ≤ budget.

Each item's term W·f(b), f(b) = 1/(2^b − 1)², is convex and decreasing in b, so the marginal gains
g_{ij} = W_i (f(b_min + j − 1) − f(b_min + j)), j = 1..b_max − b_min, decrease along every item.

* Equal unit costs (one block size, every block active): the problem is a separable convex resource
  allocation with unit steps, for which taking the M largest marginal gains (M = increments the budget
  buys) is optimal — the greedy/marginal-allocation theorem (Gross 1956; Ibaraki & Katoh, *Resource
  Allocation Problems*, MIT Press 1988, Thm 4.1.1). The M-th largest gain is found exactly by bisection over
  the float64 bit patterns with per-increment sorted rows (no full sort of the n·J gains); increments tied at
  the threshold are spread evenly over the tied items in index order (any choice among ties is optimal;
  this one spends a flat trajectory evenly), so the result is exact and deterministic; O(n log n + J·64·log n).
* Unequal unit costs (blocks of different sizes, or some zero-range blocks): a knapsack, NP-hard in general.
  We take increments in decreasing gain-per-bit order (the Lagrangian solution for the multiplier μ* at which
  the budget binds), repair greedily with what is left, and certify the result with the Lagrangian dual
  bound D(μ*) = f(x(μ*)) − μ*·(budget − cost(x(μ*))) ≤ OPT: the reported gap = objective − D(μ*) bounds the
  distance to the true optimum (it is at most μ* times the unspent budget).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fedquant.optimizer.decision_items import unit_error
from fedquant.theory.wire import levels_for_width


@dataclass(frozen=True)
class IntegerSolution:
    bits: np.ndarray  # (n,) integer code width per item
    objective: float  # Σ W f(b)
    lower_bound: float  # certified: no allocation within the budget does better
    method: str

    @property
    def gap(self) -> float:
        return max(0.0, self.objective - self.lower_bound)


def increment_gains(bits_min: int, bits_max: int) -> np.ndarray:
    """c_j = f(b_min + j − 1) − f(b_min + j) for j = 1..b_max − b_min (strictly decreasing)."""
    b = np.arange(bits_min, bits_max + 1, dtype=np.float64)
    f = unit_error(levels_for_width(b))
    return f[:-1] - f[1:]


def _count_greater(rows: np.ndarray, value: float) -> int:
    n = rows.shape[1]
    return int(sum(n - np.searchsorted(row, value, side="right") for row in rows))


TIES = ("spread", "first")


def top_increments(weight: np.ndarray, gains: np.ndarray, m: int, ties: str = "spread") -> np.ndarray:
    """Increments per item when the m largest products weight_i·gains_j are taken.

    Increments tied at the threshold go to tied items spread evenly in index order (``ties="spread"``) or to
    the lowest indices (``"first"``: what a planner re-solving every round wants, to spend now rather than
    later when it cannot tell the difference).
    """
    n, J = weight.size, gains.size
    if m <= 0 or J == 0:
        return np.zeros(n, dtype=np.int64)
    if m >= n * J:
        return np.full(n, J, dtype=np.int64)
    order = np.argsort(weight)  # ties among equal weights are settled by item index below
    rows = gains[:, None] * weight[order][None, :]  # (J, n), every row ascending
    # θ = the m-th largest product = the smallest float64 v with #{products > v} < m; positive float64 values
    # are ordered like their int64 bit patterns, so bisect on those (64 steps, exact)
    lo = int(np.float64(0.0).view(np.int64))
    hi = int(np.float64(rows[0, -1]).view(np.int64))  # the largest product: nothing is greater
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if _count_greater(rows, float(np.int64(mid).view(np.float64))) < m:
            hi = mid
        else:
            lo = mid
    theta = float(np.int64(hi).view(np.float64))
    starts = [int(np.searchsorted(row, theta, side="right")) for row in rows]
    hist = np.bincount(np.asarray(starts), minlength=n + 1)
    inc_sorted = np.cumsum(hist)[:n]  # position p gets one increment for every row whose suffix covers it
    remaining = m - int(sum(n - s for s in starts))
    if remaining > 0:  # fill with products equal to θ, spread evenly over the tied items in index order
        tied: list[int] = []
        for row, start in zip(rows, starts, strict=True):
            first = int(np.searchsorted(row, theta, side="left"))
            tied.extend(range(first, start))
        tied_sorted = np.asarray(sorted(set(tied), key=lambda pos: order[pos]), dtype=np.int64)
        if ties == "first":
            pick = np.arange(remaining)
        else:
            pick = np.floor((np.arange(remaining) + 0.5) * tied_sorted.size / remaining).astype(np.int64)
        inc_sorted[tied_sorted[pick]] += 1
    inc = np.empty(n, dtype=np.int64)
    inc[order] = inc_sorted
    return inc


def solve_integer(weight: np.ndarray, unit_cost: np.ndarray, budget: float, bits_min: int,
                  bits_max: int, ties: str = "spread") -> IntegerSolution:
    """Optimal (or certified) integer widths for items with weights W, unit costs u and a budget in bits.

    ``budget`` is what the code widths may spend in all (Σ u_i b_i ≤ budget); side information is the
    caller's business.
    """
    weight = np.asarray(weight, dtype=np.float64)
    unit_cost = np.asarray(unit_cost, dtype=np.float64)
    n = weight.size
    gains = increment_gains(bits_min, bits_max)
    J = gains.size
    base = float(unit_cost.sum()) * bits_min
    spare = budget - base
    if spare < -1e-9 * max(1.0, budget):
        raise ValueError(f"budget {budget} below the minimum {base}")

    def value(b: np.ndarray) -> float:
        return float(np.sum(weight * unit_error(levels_for_width(b))))

    if n == 0:
        return IntegerSolution(np.zeros(0, dtype=np.int64), 0.0, 0.0, "no active blocks")
    if np.all(unit_cost == unit_cost[0]):
        m = int(np.floor(spare / unit_cost[0] + 1e-9))
        bits = bits_min + top_increments(weight, gains, m, ties)
        obj = value(bits)
        return IntegerSolution(bits, obj, obj, "marginal allocation, exact (equal unit costs)")
    # unequal costs: increments in decreasing gain per bit; prefix = Lagrangian solution at μ*
    ratio = (weight[:, None] * gains[None, :]) / unit_cost[:, None]  # (n, J)
    flat = np.argsort(-ratio, axis=None, kind="stable")
    item, step = np.divmod(flat, J)
    costs = unit_cost[item]
    cum = np.cumsum(costs)
    k = int(np.searchsorted(cum, spare * (1 + 1e-12), side="right"))
    inc = np.bincount(item[:k], minlength=n).astype(np.int64)
    left = spare - (cum[k - 1] if k else 0.0)
    if k < item.size:
        mu = float(ratio[item[k], step[k]])
        prefix_value = value(bits_min + inc)
        lower = prefix_value - mu * left
        # greedy repair: later increments that still fit and keep every item's prefix
        for idx in range(k, item.size):
            if left < unit_cost.min():
                break
            i, j = int(item[idx]), int(step[idx])
            if inc[i] == j and costs[idx] <= left * (1 + 1e-12):
                inc[i] += 1
                left -= costs[idx]
        bits = bits_min + inc
        return IntegerSolution(bits, value(bits), lower, "Lagrangian prefix + greedy repair, dual-certified gap")
    bits = bits_min + inc
    obj = value(bits)
    return IntegerSolution(bits, obj, obj, "every item at bits_max")
