"""Pack non-negative integer codes at b bits each (1 ≤ b ≤ 16) into bytes, vectorised; exact round trip.

Layout (little-endian bit order): code i occupies stream bits [i·b, (i+1)·b), least significant bit first,
and stream bit k is bit k mod 8 of byte k // 8. n codes take exactly ceil(n·b/8) bytes; the unused high bits
of the last byte are 0 (``unpack`` checks it). The methods (chosen from the measurements in docs/design.md §7):

- b = 8, 16: the codes' own bytes (little-endian uint16 for 16);
- b = 1: ``np.packbits(bitorder="little")``;
- b = 4: two codes per byte through a uint16 view, (w | w >> 4) & 0xFF;
- other b ≤ 8: 8 codes → one uint64 (SWAR: pairs, then quads, then the halves slide together), keep its low
  b bytes;
- 9 ≤ b ≤ 15: 8 codes → two uint64 words (4 codes each, compacted the same way) → b bytes.

Also :func:`place_bits` / :func:`split_bits`, to put two packed streams back to back at bit granularity (the
QSGD message: d·b code bits then d sign bits, exactly d(b+1) bits).
"""

from __future__ import annotations

import numpy as np
import torch

from fedquant.errors import InvalidArgument

MAX_BITS = 16
#: codes per slice of the packing loop (a multiple of 8)
PACK_CHUNK = 1 << 16
_U64 = np.dtype("<u8")


