"""Pack non-negative integer codes at b bits each (1 ≤ b ≤ 16) into bytes; exact round trip.

Layout (little-endian bit order): code i occupies stream bits [i·b, (i+1)·b), least significant bit first,
and stream bit k is bit k mod 8 of byte k // 8. n codes take exactly ceil(n·b/8) bytes; the unused high bits
of the last byte are 0 (``unpack`` checks it). This layout is the fixed codec's wire format, pinned byte for
byte by tests/validation/compression/fixed_codec_messages.json.

The loops are numba kernels (pack_kernels.py: one bit writer and one bit reader for every b, a single pass
that also checks the codes' range, resp. finds the largest code), run over CHUNK-aligned ranges by
``dither.run_ranges``'s threads; each range starts on a byte boundary, so the bytes do not depend on the
thread count. They replace numpy SWAR packing per width (docs/design.md §7), which took several passes.

Also :func:`place_bits` / :func:`split_bits`, to put two packed streams back to back at bit granularity (the
QSGD message: d·b code bits then d sign bits, exactly d(b+1) bits).
"""

from __future__ import annotations

import numpy as np
import torch

from fedquant.errors import InvalidArgument
from fedquant.validation.compression.dither import run_ranges
from fedquant.validation.compression.jit import kernels

MAX_BITS = 16


def packed_nbytes(n: int, bits: int) -> int:
    """ceil(n·b/8): the bytes of n codes at b bits."""
    return -(-n * bits // 8)


def _check_bits(bits: object) -> int:
    if isinstance(bits, bool) or not isinstance(bits, int | np.integer) or not 1 <= int(bits) <= MAX_BITS:
        raise InvalidArgument("bits", f"an integer number of bits per code, 1 ≤ b ≤ {MAX_BITS}", bits)
    return int(bits)


def _codes_array(codes: object) -> np.ndarray:
    """A contiguous 1-D numpy integer array of the codes (torch tensors by a view, no copy)."""
    arr = codes.numpy() if isinstance(codes, torch.Tensor) else np.asarray(codes)
    if arr.ndim != 1 or arr.dtype.kind not in "ui":
        raise InvalidArgument("codes", "a 1-D array of non-negative integers", f"{arr.dtype}{arr.shape}")
    return np.ascontiguousarray(arr)


def pack(codes: np.ndarray | torch.Tensor, bits: int, *, out: np.ndarray | None = None) -> np.ndarray:
    """The codes (each in [0, 2^b − 1]) packed at b bits: a uint8 array of ceil(n·b/8) bytes.

    ``out``: optional uint8 array of exactly that length to write into (no extra copy). A code outside
    [0, 2^b − 1] is an ``InvalidArgument`` (found while packing: no separate pass over the codes).
    """
    bits = _check_bits(bits)
    c = _codes_array(codes)
    n = c.size
    nbytes = packed_nbytes(n, bits)
    if out is None:
        out = np.empty(nbytes, np.uint8)
    elif out.dtype != np.uint8 or out.shape != (nbytes,):
        raise InvalidArgument("out", f"a uint8 array of {nbytes} bytes", f"{out.dtype}{out.shape}")
    if n and bits == 1:  # numpy's packbits is this layout at b = 1 (QSGD's sign bits)
        if int(c.max()) > 1 or (c.dtype.kind == "i" and int(c.min()) < 0):
            raise InvalidArgument("codes", "integers in [0, 1] for b = 1", (int(c.min()), int(c.max())))
        out[:] = np.packbits(c if c.dtype == np.uint8 else c.astype(np.uint8), bitorder="little")
    elif n:
        k = kernels("pack_kernels")
        seen: list[int] = []
        run_ranges(n, lambda a, b: seen.append(int(k.pack(c, bits, a, b, out))))
        if any(s >> bits for s in seen):
            lo, hi = int(c.min()), int(c.max())
            raise InvalidArgument("codes", f"integers in [0, 2^{bits} − 1] for b = {bits}", (lo, hi))
    return out


def packed_stream(data: bytes | bytearray | memoryview | np.ndarray, bits: int, n: int) -> np.ndarray:
    """``data`` as a contiguous uint8 array after checking it is a stream of n codes at b bits.

    It must hold exactly ceil(n·b/8) bytes with the unused high bits of the last byte 0; anything else is a
    ValueError (``InvalidArgument``).
    """
    p = np.frombuffer(data, np.uint8) if not isinstance(data, np.ndarray) else data.astype(np.uint8, copy=False)
    nbytes = packed_nbytes(n, bits)
    if p.ndim != 1 or p.size != nbytes:
        raise InvalidArgument("data", f"exactly {nbytes} bytes for {n} codes of {bits} bits", f"{p.size} bytes")
    used = (n * bits) % 8
    if used and p[-1] >> used:
        raise InvalidArgument("data", "zero padding bits after the last code", f"last byte {int(p[-1]):#04x}")
    return np.ascontiguousarray(p)


def unpack_with_max(data: bytes | bytearray | memoryview | np.ndarray, bits: int, n: int,
                    dtype: np.dtype | type | None = None) -> tuple[np.ndarray, int]:
    """(codes, largest code) of the n codes packed in ``data`` at b bits, in one pass.

    ``dtype``: the integer dtype of the codes (default uint8 for b ≤ 8, uint16 above; it must hold 2^b − 1).
    ``data`` must hold exactly ceil(n·b/8) bytes with the unused high bits of the last byte 0; anything else
    is a ValueError (``InvalidArgument``).
    """
    bits = _check_bits(bits)
    p = packed_stream(data, bits, n)
    out = np.empty(n, np.dtype(dtype) if dtype is not None else np.uint8 if bits <= 8 else np.dtype("<u2"))
    assert np.iinfo(out.dtype).max >= (1 << bits) - 1, (out.dtype, bits)
    if not n:
        return out, 0
    if bits == 1:
        out[:] = np.unpackbits(p, count=n, bitorder="little")
        return out, int(out.max())
    k = kernels("pack_kernels")
    tops: list[int] = []
    run_ranges(n, lambda a, b: tops.append(int(k.unpack(p, bits, a, b, out))))
    return out, max(tops)


def unpack(data: bytes | bytearray | memoryview | np.ndarray, bits: int, n: int) -> np.ndarray:
    """The n codes packed in ``data`` at b bits (uint8 for b ≤ 8, uint16 above); see :func:`unpack_with_max`."""
    return unpack_with_max(data, bits, n)[0]


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
