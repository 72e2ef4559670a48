"""The quantized block every quantizer returns: codes and side information, its cost, bound and value.

A quantizer maps a 1-D float32 block x ∈ R^d and a number of intervals s (``levels``, 1 ≤ s ≤ 2^16 − 1) to a
:class:`QuantizedBlock`: integer codes in [0, s] (one per coordinate, b = ⌈log2(s+1)⌉ bits each) and float32
side information. The block knows its own cost and bound, both taken from the theory (``fedquant.theory``,
docs/design.md §2), never retyped here:

- ``bits_formula``: ``numeric.bits_fixed(d, s)`` = d·⌈log2(s+1)⌉ + 64 for the range quantizers,
  ``numeric.bits_qsgd(d, s)`` = d(⌈log2(s+1)⌉ + 1) + 32 for QSGD;
- ``error_bound``: ``numeric.quantization_error_bound(d, R, s)`` = d R²/(4s²) for the range quantizers (an
  expectation bound for stochastic rounding, a worst case for deterministic rounding), and
  ``numeric.qsgd_error_bound(d, s, ‖x‖²)`` = min(d/s², √d/s)‖x‖² for QSGD (Lemma 3.1 of Alistarh et al. 2017).

Dequantization is one fixed float32 formula of (codes, s, side information), so a decoder given the same
codes and side information reproduces it bit for bit:

- range quantizers: ``Q_i = min(m + fl(fl(j_i / s) · R), M)`` with R = fl(M − m), every operation in float32.
  j = 0 gives m exactly and j = s gives fl(m + R) clipped to M (M itself unless fl(M − m) was rounded);
  dividing j by s before multiplying by R never underflows, whatever the size of R, so the values are as
  accurate as float32 output allows (a few ulp of max(|m|, |M|));
- QSGD: ``Q_i = ±fl(fl(j_i / s) · ‖x‖)``, the sign stored per coordinate.

The dither and its threads are in ``dither.py``, the grid set-up in ``grid.py``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import torch

from fedquant.errors import InvalidArgument
from fedquant.theory import numeric
from fedquant.theory.wire import FLOAT_BITS, QSGD_SIDE_INFO_BITS, SIDE_INFO_BITS
from fedquant.validation.compression.dither import run_ranges
from fedquant.validation.compression.grid import MAX_LEVELS, bits_per_code, check_block, check_levels, float32_width
from fedquant.validation.compression.jit import kernels

#: wire id of each scheme (the codecs write it in their header)
SCHEME_IDS = {"stochastic": 1, "deterministic": 2, "qsgd": 3}
#: the schemes on the [min, max] grid, with side information (m, M)
RANGE_SCHEMES = frozenset({"stochastic", "deterministic"})

assert FLOAT_BITS == 32, "side information is stored as float32"

__all__ = ["MAX_LEVELS", "RANGE_SCHEMES", "SCHEME_IDS", "QuantizedBlock", "Quantizer", "formula_bits",
           "quantize_blocks", "range_table"]


class RangeSide:
    """Range schemes (stochastic, deterministic rounding): side information m, M as float32; the grid spans
    [m, M] with step R/s; cost ``numeric.bits_fixed``; bound d R²/(4s²)."""

    bits = SIDE_INFO_BITS
    cost = staticmethod(numeric.bits_fixed)

    @staticmethod
    def check(q: QuantizedBlock) -> None:
        if not q.lower <= q.upper or not np.isfinite(float32_width(q.lower, q.upper)):
            raise InvalidArgument("upper", "upper ≥ lower with a range finite in float32", (q.lower, q.upper))

    @staticmethod
    def scale(q: QuantizedBlock) -> float:
        return q.range_

    @staticmethod
    def error_bound(q: QuantizedBlock) -> float:
        return float(numeric.quantization_error_bound(q.d, q.range_, q.levels))

    @staticmethod
    def place(q: QuantizedBlock, out: np.ndarray) -> None:
        """j/s ↦ min(m + fl(j/s · R), M) in place."""
        place_range(out, q.lower, q.upper)


def place_range(out: np.ndarray, lower: float, upper: float) -> None:
    """j/s ↦ min(m + fl(j/s · R), M) in place, R = fl(M − m): the range schemes' grid (module docstring)."""
    np.multiply(out, float32_width(lower, upper), out=out)
    np.add(out, np.float32(lower), out=out)
    # j/s·R ≥ 0 so the sum never drops below m; rounding can lift j = s a hair above M
    np.minimum(out, np.float32(upper), out=out)


def range_table(levels: int, lower: float, upper: float) -> np.ndarray:
    """The s + 1 float32 values min(m + fl(fl(j/s)·R), M), j = 0..s: what code j of a range block stands for."""
    out = np.arange(levels + 1, dtype=np.float32)
    np.divide(out, np.float32(levels), out=out)
    place_range(out, lower, upper)
    return out


