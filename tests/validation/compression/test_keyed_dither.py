"""The stochastic quantizer's keyed dither (keyed_dither.py) and its fused kernels (range_kernels.py): the
published SplitMix64 values, numba = numpy reference, uniformity (chi-square over the 2^16 values),
independence between neighbouring coordinates and seeds, and the fused codes = the formula's numpy reference
for the same dithers, whatever the thread count."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from scipy import stats

from fedquant.validation.compression import deterministic, dither, jit, keyed_dither, stochastic
from fedquant.validation.compression.grid import MAX_LEVELS
from fedquant.validation.compression.quantized_block import QuantizedBlock
from fedquant.validation.rng import torch_generator

KERNELS = jit.kernels("range_kernels")
PROPS = settings(max_examples=200, deadline=None)


def kernel_dither(seed: int, start: int, count: int) -> np.ndarray:
    out = np.zeros(start + count, np.int16)
    KERNELS.fill_dither(np.uint64(seed), start, start + count, out)
    return out[start:]


def test_words_are_splitmix64() -> None:
    """Vigna's splitmix64.c seeded with 0 starts 0xE220A8397B1DCDAF, 0x6E789E6AA1B965F4, 0x06C45D188009454F."""
    assert [int(w) for w in keyed_dither.words(0, 0, 3)] == [0xE220A8397B1DCDAF, 0x6E789E6AA1B965F4,
                                                            0x06C45D188009454F]


@PROPS
@given(seed=st.integers(0, 2**63 - 1), word=st.integers(0, 2**14), count=st.integers(0, 3000),
       offset=st.integers(0, 3))
def test_kernel_dither_is_the_numpy_reference_at_any_position(seed: int, word: int, count: int,
                                                              offset: int) -> None:
    start = 4 * word
    whole = keyed_dither.keyed_dither(seed, start, count + offset)
    assert np.array_equal(kernel_dither(seed, start, count + offset), whole)
    assert np.array_equal(keyed_dither.keyed_dither(seed, start + offset, count), whole[offset:])


N_UNIFORM = 1 << 24  # ≈ 1.7·10^7 draws, 256 per bin on average


def test_dithers_are_uniform_over_the_2_16_values() -> None:
    """Chi-square of N_UNIFORM dithers over the 65,536 values: p-value above 10^-6 (and below 1 − 10^-6, no
    suspiciously perfect fit). Under uniformity each bound fails with probability 10^-6; the seed is fixed,
    so the outcome is reproducible."""
    counts = np.bincount(kernel_dither(2024, 0, N_UNIFORM).view(np.uint16), minlength=1 << 16)
    p = stats.chisquare(counts).pvalue
    assert 1e-6 < p < 1 - 1e-6, p


N_CORR = 1 << 22


@pytest.mark.parametrize("lag", [1, 2, 3, 4, 5, 8])
def test_neighbouring_coordinates_are_uncorrelated(lag: int) -> None:
    """Pearson correlation of k_i and k_{i+lag} (lags 1–3 inside a word, 4 and beyond across words) over
    N_CORR pairs: for independent values its sampling standard deviation is 1/√N, so |r| ≤ 5/√N fails by
    chance with probability ≈ 6·10^-7."""
    k = kernel_dither(7, 0, N_CORR + lag).astype(np.float64)
    r = np.corrcoef(k[:-lag], k[lag:])[0, 1]
    assert abs(r) <= 5 / math.sqrt(N_CORR), r


@pytest.mark.parametrize("other", [1, 2, 1 << 32])
def test_neighbouring_seeds_are_uncorrelated(other: int) -> None:
    """The same coordinates under seeds σ and σ + δ: |r| ≤ 5/√N as above (and the bits differ, ~half)."""
    a = kernel_dither(1234, 0, N_CORR)
    b = kernel_dither(1234 + other, 0, N_CORR)
    r = np.corrcoef(a.astype(np.float64), b.astype(np.float64))[0, 1]
    assert abs(r) <= 5 / math.sqrt(N_CORR), r
    same = np.mean(a == b)
    assert abs(same - 2.0**-16) <= 5 * math.sqrt(2.0**-16 / N_CORR)  # P(k = k') = 2^-16 if independent


# ---------------------------------------------------------------------------------------------------------
# The fused kernels against the formula's numpy references (same dithers)

finite = st.floats(-1e6, 1e6, width=32)
blocks = st.one_of(
    hnp.arrays(np.float32, st.integers(1, 3000), elements=finite),
    st.builds(lambda a, e: (a * 2.0**e).astype(np.float32),
              hnp.arrays(np.float64, st.integers(1, 3000), elements=st.floats(-1, 1)), st.integers(-149, 100)),
)
levels_st = st.one_of(st.integers(1, 300), st.integers(1, MAX_LEVELS))


