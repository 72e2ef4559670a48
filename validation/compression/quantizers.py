"""Quantizers of a model update: one per file, each a small pure function with explicit randomness.

- ``stochastic``: unbiased stochastic rounding on the block's [min, max] grid (docs/design.md §2);
- ``deterministic``: nearest point of the same grid (FedDQ's code; biased);
- ``qsgd``: QSGD with ℓ2-norm scaling and a sign per coordinate (Alistarh et al. 2017).

Each returns a :class:`QuantizedBlock` (codes + side information) that knows ``dequantize()``, the theory's
``bits_formula`` and ``error_bound``. :func:`quantize_blocks` quantizes a whole update or each tensor of it.
Bytes on the wire: ``fixed_codec`` (the bit formula exactly) and ``elias_codec`` (measured), beside this module.
"""

from __future__ import annotations

from fedquant.errors import InvalidArgument
from fedquant.validation.compression import deterministic, qsgd, stochastic
from fedquant.validation.compression.grid import MAX_LEVELS
from fedquant.validation.compression.quantized_block import QuantizedBlock, Quantizer, quantize_blocks

#: every quantizer by name
QUANTIZERS: dict[str, Quantizer] = {
    q.name: q for q in (stochastic.QUANTIZER, deterministic.QUANTIZER, qsgd.QUANTIZER)
}


def get_quantizer(name: str) -> Quantizer:
    """The quantizer called ``name`` (``stochastic``, ``deterministic`` or ``qsgd``)."""
    try:
        return QUANTIZERS[name]
    except KeyError:
        raise InvalidArgument("quantizer", f"one of {', '.join(QUANTIZERS)}", name) from None


__all__ = [
    "MAX_LEVELS",
    "QUANTIZERS",
    "QuantizedBlock",
    "Quantizer",
    "get_quantizer",
    "quantize_blocks",
]
