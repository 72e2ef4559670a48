"""The quantizer lemmas of theory/quantizer.py against independent numerics.

The two-point rounding law is sampled with numpy (not with the theory code) and its empirical moments are
compared with the sympy results; the cell maximum is found by a dense grid; the block bound is checked on
arbitrary vectors; the bit costs are pinned exactly against integer arithmetic.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import sympy
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from fedquant.theory import numeric, quantizer
from fedquant.theory import symbols as S
from fedquant.theory.wire import QSGD_SIDE_INFO_BITS, SIDE_INFO_BITS

EPS = np.finfo(float).eps

# ------------------------------------------------------------------------------------------------------------
# the two-point law, sampled
# ------------------------------------------------------------------------------------------------------------

CELLS = [  # (x, ℓ, u): interior points, the midpoint, both ends, a shifted and a narrow cell
    (0.3, 0.0, 1.0),
    (0.05, 0.0, 1.0),
    (0.5, 0.0, 1.0),
    (-1.7, -2.0, -1.5),
    (1000.1, 1000.0, 1000.25),
    (0.0, 0.0, 1.0),
    (1.0, 0.0, 1.0),
]


def sample_rounding(x: float, lower: float, upper: float, n: int, rng: np.random.Generator) -> np.ndarray:
    """n draws of stochastic rounding: u with probability (x − ℓ)/(u − ℓ), else ℓ (docs/design.md §2)."""
    p_up = (x - lower) / (upper - lower)
    return np.where(rng.random(n) < p_up, upper, lower)


def test_rounding_mean_is_x_symbolically():
    assert sympy.simplify(quantizer.rounding_mean() - S.x) == 0


def test_rounding_variance_symbolic_form():
    expected = (S.x - S.lower) * (S.upper - S.x)
    assert sympy.simplify(quantizer.rounding_variance() - expected) == 0


@pytest.mark.parametrize(("x", "lower", "upper"), CELLS)
def test_two_point_law_monte_carlo(x, lower, upper, rng):
    n = 400_000
    q = sample_rounding(x, lower, upper, n, rng)
    width = upper - lower
    # Mean. The sample mean of n iid draws has standard error sd(Q)/√n; 5 standard errors put a false
    # failure at a two-sided normal tail of ~6e-7 (and the seed is fixed). The sample sd is used, not the
    # theory's variance, so the check stays independent. At the cell ends Q is constant (sd = 0): the slack
    # 1e-12·δ covers the rounding of the arithmetic.
    mean_expected = float(quantizer.rounding_mean().subs({S.x: x, S.lower: lower, S.upper: upper}))
    se_mean = q.std(ddof=1) / math.sqrt(n)
    assert abs(q.mean() - mean_expected) <= 5 * se_mean + 1e-12 * width
    # Variance. With the mean known (= x by the lemma just checked) v̂ = (1/n)Σ(Q − x)² is unbiased; its
    # standard error is sd((Q − x)²)/√n, the "variance of the squared error" estimated from the same draws.
    # At the midpoint (Q − x)² is constant ((δ/2)² either way), so the error is rounding only: slack 1e-12·δ².
    sq = (q - x) ** 2
    se_var = sq.std(ddof=1) / math.sqrt(n)
    var_expected = float(numeric.rounding_variance(x, lower, upper))
    assert abs(sq.mean() - var_expected) <= 5 * se_var + 1e-12 * width**2


def test_monte_carlo_variance_check_is_sensitive(rng):
    """The tolerance above is tight enough to reject a variance off by 5% (so the check can fail)."""
    n = 400_000
    x, lower, upper = 0.3, 0.0, 1.0
    sq = (sample_rounding(x, lower, upper, n, rng) - x) ** 2
    wrong = 1.05 * float(numeric.rounding_variance(x, lower, upper))
    assert abs(sq.mean() - wrong) > 5 * sq.std(ddof=1) / math.sqrt(n)


# ------------------------------------------------------------------------------------------------------------
# the cell maximum and the block bound
# ------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("width", [0.1, 1.0, 3.7, 250.0])
def test_cell_maximum_by_dense_grid(width):
    lower = -0.8
    theta = np.linspace(0.0, 1.0, 100_001)  # contains θ = 1/2 exactly (index 50_000)
    x = lower + theta * width
    upper = lower + width
    values = (x - lower) * (upper - x)
    best = int(np.argmax(values))
    argmax, vmax = quantizer.cell_maximum()
    assert float(argmax) == 0.5
    assert theta[best] == pytest.approx(0.5, abs=1e-12)
    # the midpoint lies on the grid, so the grid maximum is the true maximum up to rounding (rel 1e-12)
    assert values.max() == pytest.approx(float(vmax.subs(S.step, width)), rel=1e-12)
    assert values.max() == pytest.approx(width**2 / 4, rel=1e-12)
    # the exported variance is the same function of x
    exported = numeric.rounding_variance(x, lower, upper)
    np.testing.assert_allclose(exported, values, rtol=1e-12, atol=1e-12 * width**2)


def grid_neighbours(x: np.ndarray, levels: int) -> tuple[np.ndarray, np.ndarray, float, float]:
    """ℓ and u of every coordinate on the grid m + jR/s of docs/design.md §2; returns (ℓ, u, R, δ)."""
    m, M = float(x.min()), float(x.max())
    R = M - m
    step = R / levels
    j = np.clip(np.floor((x - m) / step), 0, levels - 1)
    return m + j * step, m + (j + 1) * step, R, step


@settings(max_examples=200, deadline=None)
@given(
    x=hnp.arrays(np.float64, st.integers(2, 64), elements=st.floats(-1e3, 1e3, allow_subnormal=False)),
    levels=st.integers(1, 2**16),
)
def test_block_bound_dominates_exact_error(x, levels):
    assume(float(x.max() - x.min()) > 1e-6)
    lower, upper, R, step = grid_neighbours(x, levels)
    exact = float(np.sum(numeric.rounding_variance(x, lower, upper)))
    bound = float(numeric.quantization_error_bound(x.size, R, levels))
    assert bound == pytest.approx(x.size * R**2 / (4 * levels**2), rel=1e-12)
    # Each factor (x − ℓ), (u − x) is ≤ δ and carries an absolute rounding error of a few ulp of |x| (ℓ, u
    # are computed as m + jδ); per coordinate the product is off by ≲ 4·δ·eps·max|x|, summed over d.
    slack = x.size * 4 * step * EPS * max(1.0, float(np.abs(x).max())) + 1e-12 * bound
    assert exact <= bound + slack


def test_block_bound_is_attained_at_midpoints():
    """Every coordinate at a cell's midpoint (plus both ends to fix the range) meets d R²/(4s²) − ends."""
    levels, R = 8, 2.0
    mids = (np.arange(levels) + 0.5) * R / levels
    x = np.concatenate([[0.0, R], mids])
    lower, upper, got_R, _ = grid_neighbours(x, levels)
    exact = float(np.sum(numeric.rounding_variance(x, lower, upper)))
    assert got_R == R
    assert exact == pytest.approx(float(numeric.quantization_error_bound(levels, R, levels)), rel=1e-12)


