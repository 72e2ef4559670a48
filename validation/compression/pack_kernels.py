"""Bit packing loops (numba) for bitpack.py, any width 1 ≤ b ≤ 16.

Layout (bitpack.py): code i occupies stream bits [i·b, (i+1)·b), least significant bit first; stream bit t is
bit t mod 8 of byte t // 8. So 8 consecutive codes fill exactly b bytes: a group. Both loops work on codes
[start, stop) of whole arrays with ``start`` a multiple of 8, group by group — 8 codes shifted into one
64-bit word (b ≤ 8) or two (b > 8), then its b bytes — with no state carried from group to group; the last
n mod 8 codes go through the same group code with zero codes after them (the padding bits are 0). The
widths that divide or fill whole bytes (b = 1, 2, 4, 8, 16) have their own byte loops, which the compiler
vectorises (bitpack.py hands b = 1 to numpy's packbits). Ranges that end on multiples of 8 write disjoint
bytes: the threads of ``dither.run_ranges`` (CHUNK-aligned ranges) never share a byte.
"""

from __future__ import annotations

import numpy as np

from fedquant.validation.compression.jit import njit

_BYTE = np.uint64(0xFF)


@njit
def _pack_group(codes: np.ndarray, i: int, count: int, bits: int, out: np.ndarray, p: int) -> np.uint64:
    """Codes i..i+count−1 (count ≤ 8, the rest of the group taken as 0) → bytes p..p+⌈count·b/8⌉−1."""
    lo = np.uint64(0)
    hi = np.uint64(0)
    seen = np.uint64(0)
    for k in range(count):
        c = np.uint64(codes[i + k])
        seen |= c
        shift = k * bits
        if shift < 64:
            lo |= c << np.uint64(shift)
            if shift + bits > 64:
                hi |= c >> np.uint64(64 - shift)
        else:
            hi |= c << np.uint64(shift - 64)
    for k in range(min(8, (count * bits + 7) // 8)):
        out[p + k] = np.uint8((lo >> np.uint64(8 * k)) & _BYTE)
    for k in range(8, (count * bits + 7) // 8):
        out[p + k] = np.uint8((hi >> np.uint64(8 * (k - 8))) & _BYTE)
    return seen


@njit
def pack(codes: np.ndarray, bits: int, start: int, stop: int, out: np.ndarray) -> np.int64:
    """Write codes[start:stop] at ``bits`` bits from byte start·b/8 of ``out`` (the last byte zero-padded).

    Returns the bitwise OR of the codes as int64 (a negative code makes it negative, a uint64 code ≥ 2^63
    too), so the caller can check every code is < 2^b at no extra pass: ``seen >> b == 0``. The byte-width
    loops keep the OR and the shifts in the codes' own dtype (``T``), which the compiler vectorises; widened
    to 64 bits per code they ran 2.6× slower (b = 4, uint8 codes).
    """
    n = stop - start
    full = n - n % 8
    p0 = start * bits // 8
    cs = codes[start:stop]
    T = cs.dtype.type
    seen = T(0)
    if bits == 8:
        os = out[p0: p0 + full]
        for i in range(full):
            c = cs[i]
            seen = T(seen | c)
            os[i] = np.uint8(c & 0xFF)
    elif bits == 16:
        os = out[p0: p0 + 2 * full]
        for i in range(full):
            c = cs[i]
            seen = T(seen | c)
            os[2 * i] = np.uint8(c & 0xFF)
            os[2 * i + 1] = np.uint8((c >> 8) & 0xFF)
    elif bits == 4:
        os = out[p0: p0 + full // 2]
        for j in range(full // 2):
            a = cs[2 * j]
            b = cs[2 * j + 1]
            seen = T(seen | a | b)
            os[j] = np.uint8((a | (b << 4)) & 0xFF)
    elif bits == 2:
        os = out[p0: p0 + full // 4]
        for j in range(full // 4):
            a, b, c, e = cs[4 * j], cs[4 * j + 1], cs[4 * j + 2], cs[4 * j + 3]
            seen = T(seen | a | b | c | e)
            os[j] = np.uint8((a | (b << 2) | (c << 4) | (e << 6)) & 0xFF)
    elif bits == 1:
        os = out[p0: p0 + full // 8]
        for j in range(full // 8):
            v = T(0)
            for k in range(8):
                c = cs[8 * j + k]
                seen = T(seen | c)
                v = T(v | (c << k))
            os[j] = np.uint8(v & 0xFF)
    wide = np.int64(seen)
    if bits not in (1, 2, 4, 8, 16):
        for g in range(full // 8):
            wide |= np.int64(_pack_group(cs, 8 * g, 8, bits, out, p0 + g * bits))
    if full < n:
        wide |= np.int64(_pack_group(cs, full, n - full, bits, out, p0 + full * bits // 8))
    return wide


@njit
def _unpack_group(data: np.ndarray, p: int, nbytes: int, bits: int, out: np.ndarray, i: int, count: int) -> np.uint64:
    """Bytes p..p+nbytes−1 → codes i..i+count−1 (count ≤ 8); returns the largest of them."""
    lo = np.uint64(0)
    hi = np.uint64(0)
    for k in range(min(8, nbytes)):
        lo |= np.uint64(data[p + k]) << np.uint64(8 * k)
    for k in range(8, nbytes):
        hi |= np.uint64(data[p + k]) << np.uint64(8 * (k - 8))
    mask = (np.uint64(1) << np.uint64(bits)) - np.uint64(1)
    top = np.uint64(0)
    for k in range(count):
        shift = k * bits
        if shift < 64:
            c = lo >> np.uint64(shift)
            if shift + bits > 64:
                c |= hi << np.uint64(64 - shift)
        else:
            c = hi >> np.uint64(shift - 64)
        c &= mask
        out[i + k] = c
        top = max(top, c)
    return top


@njit
def unpack(data: np.ndarray, bits: int, start: int, stop: int, out: np.ndarray) -> np.int64:
    """out[i] = code i of the stream ``data`` for start ≤ i < stop; returns the largest code read.

    As in :func:`pack`, the byte-width loops work in ``out``'s own dtype ``T`` (which holds 2^b − 1).
    """
    n = stop - start
    full = n - n % 8
    p0 = start * bits // 8
    os = out[start:stop]
    T = os.dtype.type
    top = T(0)
    if bits == 8:
        ds = data[p0: p0 + full]
        for i in range(full):
            c = T(ds[i])
            os[i] = c
            top = max(top, c)
    elif bits == 16:
        ds = data[p0: p0 + 2 * full]
        for i in range(full):
            c = T(T(ds[2 * i]) | (T(ds[2 * i + 1]) << 8))
            os[i] = c
            top = max(top, c)
    elif bits == 4:
        ds = data[p0: p0 + full // 2]
        for j in range(full // 2):
            v = ds[j]
            a = T(v & 0xF)
            b = T(v >> 4)
            os[2 * j] = a
            os[2 * j + 1] = b
            top = max(top, max(a, b))
    elif bits in (1, 2):
        per = 8 // bits
        mask = (1 << bits) - 1
        ds = data[p0: p0 + full // per]
        for j in range(full // per):
            v = ds[j]
            for k in range(per):
                c = T((v >> (k * bits)) & mask)
                os[per * j + k] = c
                top = max(top, c)
    wide = np.int64(top)
    if bits not in (1, 2, 4, 8, 16):
        for g in range(full // 8):
            wide = max(wide, np.int64(_unpack_group(data, p0 + g * bits, bits, bits, os, 8 * g, 8)))
    if full < n:
        rest = n - full
        wide = max(wide, np.int64(_unpack_group(data, p0 + full * bits // 8, (rest * bits + 7) // 8, bits, os,
                                                full, rest)))
    return wide
