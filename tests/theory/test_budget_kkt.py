"""The budget problem of theory/budget.py against finite differences, root finding and scipy.

Problem: minimise Σ_t α_t A_t / s_t² subject to Σ_t c·log2(s_t + 1) = B (the budget binds: the objective falls
with every level). KKT stationarity per round: s³/(s+1) = κ_t = 2 ln2 α_t A_t/(λc).
"""

from __future__ import annotations

import math
from functools import cache

import numpy as np
import pytest
import sympy
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.optimize import brentq, minimize

from fedquant.theory import budget, numeric
from fedquant.theory import symbols as S

LN2 = math.log(2)


def stationary_level(kappa: float) -> float:
    """The positive root of s³ − κ(s + 1) (unique: one sign change). It lies in [0, 2√κ + 2]: the cubic is −κ
    at 0 and 6κ^{3/2} + 21κ + 24√κ + 8 > 0 at 2√κ + 2 (the wider bracket keeps that sign in floats)."""
    s = brentq(lambda s: s**3 - kappa * (s + 1), 0.0, 2 * math.sqrt(kappa) + 2.0, xtol=1e-300, maxiter=500)
    return s - (s**3 - kappa * (s + 1)) / (3 * s**2 - kappa)  # one Newton step polishes the last ulps


def lagrangian(s, alpha, A, lam, c):
    return alpha * A / s**2 + lam * c * np.log2(s + 1)


log_uniform = st.floats(-3, 3).map(lambda e: 10.0**e)


# ------------------------------------------------------------------------------------------------------------
# stationarity
# ------------------------------------------------------------------------------------------------------------


@settings(max_examples=100, deadline=None)
@given(alpha=log_uniform, A=log_uniform, lam=log_uniform, c=st.floats(1, 1e6))
def test_kkt_kappa_formula(alpha, A, lam, c):
    expected = 2 * LN2 * alpha * A / (lam * c)
    assert float(numeric.kkt_kappa(alpha, A, lam, c)) == pytest.approx(expected, rel=1e-14)


@settings(max_examples=100, deadline=None)
@given(alpha=st.floats(1e-3, 1), A=log_uniform, c=st.floats(1, 1e6), log_kappa=st.floats(math.log10(0.5), 8))
def test_root_of_stationarity_zeroes_the_lagrangian_derivative(alpha, A, c, log_kappa):
    kappa_target = 10.0**log_kappa
    lam = 2 * LN2 * alpha * A / (kappa_target * c)
    kappa = float(numeric.kkt_kappa(alpha, A, lam, c))
    s = stationary_level(kappa)
    assert abs(float(numeric.stationarity_residual(s, kappa))) <= 1e-12 * s**3
    # Central difference with h = 1e-4·s. Truncation: h²/6·|ℒ'''| with |ℒ'''| ≤ 24αA/s⁵ + 2λc/((s+1)³ln2)
    # ≤ 28αA/s⁵ at the root (λc/ln2 = 2αA(s+1)/s³ there), i.e. ≤ 5e-8·αA/s³. Rounding: eps·ℒ/h with
    # ℒ ≲ αA/s²·(1 + 4 ln(s+1)), i.e. ≲ 1e-10·αA/s³ here. Both are far below the 1e-6 × 2αA/s³ allowed
    # (2αA/s³ is the size of each of the two terms that cancel).
    h = 1e-4 * s
    scale = 2 * alpha * A / s**3
    deriv = (lagrangian(s + h, alpha, A, lam, c) - lagrangian(s - h, alpha, A, lam, c)) / (2 * h)
    assert abs(deriv) <= 1e-6 * scale
    # the check has teeth: 0.1% off the root the derivative is ≈ ℒ''·10⁻³s ≈ 4·10⁻³αA/s³
    off = 1.001 * s
    deriv_off = (lagrangian(off + h, alpha, A, lam, c) - lagrangian(off - h, alpha, A, lam, c)) / (2 * h)
    assert deriv_off > 1e-4 * scale


