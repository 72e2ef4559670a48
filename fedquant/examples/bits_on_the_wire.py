"""The theory's bit formula against the bytes the fixed-length codec really writes.

Claim (theory step ``quantizer.bits``; docs/design.md §2): a range-quantized block (stochastic or
deterministic) costs d·⌈log2(s + 1)⌉ + 64 bits (``numeric.bits_fixed``), a QSGD block
d(⌈log2(s + 1)⌉ + 1) + 32 bits (``numeric.bits_qsgd``); the codec writes exactly that, rounded up to whole
bytes, after an 8-byte header that is not part of the formula:

    len(fixed_codec.encode(q)) = ⌈bits(d, s)/8⌉ + HEADER_BYTES.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch

from fedquant.examples.agreement import Agreement
from fedquant.theory import numeric
from fedquant.validation.compression import fixed_codec, get_quantizer
from fedquant.validation.rng import numpy_rng, torch_generator

#: relative tolerance: byte counts are integers and the claim is an identity
TOLERANCE = 0.0
SCHEMES = ("stochastic", "deterministic", "qsgd")
FORMULAS = {"stochastic": "bits_fixed", "deterministic": "bits_fixed", "qsgd": "bits_qsgd"}


def run(sizes: Sequence[int] = (1, 3, 8, 13, 100, 1001, 4099),
        levels: Sequence[int] = (1, 2, 3, 6, 7, 15, 16, 100, 255, 256, 1000, 4095, 32767, 65535),
        seed: int = 0) -> Agreement:
    """Total encoded bytes against the formula's total over every (scheme, d, s), an equality.

    Claim: for every block, len(encode(q)) − HEADER_BYTES = ⌈bits(d, s)/8⌉ with bits the theory's formula
    (``numeric.bits_fixed`` for the range schemes, ``numeric.bits_qsgd`` for QSGD). Each (d, s) pair covers
    code widths b = ⌈log2(s + 1)⌉ from 1 to 16 (every packing method of the codec: whole bytes, bit planes,
    nibbles, 8 codes per word, two words) and d that leave a partial last byte. The blocks are Gaussian
    float32 (``numpy_rng(seed, stream="data")``), dithered by ``torch_generator(seed, stream="quantize")``.

    predicted = Σ ⌈bits(d, s)/8⌉ over all blocks; measured = Σ [⌈bits/8⌉ + |len(encode(q)) − HEADER_BYTES −
    ⌈bits/8⌉| + |⌈q.bits_formula/8⌉ − ⌈bits/8⌉|]. When every block is exact, measured is the total encoded
    payload (side information and codes, headers excluded); a block that is off by k bytes, on the wire or
    in its own ``bits_formula``, raises measured by k, so errors of opposite signs cannot cancel in the
    total. ``note`` counts the exact blocks.

    Source: theory/quantizer.py (step ``quantizer.bits``), theory/wire.py (side information), the codec
    validation/compression/fixed_codec.py, docs/design.md §2.

    Tolerance: 0. Both sides are integer byte counts and the claim is an identity; any nonzero
    difference is a bug of either the formula or the codec.
    """
    rng = numpy_rng(seed, stream="data")
    gen = torch_generator(seed, stream="quantize")
    header = fixed_codec.HEADER_BYTES
    measured = predicted = blocks = exact = 0
    for scheme in SCHEMES:
        quantize = get_quantizer(scheme)
        formula = getattr(numeric, FORMULAS[scheme])
        for d in sizes:
            x = torch.from_numpy(rng.standard_normal(d).astype(np.float32))
            for s in levels:
                q = quantize(x, s, gen)
                bits = float(formula(d, s))
                want = math.ceil(bits / 8)
                got = len(fixed_codec.encode(q)) - header
                measured += want + abs(got - want) + abs(math.ceil(q.bits_formula / 8) - want)
                predicted += want
                blocks += 1
                exact += int(got == want and q.bits_formula == bits)
    return Agreement(
        claim="fixed codec: len(encode(q)) − HEADER_BYTES = ⌈bits(d, s)/8⌉ (theory's bit formula)",
        measured=float(measured),
        predicted=float(predicted),
        tolerance=TOLERANCE,
        kind="equal",
        note=(f"{exact}/{blocks} blocks exact (3 schemes × {len(sizes)} sizes × {len(levels)} levels), header "
              f"{header} bytes per message not counted"),
    )
