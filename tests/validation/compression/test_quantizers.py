"""Quantizers: Monte Carlo unbiasedness and variance with derived tolerances, exact expectations over every
dither value, properties on arbitrary float32 blocks (hypothesis), determinism, and errors at the door."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from fedquant.errors import InvalidArgument
from fedquant.theory import numeric
from fedquant.validation.compression import deterministic, dither, grid, qsgd, stochastic
from fedquant.validation.compression.quantized_block import MAX_LEVELS, QuantizedBlock
from fedquant.validation.compression.quantizers import QUANTIZERS, get_quantizer, quantize_blocks
from fedquant.validation.rng import torch_generator

RANGE = ("stochastic", "deterministic")
F32_MAX = float(np.finfo(np.float32).max)


def ulp32(v: float) -> float:
    """The float32 spacing at |v|: 2^(e − 24) for |v| ∈ [2^(e−1), 2^e), never below the subnormal 2^-149."""
    return math.ldexp(1.0, max(math.frexp(abs(v))[1] - 24, -149)) if v else 2.0**-149


def grid_tolerance(lower: float, upper: float) -> float:
    """Float32 rounding allowed on a value of the [lower, upper] grid: the output is a float32, so it cannot
    be closer than half an ulp of its own magnitude; (x − m)·s/R, the grid formula m + fl(j/s)·R and the
    clip each add O(1) ulp of max(|m|, |M|). 16 ulp is far below one step whenever float32 can resolve the
    grid at all (step ≫ ulp(max(|m|, |M|))), so a misplaced code still fails."""
    return 16 * ulp32(max(abs(lower), abs(upper))) + 2.0**-146


def dither_bias_steps(levels: int) -> float:
    """The stated bound on |P(round up) − frac(v)|: 2^-17 (16-bit dither) + ulp32(s + 1) (float32 sums)."""
    return 2.0**-17 + ulp32(levels + 1)


def neighbours(x: np.ndarray, lower: float, upper: float, levels: int) -> tuple[np.ndarray, np.ndarray]:
    """The exact grid neighbours ℓ ≤ x ≤ u on m + jR/s (float64)."""
    step = (upper - lower) / levels
    j = np.clip(np.floor((x - lower) / step), 0, levels - 1)
    return lower + j * step, lower + (j + 1) * step


# ---------------------------------------------------------------------------------------------------------
# Monte Carlo: unbiasedness and variance against the theory's exact per-coordinate variance


def _x_fixed() -> np.ndarray:
    """40 coordinates: both endpoints, a grid point of every s below, a midpoint, and irregular values."""
    rng = np.random.default_rng(12345)
    x = np.concatenate(([-1.0, 2.0, 0.5, 0.0, -0.25, 1.0 / 3.0], rng.uniform(-1.0, 2.0, 34)))
    return x.astype(np.float32)


def _two_point_moments(x: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per coordinate: Var Q = (x − ℓ)(u − x) (from theory) and Var of (Q − x)², both of the two-point law."""
    var = numeric.rounding_variance(x, lo, hi)
    a, b = x - lo, hi - x
    p = np.divide(a, hi - lo, out=np.zeros_like(a), where=hi > lo)
    var_sq = p * (1 - p) * (b**2 - a**2) ** 2
    return var, var_sq


