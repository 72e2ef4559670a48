"""The vectorised solvers against straightforward references: same bits, same objective, valid certificates.

References, written for clarity, not speed:

- ``reference_top_increments``: the m largest products w_i·g_j found on the materialised (J, n) table of
  rows (sorted weights times each gain) with one ``searchsorted`` per row and bisection over the float64 bit
  patterns — the solver's previous implementation, kept here verbatim in substance;
- ``heap_allocation``: marginal allocation with a max-heap, one increment at a time (Gross 1956): it pops
  the m largest products, so the products it takes are the m largest as a multiset;
- ``reference_solve_continuous``: the KKT levels at a multiplier found by ``scipy.optimize.brentq`` on
  log λ, each evaluation running Newton on every item from the upper bound (the previous implementation).

Tolerances: integer results are compared exactly (bits and the float64 objective, ``==``). Continuous
results are the same root of the same monotone equation located by two different root searches, each to
float64 resolution in log λ (|Δ log λ| ≲ 1e-15 · |log λ|): the budget is met to 1e-12 relative by both, and
the objectives agree to 1e-10 relative (observed ≤ 1e-13 over 300 random problems; the objective changes
by λ·Δspend, Δspend ≤ 1e-12 relative).
"""

from __future__ import annotations

import heapq
import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.optimize import brentq

from fedquant.optimizer.bit_cost import block_bits
from fedquant.optimizer.decision_items import make_items, unit_error
from fedquant.optimizer.objective import item_weights
from fedquant.optimizer.problem import ScheduleProblem
from fedquant.optimizer.schemes.optimal import side_bits
from fedquant.optimizer.solve_continuous import box_kappa, newton_map, solve_continuous, stationary_level
from fedquant.optimizer.solve_integer import increment_gains, solve_integer, top_increments
from fedquant.theory import numeric
from fedquant.theory.wire import levels_for_width

# ---- references ---------------------------------------------------------------------------------------------


def reference_top_increments(weight: np.ndarray, gains: np.ndarray, m: int, ties: str = "spread") -> np.ndarray:
    n, J = weight.size, gains.size
    if m <= 0 or J == 0:
        return np.zeros(n, dtype=np.int64)
    if m >= n * J:
        return np.full(n, J, dtype=np.int64)
    order = np.argsort(weight)
    rows = gains[:, None] * weight[order][None, :]  # (J, n), every row ascending

    def count_greater(value: float) -> int:
        return int(sum(n - np.searchsorted(row, value, side="right") for row in rows))

    lo = int(np.float64(0.0).view(np.int64))
    hi = int(np.float64(rows[0, -1]).view(np.int64))
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if count_greater(float(np.int64(mid).view(np.float64))) < m:
            hi = mid
        else:
            lo = mid
    theta = float(np.int64(hi).view(np.float64))
    starts = [int(np.searchsorted(row, theta, side="right")) for row in rows]
    inc_sorted = np.cumsum(np.bincount(np.asarray(starts), minlength=n + 1))[:n]
    remaining = m - sum(n - s for s in starts)
    if remaining > 0:
        tied: set[int] = set()
        for row, start in zip(rows, starts, strict=True):
            tied.update(range(int(np.searchsorted(row, theta, side="left")), start))
        tied_sorted = np.asarray(sorted(tied, key=lambda pos: order[pos]), dtype=np.int64)
        if ties == "first":
            pick = np.arange(remaining)
        else:
            pick = np.floor((np.arange(remaining) + 0.5) * tied_sorted.size / remaining).astype(np.int64)
        inc_sorted[tied_sorted[pick]] += 1
    inc = np.empty(n, dtype=np.int64)
    inc[order] = inc_sorted
    return inc


def heap_allocation(weight: np.ndarray, gains: np.ndarray, m: int) -> np.ndarray:
    """Marginal allocation one increment at a time: pop the largest next product, push the item's next one."""
    inc = np.zeros(weight.size, dtype=np.int64)
    heap = [(-float(w * gains[0]), i) for i, w in enumerate(weight)] if gains.size else []
    heapq.heapify(heap)
    for _ in range(m):
        if not heap:
            break
        _, i = heapq.heappop(heap)
        inc[i] += 1
        if inc[i] < gains.size:
            heapq.heappush(heap, (-float(weight[i] * gains[inc[i]]), i))
    return inc


