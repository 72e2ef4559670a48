"""A client's model update as fedquant sends it through Flower: one encoded message per array.

For every array k of the model (a tensor: one block), the update Δ_k = trained_k − global_k is quantized at the
round's level s with fedquant's quantizer (validation/compression) and encoded with the fixed-length codec in
one pass (``fixed_codec.quantize_encode``: header, side information, bit-packed codes). A constant update
(range 0) is sent as its side information alone, the two float32 endpoints, as ``fedquant validate`` counts it
(64 bits). The reply carries the messages as uint8 arrays under the same keys; the server decodes them
(``fixed_codec.decode_dequantize``) against the global arrays it sent. Bits are the theory's formula
(``bits_fixed``), bytes the messages' real lengths.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

import numpy as np
import torch

from fedquant.validation.compression import fixed_codec
from fedquant.validation.compression.quantized_block import formula_bits
from fedquant.validation.compression.quantizers import get_quantizer

CONSTANT = struct.Struct("<ff")


@dataclass(frozen=True)
class Encoded:
    messages: dict[str, bytes]
    bits: int  # the theory's formula over every array
    nbytes: int  # the messages' lengths
    range_rms: float  # RMS over arrays of the update's range (what a range rule needs)


def encode_update(global_arrays: dict[str, np.ndarray], trained: dict[str, np.ndarray], levels: int,
                  quantizer: str, generator: torch.Generator) -> Encoded:
    q_fn = get_quantizer(quantizer)
    messages: dict[str, bytes] = {}
    bits = 0
    ranges = []
    for key, w0 in global_arrays.items():
        delta = torch.from_numpy(np.asarray(trained[key], dtype=np.float32).ravel()
                                 - np.asarray(w0, dtype=np.float32).ravel())
        lo, hi = float(delta.min()), float(delta.max())
        ranges.append(hi - lo)
        if hi == lo:
            messages[key] = CONSTANT.pack(lo, hi)
            bits += 8 * CONSTANT.size
            continue
        messages[key] = fixed_codec.quantize_encode(q_fn, delta, int(levels), generator)
        bits += formula_bits(q_fn.name, delta.numel(), int(levels))
    rms = float(np.sqrt(np.mean(np.square(ranges)))) if ranges else 0.0
    return Encoded(messages, bits, sum(len(m) for m in messages.values()), rms)


def decode_update(global_arrays: dict[str, np.ndarray], messages: dict[str, bytes]) -> dict[str, np.ndarray]:
    """global_k + Q(Δ_k) for every array, in the global arrays' shapes and dtypes."""
    out = {}
    for key, w0 in global_arrays.items():
        data = messages[key]
        if len(data) == CONSTANT.size:
            lo, _ = CONSTANT.unpack(data)
            delta = np.full(w0.size, lo, dtype=np.float32)
        else:
            delta = fixed_codec.decode_dequantize(data).numpy()
        out[key] = (np.asarray(w0, dtype=np.float32).ravel() + delta).reshape(w0.shape).astype(w0.dtype)
    return out