def _check_moments(samples: np.ndarray, x: np.ndarray, lo: np.ndarray, hi: np.ndarray, bias: np.ndarray,
                   bound: float) -> None:
    """Mean and mean squared error of T iid quantizations (rows of ``samples``) against the exact law.

    Each coordinate is a two-point variable with the exact variance var_i = (x − ℓ)(u − x)
    (``numeric.rounding_variance``), so the mean of T draws has standard error sqrt(var_i/T), and by the CLT
    a deviation beyond 5 standard errors has probability ≈ 6e-7 per coordinate (≈ 2e-5 over 40 coordinates):
    a failure means bias, not bad luck (and the generators are seeded, so the outcome is reproducible).
    ``bias`` adds the documented deterministic bias (dither resolution
    and float32 rounding), which the exact enumeration tests below bound separately. Same for the squared
    error: its per-draw value Σ(Q − x)² has the exact variance Σ p(1 − p)(b² − a²)² (coordinates independent).
    """
    T = samples.shape[0]
    var, var_sq = _two_point_moments(x.astype(np.float64), lo, hi)
    mean = samples.mean(axis=0)
    se = np.sqrt(var / T)
    assert np.all(np.abs(mean - x) <= 5 * se + bias), np.max((np.abs(mean - x) - bias) / np.maximum(se, 1e-300))
    # the sum of the errors is more sensitive to a small systematic bias than any one coordinate
    assert abs(np.sum(mean - x)) <= 5 * math.sqrt(var.sum() / T) + bias.sum()
    sq = ((samples - x) ** 2).sum(axis=1)
    slack = 2 * float(np.sum(bias * (hi - lo))) + 1e-12  # a biased rounding probability moves E(Q − x)²
    assert abs(sq.mean() - var.sum()) <= 5 * math.sqrt(var_sq.sum() / T) + slack
    assert sq.mean() <= bound * (1 + 1e-9) + slack


@pytest.mark.parametrize("levels", [1, 3, 15, 255])
def test_stochastic_monte_carlo_unbiased_with_exact_variance(levels: int) -> None:
    x = _x_fixed()
    T = 5000
    # T copies side by side in one block have the same min and max as x, hence the same grid, and their
    # coordinates are rounded independently: one call gives T independent quantizations of x
    q = stochastic.quantize(torch.from_numpy(np.tile(x, T)), levels, torch_generator(1, 0, 0))
    assert (q.lower, q.upper) == (float(x.min()), float(x.max()))
    samples = q.dequantize().numpy().astype(np.float64).reshape(T, x.size)
    lo, hi = neighbours(x.astype(np.float64), q.lower, q.upper, levels)
    step = q.range_ / levels
    bias = dither_bias_steps(levels) * step + grid_tolerance(q.lower, q.upper)
    bound = float(numeric.quantization_error_bound(x.size, q.range_, levels))
    _check_moments(samples, x.astype(np.float64), lo, hi, np.full(x.size, bias), bound)


@pytest.mark.parametrize("levels", [1, 4, 15])
def test_qsgd_monte_carlo_unbiased_with_exact_variance(levels: int) -> None:
    rng = np.random.default_rng(7)
    x = (rng.standard_normal(32) * np.r_[np.ones(16), 0.1 * np.ones(16)]).astype(np.float32)
    x[0] = 0.0
    T = 3000
    gen = torch_generator(2, 0, 0)
    blocks = [qsgd.quantize(torch.from_numpy(x), levels, gen) for _ in range(T)]
    norm = blocks[0].norm
    assert all(b.norm == norm for b in blocks)
    samples = np.stack([b.dequantize().numpy() for b in blocks]).astype(np.float64)
    # QSGD rounds |x_i| between ℓ‖x‖/s and (ℓ+1)‖x‖/s (‖x‖ the stored float32 norm), sign kept
    ax = np.abs(x.astype(np.float64))
    lo_abs, hi_abs = neighbours(ax, 0.0, norm, levels)
    sign = np.sign(x)
    lo, hi = np.where(sign < 0, -hi_abs, lo_abs), np.where(sign < 0, -lo_abs, hi_abs)
    bias = np.full(x.size, dither_bias_steps(levels) * norm / levels + grid_tolerance(0.0, norm))
    bound = float(numeric.qsgd_error_bound(x.size, levels, norm**2))
    _check_moments(samples, x.astype(np.float64), lo, hi, bias, bound)


# ---------------------------------------------------------------------------------------------------------
# Exact expectations: every one of the 2^16 dither values, through the quantizers' own kernels

DITHERS = np.arange(-(2**15), 2**15, dtype=np.int16)


def _exact_means(values: np.ndarray, codes: np.ndarray, make_block) -> np.ndarray:
    """E[Q(x_i)] for each x_i: the mean of the dequantized values over all 2^16 dithers (exactly the law)."""
    block = make_block(codes)
    return block.dequantize().numpy().astype(np.float64).reshape(values.size, DITHERS.size).mean(axis=1)