@cache
def second_derivative_b():
    return sympy.lambdify((S.alpha, S.weight_sum, S.bits), budget.kkt().second_derivative_b)


@settings(max_examples=100, deadline=None)
@given(alpha=st.floats(1e-3, 1), A=log_uniform, c=st.floats(1, 1e6), log_kappa=st.floats(math.log10(0.5), 8))
def test_lagrangian_is_convex_in_bits_at_the_root(alpha, A, c, log_kappa):
    """g(b) = αA/(2^b − 1)² + λcb has g'' > 0 (second central difference), equal to the derived d²/db²."""
    kappa = 10.0**log_kappa
    lam = 2 * LN2 * alpha * A / (kappa * c)
    b = math.log2(stationary_level(kappa) + 1)

    def g(x):
        return alpha * A / (2.0**x - 1) ** 2 + lam * c * x

    # h = 1e-3: truncation h²/12·g'''' is ≲ 1e-6 relative (each derivative of 2^{−2b}-like terms brings a
    # factor ≲ 2 ln2·2^b/(2^b − 1) ≤ 4 ln2 for b ≥ 1); rounding eps·|g|/h² ≈ 2e-10·|g|
    h = 1e-3
    second = (g(b + h) - 2 * g(b) + g(b - h)) / h**2
    derived = second_derivative_b()(alpha, A, b)
    assert second > 0
    assert second == pytest.approx(derived, rel=1e-4)


def test_level_grows_with_kappa():
    """ds/dκ > 0: the exact root is increasing, and the derived slope matches a finite difference."""
    kappas = np.geomspace(0.5, 1e8, 60)
    levels = np.array([stationary_level(k) for k in kappas])
    assert np.all(np.diff(levels) > 0)
    slope = sympy.lambdify(S.levels, budget.kkt().level_slope)
    for k in (0.7, 3.0, 50.0, 1e5):
        s, dk = stationary_level(k), 1e-5 * k
        fd = (stationary_level(k + dk) - stationary_level(k - dk)) / (2 * dk)
        assert slope(s) == pytest.approx(fd, rel=1e-6)
        assert float(numeric.stationarity_slope(s, k)) == pytest.approx(3 * s**2 - k, rel=1e-14)


def test_asymptotic_level():
    """s* = √κ + 1/2 − 3/(8√κ) + O(1/κ) (substitute s = √κ + 1/2 + a/√κ into s³ = κ(s+1): 3a + 3/4 = a).

    So the error of level_asymptotic(κ) = √κ + 1/2 times √κ stays bounded and tends to 3/8."""
    assert sympy.simplify(budget.kkt().asymptotic - (sympy.sqrt(S.kappa) + sympy.Rational(1, 2))) == 0
    kappas = np.geomspace(1.0, 1e10, 41)
    errors = np.array([float(numeric.level_asymptotic(k)) - stationary_level(k) for k in kappas])
    scaled = errors * np.sqrt(kappas)
    assert np.all(np.abs(scaled) <= 0.4)
    large = kappas >= 1e4
    # next term: O(1/κ) in the error, so err·√κ − 3/8 = O(κ^{-1/2}) ≤ 1e-2 from κ = 10⁴; the root's own
    # float error (≲ 1e-10 at κ = 10¹⁰) is negligible against 3/(8√κ) ≥ 4e-6
    np.testing.assert_allclose(scaled[large], 3 / 8, atol=1e-2)
    assert np.all(np.diff(np.abs(scaled[large] - 3 / 8)) < 0)  # and keeps approaching it


# ------------------------------------------------------------------------------------------------------------
# the whole problem: closed form, exact stationarity, scipy
# ------------------------------------------------------------------------------------------------------------

T = 6
COST = 5000.0  # c = n·d bits per unit of b


def problem(kind: str) -> tuple[np.ndarray, np.ndarray]:
    """Round weights α_t (nonconvex: 1; pl: ρ^{T−1−t}) and weights A_t over T rounds."""
    gen = np.random.default_rng(7)
    A = gen.uniform(1.0, 1e3, size=T)
    alpha = np.ones(T) if kind == "nonconvex" else 0.8 ** (T - 1 - np.arange(T))
    return alpha, A


