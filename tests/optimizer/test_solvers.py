"""Integer and continuous solvers against brute force, KKT and scipy."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.optimize import minimize

from fedquant.optimizer.solve_continuous import solve_continuous, stationary_level
from fedquant.optimizer.solve_integer import increment_gains, solve_integer, top_increments
from fedquant.theory import numeric


def brute_force(w, u, budget, bmin, bmax):
    best = None
    for b in itertools.product(range(bmin, bmax + 1), repeat=len(w)):
        if float(np.dot(u, b)) <= budget * (1 + 1e-12):
            val = float(np.sum(np.asarray(w) / (2.0 ** np.asarray(b) - 1) ** 2))
            if best is None or val < best:
                best = val
    return best


small = st.integers(min_value=1, max_value=4)


@settings(max_examples=150, deadline=None)
@given(
    n=small,
    bmin=st.integers(1, 3),
    span=st.integers(0, 3),
    equal=st.booleans(),
    data=st.data(),
)
def test_integer_matches_brute_force(n, bmin, span, equal, data):
    bmax = bmin + span
    w = np.array(data.draw(st.lists(st.floats(1e-6, 1e6), min_size=n, max_size=n)))
    u = np.array(data.draw(st.lists(st.integers(1, 5), min_size=n, max_size=n)), dtype=float)
    if equal:
        u[:] = u[0]
    lo, hi = u.sum() * bmin, u.sum() * bmax
    budget = data.draw(st.floats(lo, hi + 3.0))
    sol = solve_integer(w, u, budget, bmin, bmax)
    best = brute_force(w, u, budget, bmin, bmax)
    assert float(np.dot(u, sol.bits)) <= budget * (1 + 1e-12)
    assert np.all((sol.bits >= bmin) & (sol.bits <= bmax))
    # the objective is never below the optimum, the certified lower bound never above it
    assert sol.objective >= best * (1 - 1e-12)
    assert sol.lower_bound <= best * (1 + 1e-12)
    if equal:  # equal unit costs: marginal allocation is exactly optimal
        assert sol.objective == pytest.approx(best, rel=1e-12)
        assert sol.gap == pytest.approx(0.0, abs=1e-12 * best)


def test_tied_increments_are_spread_evenly():
    gains = increment_gains(1, 4)
    inc = top_increments(np.ones(6), gains, 3)  # six tied items, three first increments to hand out
    assert np.array_equal(inc, [0, 1, 0, 1, 0, 1])
    inc = top_increments(np.ones(6), gains, 9)  # all six first increments, then three of the second
    assert np.array_equal(inc, [1, 2, 1, 2, 1, 2])


def test_top_increments_takes_the_largest_products():
    gains = increment_gains(1, 4)  # 3 increments per item
    w = np.array([1.0, 1.0, 1.0, 2.0])  # three tied items
    inc = top_increments(w, gains, 5)
    assert inc.sum() == 5
    # the heaviest item takes its first two increments before any tie is split
    products = sorted(((w[i] * gains[j], i, j) for i in range(4) for j in range(3)), key=lambda x: (-x[0], x[1]))
    expected = np.zeros(4, dtype=int)
    for _, i, _j in products[:5]:
        expected[i] += 1
    assert np.array_equal(inc, expected)
    # by hand: gains = 1 − 1/9 = 8/9, 1/9 − 1/49 = 40/441, 1/49 − 1/225; the five largest products are
    # 2·8/9, 8/9 (×3, the tied items) and 2·40/441 ≈ 0.181 > 40/441 ≈ 0.091
    assert np.array_equal(inc, [1, 1, 1, 2])


def taken_products(w, gains, inc):
    """The products w_i·g_j of every increment an allocation takes (item i takes its first inc_i)."""
    return np.concatenate([w[i] * gains[: inc[i]] for i in range(w.size)])


def test_top_increments_large_is_exact_against_sorting():
    rng = np.random.default_rng(3)
    w = rng.lognormal(size=2000)
    gains = increment_gains(1, 12)
    J = gains.size
    m = 7777
    inc = top_increments(w, gains, m)
    flat = (w[:, None] * gains[None, :]).ravel()  # item i, increment j at i·J + j
    by_size = np.argsort(-flat, kind="stable")
    products = flat[by_size]
    theta = products[m - 1]
    # no tie at the threshold, so the m largest products are one set and the answer is unique
    assert products[m - 1] > products[m]
    # brute force: item i's count of increments among the m largest products (gains decrease along every
    # item, so these are its first ones); exact integers
    expected = np.bincount(by_size[:m] // J, minlength=w.size)
    assert inc.sum() == m
    assert np.array_equal(inc, expected)
    # the products taken are exactly the m largest ones, bit for bit
    taken = taken_products(w, gains, inc)
    assert taken.size == m
    assert np.array_equal(np.sort(taken)[::-1], products[:m])
    # every item's last taken increment is ≥ θ, its first skipped one < θ; θ itself is taken and the largest
    # skipped product is the (m+1)-th largest
    has = inc > 0
    last = w[has] * gains[inc[has] - 1]
    room = inc < J
    skipped = w[room] * gains[inc[room]]
    assert last.min() == theta and np.all(last >= theta)
    assert skipped.max() == products[m] and np.all(skipped < theta)
    # negative control: move the increment at θ to the item owning the (m+1)-th product; same count, but the
    # exact comparison, the taken set and the θ boundary all reject it, and it gains strictly less
    worse = inc.copy()
    worse[by_size[m - 1] // J] -= 1
    worse[by_size[m] // J] += 1
    assert worse.sum() == m and not np.array_equal(worse, expected)
    worse_taken = taken_products(w, gains, worse)
    assert not np.array_equal(np.sort(worse_taken)[::-1], products[:m])
    assert (w[worse > 0] * gains[worse[worse > 0] - 1]).min() == products[m] < theta
    assert np.sum(np.sort(worse_taken)) < np.sum(np.sort(taken))


def kkt_residual(levels, w, u, lam):
    """∂/∂s [W/s² + λ u log2(s+1)] at interior points, from theory's κ and stationarity."""
    kappa = numeric.kkt_kappa(1.0, w, lam, u)
    return numeric.stationarity_residual(levels, kappa) / levels**3