@pytest.mark.parametrize("levels", [1, 15, 255, 4095, 65535])
@pytest.mark.parametrize("data", ["centred", "offset", "tiny", "subnormal"])
def test_stochastic_exact_expectation_over_all_dithers(levels: int, data: str, rng: np.random.Generator) -> None:
    base_x = {
        "centred": rng.standard_normal(12) * 0.01,
        "offset": 1000.0 + rng.uniform(0, 1, 12),
        "tiny": rng.standard_normal(12) * 1e-30,
        "subnormal": rng.integers(-(2**10), 2**10, 12) * 2.0**-149,
    }[data].astype(np.float32)
    lower, upper = float(base_x.min()), float(base_x.max())
    reps = np.repeat(base_x, DITHERS.size)
    codes = stochastic.codes_from_dither(reps, lower, upper, levels, np.tile(DITHERS, base_x.size))
    assert codes.max() <= levels
    means = _exact_means(base_x, codes, lambda c: QuantizedBlock("stochastic", levels, torch.from_numpy(c),
                                                                lower=lower, upper=upper))
    step = (upper - lower) / levels
    allowed = dither_bias_steps(levels) * step + grid_tolerance(lower, upper)
    worst = np.abs(means - base_x.astype(np.float64))
    assert np.all(worst <= allowed), (worst.max() / step, allowed / step)


def test_stochastic_rounding_probability_is_round_of_16_bits() -> None:
    """At s = 15 on [0, 15] (step 1, v = x exactly, every sum exact in float32) P(up) is ⌊2^16·frac + ½⌋/2^16:
    within 2^-17 of frac, and exactly frac when frac is a multiple of 2^-16. A dither missing a bit, or not
    centred, fails."""
    fracs = np.array([0, 1, 2**15, 2**16 - 1, 12345, 0.5, 2.5, 777.25]) / 2**16
    x = np.concatenate(([0.0, 15.0], 7.0 + fracs)).astype(np.float32)
    codes = stochastic.codes_from_dither(np.repeat(x, DITHERS.size), 0.0, 15.0, 15, np.tile(DITHERS, x.size))
    p_up = (codes.reshape(x.size, -1).astype(np.int64) - np.floor(x)[:, None]).mean(axis=1)
    frac = x - np.floor(x)
    expected = np.floor(frac * 2**16 + 0.5) / 2**16
    assert np.array_equal(p_up[2:], expected[2:])
    assert np.all(np.abs(p_up - frac) <= 2.0**-17)
    assert p_up[0] == 0.0 and p_up[1] == 0.0  # endpoints never move


@pytest.mark.parametrize("levels", [1, 7, 255, 65535])
def test_qsgd_exact_expectation_over_all_dithers(levels: int, rng: np.random.Generator) -> None:
    x = (rng.standard_normal(10) * 3).astype(np.float32)
    norm = float(np.float32(np.linalg.norm(x.astype(np.float64))))
    norm = max(norm, float(np.abs(x).max()))
    codes, signs = qsgd.codes_from_dither(np.repeat(x, DITHERS.size), norm, levels, np.tile(DITHERS, x.size))
    assert codes.max() <= levels and not np.any(signs & (codes == 0))
    means = _exact_means(x, codes, lambda c: QuantizedBlock("qsgd", levels, torch.from_numpy(c), norm=norm,
                                                           signs=torch.from_numpy(signs)))
    allowed = dither_bias_steps(levels) * norm / levels + grid_tolerance(0.0, norm)
    assert np.all(np.abs(means - x) <= allowed)