def qsgd_exact_error(v: np.ndarray, levels: int) -> float:
    """Exact E‖Q_s(v) − v‖² of QSGD: stochastic rounding of |vᵢ|/‖v‖ on the grid l/s, scaled by ‖v‖."""
    norm = float(np.linalg.norm(v))
    r = np.abs(v) / norm
    lower = np.floor(r * levels) / levels
    upper = lower + 1.0 / levels
    return float(norm**2 * np.sum((r - lower) * (upper - r)))


@settings(max_examples=100, deadline=None)
@given(
    v=hnp.arrays(np.float64, st.integers(1, 200), elements=st.floats(-10, 10, allow_subnormal=False)),
    levels=st.integers(1, 64),
)
def test_qsgd_bound_dominates_exact_error(v, levels):
    norm2 = float(v @ v)
    assume(norm2 > 1e-12)
    bound = float(numeric.qsgd_error_bound(v.size, levels, norm2))
    assert bound == pytest.approx(min(v.size / levels**2, math.sqrt(v.size) / levels) * norm2, rel=1e-12)
    assert qsgd_exact_error(v, levels) <= bound * (1 + 1e-9)


# ------------------------------------------------------------------------------------------------------------
# bit costs
# ------------------------------------------------------------------------------------------------------------

DIMS = [1, 7, 1000, 26122]


