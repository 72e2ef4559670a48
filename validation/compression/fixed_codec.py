"""The fixed-length code of the theory's bit formula, as real bytes.

Message = header + side information + codes:

    header (HEADER, 8 bytes, little-endian): tag b"F" (1 byte) | scheme id (uint8, quantize/base.SCHEME_IDS)
                                              | s (uint16) | d (uint32)
    range schemes: m, M as float32 (8 bytes)  | the d codes bit-packed at b = ⌈log2(s+1)⌉ bits
    QSGD:          ‖x‖ as float32 (4 bytes)   | d codes at b bits, then d sign bits, back to back at bit level

so that for every block ``len(encode(q)) == ceil(q.bits_formula / 8) + HEADER_BYTES`` exactly: the side
information is SIDE_INFO_BITS = 64 (range) or QSGD_SIDE_INFO_BITS = 32 bits (QSGD), a whole number of bytes,
and the codes (and signs) take ceil(d·b/8) (ceil(d(b+1)/8)) bytes; ``bits_formula`` is
``numeric.bits_fixed`` / ``numeric.bits_qsgd`` from the theory. The header is what a real message needs to be
decoded alone and is not part of the formula; FLSim's channels likewise count a message from explicit
constants.

``decode(encode(q))`` gives back the same codes and side information, hence bit-identical ``dequantize()``.
The hot paths have one-pass forms with the same results: :func:`quantize_encode` (float32 block → message,
the codes packed as they are computed) and :func:`decode_dequantize` (message → float32 values, unpacked and
looked up tile by tile).
Truncated, padded or corrupt input raises ``InvalidArgument`` (a ValueError) saying what was expected.
"""

from __future__ import annotations

import struct
import threading

import numpy as np
import torch

from fedquant.errors import InvalidArgument
from fedquant.theory.wire import QSGD_SIDE_INFO_BITS, SIDE_INFO_BITS
from fedquant.validation.compression import bitpack
from fedquant.validation.compression.dither import run_ranges
from fedquant.validation.compression.grid import MAX_LEVELS, bits_per_code, check_block, check_levels, numpy_code_dtype
from fedquant.validation.compression.jit import kernels
from fedquant.validation.compression.quantized_block import (
    RANGE_SCHEMES,
    SCHEME_IDS,
    QuantizedBlock,
    Quantizer,
    range_table,
)

#: tag, scheme id, levels s, d
HEADER = struct.Struct("<cBHI")
HEADER_BYTES = HEADER.size
TAG = b"F"
_RANGE_SIDE = struct.Struct("<ff")
_QSGD_SIDE = struct.Struct("<f")
assert _RANGE_SIDE.size * 8 == SIDE_INFO_BITS and _QSGD_SIDE.size * 8 == QSGD_SIDE_INFO_BITS
_SCHEMES = {v: k for k, v in SCHEME_IDS.items()}


def _payload_bits(scheme: str, d: int, levels: int) -> int:
    b = bits_per_code(levels)
    return d * b if scheme in RANGE_SCHEMES else d * (b + 1)


def message_nbytes(scheme: str, d: int, levels: int) -> int:
    """The exact length of a message: HEADER_BYTES + side information + ceil(payload bits / 8)."""
    side = _RANGE_SIDE.size if scheme in RANGE_SCHEMES else _QSGD_SIDE.size
    return HEADER_BYTES + side + bitpack.packed_nbytes(_payload_bits(scheme, d, levels), 1)


_SCRATCH = threading.local()


def _scratch(nbytes: int) -> np.ndarray:
    """A per-thread reusable byte buffer: a fresh multi-MB array per message costs page faults every call."""
    buf = getattr(_SCRATCH, "buf", None)
    if buf is None or buf.size < nbytes:
        buf = np.empty(max(nbytes, 1 << 16), np.uint8)
        _SCRATCH.buf = buf
    return buf[:nbytes]