@settings(max_examples=40, deadline=None)
@given(n=st.integers(2, 30), avg=st.floats(1.5, 12.0), seed=st.integers(0, 10_000))
def test_continuous_satisfies_kkt_and_budget(n, avg, seed):
    rng = np.random.default_rng(seed)
    w = rng.lognormal(sigma=2.0, size=n)
    u = rng.integers(1, 50, size=n).astype(float)
    budget = float(u.sum() * avg)
    sol = solve_continuous(w, u, budget, 1, 16)
    spend = float(np.sum(u * np.log2(sol.levels + 1)))
    assert spend <= budget * (1 + 1e-12)
    assert spend == pytest.approx(budget, rel=1e-12)
    interior = (sol.levels > 1 + 1e-9) & (sol.levels < 2.0**16 - 1 - 1e-6)
    # stationarity holds to float precision where the box does not bind
    assert np.all(np.abs(kkt_residual(sol.levels[interior], w[interior], u[interior], sol.multiplier)) < 1e-9)
    # at the lower box the unconstrained stationary level would be smaller
    at_floor = sol.levels <= 1 + 1e-9
    if at_floor.any():
        kappa = numeric.kkt_kappa(1.0, w[at_floor], sol.multiplier, u[at_floor])
        assert np.all(stationary_level(kappa) <= 1 + 1e-9)


def test_continuous_matches_scipy():
    rng = np.random.default_rng(7)
    w = rng.lognormal(size=12)
    u = rng.integers(10, 100, size=12).astype(float)
    budget = float(u.sum() * 3.7)
    sol = solve_continuous(w, u, budget, 1, 16)
    b0 = np.full(12, 3.7)
    res = minimize(
        lambda b: np.sum(w / (2**b - 1) ** 2),
        b0,
        jac=lambda b: -2 * w * np.log(2) * 2**b / (2**b - 1) ** 3,
        constraints=[{"type": "ineq", "fun": lambda b: budget - u @ b, "jac": lambda b: -u}],
        bounds=[(1, 16)] * 12,
        method="SLSQP",
        options={"ftol": 1e-15, "maxiter": 2000},
    )
    assert res.success
    # SLSQP stops at ftol 1e-15 on an objective of order 1: agreement to 1e-9 relative is its accuracy
    assert sol.objective == pytest.approx(res.fun, rel=1e-9)
    assert np.allclose(np.log2(sol.levels + 1), res.x, atol=1e-5)


def test_stationary_level_solves_cubic_and_approaches_asymptote():
    kappa = np.logspace(-6, 12, 50)
    s = stationary_level(kappa)
    assert np.all(np.abs(s**3 - kappa * (s + 1)) <= 1e-12 * kappa * (s + 1))
    err = np.abs(s - numeric.level_asymptotic(kappa))
    big = kappa > 100
    # s = √κ + 1/2 + O(κ^{-1/2}): the error times √κ stays bounded
    assert np.all(err[big] * np.sqrt(kappa[big]) < 1.0)


def test_budget_below_minimum_is_refused():
    with pytest.raises(ValueError):
        solve_integer(np.ones(3), np.ones(3), 2.0, 1, 4)


def test_client_granularity_solves_the_per_client_kkt():
    """theory step budget.per_client: one level per (round, client), each item's stationarity
    s³/(s + 1) = κ_{t,i} = 2 ln2·α_t A_{t,i}/(λ d) with A_{t,i} = p_i² d R_{t,i}²/4, one multiplier λ for all; for
    large s the level is ∝ √α_t·p_i·R_{t,i}. The continuous solver on granularity=client items must meet both."""
    from fedquant.optimizer.decision_items import make_items
    from fedquant.optimizer.problem import ScheduleProblem
    from fedquant.optimizer.solve_continuous import solve_continuous

    rng = np.random.default_rng(3)
    T, N, d = 6, 4, 5000
    ranges = rng.uniform(0.05, 1.0, size=(T, N))
    weights = rng.dirichlet(np.ones(N))
    pr = ScheduleProblem.create(range_=ranges, clients=N, weights=weights, block_sizes=d, budget_bits=T * N * d * 12.0,
                                bits_max=30)
    items = make_items(pr, "client")
    sol = solve_continuous(items.weight, items.unit_cost, pr.budget_bits, pr.bits_min, pr.bits_max)
    s = sol.levels
    assert np.all((s > 1) & (s < 2.0**30 - 1))  # nothing clipped: the stationarity must hold everywhere
    expected_weight = (weights**2)[None, :] * d * ranges**2 / 4  # α_t = 1 (non-convex)
    assert np.allclose(items.weight, expected_weight.ravel()[items.index], rtol=1e-12)
    # one multiplier: (s³/(s + 1))·u/W = 2 ln2/λ for every item
    implied = s**3 / (s + 1) * items.unit_cost / items.weight
    assert np.allclose(implied, implied[0], rtol=1e-9)
    # large s (here ≈ 2^12): s ∝ p_i R_{t,i} to O(1/s)
    direct = (weights[None, :] * ranges).ravel()[items.index]
    ratio = s / direct
    assert np.allclose(ratio, ratio.mean(), rtol=2.0 / s.min())
