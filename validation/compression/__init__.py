"""compression — quantizers of a model update and the codecs that put it on the wire.

Quantizers (stochastic, deterministic, qsgd) return a :class:`QuantizedBlock`; ``fixed_codec`` encodes it in
exactly the theory's bit formula, ``elias_codec`` in a measured entropy code, both through ``bitpack``.
"""

from fedquant.validation.compression import bitpack, elias_codec, fixed_codec
from fedquant.validation.compression.grid import MAX_LEVELS
from fedquant.validation.compression.quantized_block import QuantizedBlock, Quantizer, quantize_blocks
from fedquant.validation.compression.quantizers import QUANTIZERS, get_quantizer

__all__ = ["MAX_LEVELS", "QUANTIZERS", "QuantizedBlock", "Quantizer", "bitpack", "elias_codec", "fixed_codec",
           "get_quantizer", "quantize_blocks"]
