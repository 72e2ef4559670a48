"""Codecs: a quantized block (``fedquant.validation.quantize``) as bytes you can count.

- ``fixed``: the fixed-length code of the theory's bit formula; ``len(encode(q))`` is exactly
  ``ceil(q.bits_formula / 8) + fixed.HEADER_BYTES``;
- ``elias``: zero runs and values as Elias-gamma codewords; its size is measured (``encoded_nbytes``);
- ``bitpack``: the vectorised b-bit packer both rely on (b = 1..16).

Both codecs: ``decode(encode(q))`` reproduces the block bit for bit, and truncated or corrupt input raises a
ValueError (``fedquant.theory.errors.InvalidArgument``) naming what was expected.
"""

from __future__ import annotations

from fedquant.validation.codec import bitpack, elias, fixed

__all__ = ["bitpack", "elias", "fixed"]