def encode(q: QuantizedBlock) -> bytes:
    """The message of ``q`` (layout in the module docstring)."""
    if not isinstance(q, QuantizedBlock):
        raise InvalidArgument("q", "a QuantizedBlock", type(q).__name__)
    d, s, b = q.d, q.levels, q.bits
    if d >= 1 << 32:
        raise InvalidArgument("q", "a block of fewer than 2^32 coordinates", d)
    out = _scratch(message_nbytes(q.scheme, d, s))
    HEADER.pack_into(out, 0, TAG, SCHEME_IDS[q.scheme], s, d)
    at = HEADER_BYTES
    if q.scheme in RANGE_SCHEMES:
        _RANGE_SIDE.pack_into(out, at, q.lower, q.upper)
        at += _RANGE_SIDE.size
        bitpack.pack(q.codes, b, out=out[at:])
    else:
        assert q.signs is not None
        _QSGD_SIDE.pack_into(out, at, q.norm)
        at += _QSGD_SIDE.size
        code_end = at + bitpack.packed_nbytes(d, b)
        bitpack.pack(q.codes, b, out=out[at:code_end])
        out[code_end:] = 0
        bitpack.place_bits(out[at:], d * b, bitpack.pack(q.signs.numpy().view(np.uint8), 1), d)
    return out.tobytes()


def _corrupt(what: str, got: object) -> InvalidArgument:
    return InvalidArgument("data", f"a fixed-codec message: {what}", got)


def read_header(data: bytes | bytearray | memoryview, tag: bytes, header: struct.Struct) -> tuple:
    """The header fields after checking length, tag, scheme id, levels and d (shared with the Elias codec)."""
    if len(data) < header.size:
        raise InvalidArgument("data", f"a message of at least its {header.size}-byte header",
                              f"{len(data)} bytes")
    fields = header.unpack_from(data, 0)
    if fields[0] != tag:
        raise InvalidArgument("data", f"a message starting with tag {tag!r}", fields[0])
    if fields[1] not in _SCHEMES:
        raise InvalidArgument("data", f"a scheme id in {sorted(_SCHEMES)}", fields[1])
    if not 1 <= fields[2] <= MAX_LEVELS:
        raise InvalidArgument("data", f"levels s in [1, {MAX_LEVELS}]", fields[2])
    if fields[3] < 1:
        raise InvalidArgument("data", "d ≥ 1 coordinates", fields[3])
    return (_SCHEMES[fields[1]], *fields[2:])


def read_side(data: bytes | bytearray | memoryview, at: int, scheme: str) -> tuple[dict[str, float], int]:
    """The side information at offset ``at`` as QuantizedBlock keyword arguments, and the offset after it."""
    if scheme in RANGE_SCHEMES:
        lower, upper = _RANGE_SIDE.unpack_from(data, at)
        with np.errstate(over="ignore"):
            width = np.float32(upper) - np.float32(lower)
        if not (np.isfinite(lower) and np.isfinite(upper) and lower <= upper and np.isfinite(width)):
            raise InvalidArgument("data", "finite float32 side information m ≤ M with M − m finite",
                                  (lower, upper))
        return {"lower": lower, "upper": upper}, at + _RANGE_SIDE.size
    (norm,) = _QSGD_SIDE.unpack_from(data, at)
    if not (np.isfinite(norm) and norm >= 0):
        raise InvalidArgument("data", "a finite float32 norm ≥ 0", norm)
    return {"norm": norm}, at + _QSGD_SIDE.size


def _parse(data: bytes | bytearray | memoryview) -> tuple[str, int, int, dict[str, float], np.ndarray]:
    """(scheme, s, d, side information, payload bytes) of a message, after every check on its length."""
    scheme, s, d = read_header(data, TAG, HEADER)
    expected = message_nbytes(scheme, d, s)
    if len(data) != expected:
        raise _corrupt(f"{expected} bytes for scheme {scheme}, s = {s}, d = {d} (truncated or trailing bytes)",
                       f"{len(data)} bytes")
    side, at = read_side(data, HEADER_BYTES, scheme)
    return scheme, s, d, side, np.frombuffer(data, np.uint8, offset=at)