@settings(max_examples=300, deadline=None)
@given(width=st.floats(width=32, min_value=2.0**-149, max_value=F32_MAX), levels=st.integers(1, MAX_LEVELS))
def test_scale_maps_the_top_of_the_range_to_at_most_levels(width: float, levels: int) -> None:
    """v = fl(fl(W·2^shift)·scale) ≤ s at y = W (hence everywhere below): the scale is rounded down."""
    sc = grid.unit_scale(np.float32(width), levels)
    top = np.ldexp(np.array([width], np.float32), sc.shift)
    assert float(top[0]) == math.ldexp(width, sc.shift)  # the power-of-two shift is exact
    v = top * sc.scale
    assert v.dtype == np.float32 and float(v[0]) <= levels
    assert float(v[0]) >= levels * (1 - 2.0**-21)  # and not much below


def test_top_of_the_range_never_rounds_past_levels() -> None:
    """x = M with every dither, for s just below 128 (no clipping there) and widths whose s/W rounds up in
    float32: the code stays ≤ s only because the scale is rounded down."""
    rng = np.random.default_rng(0)
    found = 0
    for levels in (64, 100, 127):
        for w in rng.uniform(0.5, 2.0, 4000).astype(np.float32):
            if float(np.float32(w) * np.float32(levels / float(w))) <= levels:
                continue  # the naive float32 scale would not overshoot here
            found += 1
            codes = stochastic.codes_from_dither(np.full(DITHERS.size, w, np.float32), 0.0, float(w), levels,
                                                 DITHERS)
            assert codes.max() == levels
    assert found > 10


# ---------------------------------------------------------------------------------------------------------
# The dither stream


def test_dither_uses_all_16_bits_uniformly() -> None:
    """Each of the 16 bits is set half the time (5 standard errors of a Bernoulli(½) mean over n draws):
    the top-bit-always-0 bug of int32.random_() (docs/design.md §7) would fail bit 15."""
    n = 1 << 20
    d = dither.draw_dither(dither.dither_at(99, 0), n).view(np.uint16)
    ones = np.array([((d >> k) & 1).mean() for k in range(16)])
    assert np.all(np.abs(ones - 0.5) <= 5 * 0.5 / math.sqrt(n)), ones


def test_dither_stream_is_addressed_by_position() -> None:
    """dither_at(seed, start) continues the same stream: slices drawn by different threads agree."""
    whole = dither.draw_dither(dither.dither_at(5, 0), 4000)
    for start in (0, 4, 1000, 2048):
        assert np.array_equal(dither.draw_dither(dither.dither_at(5, start), 4000 - start), whole[start:])


