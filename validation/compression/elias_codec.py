"""An entropy-coded message: zero runs and nonzero values as Elias-gamma codewords (QSGD-style), vectorised.

Symbols. Each code becomes a signed offset from the code that stands for zero: for the range schemes
z = the grid index nearest to 0, round(−m·s/R) clipped to [0, s] (0 when R = 0), offset = code − z; for QSGD
the signed level ±code. Offsets are zigzagged to u ≥ 0 (0, −1, 1, −2, … → 0, 1, 2, 3, …). The sequence u_1..u_d
is cut into (run of zeros, nonzero value) pairs plus the final run, and each number N ≥ 1 — run + 1, value —
is an Elias-gamma codeword: ⌊log2 N⌋ zeros, then N in binary (2⌊log2 N⌋ + 1 bits). This is the structure of
QSGD's code (Alistarh et al. 2017, Theorem 3.2: the gaps between nonzeros and the nonzero levels, each with an
Elias code; the recursive Elias-omega code there, gamma here).

Layout (big-endian bit order within bytes):

    header (HEADER, 12 bytes, little-endian): tag b"E" | scheme id (uint8) | s (uint16) | d (uint32)
                                              | K = number of codewords (uint32)
    side information as in the fixed codec (m, M or ‖x‖ as float32)
    the K unary prefixes (⌊log2 N⌋ zeros and the leading 1 of each codeword), then the K binary suffixes
    (the bits of N below its leading 1), zero-padded to a byte

Storing the prefixes before the suffixes moves bits around but not their number: the payload is exactly
Σ_k (2⌊log2 N_k⌋ + 1) bits, the same as interleaved gamma codewords, and both directions vectorise (the
prefix section is decoded by locating its K ones; the suffixes then sit at known offsets). K in the header
is what lets the decoder find the end of the prefixes.

The size is measured, not predicted: :func:`encoded_nbytes` computes it without building the bits, and the
tests check it against ``len(encode(q))`` and against a per-symbol reference. Compare it with the fixed code's
``ceil(q.bits_formula / 8) + fixed_codec.HEADER_BYTES``.
"""

from __future__ import annotations

import struct

import numpy as np
import torch

from fedquant.errors import InvalidArgument
from fedquant.validation.compression import fixed_codec
from fedquant.validation.compression.grid import float32_width, numpy_code_dtype
from fedquant.validation.compression.quantized_block import RANGE_SCHEMES, SCHEME_IDS, QuantizedBlock

#: tag, scheme id, levels s, d, number of gamma codewords K
HEADER = struct.Struct("<cBHII")
HEADER_BYTES = HEADER.size
TAG = b"E"
#: N ≤ d + 1 ≤ 2^31, so a codeword's length ⌊log2 N⌋ + 1 is at most 32
_MAX_LENGTH = 32
#: ones per byte value
_POPCOUNT = np.array([bin(i).count("1") for i in range(256)], np.uint8)


def zero_code(lower: float, upper: float, levels: int) -> int:
    """z: the grid index whose value m + z·R/s is nearest to 0, clipped to [0, s]; 0 when R = 0."""
    width = float(float32_width(lower, upper))
    if width == 0:
        return 0
    return int(min(levels, max(0, round(-lower * levels / width))))


def _zigzag_symbols(q: QuantizedBlock) -> np.ndarray:
    """u_i ≥ 0: the zigzagged signed offsets (int32, computed in place: fewer temporaries, fewer page faults)."""
    u = q.codes.numpy().astype(np.int32)
    if q.scheme in RANGE_SCHEMES:
        u -= zero_code(q.lower, q.upper, q.levels)
    else:
        assert q.signs is not None
        np.negative(u, out=u, where=q.signs.numpy())
    sign = u >> 31  # −1 for negative offsets, 0 otherwise
    u <<= 1
    u ^= sign  # 0, −1, 1, −2, … → 0, 1, 2, 3, …
    return u


def _gamma_numbers(q: QuantizedBlock) -> np.ndarray:
    """N_1..N_K (int32): run₁+1, value₁, …, run_k+1, value_k, final run + 1 (zigzagged values ≥ 1)."""
    u = _zigzag_symbols(q)
    nz = np.flatnonzero(u)
    k = nz.size
    numbers = np.empty(2 * k + 1, np.int32)
    if k:
        numbers[0] = nz[0] + 1  # run + 1 before each nonzero
        np.subtract(nz[1:], nz[:-1], out=numbers[2:2 * k:2], casting="unsafe")
        np.take(u, nz, out=numbers[1:2 * k:2])
    numbers[-1] = q.d - (nz[-1] + 1 if k else 0) + 1
    return numbers