def packed_nbytes(n: int, bits: int) -> int:
    """ceil(n·b/8): the bytes of n codes at b bits."""
    return -(-n * bits // 8)


def _check_bits(bits: object) -> int:
    if isinstance(bits, bool) or not isinstance(bits, int | np.integer) or not 1 <= int(bits) <= MAX_BITS:
        raise InvalidArgument("bits", f"an integer number of bits per code, 1 ≤ b ≤ {MAX_BITS}", bits)
    return int(bits)


def _as_codes(codes: object, bits: int) -> np.ndarray:
    """A 1-D numpy view of the codes as uint8 (b ≤ 8) or little-endian uint16, each checked < 2^b."""
    arr = codes.numpy() if isinstance(codes, torch.Tensor) else np.asarray(codes)
    if arr.ndim != 1 or arr.dtype.kind not in "ui":
        raise InvalidArgument("codes", "a 1-D array of non-negative integers", f"{arr.dtype}{arr.shape}")
    if arr.size:
        lo, hi = (int(arr.min()) if arr.dtype.kind == "i" else 0), int(arr.max())
        if lo < 0 or hi >= 1 << bits:
            raise InvalidArgument("codes", f"integers in [0, 2^{bits} − 1] for b = {bits}", (lo, hi))
    return np.ascontiguousarray(arr, dtype=np.uint8 if bits <= 8 else np.dtype("<u2"))


def _mask(width: int, every: int) -> np.uint64:
    """A uint64 with ``width`` low bits set in each ``every``-bit lane."""
    one = (1 << width) - 1
    return np.uint64(sum(one << (i * every) for i in range(64 // every)))


def _pack_bytes_groups(c: np.ndarray, bits: int) -> np.ndarray:
    """b ≤ 8, len(c) % 8 == 0: each 8 codes (one per byte of a uint64) → b bytes."""
    w = c.view(_U64)
    w = (w & _mask(8, 16)) | ((w & ~_mask(8, 16)) >> np.uint64(8 - bits))
    w = (w & _mask(16, 32)) | ((w & ~_mask(16, 32)) >> np.uint64(16 - 2 * bits))
    w = (w & np.uint64(0xFFFFFFFF)) | ((w >> np.uint64(32)) << np.uint64(4 * bits))
    return w.view(np.uint8).reshape(-1, 8)[:, :bits].reshape(-1)


def _unpack_bytes_groups(p: np.ndarray, bits: int) -> np.ndarray:
    """Inverse of :func:`_pack_bytes_groups`: b bytes per group → 8 uint8 codes."""
    g = p.size // bits
    words = np.zeros((g, 8), np.uint8)
    words[:, :bits] = p.reshape(g, bits)
    w = words.reshape(-1).view(_U64)
    m4 = np.uint64((1 << (4 * bits)) - 1)
    w = (w & m4) | (((w >> np.uint64(4 * bits)) & m4) << np.uint64(32))
    m2 = _mask(2 * bits, 32)
    w = (w & m2) | (((w >> np.uint64(2 * bits)) & m2) << np.uint64(16))
    m1 = _mask(bits, 16)
    w = (w & m1) | (((w >> np.uint64(bits)) & m1) << np.uint64(8))
    return w.view(np.uint8)


def _compact4x16(w: np.ndarray, bits: int) -> np.ndarray:
    """Each uint64 holding 4 codes in 16-bit lanes → the same 4 codes in its low 4b bits."""
    w = (w & _mask(16, 32)) | ((w & ~_mask(16, 32)) >> np.uint64(16 - bits))
    return (w & np.uint64(0xFFFFFFFF)) | ((w >> np.uint64(32)) << np.uint64(2 * bits))


def _expand4x16(w: np.ndarray, bits: int) -> np.ndarray:
    m2 = np.uint64((1 << (2 * bits)) - 1)
    w = (w & m2) | (((w >> np.uint64(2 * bits)) & m2) << np.uint64(32))
    m1 = _mask(bits, 32)
    return (w & m1) | (((w >> np.uint64(bits)) & m1) << np.uint64(16))


def _pack_words_groups(c: np.ndarray, bits: int) -> np.ndarray:
    """9 ≤ b ≤ 15, len(c) % 8 == 0: each 8 uint16 codes → two uint64 (A: codes 0-3, B: codes 4-7) → b bytes."""
    w = c.view(_U64).reshape(-1, 2)
    a, b = _compact4x16(w[:, 0], bits), _compact4x16(w[:, 1], bits)
    shift = 4 * bits  # 36..60
    out = np.empty((a.size, 2), _U64)
    out[:, 0] = a | (b << np.uint64(shift))
    out[:, 1] = b >> np.uint64(64 - shift)
    return out.view(np.uint8).reshape(-1, 16)[:, :bits].reshape(-1)


def _unpack_words_groups(p: np.ndarray, bits: int) -> np.ndarray:
    g = p.size // bits
    raw = np.zeros((g, 16), np.uint8)
    raw[:, :bits] = p.reshape(g, bits)
    words = raw.reshape(-1).view(_U64).reshape(g, 2)
    lo, hi = words[:, 0], words[:, 1]
    shift = 4 * bits
    mask = np.uint64((1 << shift) - 1)
    out = np.empty((g, 2), _U64)
    out[:, 0] = _expand4x16(lo & mask, bits)
    out[:, 1] = _expand4x16(((lo >> np.uint64(shift)) | (hi << np.uint64(64 - shift))) & mask, bits)
    return out.reshape(-1).view("<u2")


def _pack_aligned(c: np.ndarray, bits: int, dst: np.ndarray) -> None:
    """len(c) % 8 == 0 → exactly len(c)·b/8 bytes written into ``dst``."""
    if bits == 8:
        dst[:] = c
    elif bits == 16:
        dst[:] = c.view(np.uint8)
    elif bits == 1:
        dst[:] = np.packbits(c, bitorder="little")
    elif bits == 4:
        w = c.view("<u2")
        t = np.right_shift(w, np.uint16(4))
        np.bitwise_or(t, w, out=t)
        np.copyto(dst, t, casting="unsafe")  # keeps the low byte: c0 | c1 << 4
    elif bits < 8:
        dst[:] = _pack_bytes_groups(c, bits)
    else:
        dst[:] = _pack_words_groups(c, bits)


def _unpack_aligned(p: np.ndarray, bits: int, dst: np.ndarray) -> None:
    """len(p) % b == 0 → the len(p)·8/b codes written into ``dst``."""
    if bits == 8:
        dst[:] = p
    elif bits == 16:
        dst[:] = p.view("<u2")
    elif bits == 1:
        dst[:] = np.unpackbits(p, bitorder="little")
    elif bits == 4:
        pairs = dst.reshape(-1, 2)
        np.bitwise_and(p, np.uint8(0x0F), out=pairs[:, 0])
        np.right_shift(p, np.uint8(4), out=pairs[:, 1])
    elif bits < 8:
        dst[:] = _unpack_bytes_groups(p, bits)
    else:
        dst[:] = _unpack_words_groups(p, bits)


def pack(codes: np.ndarray | torch.Tensor, bits: int, *, out: np.ndarray | None = None) -> np.ndarray:
    """The codes (each in [0, 2^b − 1]) packed at b bits: a uint8 array of ceil(n·b/8) bytes.

    ``out``: optional uint8 array of exactly that length to write into (no extra copy).
    """
    bits = _check_bits(bits)
    c = _as_codes(codes, bits)
    n = c.size
    nbytes = packed_nbytes(n, bits)
    if out is None:
        out = np.empty(nbytes, np.uint8)
    elif out.dtype != np.uint8 or out.shape != (nbytes,):
        raise InvalidArgument("out", f"a uint8 array of {nbytes} bytes", f"{out.dtype}{out.shape}")
    main = n - n % 8
    # slices of PACK_CHUNK codes keep every temporary small and in cache (fresh multi-MB temporaries cost
    # page faults on every call)
    for a in range(0, main, PACK_CHUNK):
        b = min(a + PACK_CHUNK, main)
        _pack_aligned(c[a:b], bits, out[a * bits // 8: b * bits // 8])
    head = main * bits // 8
    if main < n:
        tail = np.zeros(8, c.dtype)
        tail[: n - main] = c[main:]
        packed = np.empty(bits, np.uint8)
        _pack_aligned(tail, bits, packed)
        out[head:] = packed[: nbytes - head]
    return out


def unpack(data: bytes | bytearray | memoryview | np.ndarray, bits: int, n: int) -> np.ndarray:
    """The n codes packed in ``data`` at b bits (uint8 for b ≤ 8, uint16 above).

    ``data`` must hold exactly ceil(n·b/8) bytes with the unused high bits of the last byte 0; anything else
    is a ValueError (``InvalidArgument``).
    """
    bits = _check_bits(bits)
    p = np.frombuffer(data, np.uint8) if not isinstance(data, np.ndarray) else data.astype(np.uint8, copy=False)
    nbytes = packed_nbytes(n, bits)
    if p.ndim != 1 or p.size != nbytes:
        raise InvalidArgument("data", f"exactly {nbytes} bytes for {n} codes of {bits} bits", f"{p.size} bytes")
    used = (n * bits) % 8
    if used and p[-1] >> used:
        raise InvalidArgument("data", "zero padding bits after the last code", f"last byte {int(p[-1]):#04x}")
    main = n - n % 8
    out = np.empty(n, np.uint8 if bits <= 8 else np.dtype("<u2"))
    for a in range(0, main, PACK_CHUNK):
        b = min(a + PACK_CHUNK, main)
        _unpack_aligned(p[a * bits // 8: b * bits // 8], bits, out[a:b])
    head = main * bits // 8
    if main < n:
        tail = np.zeros(bits, np.uint8)
        tail[: nbytes - head] = p[head:]
        codes = np.empty(8, out.dtype)
        _unpack_aligned(tail, bits, codes)
        out[main:] = codes[: n - main]
    return out


def place_bits(dst: np.ndarray, bit_offset: int, src: np.ndarray, src_bits: int) -> None:
    """OR the packed stream ``src`` (``src_bits`` bits, zero padding) into ``dst`` from bit ``bit_offset`` on.

    ``dst`` must have room (ceil((bit_offset + src_bits)/8) bytes) and zeros where the stream lands: this
    puts two streams back to back at bit granularity (:func:`split_bits` takes them apart).
    """
    r = bit_offset % 8
    head = bit_offset // 8
    end = packed_nbytes(bit_offset + src_bits, 1)
    assert dst.size >= end and src.size == packed_nbytes(src_bits, 1)
    if r == 0:
        dst[head:end] |= src
        return
    s16 = src.astype(np.uint16) << np.uint16(r)
    dst[head: head + src.size] |= s16.astype(np.uint8)  # low bytes
    dst[head + 1: end] |= (s16 >> np.uint16(8)).astype(np.uint8)[: end - head - 1]


def split_bits(data: np.ndarray, first_bits: int, second_bits: int) -> tuple[np.ndarray, np.ndarray]:
    """Inverse of :func:`place_bits` (``data`` holds exactly ceil((first_bits + second_bits)/8) bytes).

    Returns the two streams byte-aligned, each ceil(bits/8) bytes; the first one's padding bits are cleared,
    the second one's padding bits are whatever followed it (0 in a well-formed message).
    """
    assert data.size == packed_nbytes(first_bits + second_bits, 1)
    n1, n2 = packed_nbytes(first_bits, 1), packed_nbytes(second_bits, 1)
    r = first_bits % 8
    first = data[:n1].copy()
    if r:
        first[-1] &= np.uint8((1 << r) - 1)
    head = first_bits // 8
    if r == 0:
        return first, data[head: head + n2].copy()
    src = np.zeros(n2 + 1, np.uint16)
    avail = data[head:]
    src[: avail.size] = avail
    second = ((src[:-1] >> np.uint16(r)) | (src[1:] << np.uint16(8 - r))) & np.uint16(0xFF)
    return first, second.astype(np.uint8)