def taken(weight: np.ndarray, gains: np.ndarray, inc: np.ndarray) -> np.ndarray:
    """The products an allocation takes, largest first (item i takes its first inc_i increments)."""
    parts = [weight[i] * gains[: inc[i]] for i in range(weight.size)]
    return np.sort(np.concatenate(parts) if parts else np.zeros(0))[::-1]


def reference_solve_continuous(w: np.ndarray, u: np.ndarray, budget: float, bmin: int,
                               bmax: int) -> tuple[float, float]:
    """(objective, spend) of the KKT levels at the root of spend(log λ) = budget found by brentq."""
    s_min, s_max = levels_for_width(bmin), levels_for_width(bmax)

    def levels(lam: float) -> np.ndarray:
        kappa = numeric.kkt_kappa(1.0, w, lam, u)
        s = np.sqrt(kappa + np.sqrt(kappa))
        for _ in range(200):
            step = numeric.stationarity_residual(s, kappa) / numeric.stationarity_slope(s, kappa)
            s = s - step
            if np.all(np.abs(step) <= 4 * np.finfo(float).eps * np.maximum(s, 1e-300)):
                break
        return np.clip(s, s_min, s_max)

    def spend(s: np.ndarray) -> float:
        return float(np.sum(u * np.log2(s + 1.0)))

    lo, hi = -50.0, 50.0
    while spend(levels(float(np.exp(lo)))) < budget:
        lo -= 50.0
    while spend(levels(float(np.exp(hi)))) > budget:
        hi += 50.0
    x = brentq(lambda v: spend(levels(float(np.exp(v)))) - budget, lo, hi, xtol=1e-15, rtol=4 * np.finfo(float).eps,
               maxiter=500)
    s = levels(float(np.exp(x)))
    return float(np.sum(w * unit_error(s))), spend(s)


# ---- integer: exact equality -------------------------------------------------------------------------------

weights_strategy = st.one_of(
    st.lists(st.floats(1e-12, 1e12), min_size=1, max_size=40),  # spread over many orders of magnitude
    st.lists(st.sampled_from([0.25, 0.5, 1.0, 2.0, 3.0]), min_size=1, max_size=40),  # many exact ties
    st.lists(st.just(1.0), min_size=1, max_size=40),  # a flat trajectory: everything tied
)


@settings(max_examples=300)
@given(w=weights_strategy, bmin=st.integers(1, 4), span=st.integers(0, 12), frac=st.floats(0, 1.05),
       ties=st.sampled_from(["spread", "first"]))
def test_top_increments_equals_the_references(w, bmin, span, frac, ties):
    weight = np.asarray(w, dtype=np.float64)
    gains = increment_gains(bmin, bmin + span)
    m = int(frac * weight.size * gains.size)
    inc = top_increments(weight, gains, m, ties)
    # bit for bit what the materialised-table implementation gives, ties included
    assert np.array_equal(inc, reference_top_increments(weight, gains, m, ties))
    # the m largest products, as the one-at-a-time heap takes them (equal as multisets, exactly)
    expected = min(m, weight.size * gains.size)
    assert inc.sum() == expected and np.all((inc >= 0) & (inc <= gains.size))
    assert np.array_equal(taken(weight, gains, inc), taken(weight, gains, heap_allocation(weight, gains, m)))


def reference_solve_integer_equal(w: np.ndarray, u0: float, budget: float, bmin: int, bmax: int,
                                  ties: str) -> tuple[np.ndarray, float]:
    m = int(np.floor((budget - u0 * w.size * bmin) / u0 + 1e-9))
    bits = bmin + reference_top_increments(w, increment_gains(bmin, bmax), m, ties)
    return bits, float(np.sum(w * unit_error(levels_for_width(bits))))