@pytest.mark.parametrize("d", DIMS)
def test_bits_fixed_at_full_grid(d):
    for b in range(1, 33):
        assert numeric.bits_fixed(d, 2**b - 1) == d * b + SIDE_INFO_BITS
    b = np.arange(1, 33)
    np.testing.assert_array_equal(numeric.bits_fixed(d, 2.0**b - 1), d * b + 64)


def test_bits_fixed_symbolic_at_full_grid():
    at_grid = quantizer.bits_fixed().subs(S.levels, 2**S.bits - 1)
    assert sympy.simplify(at_grid - (S.d * S.bits + 64)) == 0
    assert SIDE_INFO_BITS == 64 and QSGD_SIDE_INFO_BITS == 32


@pytest.mark.parametrize("d", DIMS)
def test_bits_fixed_near_powers_of_two(d):
    """⌈log2(s+1)⌉ is the bit length of the integer s; float log2 must not slip at 2^b − 1, 2^b, 2^b + 1."""
    for b in range(1, 33):
        for s in (2**b - 1, 2**b, 2**b + 1):
            assert numeric.bits_fixed(d, s) == d * s.bit_length() + 64, (b, s)
    levels = np.array([s for b in range(1, 33) for s in (2**b - 1, 2**b, 2**b + 1)], dtype=np.int64)
    expected = np.array([d * int(s).bit_length() + 64 for s in levels])
    np.testing.assert_array_equal(numeric.bits_fixed(d, levels), expected)


def test_bits_fixed_small_levels():
    # s = 1..9 intervals need 1, 2, 2, 3, 3, 3, 3, 4, 4 bits per index
    np.testing.assert_array_equal(numeric.bits_fixed(10, np.arange(1, 10)),
                                  10 * np.array([1, 2, 2, 3, 3, 3, 3, 4, 4]) + 64)


@settings(max_examples=200, deadline=None)
@given(d=st.integers(1, 10**6), levels=st.floats(1.0, 2.0**32))
def test_relaxed_cost_below_fixed(d, levels):
    fixed = float(numeric.bits_fixed(d, levels))
    relaxed = float(numeric.bits_relaxed(d, levels))
    assert relaxed == pytest.approx(d * math.log2(levels + 1) + 64, rel=1e-12)
    # ⌈y⌉ − y ∈ [0, 1) per coordinate; the float product d·log2 may round by a few ulp of the total
    assert relaxed <= fixed + 4 * EPS * fixed
    assert fixed - relaxed < d + 4 * EPS * fixed


@pytest.mark.parametrize("d", DIMS)
def test_relaxed_equals_fixed_on_full_grids(d):
    b = np.arange(1, 33)
    np.testing.assert_allclose(numeric.bits_relaxed(d, 2.0**b - 1), d * b + 64, rtol=1e-15)


@pytest.mark.parametrize("d", DIMS)
def test_qsgd_adds_a_sign_bit_and_one_float(d):
    levels = np.array([s for b in range(1, 33) for s in (2**b - 1, 2**b, 2**b + 1)], dtype=np.int64)
    diff = numeric.bits_qsgd(d, levels) - numeric.bits_fixed(d, levels)
    # one sign bit per coordinate, one float32 norm instead of the two float32 range endpoints
    np.testing.assert_array_equal(diff, np.full(levels.shape, d + 32 - 64))
    assert d + QSGD_SIDE_INFO_BITS - SIDE_INFO_BITS == d - 32
