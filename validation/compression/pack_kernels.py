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
def pack(codes: np.ndarray, bits: int, start: int, stop: int, out: np.ndarray) -> np.uint64:
    """Write codes[start:stop] at ``bits`` bits from byte start·b/8 of ``out`` (the last byte zero-padded).

    Returns the bitwise OR of the codes as uint64 (a negative code wraps to a huge value), so the caller can
    check every code is < 2^b at no extra pass: ``seen >> b == 0``.
    """
    n = stop - start
    full = n - n % 8
    p0 = start * bits // 8
    seen = np.uint64(0)
    cs = codes[start:stop]
    if bits == 8:
        os = out[p0: p0 + full]
        for i in range(full):
            c = np.uint64(cs[i])
            seen |= c
            os[i] = np.uint8(c & _BYTE)
    elif bits == 16:
        os = out[p0: p0 + 2 * full]
        for i in range(full):
            c = np.uint64(cs[i])
            seen |= c
            os[2 * i] = np.uint8(c & _BYTE)
            os[2 * i + 1] = np.uint8((c >> np.uint64(8)) & _BYTE)
    elif bits == 4:
        os = out[p0: p0 + full // 2]
        for j in range(full // 2):
            a = np.uint64(cs[2 * j])
            b = np.uint64(cs[2 * j + 1])
            seen |= a | b
            os[j] = np.uint8((a | (b << np.uint64(4))) & _BYTE)
    elif bits in (1, 2):
        per = 8 // bits
        os = out[p0: p0 + full // per]
        for j in range(full // per):
            v = np.uint64(0)
            for k in range(per):
                c = np.uint64(cs[per * j + k])
                seen |= c
                v |= c << np.uint64(k * bits)
            os[j] = np.uint8(v & _BYTE)
    else:
        for g in range(full // 8):
            seen |= _pack_group(cs, 8 * g, 8, bits, out, p0 + g * bits)
    if full < n:
        seen |= _pack_group(cs, full, n - full, bits, out, p0 + full * bits // 8)
    return seen


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
def unpack(data: np.ndarray, bits: int, start: int, stop: int, out: np.ndarray) -> np.uint64:
    """out[i] = code i of the stream ``data`` for start ≤ i < stop; returns the largest code read."""
    n = stop - start
    full = n - n % 8
    p0 = start * bits // 8
    top = np.uint64(0)
    os = out[start:stop]
    if bits == 8:
        ds = data[p0: p0 + full]
        for i in range(full):
            c = np.uint64(ds[i])
            os[i] = c
            top = max(top, c)
    elif bits == 16:
        ds = data[p0: p0 + 2 * full]
        for i in range(full):
            c = np.uint64(ds[2 * i]) | (np.uint64(ds[2 * i + 1]) << np.uint64(8))
            os[i] = c
            top = max(top, c)
    elif bits == 4:
        ds = data[p0: p0 + full // 2]
        for j in range(full // 2):
            v = np.uint64(ds[j])
            a = v & np.uint64(0xF)
            b = v >> np.uint64(4)
            os[2 * j] = a
            os[2 * j + 1] = b
            top = max(top, max(a, b))
    elif bits in (1, 2):
        per = 8 // bits
        mask = (np.uint64(1) << np.uint64(bits)) - np.uint64(1)
        ds = data[p0: p0 + full // per]
        for j in range(full // per):
            v = np.uint64(ds[j])
            for k in range(per):
                c = (v >> np.uint64(k * bits)) & mask
                os[per * j + k] = c
                top = max(top, c)
    else:
        for g in range(full // 8):
            top = max(top, _unpack_group(data, p0 + g * bits, bits, bits, os, 8 * g, 8))
    if full < n:
        rest = n - full
        top = max(top, _unpack_group(data, p0 + full * bits // 8, (rest * bits + 7) // 8, bits, os, full, rest))
    return top