def decode(data: bytes | bytearray | memoryview) -> QuantizedBlock:
    """The block encoded in ``data`` (the exact inverse of :func:`encode`)."""
    scheme, s, d, side, payload = _parse(data)
    b = bits_per_code(s)
    signs = None
    dtype = numpy_code_dtype(s)  # holds 2^b − 1: uint8 to b = 8, int16 to b = 15, int32 for b = 16
    if scheme in RANGE_SCHEMES:
        codes, top = bitpack.unpack_with_max(payload, b, d, dtype)
    else:
        code_bytes, sign_bytes = bitpack.split_bits(payload, d * b, d)
        codes, top = bitpack.unpack_with_max(code_bytes, b, d, dtype)
        signs = torch.from_numpy(bitpack.unpack(sign_bytes, 1, d).view(bool))
    if top > s:
        raise _corrupt(f"codes in [0, s = {s}]", f"a code {top}")
    return QuantizedBlock(scheme, s, torch.from_numpy(codes), signs=signs, **side)


def quantize_encode(quantizer: Quantizer, x: torch.Tensor, levels: int,
                    generator: torch.Generator | None = None) -> bytes:
    """``encode(quantizer(x, levels, generator))``, the same bytes, in one pass where the scheme allows.

    A quantizer with a packed form (``Quantizer.packed``: the range schemes) writes its codes bit-packed
    straight into the message, so no code array is made; QSGD goes through :func:`encode`. Same checks and
    errors as the quantizer, same draws from ``generator``.
    """
    if not isinstance(quantizer, Quantizer):
        raise InvalidArgument("quantizer", "a Quantizer (validation.compression.quantizers)", type(quantizer).__name__)
    if quantizer.packed is None:
        return encode(quantizer(x, levels, generator))
    block = check_block(x)
    s, d = check_levels(levels), block.numel()
    if d >= 1 << 32:
        raise InvalidArgument("x", "a block of fewer than 2^32 coordinates", d)
    out = _scratch(message_nbytes(quantizer.name, d, s))
    at = HEADER_BYTES + _RANGE_SIDE.size
    lower, upper = quantizer.packed(block, s, generator, out[at:])
    HEADER.pack_into(out, 0, TAG, SCHEME_IDS[quantizer.name], s, d)
    _RANGE_SIDE.pack_into(out, HEADER_BYTES, lower, upper)
    return out.tobytes()


def decode_dequantize(data: bytes | bytearray | memoryview, out: torch.Tensor | None = None) -> torch.Tensor:
    """``decode(data).dequantize()``, the same float32 values, in one pass for range blocks with d > s.

    The payload is unpacked a tile at a time and looked up in the block's table of s + 1 values
    (``quantized_block.range_table``, range_kernels.gather_packed), so no code array is made. ``out``: an
    optional contiguous 1-D float32 tensor of d elements to write into (returned); its contents are
    unspecified if the message is rejected. Rejects what :func:`decode` rejects, with the same errors.
    """
    scheme, s, d, side, payload = _parse(data)
    if out is not None and not (isinstance(out, torch.Tensor) and out.dtype == torch.float32
                                and out.shape == (d,) and out.is_contiguous() and out.device.type == "cpu"):
        raise InvalidArgument("out", f"a contiguous 1-D float32 CPU tensor of {d} elements",
                              getattr(out, "shape", type(out).__name__))
    if scheme not in RANGE_SCHEMES or d <= s:
        values = decode(data).dequantize()
        return values if out is None else out.copy_(values)
    b = bits_per_code(s)
    stream = bitpack.packed_stream(payload, b, d)
    table = range_table(s, side["lower"], side["upper"])
    # numpy's allocation asks for huge pages (madvise), so a fresh 4d-byte result faults in fewer pages
    result = torch.from_numpy(np.empty(d, np.float32)) if out is None else out
    values = result.numpy()
    k, dtype = kernels("range_kernels"), numpy_code_dtype(s)
    tops: list[int] = []
    run_ranges(d, lambda a, c: tops.append(int(k.gather_packed(table, stream, b, a, c, np.empty(k.TILE, dtype),
                                                               values))))
    if max(tops) > s:
        raise _corrupt(f"codes in [0, s = {s}]", f"a code {max(tops)}")
    return result
