"""Codecs: bit packing against a bit-plane reference, exact round trips, byte counts pinned to the theory's
bit formula (fixed codec) and to a per-symbol Elias-gamma reference (entropy codec), and clean errors on
truncated or corrupt input."""

from __future__ import annotations

import math
import struct

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from fedquant.theory import numeric
from fedquant.validation.compression import bitpack, dither, elias_codec, fixed_codec
from fedquant.validation.compression.grid import MAX_LEVELS
from fedquant.validation.compression.quantized_block import QuantizedBlock
from fedquant.validation.compression.quantizers import QUANTIZERS, get_quantizer
from fedquant.validation.rng import torch_generator

PROPS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
CODECS = {"fixed": fixed_codec, "elias": elias_codec}


def reference_pack(codes: np.ndarray, bits: int) -> np.ndarray:
    """Bit planes: code i's bit k is stream bit i·b + k, LSB-first within bytes (np.packbits little)."""
    planes = (codes.astype(np.int64)[:, None] >> np.arange(bits)) & 1
    return np.packbits(planes.astype(np.uint8).reshape(-1), bitorder="little")


# ---------------------------------------------------------------------------------------------------------
# bitpack


@PROPS
@given(data=st.data(), bits=st.integers(1, 16))
def test_bitpack_matches_reference_and_round_trips(data: st.DataObject, bits: int) -> None:
    n = data.draw(st.integers(0, 300))
    codes = data.draw(hnp.arrays(np.uint16 if bits > 8 else np.uint8, n, elements=st.integers(0, 2**bits - 1)))
    packed = bitpack.pack(codes, bits)
    assert packed.dtype == np.uint8 and packed.size == math.ceil(n * bits / 8) == bitpack.packed_nbytes(n, bits)
    assert np.array_equal(packed, reference_pack(codes, bits))
    assert np.array_equal(bitpack.unpack(packed.tobytes(), bits, n), codes)