class NormSide:
    """QSGD: side information ‖x‖₂ as float32 and a sign per coordinate; the grid spans [0, ‖x‖] in |x_i| with
    step ‖x‖/s; cost ``numeric.bits_qsgd``; bound min(d/s², √d/s)‖x‖² (Lemma 3.1 of Alistarh et al. 2017)."""

    bits = QSGD_SIDE_INFO_BITS
    cost = staticmethod(numeric.bits_qsgd)

    @staticmethod
    def check(q: QuantizedBlock) -> None:
        if q.norm < 0:
            raise InvalidArgument("norm", "‖x‖₂ ≥ 0", q.norm)
        s = q.signs
        if not isinstance(s, torch.Tensor) or s.dtype != torch.bool or s.shape != q.codes.shape:
            raise InvalidArgument("signs", "a bool tensor shaped like codes", getattr(s, "dtype", s))

    @staticmethod
    def scale(q: QuantizedBlock) -> float:
        return q.norm

    @staticmethod
    def error_bound(q: QuantizedBlock) -> float:
        return float(numeric.qsgd_error_bound(q.d, q.levels, q.norm**2))

    @staticmethod
    def place(q: QuantizedBlock, out: np.ndarray) -> None:
        """j/s ↦ ±fl(j/s · ‖x‖) in place."""
        assert q.signs is not None
        np.multiply(out, np.float32(q.norm), out=out)
        np.negative(out, out=out, where=q.signs.numpy())


#: the family of each scheme
SIDE: dict[str, type[RangeSide] | type[NormSide]] = {"stochastic": RangeSide, "deterministic": RangeSide,
                                                    "qsgd": NormSide}


def formula_bits(scheme: str, d: int, levels: int) -> int:
    """The theory's fixed-length cost of a block of d coordinates at s levels: ``numeric.bits_fixed(d, s)``
    (range schemes) or ``numeric.bits_qsgd(d, s)`` (QSGD), as an int."""
    value = float(SIDE[scheme].cost(d, levels))
    assert value.is_integer(), value
    return int(value)


@dataclass(frozen=True, eq=False)
class QuantizedBlock:
    """Codes and side information of one quantized block; knows its dequantized value, cost and bound.

    ``codes`` is a 1-D integer tensor with values in [0, ``levels``] (the compact :func:`code_dtype` when made
    by a quantizer). Range schemes (``stochastic``, ``deterministic``) carry ``lower`` = m and ``upper`` = M,
    float32 values held as Python floats; ``qsgd`` carries ``norm`` = ‖x‖₂ (float32) and ``signs`` (bool,
    True = negative; False wherever the code is 0).
    """

    scheme: str
    levels: int
    codes: torch.Tensor
    lower: float = 0.0
    upper: float = 0.0
    norm: float = 0.0
    signs: torch.Tensor | None = None

    def __post_init__(self) -> None:
        if self.scheme not in SCHEME_IDS:
            raise InvalidArgument("scheme", f"one of {', '.join(SCHEME_IDS)}", self.scheme)
        check_levels(self.levels)
        c = self.codes
        if not isinstance(c, torch.Tensor) or c.dim() != 1 or c.numel() == 0 or c.is_floating_point() \
                or c.is_complex() or c.dtype == torch.bool:
            raise InvalidArgument("codes", "a non-empty 1-D integer tensor", getattr(c, "dtype", type(c)))
        for field in ("lower", "upper", "norm"):
            v = getattr(self, field)
            if not (isinstance(v, float) and math.isfinite(v) and float(np.float32(v)) == v):
                raise InvalidArgument(field, "a finite float32 value (as a Python float)", v)
        self.side.check(self)

    @property
    def side(self) -> type[RangeSide] | type[NormSide]:
        """What the block's side information is, and what follows from it (the scheme's family)."""
        return SIDE[self.scheme]

    @property
    def d(self) -> int:
        return self.codes.numel()

    @property
    def bits(self) -> int:
        """b = ⌈log2(s+1)⌉ bits per code (QSGD adds one sign bit per coordinate)."""
        return bits_per_code(self.levels)

    @property
    def range_(self) -> float:
        """R = M − m (float64 difference of the float32 endpoints); 0 for QSGD."""
        return self.upper - self.lower

    @property
    def grid_step(self) -> float:
        """δ, the distance between neighbouring grid points: R/s (range schemes) or ‖x‖/s (QSGD)."""
        return self.side.scale(self) / self.levels

    @property
    def side_info_bits(self) -> int:
        return self.side.bits

    @property
    def bits_formula(self) -> int:
        """The theory's fixed-length cost: bits_fixed(d, s) (range schemes) or bits_qsgd(d, s) (QSGD)."""
        return formula_bits(self.scheme, self.d, self.levels)

    @property
    def error_bound(self) -> float:
        """The theory's bound on ‖Q(x) − x‖²: d R²/(4s²) (range schemes) or min(d/s², √d/s)‖x‖² (QSGD)."""
        return self.side.error_bound(self)

    def dequantize(self) -> torch.Tensor:
        """The float32 values the codes stand for (the fixed formula of the module docstring).

        Range schemes with at least s + 1 coordinates: the formula is evaluated once per code value j = 0..s
        (a table) and each coordinate looks its value up in one threaded pass (range_kernels.gather), the same
        float32 values as the formula applied coordinate by coordinate. Otherwise, and for codes outside
        [0, s], the formula is applied to every coordinate.
        """
        s = self.levels
        if self.side is RangeSide and self.d > s:
            table = range_table(s, self.lower, self.upper)
            codes = np.ascontiguousarray(self.codes.numpy())
            out = np.empty(self.d, np.float32)
            k = kernels("range_kernels")
            ok: list[bool] = []
            run_ranges(self.d, lambda a, b: ok.append(k.gather(table, codes, a, b, out)))
            if all(ok):
                return torch.from_numpy(out)
        return torch.from_numpy(self._formula(self.codes.numpy().astype(np.float32)))

    def _formula(self, out: np.ndarray) -> np.ndarray:
        """The dequantized values of the float32 codes ``out`` (exact: codes ≤ 2^16 − 1 < 2^24), in place."""
        np.divide(out, np.float32(self.levels), out=out)
        self.side.place(self, out)
        return out

    def squared_error(self, x: torch.Tensor) -> float:
        """Measured ‖Q(x) − x‖², accumulated in float64."""
        diff = self.dequantize().double() - check_block(x).double()
        return float(torch.dot(diff, diff))