@settings(max_examples=150)
@given(n=st.integers(1, 60), bmin=st.integers(1, 3), span=st.integers(0, 14), avg=st.floats(0, 1),
       u0=st.sampled_from([1.0, 7.0, 1000.0]), seed=st.integers(0, 2**16), tied=st.booleans(),
       ties=st.sampled_from(["spread", "first"]))
def test_solve_integer_equal_costs_is_unchanged(n, bmin, span, avg, u0, seed, tied, ties):
    rng = np.random.default_rng(seed)
    w = rng.choice([1.0, 2.0, 4.0], size=n) if tied else rng.lognormal(sigma=4.0, size=n)
    bmax = bmin + span
    budget = u0 * n * (bmin + avg * span)
    sol = solve_integer(w, np.full(n, u0), budget, bmin, bmax, ties)
    bits, obj = reference_solve_integer_equal(w, u0, budget, bmin, bmax, ties)
    assert np.array_equal(sol.bits, bits)
    assert sol.objective == obj  # the same float64, not merely close
    assert sol.lower_bound == sol.objective and sol.gap == 0.0
    assert float(np.dot(np.full(n, u0), sol.bits)) <= budget * (1 + 1e-12)


def brute_force(w, u, budget, bmin, bmax):
    best = None
    for b in itertools.product(range(bmin, bmax + 1), repeat=len(w)):
        if float(np.dot(u, b)) <= budget * (1 + 1e-12):
            val = float(np.sum(np.asarray(w) / (2.0 ** np.asarray(b) - 1) ** 2))
            best = val if best is None or val < best else best
    return best


@settings(max_examples=100)
@given(n=st.integers(2, 4), bmin=st.integers(1, 2), span=st.integers(1, 3), seed=st.integers(0, 2**16),
       avg=st.floats(0, 1))
def test_unequal_costs_certificate_stays_valid(n, bmin, span, seed, avg):
    rng = np.random.default_rng(seed)
    w = rng.lognormal(sigma=2.0, size=n)
    u = rng.integers(1, 6, size=n).astype(float)
    if np.all(u == u[0]):
        u[0] += 1
    bmax = bmin + span
    budget = float(u.sum() * (bmin + avg * span))
    sol = solve_integer(w, u, budget, bmin, bmax)
    best = brute_force(w, u, budget, bmin, bmax)
    assert float(np.dot(u, sol.bits)) <= budget * (1 + 1e-12)
    # the certificate: lower bound ≤ optimum ≤ objective, so the reported gap bounds the distance to it
    assert sol.lower_bound <= best * (1 + 1e-12)
    assert best <= sol.objective * (1 + 1e-12)
    assert sol.objective - best <= sol.gap * (1 + 1e-9) + 1e-12 * best


def test_top_increments_at_scale_equals_the_reference():
    """n = 50,000 items with exact ties among blocks of equal weights, both tie rules."""
    rng = np.random.default_rng(11)
    w = np.repeat(rng.lognormal(sigma=3.0, size=500), 100)
    rng.shuffle(w)
    gains = increment_gains(1, 16)
    for m in (1, 12_345, 250_000, 749_999):
        for ties in ("spread", "first"):
            assert np.array_equal(top_increments(w, gains, m, ties), reference_top_increments(w, gains, m, ties))


# ---- continuous: the same optimum ---------------------------------------------------------------------------


@settings(max_examples=60)
@given(n=st.integers(1, 200), sigma=st.floats(0.1, 8.0), bmin=st.integers(1, 3), span=st.integers(1, 20),
       frac=st.floats(0.0, 1.0), seed=st.integers(0, 2**16), equal=st.booleans())