@pytest.mark.parametrize("bits", range(1, 17))
def test_bitpack_long_input_crosses_slices(bits: int, rng: np.random.Generator,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """Three threads on CHUNK-aligned ranges (PARALLEL_MIN lowered) write the same bytes as the reference."""
    n = 3 * dither.CHUNK + 13
    codes = rng.integers(0, 2**bits, n)
    monkeypatch.setattr(dither, "PARALLEL_MIN", dither.CHUNK)
    threads = torch.get_num_threads()
    torch.set_num_threads(3)
    try:
        packed = bitpack.pack(torch.from_numpy(codes.astype(np.int32)), bits)
        unpacked, top = bitpack.unpack_with_max(packed, bits, n, np.int32)
    finally:
        torch.set_num_threads(threads)
    assert np.array_equal(packed, reference_pack(codes, bits))
    assert np.array_equal(unpacked, codes) and top == codes.max()


def test_bitpack_rejects_bad_input() -> None:
    with pytest.raises(ValueError):
        bitpack.pack(np.array([0, 8]), 3)  # 8 needs 4 bits
    with pytest.raises(ValueError):
        bitpack.pack(np.array([-1, 0]), 3)
    with pytest.raises(ValueError):
        bitpack.pack(np.array([0.5]), 3)
    for bits in (0, 17, 2.0):
        with pytest.raises(ValueError):
            bitpack.pack(np.array([0]), bits)
    good = bitpack.pack(np.array([1, 2, 3]), 3)  # 9 bits: 7 padding bits in the second byte
    with pytest.raises(ValueError):
        bitpack.unpack(good[:1], 3, 3)
    with pytest.raises(ValueError):
        bitpack.unpack(np.append(good, 0), 3, 3)
    with pytest.raises(ValueError):
        bitpack.unpack(good | np.array([0, 0x80], np.uint8), 3, 3)  # a padding bit set


@PROPS
@given(a=st.lists(st.integers(0, 1), max_size=40), b=st.lists(st.integers(0, 1), max_size=40))
def test_place_and_split_bits(a: list[int], b: list[int]) -> None:
    pa, pb = bitpack.pack(np.array(a, np.uint8), 1), bitpack.pack(np.array(b, np.uint8), 1)
    out = np.zeros(bitpack.packed_nbytes(len(a) + len(b), 1), np.uint8)
    out[: pa.size] = pa
    bitpack.place_bits(out, len(a), pb, len(b))
    assert np.array_equal(out, reference_pack(np.array(a + b), 1))
    first, second = bitpack.split_bits(out, len(a), len(b))
    assert np.array_equal(first, pa) and np.array_equal(second, pb)


# ---------------------------------------------------------------------------------------------------------
# round trips on quantized blocks of arbitrary data

finite32 = st.floats(width=32, allow_nan=False, allow_infinity=False, min_value=-(2.0**100), max_value=2.0**100)
blocks = st.builds(
    lambda x, levels, name, seed: get_quantizer(name)(torch.from_numpy(x), levels, torch_generator(seed, 0, 0)),
    st.one_of(hnp.arrays(np.float32, st.integers(1, 60), elements=finite32),
              st.builds(lambda v, n: np.full(n, v, np.float32), finite32, st.integers(1, 60)),
              st.builds(lambda n: np.random.default_rng(n).standard_normal(n).astype(np.float32) * 0.01,
                        st.integers(1, 3000))),
    st.one_of(st.integers(1, 20), st.integers(1, MAX_LEVELS)),
    st.sampled_from(list(QUANTIZERS)),
    st.integers(0, 2**16),
)


def assert_same_block(a: QuantizedBlock, b: QuantizedBlock) -> None:
    assert (a.scheme, a.levels, a.lower, a.upper, a.norm) == (b.scheme, b.levels, b.lower, b.upper, b.norm)
    assert torch.equal(a.codes, b.codes) and a.codes.dtype == b.codes.dtype
    assert (a.signs is None) == (b.signs is None)
    if a.signs is not None:
        assert torch.equal(a.signs, b.signs)
    assert torch.equal(a.dequantize(), b.dequantize())


@PROPS
@given(q=blocks)
def test_fixed_round_trip_and_length_is_the_formula(q: QuantizedBlock) -> None:
    message = fixed_codec.encode(q)
    assert isinstance(message, bytes)
    assert len(message) == math.ceil(q.bits_formula / 8) + fixed_codec.HEADER_BYTES
    assert len(message) == fixed_codec.message_nbytes(q.scheme, q.d, q.levels)
    assert_same_block(fixed_codec.decode(message), q)


@PROPS
@given(q=blocks)
def test_elias_round_trip_and_length_is_measured_exactly(q: QuantizedBlock) -> None:
    message = elias_codec.encode(q)
    assert_same_block(elias_codec.decode(message), q)
    assert len(message) == elias_codec.encoded_nbytes(q)
    prefixes, suffixes = reference_gamma(q)
    side = 8 if q.scheme != "qsgd" else 4
    assert len(message) == elias_codec.HEADER_BYTES + side + math.ceil((len(prefixes) + len(suffixes)) / 8)
    payload = np.unpackbits(np.frombuffer(message, np.uint8, offset=elias_codec.HEADER_BYTES + side))
    bits = "".join(map(str, payload))
    assert bits == (prefixes + suffixes).ljust(len(bits), "0")


def reference_gamma(q: QuantizedBlock) -> tuple[str, str]:
    """Per symbol, in plain Python: signed offsets from the zero code, zigzag, (run + 1, value) pairs and the
    final run + 1 as Elias-gamma codewords; returns (the prefixes ⌊log2 N⌋ zeros + '1', the suffixes)."""
    codes = [int(c) for c in q.codes]
    if q.scheme == "qsgd":
        offsets = [-c if s else c for c, s in zip(codes, q.signs.tolist(), strict=True)]
    else:
        width = float(np.float32(q.upper) - np.float32(q.lower))
        z = 0 if width == 0 else min(q.levels, max(0, round(-q.lower * q.levels / width)))
        offsets = [c - z for c in codes]
    numbers, run = [], 0
    for o in offsets:
        u = 2 * o if o >= 0 else -2 * o - 1
        if u == 0:
            run += 1
        else:
            numbers += [run + 1, u]
            run = 0
    numbers.append(run + 1)
    prefixes = "".join("0" * (n.bit_length() - 1) + "1" for n in numbers)
    suffixes = "".join(bin(n)[3:] for n in numbers)
    return prefixes, suffixes


# ---------------------------------------------------------------------------------------------------------
# pinned byte counts (as FLSim's channel tests pin message sizes)


def _block(scheme: str, d: int, levels: int) -> QuantizedBlock:
    x = torch.randn(d, generator=torch.Generator().manual_seed(d))
    return get_quantizer(scheme)(x, levels, torch_generator(0, 0, 0))


@pytest.mark.parametrize(("scheme", "d", "levels", "expected"), [
    # ceil((d·⌈log2(s+1)⌉ + 64)/8) + 8-byte header
    ("stochastic", 26_122, 15, math.ceil((26_122 * 4 + 64) / 8) + 8),
    ("stochastic", 26_122, 15, 13_077),
    ("deterministic", 26_122, 15, 13_077),
    ("stochastic", 1000, 5, 391),  # 3 bits: 3000 + 64 = 3064 bits = 383 bytes
    ("deterministic", 1, 1, 17),  # 65 bits → 9 bytes
    ("stochastic", 7, MAX_LEVELS, 30),  # 16 bits: 112 + 64 = 176 bits = 22 bytes
    # QSGD: ceil((d(⌈log2(s+1)⌉ + 1) + 32)/8) + 8
    ("qsgd", 26_122, 15, math.ceil((26_122 * 5 + 32) / 8) + 8),
    ("qsgd", 26_122, 15, 16_339),
    ("qsgd", 1, 1, 13),  # 2 + 32 = 34 bits → 5 bytes
    ("qsgd", 7, MAX_LEVELS, 27),  # 7·17 + 32 = 151 bits → 19 bytes
])
def test_pinned_fixed_sizes(scheme: str, d: int, levels: int, expected: int) -> None:
    q = _block(scheme, d, levels)
    formula = numeric.bits_qsgd(d, levels) if scheme == "qsgd" else numeric.bits_fixed(d, levels)
    assert q.bits_formula == formula
    assert len(fixed_codec.encode(q)) == expected == math.ceil(formula / 8) + fixed_codec.HEADER_BYTES
    assert fixed_codec.HEADER_BYTES == 8


def test_elias_is_smaller_where_the_codes_are_sparse() -> None:
    """Measured, not predicted: QSGD at s = 1 on 25k Gaussian coordinates is mostly zeros, so zero-run
    coding beats the fixed code's 2 bits per coordinate by far; at s = 255 most codes are far from zero."""
    x = torch.randn(25_000, generator=torch.Generator().manual_seed(0))
    sparse = QUANTIZERS["qsgd"](x, 1, torch_generator(0, 0, 0))
    assert elias_codec.encoded_nbytes(sparse) < 0.2 * len(fixed_codec.encode(sparse))
    dense = QUANTIZERS["stochastic"](x, 255, torch_generator(0, 0, 0))
    assert elias_codec.encoded_nbytes(dense) > len(fixed_codec.encode(dense))


# ---------------------------------------------------------------------------------------------------------
# corrupt and truncated input


@pytest.mark.parametrize("codec", list(CODECS))
@pytest.mark.parametrize("scheme", list(QUANTIZERS))
def test_truncated_or_padded_messages_fail_cleanly(codec: str, scheme: str) -> None:
    c = CODECS[codec]
    message = c.encode(_block(scheme, 101, 5))
    for bad in (message[:-1], message + b"\x00", message[: c.HEADER_BYTES - 1], b"", message[: c.HEADER_BYTES]):
        with pytest.raises(ValueError):
            c.decode(bad)


@pytest.mark.parametrize("codec", list(CODECS))
def test_bad_headers_fail_cleanly(codec: str) -> None:
    c = CODECS[codec]
    message = bytearray(c.encode(_block("stochastic", 50, 5)))
    for offset, value in [(0, b"X"), (1, b"\x09"), (2, b"\x00\x00"), (4, b"\x00\x00\x00\x00")]:
        bad = message.copy()
        bad[offset: offset + len(value)] = value
        with pytest.raises(ValueError):
            c.decode(bytes(bad))
    other = CODECS["elias" if codec == "fixed" else "fixed"]
    with pytest.raises(ValueError):
        c.decode(other.encode(_block("stochastic", 50, 5)))


@pytest.mark.parametrize("codec", list(CODECS))
def test_bad_side_information_fails_cleanly(codec: str) -> None:
    c = CODECS[codec]
    at = c.HEADER_BYTES
    message = bytearray(c.encode(_block("deterministic", 50, 5)))
    for lower, upper in [(float("nan"), 1.0), (1.0, -1.0), (-3e38, 3e38), (0.0, float("inf"))]:
        bad = message.copy()
        bad[at: at + 8] = struct.pack("<ff", lower, upper)
        with pytest.raises(ValueError):
            c.decode(bytes(bad))
    message = bytearray(c.encode(_block("qsgd", 50, 5)))
    for norm in (-1.0, float("nan"), float("inf")):
        bad = message.copy()
        bad[at: at + 4] = struct.pack("<f", norm)
        with pytest.raises(ValueError):
            c.decode(bytes(bad))


def test_fixed_code_above_levels_fails() -> None:
    q = QuantizedBlock("stochastic", 5, torch.tensor([0, 5, 3], dtype=torch.uint8), lower=0.0, upper=1.0)
    message = bytearray(fixed_codec.encode(q))
    message[fixed_codec.HEADER_BYTES + 8] |= 0b111  # first code 0 → 7 > s = 5 (3 bits each)
    with pytest.raises(ValueError, match="codes in"):
        fixed_codec.decode(bytes(message))


def test_elias_structure_errors() -> None:
    q = _block("stochastic", 200, 15)
    message = bytearray(elias_codec.encode(q))
    k = struct.unpack_from("<I", message, 8)[0]
    for words in (k + 1, k - 2, 2 * 200 + 3, 0):  # even, too few, more than 2d + 1, none
        bad = message.copy()
        struct.pack_into("<I", bad, 8, words)
        with pytest.raises(ValueError):
            elias_codec.decode(bytes(bad))
    bad = message.copy()
    struct.pack_into("<I", bad, 4, 201)  # d off by one: runs and values no longer cover d
    with pytest.raises(ValueError):
        elias_codec.decode(bytes(bad))


@settings(max_examples=300, deadline=None)
@given(data=st.data(), codec=st.sampled_from(list(CODECS)), scheme=st.sampled_from(list(QUANTIZERS)))
def test_damaged_messages_raise_value_error_or_decode(data: st.DataObject, codec: str, scheme: str) -> None:
    """Flip bits, cut or extend a valid message: decode either raises a ValueError or returns a valid block."""
    c = CODECS[codec]
    message = bytearray(c.encode(_block(scheme, data.draw(st.integers(1, 70)), data.draw(st.integers(1, 300)))))
    for _ in range(data.draw(st.integers(1, 4))):
        i = data.draw(st.integers(0, len(message) - 1))
        message[i] ^= 1 << data.draw(st.integers(0, 7))
    cut = data.draw(st.integers(0, len(message)))
    message = message[:cut] + bytes(data.draw(st.binary(max_size=3)))
    try:
        block = c.decode(bytes(message))
    except ValueError:
        return
    assert isinstance(block, QuantizedBlock)
    codes = block.codes.numpy()
    assert codes.min() >= 0 and codes.max() <= block.levels
    assert torch.isfinite(block.dequantize()).all()