def scipy_solve(objective, gradient, total: float, start: float, lower: float) -> np.ndarray:
    """min objective(y) s.t. Σy = total, y ≥ lower, by SLSQP; objective scaled to 1 at the start."""
    y0 = np.full(T, start)
    scale = objective(y0)
    res = minimize(lambda y: objective(y) / scale, y0, jac=lambda y: gradient(y) / scale, method="SLSQP",
                   bounds=[(lower, None)] * T,
                   constraints=[{"type": "eq", "fun": lambda y: np.sum(y) - total,
                                 "jac": lambda y: np.ones(T)}],
                   options={"ftol": 1e-16, "maxiter": 1000})
    assert res.success, res.message
    return res.x


@pytest.mark.parametrize("kind", ["nonconvex", "pl"])
def test_closed_form_is_optimal_under_log2_s_cost(kind):
    alpha, A = problem(kind)
    budget_bits = COST * T * 4.5
    m = np.mean(0.5 * np.log2(alpha * A))
    s = numeric.level_closed_form(alpha, A, m, budget_bits, COST, T)
    assert np.all(s > 1)  # s ≥ 1 is inactive, so the stationary point is the optimum
    assert np.sum(COST * np.log2(s)) == pytest.approx(budget_bits, rel=1e-12)

    # y = log2 s: objective Σ αA·2^{−2y} (convex), constraint Σ y = B/c (linear)
    def objective(y):
        return float(np.sum(alpha * A * 2.0 ** (-2 * y)))

    def gradient(y):
        return -2 * LN2 * alpha * A * 2.0 ** (-2 * y)

    y = scipy_solve(objective, gradient, budget_bits / COST, budget_bits / (COST * T), 0.0)
    closed_obj = float(np.sum(alpha * A / s**2))
    np.testing.assert_allclose(2.0**y, s, rtol=1e-6)
    assert objective(y) == pytest.approx(closed_obj, rel=1e-6)
    assert closed_obj <= objective(y) * (1 + 1e-12)  # scipy cannot beat the exact optimum


def levels_for_multiplier(alpha: np.ndarray, A: np.ndarray, lam: float) -> np.ndarray:
    return np.array([stationary_level(float(k)) for k in numeric.kkt_kappa(alpha, A, lam, COST)])


def exact_optimum(alpha: np.ndarray, A: np.ndarray, budget_bits: float) -> np.ndarray:
    """Stationarity roots with the λ that spends the budget exactly (the spend falls as λ grows; bisection
    on log λ to a relative width of 1e-15)."""

    def overspend(log_lam: float) -> float:
        levels = levels_for_multiplier(alpha, A, math.exp(log_lam))
        return float(np.sum(COST * np.log2(levels + 1))) - budget_bits

    lo, hi = -80.0, 80.0
    assert overspend(lo) > 0 > overspend(hi)
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        if overspend(mid) > 0:
            lo = mid
        else:
            hi = mid
        if hi - lo < 1e-15 * max(1.0, abs(mid)):
            break
    return levels_for_multiplier(alpha, A, math.exp(0.5 * (lo + hi)))


@pytest.mark.parametrize("kind", ["nonconvex", "pl"])
@pytest.mark.parametrize("bits_per_round", [1.5, 4.5])
def test_exact_stationarity_solution_matches_scipy(kind, bits_per_round):
    alpha, A = problem(kind)
    budget_bits = COST * T * bits_per_round
    s = exact_optimum(alpha, A, budget_bits)
    assert np.sum(COST * np.log2(s + 1)) == pytest.approx(budget_bits, rel=1e-12)
    if not np.all(s > 1):
        pytest.skip("s ≥ 1 active: not the interior problem")

    # b = log2(s + 1): objective Σ αA/(2^b − 1)² (convex in b), constraint Σ b = B/c, b ≥ 1
    def objective(b):
        return float(np.sum(alpha * A / (2.0**b - 1) ** 2))

    def gradient(b):
        return -2 * LN2 * alpha * A * 2.0**b / (2.0**b - 1) ** 3

    b = scipy_solve(objective, gradient, budget_bits / COST, budget_bits / (COST * T), 1.0)
    np.testing.assert_allclose(2.0**b - 1, s, rtol=1e-6)
    exact_obj = float(np.sum(alpha * A / s**2))
    assert objective(b) == pytest.approx(exact_obj, rel=1e-6)
    assert exact_obj <= objective(b) * (1 + 1e-12)