def test_continuous_equals_the_brentq_reference(n, sigma, bmin, span, frac, seed, equal):
    rng = np.random.default_rng(seed)
    w = rng.lognormal(sigma=sigma, size=n)
    u = np.full(n, 50.0) if equal else rng.integers(1, 100, size=n).astype(float)
    bmax = bmin + span
    budget = float(u.sum() * (bmin + frac * span * 0.999))
    sol = solve_continuous(w, u, budget, bmin, bmax)
    spend = float(np.sum(u * np.log2(sol.levels + 1)))
    assert spend <= budget and sol.spend == spend
    if frac == 0.0:
        return  # the budget is the floor: nothing to search
    obj, ref_spend = reference_solve_continuous(w, u, budget, bmin, bmax)
    assert spend == pytest.approx(budget, rel=1e-12) and ref_spend == pytest.approx(budget, rel=1e-12)
    assert sol.objective == pytest.approx(obj, rel=1e-10)


def test_continuous_with_zero_weights_keeps_them_at_the_floor():
    w = np.array([0.0, 2.0, 0.0, 0.5])
    u = np.array([10.0, 10.0, 20.0, 10.0])
    loose = solve_continuous(w, u, float(u.sum() * 15), 1, 16)  # buys 16 bits for every weighted item
    assert np.array_equal(loose.levels, [1.0, 2.0**16 - 1, 1.0, 2.0**16 - 1]) and loose.multiplier == 0.0
    tight = solve_continuous(w, u, float(u.sum() * 3), 1, 16)
    assert tight.levels[0] == tight.levels[2] == 1.0
    assert tight.spend == pytest.approx(u.sum() * 3, rel=1e-12) and tight.spend <= u.sum() * 3


def test_newton_map_is_numerics_newton_step():
    kappa = np.logspace(-3, 12, 40)
    s = np.sqrt(kappa + np.sqrt(kappa)) * np.linspace(0.9, 1.5, 40)
    step = s - numeric.stationarity_residual(s, kappa) / numeric.stationarity_slope(s, kappa)
    assert np.allclose(newton_map(s, kappa), step, rtol=1e-13, atol=0)


def test_box_kappa_is_where_the_stationary_level_meets_the_box():
    for level in (1.0, 3.0, 2.0**16 - 1, 2.0**30 - 1):
        assert float(stationary_level(np.array([box_kappa(level)]))[0]) == pytest.approx(level, rel=1e-14)


# ---- setup: make_items and side_bits without their full-grid passes ------------------------------------------


def reference_items(problem: ScheduleProblem, granularity: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    w = item_weights(problem)
    coords = np.where(problem.range_ > 0, problem.block_sizes[None, None, :], 0).astype(np.float64)
    axes = {"round": (1, 2), "block": (1,), "client": ()}[granularity]
    weight, cost = (w.sum(axis=axes), coords.sum(axis=axes)) if axes else (w, coords)
    keep = np.flatnonzero(cost.ravel() > 0)
    return weight.ravel()[keep], cost.ravel()[keep], keep


@pytest.mark.parametrize("shape", [(50, 1, 1), (40, 3, 1), (30, 1, 4), (20, 3, 2)])
@pytest.mark.parametrize("zeros", [False, True])
def test_make_items_and_side_bits_equal_the_full_grid_sums(shape, zeros, rng):
    r = rng.uniform(0.01, 1.0, size=shape)
    if zeros:
        r[rng.random(shape) < 0.2] = 0.0
    sizes = rng.integers(1, 500, size=shape[2])
    for cost in ("fixed", "qsgd", "relaxed"):
        pr = ScheduleProblem.create(range_=r, block_sizes=sizes, budget_bits=1e9, cost=cost)
        assert side_bits(pr) == float(block_bits(pr, np.zeros(pr.range_.shape)).sum())
        for gran in ("round", "block", "client"):
            items = make_items(pr, gran)
            weight, unit_cost, index = reference_items(pr, gran)
            assert np.array_equal(items.weight, weight) and np.array_equal(items.unit_cost, unit_cost)
            assert np.array_equal(items.index, index)


def test_one_client_problem_keeps_its_ranges():
    r = np.linspace(0.1, 1.0, 7)
    a = ScheduleProblem.create(range_=r, clients=1, block_sizes=10, budget_bits=1e6)
    b = ScheduleProblem.create(range_=r, block_sizes=10, budget_bits=1e6)
    assert a.range_.shape == (7, 1, 1) and np.array_equal(a.range_, b.range_)