@PROPS
@given(x=blocks, levels=levels_st, key=st.integers(0, 2**16))
def test_fused_stochastic_codes_are_codes_from_dither_with_the_keyed_dither(x: np.ndarray, levels: int,
                                                                            key: int) -> None:
    with np.errstate(over="ignore"):
        if not np.isfinite(np.float32(x.max()) - np.float32(x.min())):
            return
    gen, twin = torch_generator(key, 0, 0), torch_generator(key, 0, 0)
    q = stochastic.quantize(torch.from_numpy(x), levels, gen)
    seed = dither.dither_seed(twin)
    if q.lower == q.upper:
        assert np.all(q.codes.numpy() == 0)
        return
    ref = stochastic.codes_from_dither(x, q.lower, q.upper, levels, keyed_dither.keyed_dither(seed, 0, x.size))
    assert q.codes.numpy().dtype == ref.dtype and np.array_equal(q.codes.numpy(), ref)


@PROPS
@given(x=blocks, levels=levels_st)
def test_fused_deterministic_codes_are_the_numpy_formula(x: np.ndarray, levels: int) -> None:
    with np.errstate(over="ignore"):
        if not np.isfinite(np.float32(x.max()) - np.float32(x.min())) or x.min() == x.max():
            return
    q = deterministic.quantize(torch.from_numpy(x), levels)
    assert np.array_equal(q.codes.numpy(), deterministic.codes_reference(x, q.lower, q.upper, levels))


@PROPS
@given(data=st.data(), levels=levels_st, d=st.integers(1, 3000))
def test_table_dequantize_is_the_formula(data: st.DataObject, levels: int, d: int) -> None:
    lower = data.draw(st.floats(-1e3, 1e3, width=32))
    upper = data.draw(st.floats(lower, 1e3 + 1, width=32))
    codes = data.draw(hnp.arrays(np.int32, d, elements=st.integers(0, levels)))
    q = QuantizedBlock("stochastic", levels, torch.from_numpy(codes), lower=lower, upper=upper)
    assert np.array_equal(q.dequantize().numpy(), q._formula(codes.astype(np.float32)))


def test_out_of_range_codes_dequantize_by_the_formula() -> None:
    codes = np.array([0, 1, 9, -1, 3, 2, 1, 0, 1, 2], np.int16)  # 9 and −1 are outside [0, s = 3]
    q = QuantizedBlock("stochastic", 3, torch.from_numpy(codes), lower=-1.0, upper=2.0)
    assert np.array_equal(q.dequantize().numpy(), q._formula(codes.astype(np.float32)))


@pytest.mark.parametrize("name", ["stochastic", "deterministic"])
def test_fused_codes_do_not_depend_on_ranges_that_are_not_chunk_aligned(name: str) -> None:
    """Any split of [0, n) at multiples of 4 gives the same codes (each code a function of x_i and i)."""
    x = np.random.default_rng(3).standard_normal(10_001).astype(np.float32)
    whole = (stochastic if name == "stochastic" else deterministic).quantize(
        torch.from_numpy(x), 255, torch_generator(5, 0, 0)).codes.numpy()
    lo, one = np.float32(x.min()), np.float32(1)
    pieces = np.empty_like(whole)
    for a, b in [(0, 4), (4, 4000), (4000, 4004), (4004, 10_001)]:
        if name == "stochastic":
            seed = dither.dither_seed(torch_generator(5, 0, 0))
            KERNELS.stochastic_codes(x, lo, whole_scale(x, 255), one, one, False, np.float32(255), True,
                                     np.uint64(seed), a, b, pieces)
        else:
            KERNELS.deterministic_codes(x, lo, whole_scale(x, 255), one, one, False, a, b, pieces)
    assert np.array_equal(pieces, whole)


def whole_scale(x: np.ndarray, levels: int) -> np.float32:
    from fedquant.validation.compression.grid import float32_width, unit_scale

    sc = unit_scale(float32_width(float(x.min()), float(x.max())), levels)
    assert sc.shift == 0
    return sc.scale


def test_jit_compiles_without_a_cache_location(monkeypatch: pytest.MonkeyPatch) -> None:
    """No writable cache directory (numba finds no locator): the kernel is compiled uncached and works."""
    from numba.core import caching

    monkeypatch.setattr(caching.CacheImpl, "_locator_classes", [])

    def twice(a: np.ndarray) -> float:
        return 2.0 * a.sum()

    fn = jit.njit(twice)
    assert fn(np.arange(4.0)) == 12.0 and fn._cache.__class__.__name__ == "NullCache"