# ------------------------------------------------------------------------------------------------------------
# direction of the optimal levels
# ------------------------------------------------------------------------------------------------------------

R0, K = 0.5, 40.0  # A_t = K·R_t² (K collects the criterion's factor, ‖p‖², d and 1/4)


def optimal_levels(alpha: np.ndarray, shrink: float, bits_per_round: float = 4.0) -> np.ndarray:
    ranges = R0 * shrink ** np.arange(alpha.size)
    return exact_optimum(alpha, K * ranges**2, COST * alpha.size * bits_per_round)


@pytest.mark.parametrize("shrink", [0.8, 0.9, 0.97])
def test_nonconvex_levels_descend_with_shrinking_ranges(shrink):
    s = optimal_levels(np.ones(T), shrink)
    assert np.all(np.diff(s) < 0)
    s_up = optimal_levels(np.ones(T), 1 / shrink)
    assert np.all(np.diff(s_up) > 0)


@pytest.mark.parametrize("rho", [0.6, 0.9, 0.99])
def test_pl_levels_descend_iff_shrink_below_sqrt_rho(rho):
    alpha = rho ** (T - 1 - np.arange(T))
    edge = math.sqrt(rho)
    assert np.all(np.diff(optimal_levels(alpha, 0.98 * edge)) < 0)
    assert np.all(np.diff(optimal_levels(alpha, 1.02 * edge)) > 0)
    # at r = √ρ every κ_t is the same (α_t R_t² constant): flat, up to float rounding of ρ^t and r^t
    flat = optimal_levels(alpha, edge)
    np.testing.assert_allclose(flat, flat[0], rtol=1e-9)


@pytest.mark.parametrize("rho", [0.6, 0.9, 0.99])
def test_direction_ratio_agrees_with_exact_levels(rho):
    alpha = rho ** (T - 1 - np.arange(T))
    for shrink in np.linspace(0.5, 1.2, 15):
        ratio = float(numeric.direction_ratio(1 / rho, shrink))
        assert ratio == pytest.approx(math.sqrt(1 / rho) * shrink, rel=1e-14)
        s = optimal_levels(alpha, float(shrink), bits_per_round=12.0)
        steps = s[1:] / s[:-1]
        if abs(ratio - 1) > 1e-9:
            assert np.all((steps < 1) == (ratio < 1))
        # large levels (κ ≳ 10⁶ here): s_{t+1}/s_t = direction_ratio + O(|1 − ratio|/(2√κ))
        kappa_min = float(np.min(s**3 / (s + 1)))
        np.testing.assert_allclose(steps, ratio, rtol=abs(1 - ratio) / math.sqrt(kappa_min) + 1e-9)


def test_symbolic_direction_conditions():
    way = budget.direction()
    for r in (0.5, 0.99, 1.0, 1.01, 2.0):
        assert bool(way["nonconvex"].subs(S.shrink, r)) == (r < 1)
        for rho in (0.5, 0.9, 0.999):
            assert bool(way["pl"].subs({S.shrink: r, S.rho: rho})) == (r < math.sqrt(rho))
    assert sympy.simplify(way["pl_alpha_ratio"] - 1 / S.rho) == 0
    assert way["nonconvex_alpha_ratio"] == 1
    rho_f = next(iter(way["pl_loss"].free_symbols - {S.rho}))
    for rho in (0.5, 0.9):
        for value in (0.3, 0.49, 0.51, 0.89, 0.95):
            assert bool(way["pl_loss"].subs({S.rho: rho, rho_f: value})) == (value < rho)