@pytest.mark.parametrize("name", ["stochastic", "qsgd", "deterministic"])
def test_codes_do_not_depend_on_thread_count(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    x = torch.randn(3 * dither.CHUNK + 1234, generator=torch.Generator().manual_seed(3))
    q = get_quantizer(name)
    one = q(x, 15, torch_generator(4, 1, 1))
    monkeypatch.setattr(dither, "PARALLEL_MIN", dither.CHUNK)
    threads = torch.get_num_threads()
    torch.set_num_threads(3)
    try:
        three = q(x, 15, torch_generator(4, 1, 1))
    finally:
        torch.set_num_threads(threads)
    assert torch.equal(one.codes, three.codes)
    assert one.norm == three.norm


# ---------------------------------------------------------------------------------------------------------
# Determinism: same key, same codes; other keys, other codes; one draw per call


@pytest.mark.parametrize("name", ["stochastic", "qsgd"])
def test_same_key_same_codes_other_keys_other_codes(name: str) -> None:
    x = torch.randn(1000, generator=torch.Generator().manual_seed(0))
    q = get_quantizer(name)
    a = q(x, 7, torch_generator(11, 3, 5)).codes
    assert torch.equal(a, q(x, 7, torch_generator(11, 3, 5)).codes)
    for key in [(11, 3, 6), (11, 4, 5), (12, 3, 5)]:
        assert not torch.equal(a, q(x, 7, torch_generator(*key)).codes), key


@pytest.mark.parametrize("name", ["stochastic", "qsgd"])
@pytest.mark.parametrize("constant", [False, True])
def test_each_call_draws_exactly_once_from_the_generator(name: str, constant: bool) -> None:
    x = torch.full((100,), 0.5) if constant else torch.randn(100)
    g = torch_generator(1, 2, 3)
    get_quantizer(name)(x, 3, g)
    ref = torch_generator(1, 2, 3)
    torch.empty((), dtype=torch.int64).random_(generator=ref)
    assert torch.equal(g.get_state(), ref.get_state())


def test_deterministic_ignores_the_generator() -> None:
    x = torch.randn(500)
    a = deterministic.quantize(x, 9, torch_generator(0, 0, 0))
    assert torch.equal(a.codes, deterministic.quantize(x, 9).codes)


# ---------------------------------------------------------------------------------------------------------
# Properties on arbitrary finite float32 blocks

finite32 = st.floats(width=32, allow_nan=False, allow_infinity=False)
vectors = st.one_of(
    hnp.arrays(np.float32, st.integers(1, 40), elements=finite32),
    st.builds(lambda v, n: np.full(n, v, np.float32), finite32, st.integers(1, 40)),
    st.builds(lambda a, e: (a * 2.0**e).astype(np.float32),
              hnp.arrays(np.float64, st.integers(1, 40), elements=st.floats(-1, 1)), st.integers(-150, 127)),
)
level_counts = st.one_of(st.integers(1, 20), st.integers(1, MAX_LEVELS), st.sampled_from([255, 256, 32767,
                                                                                         32768, MAX_LEVELS]))
PROPS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _width_overflows(x: np.ndarray) -> bool:
    with np.errstate(over="ignore"):
        return not np.isfinite(np.float32(x.max()) - np.float32(x.min()))


@PROPS
@given(x=vectors, levels=level_counts, name=st.sampled_from(RANGE))
def test_range_quantizers_properties(x: np.ndarray, levels: int, name: str) -> None:
    xt = torch.from_numpy(x)
    q = get_quantizer(name)
    if _width_overflows(x):
        with pytest.raises(InvalidArgument) as err:
            q(xt, levels, torch_generator(0, 0, 0))
        assert err.value.argument == "x"
        return
    b = q(xt, levels, torch_generator(0, 0, 0))
    codes = b.codes.numpy().astype(np.int64)
    assert b.codes.dtype == grid.code_dtype(levels) and b.d == x.size
    assert codes.min() >= 0 and codes.max() <= levels
    assert (b.lower, b.upper) == (float(x.min()), float(x.max()))
    deq = b.dequantize().numpy().astype(np.float64)
    assert b.dequantize().dtype == torch.float32
    assert np.all(deq >= b.lower) and np.all(deq <= b.upper)
    tol = grid_tolerance(b.lower, b.upper)
    step = b.range_ / levels
    assert np.all(np.abs(deq - (b.lower + codes * step)) <= tol)  # on the grid
    err = np.abs(deq - x.astype(np.float64))
    if b.range_ == 0:
        assert np.all(codes == 0) and torch.equal(b.dequantize(), xt) and b.squared_error(xt) == 0.0
        assert b.error_bound == 0.0
    elif name == "deterministic":
        assert np.all(err <= step / 2 + tol)
        # per draw: ‖Q(x) − x‖² ≤ d R²/(4s²), up to the float32 allowance on each coordinate
        assert b.squared_error(xt) <= b.error_bound + x.size * (step * tol + tol**2)
    else:
        assert np.all(err <= step + tol)  # one of the two neighbours


@PROPS
@given(x=vectors, levels=level_counts)
def test_qsgd_properties(x: np.ndarray, levels: int) -> None:
    xt = torch.from_numpy(x)
    norm64 = float(np.linalg.norm(x.astype(np.float64)))
    assume(abs(norm64 - F32_MAX) > 1e-5 * F32_MAX)  # the float32 rounding of a norm at the edge could go either way
    if norm64 > F32_MAX:
        with pytest.raises(InvalidArgument):
            qsgd.quantize(xt, levels, torch_generator(0, 0, 0))
        return
    b = qsgd.quantize(xt, levels, torch_generator(0, 0, 0))
    codes = b.codes.numpy().astype(np.int64)
    signs = b.signs.numpy()
    assert codes.min() >= 0 and codes.max() <= levels
    assert not np.any(signs & (codes == 0))  # canonical: a zero level has no sign
    assert b.norm >= float(np.abs(x).max())
    assert abs(b.norm - norm64) <= 1e-5 * norm64 + 2.0**-149
    deq = b.dequantize().numpy().astype(np.float64)
    tol = grid_tolerance(0.0, b.norm)
    step = b.norm / levels
    assert np.all(np.abs(deq) <= b.norm)
    assert np.all(deq * x >= 0)
    assert np.all(np.abs(np.abs(deq) - codes * step) <= tol)
    assert np.all(np.abs(deq - x) <= step + tol)
    if b.norm == 0:
        assert np.all(codes == 0) and b.error_bound == 0.0


# ---------------------------------------------------------------------------------------------------------
# The block: formulas from theory, the fixed dequantization formula, validation


def test_block_cost_and_bound_are_the_theory_functions() -> None:
    x = torch.randn(26122)
    for name in QUANTIZERS:
        b = get_quantizer(name)(x, 15, torch_generator(0, 0, 0))
        if name == "qsgd":
            assert b.bits_formula == numeric.bits_qsgd(26122, 15) == 26122 * 5 + 32
            assert b.error_bound == pytest.approx(float(numeric.qsgd_error_bound(26122, 15, b.norm**2)))
        else:
            assert b.bits_formula == numeric.bits_fixed(26122, 15) == 26122 * 4 + 64
            assert b.error_bound == float(numeric.quantization_error_bound(26122, b.range_, 15))


def test_dequantize_is_the_documented_float32_formula() -> None:
    x = torch.randn(999) * 3 + 1
    b = stochastic.quantize(x, 13, torch_generator(0, 0, 0))
    j = b.codes.numpy().astype(np.float32)
    m, M = np.float32(b.lower), np.float32(b.upper)
    expected = np.minimum(m + (j / np.float32(13)) * (M - m), M)
    assert np.array_equal(b.dequantize().numpy(), expected)
    qb = qsgd.quantize(x, 13, torch_generator(0, 0, 0))
    j = qb.codes.numpy().astype(np.float32)
    mag = (j / np.float32(13)) * np.float32(qb.norm)
    assert np.array_equal(qb.dequantize().numpy(), np.where(qb.signs.numpy(), -mag, mag))


def test_block_validation() -> None:
    codes = torch.zeros(4, dtype=torch.uint8)
    with pytest.raises(InvalidArgument):
        QuantizedBlock("nope", 3, codes)
    with pytest.raises(InvalidArgument):
        QuantizedBlock("stochastic", 3, codes.float())
    with pytest.raises(InvalidArgument):
        QuantizedBlock("stochastic", 3, codes, lower=1.0, upper=0.0)
    with pytest.raises(InvalidArgument):
        QuantizedBlock("stochastic", 3, codes, lower=0.1, upper=1.0)  # 0.1 is not a float32
    with pytest.raises(InvalidArgument):
        QuantizedBlock("qsgd", 3, codes, norm=1.0)  # signs missing
    QuantizedBlock("qsgd", 3, codes, norm=1.0, signs=torch.zeros(4, dtype=torch.bool))


# ---------------------------------------------------------------------------------------------------------
# Errors at the door


@pytest.mark.parametrize("name", list(QUANTIZERS))
@pytest.mark.parametrize("levels", [0, -1, MAX_LEVELS + 1, 2.0, True, "3"])
def test_bad_levels(name: str, levels: object) -> None:
    with pytest.raises(InvalidArgument) as err:
        get_quantizer(name)(torch.randn(10), levels, torch_generator(0, 0, 0))
    assert err.value.argument == "levels"


@pytest.mark.parametrize("name", list(QUANTIZERS))
@pytest.mark.parametrize("x", [
    torch.randn(3, 4), torch.randn(5, dtype=torch.float64), torch.zeros(0), torch.arange(5), [1.0, 2.0],
    torch.tensor([1.0, float("nan")]), torch.tensor([0.0, float("inf")]), torch.tensor([-float("inf"), 0.0]),
])
def test_bad_blocks(name: str, x: object) -> None:
    with pytest.raises(InvalidArgument) as err:
        get_quantizer(name)(x, 3, torch_generator(0, 0, 0))
    assert err.value.argument == "x"


def test_range_overflow_fails_for_range_quantizers_only() -> None:
    x = torch.tensor([-2e38, 2e38])  # M − m overflows float32, ‖x‖ = 2.8e38 does not
    for name in RANGE:
        with pytest.raises(InvalidArgument):
            get_quantizer(name)(x, 3, torch_generator(0, 0, 0))
    assert qsgd.quantize(x, 3, torch_generator(0, 0, 0)).norm == pytest.approx(2**0.5 * 2e38, rel=1e-6)
    with pytest.raises(InvalidArgument):
        qsgd.quantize(torch.tensor([-3e38, 3e38]), 3, torch_generator(0, 0, 0))


@pytest.mark.parametrize("name", ["stochastic", "qsgd"])
def test_stochastic_quantizers_need_a_generator(name: str) -> None:
    with pytest.raises(InvalidArgument) as err:
        get_quantizer(name)(torch.randn(5), 3)
    assert err.value.argument == "generator"


def test_unknown_quantizer() -> None:
    with pytest.raises(InvalidArgument) as err:
        get_quantizer("uniform")
    assert err.value.argument == "quantizer"


# ---------------------------------------------------------------------------------------------------------
# Whole update vs per tensor


def test_quantize_blocks_whole_and_per_tensor() -> None:
    tensors = [torch.randn(3, 5), torch.randn(7), torch.randn(2, 2, 2)]
    q = QUANTIZERS["stochastic"]
    whole = quantize_blocks(q, torch.cat([t.reshape(-1) for t in tensors]), 15, torch_generator(0, 1, 2))
    assert len(whole) == 1 and whole[0].d == 30
    per = quantize_blocks(q, tensors, [3, 15, 255], torch_generator(0, 1, 2))
    assert [b.d for b in per] == [15, 7, 8] and [b.levels for b in per] == [3, 15, 255]
    # the generator is used block after block: the same as calling the quantizer in order
    g = torch_generator(0, 1, 2)
    manual = [q(t.reshape(-1), s, g) for t, s in zip(tensors, [3, 15, 255], strict=True)]
    assert all(torch.equal(a.codes, b.codes) for a, b in zip(per, manual, strict=True))
    same = quantize_blocks(q, tensors, 7, torch_generator(0, 1, 2))
    assert [b.levels for b in same] == [7, 7, 7]
    with pytest.raises(InvalidArgument) as err:
        quantize_blocks(q, tensors, [3, 15], torch_generator(0, 1, 2))
    assert err.value.argument == "levels_per_block"
    with pytest.raises(InvalidArgument):
        quantize_blocks(q, [], 3, torch_generator(0, 1, 2))


# ---------------------------------------------------------------------------------------------------------
# The benchmark runs (speed claims live in the benchmark, not here)


def test_benchmark_runs_and_reports_every_row() -> None:
    from fedquant.benchmarks.quantizers import bench_quantize, format

    result = bench_quantize(n=1000, levels=15, repeats=1)
    expected = {"copy", "range (min, max)", "stochastic/dither", "qsgd/dither", *QUANTIZERS,
                *(f"{name}/{part}" for name in QUANTIZERS
                  for part in ("quantize", "encode", "decode", "decode+dequantize", "two-step encode",
                               "two-step decode", "decode, new tensor"))}
    assert set(result["rows"]) == expected
    for key, goal in result["goals"].items():
        assert result["rows"][key]["goal_met"] == (result["rows"][key]["ratio_to_copy"] >= goal)
    for row in result["rows"].values():
        assert row["seconds"] > 0 and row["gbps"] > 0 and row["ratio_to_copy"] > 0
    assert result["rows"]["copy"]["ratio_to_copy"] == 1.0
    for size in result["sizes"].values():
        assert size["fixed_bytes"] == math.ceil(size["bits_formula"] / 8) + size["fixed_header_bytes"]
    table = format(result)
    assert all(name in table for name in expected)