class QuantizeFn(Protocol):
    def __call__(self, x: torch.Tensor, levels: int,
                 generator: torch.Generator | None = None) -> QuantizedBlock: ...


@dataclass(frozen=True)
class Quantizer:
    """A quantizer as data (optax-style: a name and a pure function): ``quantizer(x, levels, generator)``.

    ``unbiased`` says whether E[Q(x)] = x (up to the documented dither resolution); ``generator`` is required
    exactly when ``stochastic`` is True. ``packed``, where the scheme has one, is the same quantizer writing
    its codes bit-packed: ``packed(x, levels, generator, out) -> (m, M)`` fills ``out`` with the bytes
    ``bitpack.pack(fn(x, levels, generator).codes, b)`` would (``fixed_codec.quantize_encode`` uses it).
    """

    name: str
    unbiased: bool
    stochastic: bool
    fn: Callable[..., QuantizedBlock]
    packed: Callable[..., tuple[float, float]] | None = None

    def __call__(self, x: torch.Tensor, levels: int, generator: torch.Generator | None = None) -> QuantizedBlock:
        return self.fn(x, levels, generator)


def quantize_blocks(quantizer: Quantizer | QuantizeFn, blocks: torch.Tensor | Sequence[torch.Tensor],
                    levels_per_block: int | Sequence[int],
                    generator: torch.Generator | None = None) -> list[QuantizedBlock]:
    """Quantize an update as one block or per tensor, each block with its own levels.

    ``blocks`` is either one tensor (the whole update, any shape, flattened to one block) or a sequence of
    tensors (one block each, e.g. the model's parameter tensors, each flattened). ``levels_per_block`` is one
    int for every block or one int per block. The generator is used by the blocks in order, so the same
    generator state gives the same codes.
    """
    tensors = [blocks] if isinstance(blocks, torch.Tensor) else list(blocks)
    if not tensors:
        raise InvalidArgument("blocks", "one tensor or a non-empty sequence of tensors", blocks)
    if isinstance(levels_per_block, int | np.integer) and not isinstance(levels_per_block, bool):
        levels = [int(levels_per_block)] * len(tensors)
    else:
        levels = list(levels_per_block)  # type: ignore[arg-type]
        if len(levels) != len(tensors):
            raise InvalidArgument("levels_per_block", f"one int, or one int per block ({len(tensors)})",
                                  len(levels))
    out = []
    for i, (t, s) in enumerate(zip(tensors, levels, strict=True)):
        if not isinstance(t, torch.Tensor):
            raise InvalidArgument(f"blocks[{i}]", "a torch tensor", type(t).__name__)
        out.append(quantizer(t.detach().reshape(-1), check_levels(s, f"levels_per_block[{i}]"), generator))
    return out