def _lengths(numbers: np.ndarray) -> np.ndarray:
    """⌊log2 N⌋ + 1 for N ≥ 1 (int32; frexp is exact for integers below 2^53)."""
    return np.frexp(numbers)[1]


def _side_nbytes(scheme: str) -> int:
    return 8 if scheme in RANGE_SCHEMES else 4


def encoded_nbytes(q: QuantizedBlock) -> int:
    """len(encode(q)), computed from the symbols without building the bit stream."""
    lengths = _lengths(_gamma_numbers(q))
    return HEADER_BYTES + _side_nbytes(q.scheme) + -(-int(2 * lengths.sum() - lengths.size) // 8)


_WINDOW = 5  # bytes: a field of ≤ 32 bits at any bit offset within a byte spans at most 5 bytes


def _scatter_fields(nbytes: int, offsets: np.ndarray, lengths: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Bytes holding each value in ``lengths`` (1..64) bits at bit ``offsets`` (MSB first), in O(fields).

    Fields must be sorted by offset and must not overlap. Each field goes into the big-endian 64-bit word that
    holds its first bit, and its low part into the next word when it straddles two; the parts of each word
    are OR-ed with ``bitwise_or.reduceat`` over runs of equal word index.
    """
    words = np.zeros(-(-nbytes // 8) + 1, np.uint64)
    word = offsets >> 6
    end = (offsets & 63) + lengths  # where the field ends in its first word, 1..127
    values = values.astype(np.uint64)
    spill = end > 64
    head = values << np.maximum(64 - end, 0).astype(np.uint64)
    head[spill] = values[spill] >> (end[spill] - 64).astype(np.uint64)
    _or_into(words, word, head)
    _or_into(words, word[spill] + 1, values[spill] << (128 - end[spill]).astype(np.uint64))
    return words.astype(">u8").view(np.uint8)[:nbytes]


def _or_into(words: np.ndarray, index: np.ndarray, parts: np.ndarray) -> None:
    """words[index] |= parts for a non-decreasing ``index`` (several parts may share a word)."""
    if index.size == 0:
        return
    starts = np.concatenate(([0], np.flatnonzero(np.diff(index)) + 1))
    words[index[starts]] |= np.bitwise_or.reduceat(parts, starts)


def _gather_fields(payload: np.ndarray, offsets: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """The unsigned values of ``lengths`` (≤ 32) bits at bit ``offsets`` (MSB first) of ``payload``.

    Each field lies within the 5 bytes from offset // 8: those bytes form a 40-bit window, shifted and masked.
    """
    padded = np.concatenate((payload, np.zeros(_WINDOW, np.uint8)))
    first = offsets >> 3
    window = padded[first].astype(np.int64)
    for t in range(1, _WINDOW):
        window <<= 8
        window |= padded[t:][first]
    window >>= 8 * _WINDOW - (offsets & 7) - lengths
    window &= (np.int64(1) << lengths) - 1
    return window


def encode(q: QuantizedBlock) -> bytes:
    """The Elias-gamma message of ``q`` (layout in the module docstring)."""
    if not isinstance(q, QuantizedBlock):
        raise InvalidArgument("q", "a QuantizedBlock", type(q).__name__)
    if q.d >= (1 << 31) - 1:
        raise InvalidArgument("q", "a block of fewer than 2^31 − 1 coordinates (runs fit int32)", q.d)
    numbers = _gamma_numbers(q)
    lengths = _lengths(numbers)
    n_words = numbers.size
    ends = np.cumsum(lengths, dtype=np.int64)
    prefix_bits = int(ends[-1])
    nbytes = -(-(2 * prefix_bits - n_words) // 8)
    # suffixes: the bits of N below its leading 1, back to back after the prefixes (empty when N = 1)
    has_suffix = numbers > 1
    suffix_lengths = lengths[has_suffix] - 1
    suffix_offsets = np.cumsum(suffix_lengths, dtype=np.int64)
    suffix_offsets -= suffix_lengths
    suffix_offsets += prefix_bits
    suffix_values = numbers[has_suffix] - (np.int32(1) << suffix_lengths)
    payload = _scatter_fields(nbytes, suffix_offsets, suffix_lengths, suffix_values)
    # prefixes: ⌊log2 N⌋ zeros then the leading 1, i.e. a one at ends − 1
    prefix = np.zeros(prefix_bits, np.uint8)
    prefix[ends - 1] = 1
    packed = np.packbits(prefix)
    payload[: packed.size] |= packed
    head = bytearray(HEADER.pack(TAG, SCHEME_IDS[q.scheme], q.levels, q.d, n_words))
    if q.scheme in RANGE_SCHEMES:
        head += struct.pack("<ff", q.lower, q.upper)
    else:
        head += struct.pack("<f", q.norm)
    return bytes(head) + payload.tobytes()


def _corrupt(what: str, got: object) -> InvalidArgument:
    return InvalidArgument("data", f"an Elias-codec message: {what}", got)


def decode(data: bytes | bytearray | memoryview) -> QuantizedBlock:
    """The block encoded in ``data`` (the exact inverse of :func:`encode`)."""
    scheme, s, d, n_words = fixed_codec.read_header(data, TAG, HEADER)
    if n_words % 2 != 1 or n_words > 2 * d + 1:
        raise _corrupt(f"an odd number of codewords K ≤ 2d + 1 = {2 * d + 1}", n_words)
    if len(data) < HEADER_BYTES + _side_nbytes(scheme):
        raise _corrupt("side information after the header", f"{len(data)} bytes")
    side, at = fixed_codec.read_side(data, HEADER_BYTES, scheme)
    payload = np.frombuffer(data, np.uint8, offset=at)
    # the prefixes hold exactly K ones and come first: find the byte with the K-th one, unpack only that far
    seen = np.cumsum(_POPCOUNT[payload], dtype=np.int64)
    if seen.size == 0 or seen[-1] < n_words:
        raise _corrupt(f"{n_words} unary prefixes", f"{int(seen[-1]) if seen.size else 0} one bits")
    last = int(np.searchsorted(seen, n_words))
    ends = np.flatnonzero(np.unpackbits(payload[: last + 1]))[:n_words] + 1
    lengths = np.diff(ends, prepend=0)
    if int(lengths.max()) > _MAX_LENGTH:
        raise _corrupt(f"codewords of at most {_MAX_LENGTH} bits", int(lengths.max()))
    prefix_bits = int(ends[-1])
    total = 2 * prefix_bits - n_words
    nbytes = -(-total // 8)
    if payload.size != nbytes:
        raise _corrupt(f"{nbytes} payload bytes (truncated or trailing bytes)", f"{payload.size} bytes")
    if int(payload[-1]) & ((1 << (8 * nbytes - total)) - 1):
        raise _corrupt("zero padding bits", "a one bit after the last codeword")
    has_suffix = lengths > 1
    suffix_lengths = lengths[has_suffix] - 1
    suffix_offsets = np.cumsum(suffix_lengths)
    suffix_offsets -= suffix_lengths
    suffix_offsets += prefix_bits
    numbers = np.ones(n_words, np.int64)
    numbers[has_suffix] = (np.int64(1) << suffix_lengths) + _gather_fields(payload, suffix_offsets, suffix_lengths)
    runs = numbers[0::2] - 1
    values = numbers[1::2]
    k = values.size
    if int(runs.sum()) + k != d:
        raise _corrupt(f"runs and values covering d = {d} coordinates", int(runs.sum()) + k)
    positions = np.cumsum(runs[:k] + 1) - 1
    offsets = np.where(values % 2 == 0, values // 2, -(values + 1) // 2)
    dtype = numpy_code_dtype(s)
    signs = None
    if scheme in RANGE_SCHEMES:
        z = zero_code(side["lower"], side["upper"], s)
        codes_nz = offsets + z
        if k and (codes_nz.min() < 0 or codes_nz.max() > s):
            raise _corrupt(f"codes in [0, s = {s}]", (int(codes_nz.min()), int(codes_nz.max())))
        codes = np.full(d, z, dtype)
        codes[positions] = codes_nz
    else:
        mags = np.abs(offsets)
        if k and mags.max() > s:
            raise _corrupt(f"levels in [0, s = {s}]", int(mags.max()))
        codes = np.zeros(d, dtype)
        codes[positions] = mags
        sign_arr = np.zeros(d, bool)
        sign_arr[positions] = offsets < 0
        signs = torch.from_numpy(sign_arr)
    return QuantizedBlock(scheme, s, torch.from_numpy(codes), signs=signs, **side)
