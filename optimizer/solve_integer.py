"""Exact integer bit allocation: b_i ∈ [b_min, b_max] minimising Σ W_i/(2^{b_i} − 1)² under Σ u_i b_i ≤ budget.

Each item's term W·f(b), f(b) = 1/(2^b − 1)², is convex and decreasing in b, so the marginal gains
g_{ij} = W_i (f(b_min + j − 1) − f(b_min + j)), j = 1..b_max − b_min, decrease along every item.

* Equal unit costs (one block size, every block active): the problem is a separable convex resource
  allocation with unit steps, for which taking the M largest marginal gains (M = increments the budget
  buys) is optimal — the greedy/marginal-allocation theorem (Gross 1956; Ibaraki & Katoh, *Resource
  Allocation Problems*, MIT Press 1988, Thm 4.1.1). The M-th largest gain θ is found exactly by bisection
  over the float64 bit patterns (64 steps), counting the gains above a value on the rows W_(·)·g_j of the
  once-sorted weights (each row ascending; the (J, n) table of gains is never built, nor a full sort of the
  n·J gains); item i then takes increment j iff W_i·g_j > θ, i.e. iff W_i reaches the row's cut weight, one
  searchsorted over the J cuts. Increments tied at the threshold are spread evenly over the tied items in
  index order (any choice among ties is optimal; this one spends a flat trajectory evenly), so the result is
  exact and deterministic; O(n log n) for the sort + O(64·J·log n) for θ + O(n log J) for the counts.
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


def _first_greater(sorted_weight: np.ndarray, gains: np.ndarray, value: float,
                   lo: np.ndarray | None = None, hi: np.ndarray | None = None) -> np.ndarray:
    """For every increment j, the first position p with sorted_weight[p]·gains[j] > value (n if none).

    The row sorted_weight·gains[j] is ascending (float64 rounding is monotone), so this is
    ``searchsorted(row, value, side="right")`` on every row, without building the (J, n) matrix of rows:
    a guess ``searchsorted(sorted_weight, value/gains[j])`` is checked exactly on the two products beside it
    (right when no weight lies within a rounding of value/gains[j]), and a row whose guess fails is settled
    by a binary search that forms only the products it probes. Exact either way: it compares the same float64
    products a materialised row would hold. ``lo``/``hi`` bound the answer when it is known to lie in
    [lo, hi] (the answers at a smaller and a larger value). O(J·log n).
    """
    n = sorted_weight.size
    lo = np.zeros(gains.size, dtype=np.int64) if lo is None else lo
    hi = np.full(gains.size, n, dtype=np.int64) if hi is None else hi
    with np.errstate(over="ignore", under="ignore", divide="ignore"):
        guess = np.clip(np.searchsorted(sorted_weight, value / gains, side="right"), lo, hi)
    below = (guess == 0) | (sorted_weight[np.maximum(guess - 1, 0)] * gains <= value)  # guess − 1 is not above
    above = (guess == n) | (sorted_weight[np.minimum(guess, n - 1)] * gains > value)  # guess is above
    if np.all(below & above):
        return guess
    # the checks that failed narrow the window: answer ≤ guess − 1 (not below) or ≥ guess + 1 (not above)
    # invariant: every position < lo has product ≤ value, every position ≥ hi has product > value
    ok = below & above
    lo = np.where(ok, guess, np.where(above, lo, guess + 1))
    hi = np.where(ok, guess, np.where(below, hi, guess - 1))
    while True:
        open_ = np.flatnonzero(lo < hi)
        if open_.size == 0:
            return lo
        low, high = lo[open_], hi[open_]
        mid = (low + high) // 2
        greater = sorted_weight[mid] * gains[open_] > value  # mid < high ≤ n: a valid position
        hi[open_] = np.where(greater, mid, high)
        lo[open_] = np.where(greater, low, mid + 1)


TIES = ("spread", "first")


def top_increments(weight: np.ndarray, gains: np.ndarray, m: int, ties: str = "spread") -> np.ndarray:
    """Increments per item when the m largest products weight_i·gains_j are taken.

    Increments tied at the threshold go to tied items spread evenly in index order (``ties="spread"``) or to
    the lowest indices (``"first"``: what a planner re-solving every round wants, to spend now rather than
    later when it cannot tell the difference).

    Cost O(n log n) for one sort of the weights (no argsort, no (J, n) product matrix), 64 exact counts of
    O(J log n) each for the threshold, and O(n log J) to hand each item its increments.
    """
    weight = np.asarray(weight, dtype=np.float64)
    gains = np.asarray(gains, dtype=np.float64)
    n, J = weight.size, gains.size
    if m <= 0 or J == 0:
        return np.zeros(n, dtype=np.int64)
    if m >= n * J:
        return np.full(n, J, dtype=np.int64)
    ws = np.sort(weight)  # row j of the product table is ws·gains[j], ascending
    # θ = the m-th largest product = the smallest float64 v with #{products > v} < m; positive float64 values
    # are ordered like their int64 bit patterns, so bisect on those (64 steps, exact)
    lo = int(np.float64(0.0).view(np.int64))
    hi = int(np.float64(ws[-1] * gains[0]).view(np.int64))  # the largest product: nothing is greater
    # rows' first positions above the values of the bit patterns lo and hi; they bound those of any value
    # between, so each count searches only the window the bisection has left
    at_lo = _first_greater(ws, gains, 0.0)
    at_hi = np.full(J, n, dtype=np.int64)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        at_mid = _first_greater(ws, gains, float(np.int64(mid).view(np.float64)), at_lo, at_hi)
        if n * J - int(at_mid.sum()) < m:  # fewer than m products above: θ ≤ mid
            hi, at_hi = mid, at_mid
        else:
            lo, at_lo = mid, at_mid
    # θ = the value of the bit pattern hi; row j's products above θ sit at sorted positions ≥ starts[j]
    starts = at_hi
    # item i takes increment j iff w_i·g_j > θ iff w_i ≥ ws[starts[j]] (monotone rounding), and the cut
    # values ws[starts[j]] rise with j (g decreases), so its count of increments is a searchsorted on them
    cut = np.where(starts < n, ws[np.minimum(starts, n - 1)], np.inf)
    inc = np.asarray(np.searchsorted(cut, weight, side="right"), dtype=np.int64)
    remaining = m - int(n * J - starts.sum())
    if remaining > 0:  # fill with products equal to θ, spread evenly over the tied items in index order
        firsts = at_lo  # first product ≥ θ per row: lo's bit pattern is θ's predecessor, the next float below
        tied_mask = np.zeros(n, dtype=bool)
        for first, start in zip(firsts.tolist(), starts.tolist(), strict=True):
            if first < start:  # positions first..start−1 of this row equal θ: weights in [ws[first], ws[start])
                upper = ws[start] if start < n else np.inf
                tied_mask |= (weight >= ws[first]) & (weight < upper)
        tied_sorted = np.flatnonzero(tied_mask)
        if ties == "first":
            pick = np.arange(remaining)
        else:
            pick = np.floor((np.arange(remaining) + 0.5) * tied_sorted.size / remaining).astype(np.int64)
        inc[tied_sorted[pick]] += 1
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

    # f(b) for every width the box allows, looked up instead of evaluating 2^b per item (same float64 values:
    # the table is the same formula on the same integers)
    table = unit_error(levels_for_width(np.arange(bits_min, bits_max + 1, dtype=np.float64)))

    def value(b: np.ndarray) -> float:
        return float(np.sum(weight * table[np.asarray(b, dtype=np.int64) - bits_min]))

    if n == 0:
        return IntegerSolution(np.zeros(0, dtype=np.int64), 0.0, 0.0, "no active blocks")
    if np.all(unit_cost == unit_cost[0]):
        m = int(np.floor(spare / unit_cost[0] + 1e-9))
        inc = top_increments(weight, gains, m, ties)
        obj = float(np.sum(weight * table[inc]))
        bits = inc + bits_min
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
