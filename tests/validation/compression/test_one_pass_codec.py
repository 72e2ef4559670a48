"""The fixed codec's one-pass forms: ``quantize_encode`` writes the bytes ``encode(quantizer(...))`` writes and
``decode_dequantize`` returns the values ``decode(...).dequantize()`` returns, bit for bit, for every scheme,
block and thread count, with the same draws from the generator and the same refusals."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from fedquant.errors import InvalidArgument
from fedquant.validation.compression import dither, fixed_codec
from fedquant.validation.compression.grid import MAX_LEVELS
from fedquant.validation.compression.quantizers import QUANTIZERS
from fedquant.validation.rng import torch_generator

PROPS = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])

finite32 = st.floats(width=32, allow_nan=False, allow_infinity=False, min_value=-(2.0**100), max_value=2.0**100)
#: raw values, constants, update-like blocks, and ranges so small the grid pre-scales by a power of two
block_values = st.one_of(
    hnp.arrays(np.float32, st.integers(1, 80), elements=finite32),
    st.builds(lambda v, n: np.full(n, v, np.float32), finite32, st.integers(1, 60)),
    st.builds(lambda n, k: (np.random.default_rng(n).standard_normal(n) * 10.0**-k).astype(np.float32),
              st.integers(1, 5000), st.sampled_from([2, 20, 38, 42])),
)
levels_st = st.one_of(st.integers(1, 20), st.integers(1, MAX_LEVELS))


def same_values(a: torch.Tensor, b: torch.Tensor) -> bool:
    """Equal bit patterns (so −0.0 and 0.0 differ), not just equal numbers."""
    return a.dtype == b.dtype == torch.float32 and torch.equal(a.view(torch.int32), b.view(torch.int32))


@PROPS
@given(x=block_values, levels=levels_st, scheme=st.sampled_from(list(QUANTIZERS)), seed=st.integers(0, 2**16))
def test_one_pass_encode_and_decode_match_the_two_step_path(x: np.ndarray, levels: int, scheme: str,
                                                            seed: int) -> None:
    q, t = QUANTIZERS[scheme], torch.from_numpy(x)
    g_two, g_one = torch_generator(seed, 1, 2), torch_generator(seed, 1, 2)
    message = fixed_codec.encode(q(t, levels, g_two))
    assert fixed_codec.quantize_encode(q, t, levels, g_one) == message
    assert torch.equal(g_two.get_state(), g_one.get_state())  # the same draws
    assert same_values(fixed_codec.decode_dequantize(message), fixed_codec.decode(message).dequantize())


@pytest.mark.parametrize("levels", [1, 3, 7, 15, 100, 255, 4095, 32767, MAX_LEVELS])
@pytest.mark.parametrize("scheme", ["stochastic", "deterministic"])
def test_one_pass_forms_across_threads_and_tiles(scheme: str, levels: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """Three threads on CHUNK-aligned ranges, many tiles, a ragged end: the same bytes and values as one thread."""
    n = 3 * dither.CHUNK + 13
    x = torch.randn(n, generator=torch.Generator().manual_seed(levels)) * 0.01
    q = QUANTIZERS[scheme]
    message = fixed_codec.encode(q(x, levels, torch_generator(5, 0, 0)))
    values = fixed_codec.decode(message).dequantize()
    monkeypatch.setattr(dither, "PARALLEL_MIN", dither.CHUNK)
    threads = torch.get_num_threads()
    torch.set_num_threads(3)
    try:
        assert fixed_codec.quantize_encode(q, x, levels, torch_generator(5, 0, 0)) == message
        assert same_values(fixed_codec.decode_dequantize(message), values)
    finally:
        torch.set_num_threads(threads)


def test_decode_into_out_writes_and_returns_it() -> None:
    x = torch.randn(1000, generator=torch.Generator().manual_seed(0))
    message = fixed_codec.quantize_encode(QUANTIZERS["stochastic"], x, 15, torch_generator(0, 0, 0))
    buffer = torch.full((1200,), 7.0)
    out = buffer[100:1100]
    assert fixed_codec.decode_dequantize(message, out=out) is out
    assert same_values(out, fixed_codec.decode(message).dequantize())
    assert (buffer[:100] == 7).all() and (buffer[1100:] == 7).all()
    for bad in (torch.empty(999), torch.empty(1000, dtype=torch.float64), torch.empty(2000)[::2], np.empty(1000)):
        with pytest.raises(InvalidArgument, match="out"):
            fixed_codec.decode_dequantize(message, out=bad)


@pytest.mark.parametrize("scheme", list(QUANTIZERS))
def test_quantize_encode_refuses_what_the_quantizer_refuses(scheme: str) -> None:
    q = QUANTIZERS[scheme]
    for x, levels in [(torch.tensor([1.0, float("nan")]), 3), (torch.ones(2, 2), 3), (torch.ones(3), 0),
                      (torch.ones(3, dtype=torch.float64), 3), (torch.tensor([-3e38, 3e38]), 3)]:
        with pytest.raises(InvalidArgument) as two_step:
            q(x, levels, torch_generator(0, 0, 0))
        with pytest.raises(InvalidArgument) as one_pass:
            fixed_codec.quantize_encode(q, x, levels, torch_generator(0, 0, 0))
        assert str(one_pass.value) == str(two_step.value)
    with pytest.raises(InvalidArgument, match="quantizer"):
        fixed_codec.quantize_encode(q.fn, torch.ones(3), 3, torch_generator(0, 0, 0))  # type: ignore[arg-type]


def test_decode_dequantize_rejects_a_code_above_levels() -> None:
    x = torch.linspace(0, 1, 500)
    message = bytearray(fixed_codec.quantize_encode(QUANTIZERS["deterministic"], x, 5, None))
    message[fixed_codec.HEADER_BYTES + 8 + 39] |= 0b111  # code 104 (byte 39 = bit 312) → 7 > s = 5 (3 bits each)
    with pytest.raises(ValueError, match="codes in"):
        fixed_codec.decode(bytes(message))
    with pytest.raises(ValueError, match="codes in"):
        fixed_codec.decode_dequantize(bytes(message))


@settings(max_examples=300, deadline=None)
@given(data=st.data(), scheme=st.sampled_from(list(QUANTIZERS)))
def test_damaged_messages_get_the_same_answer_from_both_decoders(data: st.DataObject, scheme: str) -> None:
    """Flip bits, cut or extend a message: decode_dequantize raises exactly when decode does, else agrees."""
    d, levels = data.draw(st.integers(1, 400)), data.draw(st.integers(1, 300))
    x = torch.randn(d, generator=torch.Generator().manual_seed(d))
    message = bytearray(fixed_codec.quantize_encode(QUANTIZERS[scheme], x, levels, torch_generator(0, 0, 0)))
    for _ in range(data.draw(st.integers(1, 4))):
        i = data.draw(st.integers(0, len(message) - 1))
        message[i] ^= 1 << data.draw(st.integers(0, 7))
    cut = data.draw(st.integers(0, len(message)))
    damaged = bytes(message[:cut] + bytes(data.draw(st.binary(max_size=3))))
    try:
        expected = fixed_codec.decode(damaged).dequantize()
    except ValueError as two_step:
        with pytest.raises(ValueError) as one_pass:
            fixed_codec.decode_dequantize(damaged)
        assert str(one_pass.value) == str(two_step)
        return
    assert same_values(fixed_codec.decode_dequantize(damaged), expected)
