"""One client's uplink: quantize each block of its update, encode it, decode what the server receives, count.

The vector sent is the client's update Δ, or x = Δ + e under error feedback (fedavg.py); below, Δ stands for
whichever it is: the error and its bound are always those of the vector quantized.

For every block k of the update Δ_i with range R_k > 0 the client quantizes with its level s_k (generator
keyed by round and client, so the dither does not depend on the engine or the order of clients), encodes the
block with the fixed-length codec and the server decodes the bytes (``fixed_codec.decode_dequantize``,
straight into the received update). What is counted:

* bits: the theory's fixed-length cost (``QuantizedBlock.bits_formula``); bytes: the encoded message lengths;
  with ``entropy``, also the Elias-coded lengths;
* the measured error ‖Q(Δ) − Δ‖² and the theory's bound on its expectation (``QuantizedBlock.error_bound``);
* Σ_j δ_j⁴ over coordinates (δ the block's grid step): the Hoeffding scale of the error sum that the
  ``quant_error`` check allows for (validation/report/checks.py).

A block of zero range is a constant: its side information alone describes it, at the planner's cost for
levels 0 (``zero_bits``), and it is received exactly.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from fedquant.validation.compression import elias_codec, fixed_codec
from fedquant.validation.compression.quantized_block import Quantizer


@dataclass(frozen=True)
class Uplink:
    """What one client sent in one round, and what the server received."""

    received: torch.Tensor  # the decoded update, in the update's flat parameter order
    bits: int  # the theory's fixed-length cost, every block
    nbytes: int  # encoded message lengths
    nbytes_entropy: int  # Elias-coded lengths (0 unless measured)
    quant_error: float  # ‖Q(Δ) − Δ‖²
    quant_error_bound: float  # the theory's bound on E‖Q(Δ) − Δ‖²
    hoeffding_scale: float  # Σ_j δ_j⁴


def send(update: torch.Tensor, slices: Sequence[slice], ranges: np.ndarray, levels: np.ndarray,
         quantizer: Quantizer, generator: torch.Generator, zero_bits: Callable[[int], int],
         entropy: bool = False) -> Uplink:
    """Quantize, encode and decode every block of one client's ``update`` (ranges and levels per block)."""
    received = torch.empty_like(update)
    bits = nbytes = nbytes_entropy = 0
    error = bound = scale = 0.0
    for k, sl in enumerate(slices):
        x = update[sl]
        if ranges[k] == 0.0:  # a constant block: its side information alone describes it
            received[sl] = x
            side = zero_bits(sl.stop - sl.start)
            bits += side
            nbytes += -(-side // 8)
            nbytes_entropy += -(-side // 8)
            continue
        q = quantizer(x, int(np.rint(levels[k])), generator)
        message = fixed_codec.encode(q)
        fixed_codec.decode_dequantize(message, out=received[sl])
        bits += q.bits_formula
        nbytes += len(message)
        if entropy:
            nbytes_entropy += len(elias_codec.encode(q))
        error += q.squared_error(x)
        bound += q.error_bound
        scale += q.d * q.grid_step**4
    return Uplink(received, bits, nbytes, nbytes_entropy if entropy else 0, error, bound, scale)
