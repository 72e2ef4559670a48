"""The grid a block is quantized on: checks at the door (levels, block), the block's range in float32, the
code width and dtype, and the float32 scale that maps a block onto [0, s] without clipping.

A quantizer maps a 1-D float32 block x ∈ R^d and a number of intervals s (``levels``, 1 ≤ s ≤ 2^16 − 1) to
integer codes in [0, s], b = ⌈log2(s+1)⌉ bits each.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from fedquant.errors import InvalidArgument
from fedquant.validation.compression.dither import run_ranges
from fedquant.validation.compression.jit import kernels

#: largest number of intervals: codes fit 16 bits (b = ⌈log2(s+1)⌉ ≤ 16)
MAX_LEVELS = 2**16 - 1

_FLOAT32_MAX = float(np.finfo(np.float32).max)


def check_levels(levels: object, name: str = "levels") -> int:
    """The number of intervals s as a Python int, 1 ≤ s ≤ MAX_LEVELS (b = ⌈log2(s+1)⌉ ≤ 16 bits)."""
    if isinstance(levels, bool) or not isinstance(levels, int | np.integer):
        raise InvalidArgument(name, f"an integer number of intervals s, 1 ≤ s ≤ {MAX_LEVELS}", levels)
    s = int(levels)
    if not 1 <= s <= MAX_LEVELS:
        raise InvalidArgument(name, f"an integer number of intervals s, 1 ≤ s ≤ {MAX_LEVELS}", s)
    return s


def check_block(x: object, name: str = "x") -> torch.Tensor:
    """A 1-D float32 CPU tensor with at least one element (detached, contiguous)."""
    if not isinstance(x, torch.Tensor):
        raise InvalidArgument(name, "a 1-D float32 torch tensor", type(x).__name__)
    if x.dim() != 1 or x.dtype != torch.float32 or x.device.type != "cpu" or x.numel() == 0:
        got = f"shape {tuple(x.shape)}, dtype {x.dtype}, device {x.device}"
        raise InvalidArgument(name, "a 1-D float32 CPU tensor with at least one element", got)
    return x.detach().contiguous()


def bits_per_code(levels: int) -> int:
    """b = ⌈log2(s+1)⌉, the bits of one code in [0, s]; for integers s ≥ 1 this is s.bit_length().

    The integer identity is what a packer needs; that it matches the theory's bit formula is tested
    (``len(fixed.encode(q)) == ceil(q.bits_formula / 8) + HEADER_BYTES``).
    """
    return int(levels).bit_length()


def code_dtype(levels: int) -> torch.dtype:
    """The compact integer dtype that holds codes 0..s: uint8 (s ≤ 255), int16 (s ≤ 32767), else int32."""
    if levels <= 255:
        return torch.uint8
    if levels <= 32767:
        return torch.int16
    return torch.int32


def numpy_code_dtype(levels: int) -> np.dtype:
    return np.dtype({torch.uint8: np.uint8, torch.int16: np.int16, torch.int32: np.int32}[code_dtype(levels)])


def _from_key(key: int) -> float:
    """The float32 value whose order key (range_kernels.min_max_keys) is ``key``, as a Python float."""
    k = np.int32(key)
    return float(np.array([k ^ ((k >> 31) & 0x7FFFFFFF)], np.int32).view(np.float32)[0])


def block_range(x: torch.Tensor, name: str = "x", finite_range: bool = True) -> tuple[float, float]:
    """(m, M) = (min x, max x) as float32 values; fails at the door on NaN/inf (and, if ``finite_range``, on
    a range M − m that overflows float32, which the range quantizers' side information cannot express).

    One pass over the bit patterns (range_kernels.min_max_keys, on ``dither.run_ranges``'s threads), in the
    IEEE total order: a NaN or an infinity is the min or the max, so finiteness costs nothing, and −0.0 < +0.0,
    so the result never depends on the thread count. (torch.aminmax reads as fast, but its OpenMP threads
    then spin for milliseconds on the cores the quantizer's threads need next.)
    """
    bits = x.numpy().view(np.int32)
    keys: list[tuple[int, int]] = []
    k = kernels("range_kernels")
    run_ranges(bits.size, lambda a, b: keys.append(k.min_max_keys(bits, a, b)))
    m, M = _from_key(min(lo for lo, _ in keys)), _from_key(max(hi for _, hi in keys))
    if not (math.isfinite(m) and math.isfinite(M)):
        raise InvalidArgument(name, "finite values (no NaN, no ±inf)", f"min {m}, max {M}")
    if finite_range and not np.isfinite(float32_width(m, M)):
        raise InvalidArgument(name, f"a range max − min that is finite in float32 (≤ {_FLOAT32_MAX:.4g})",
                              f"min {m}, max {M}")
    return m, M


def float32_width(lower: float, upper: float) -> np.float32:
    """R = fl32(M − m), the width every range formula uses (inf when it overflows float32)."""
    with np.errstate(over="ignore"):
        return np.float32(upper) - np.float32(lower)


@dataclass(frozen=True)
class Scale:
    """Map a non-negative float32 offset y ∈ [0, W] to v = fl(fl(y·2^shift)·scale) ∈ [0, s].

    ``shift`` is 0 unless W < s·2^-126 (where s/W would not be a normal float32); then y·2^shift (``ldexp``,
    exact) brings W into [1, 2). ``scale`` ≈ s/(W·2^shift) rounded *down* to float32, so that v ≤ s for every
    y ≤ W (rounding is monotone and s is a float32): codes never need clipping before the dither is added.
    """

    shift: int
    scale: np.float32

    def apply(self, buf: np.ndarray) -> None:
        if self.shift:
            np.ldexp(buf, self.shift, out=buf)
        np.multiply(buf, self.scale, out=buf)

    @property
    def prescale(self) -> tuple[np.float32, np.float32]:
        """2^shift as two float32 powers of two (2^shift itself may exceed float32 for shift > 127).

        fl(fl(y·p1)·p2) = y·2^shift exactly for every float32 y ∈ [0, W], as ``np.ldexp`` gives: no rounding
        (a power-of-two scaling) and no overflow (y·2^shift ≤ W·2^shift < 2). The fused kernels use this.
        """
        first = min(self.shift, 100)
        return np.float32(2.0**first), np.float32(2.0 ** (self.shift - first))


def unit_scale(width: np.float32, levels: int) -> Scale:
    """The :class:`Scale` that maps [0, width] onto [0, levels] (width > 0, a float32)."""
    w = float(width)
    assert w > 0 and math.isfinite(w), w
    shift = 0
    if levels / w > 2.0**126:
        shift = 1 - math.frexp(w)[1]  # w·2^shift ∈ [1, 2)
    wp = math.ldexp(w, shift)  # exact: a power-of-two scaling of a float32
    scale = np.float32(levels / wp)
    # float(scale)·wp is exact in float64 (24 + 24 significant bits), so this check is exact
    while float(scale) * wp > levels:
        scale = np.nextafter(scale, np.float32(0))
    return Scale(shift, scale)


@dataclass(frozen=True)
class RangeGrid:
    """What both range quantizers set up: the checked block, its range and the scale onto [0, s].

    ``scale`` maps x − m onto [0, s] (None for a zero range: nothing to round, every code is 0 and the block
    dequantizes exactly). The quantizers fill either a code array (:meth:`fill_codes`) or, for the fixed
    codec, the packed payload directly (:meth:`fill_packed`); both run a numba kernel of range_kernels.py
    over ``dither.run_ranges``'s CHUNK-aligned ranges, so the result does not depend on the thread count.
    """

    x: np.ndarray
    levels: int
    lower: float
    upper: float
    scale: Scale | None

    @property
    def n(self) -> int:
        return self.x.size

    def kernel_args(self) -> tuple:
        """(x, m, scale, pre1, pre2, shifted): the grid's leading arguments of every range kernel."""
        assert self.scale is not None
        pre1, pre2 = self.scale.prescale
        return self.x, np.float32(self.lower), self.scale.scale, pre1, pre2, bool(self.scale.shift)

    def fill_codes(self, kernel: Callable[..., None], *args: object) -> np.ndarray:
        """The codes (``numpy_code_dtype(s)``): ``kernel(*kernel_args(), *args, start, stop, codes)`` per range.

        All zeros for a zero range (``np.empty`` elsewhere: every code is written by the kernel, and it can
        reuse freed memory where np.zeros maps fresh pages).
        """
        dtype = numpy_code_dtype(self.levels)
        if self.scale is None:
            return np.zeros(self.n, dtype)
        codes = np.empty(self.n, dtype)
        lead = self.kernel_args()
        run_ranges(self.n, lambda a, b: kernel(*lead, *args, a, b, codes))
        return codes

    def fill_packed(self, out: np.ndarray, kernel: Callable[..., None], *args: object) -> None:
        """The codes bit-packed at b = ⌈log2(s+1)⌉ bits into ``out`` (uint8, ⌈n·b/8⌉ bytes, bitpack's layout).

        ``kernel(*kernel_args(), *args, b, start, stop, tile, out)`` per range, ``tile`` a TILE-sized code
        scratch of each thread; zero bytes for a zero range.
        """
        if self.scale is None:
            out[:] = 0
            return
        dtype, bits = numpy_code_dtype(self.levels), bits_per_code(self.levels)
        tile = kernels("range_kernels").TILE
        lead = self.kernel_args()
        run_ranges(self.n, lambda a, b: kernel(*lead, *args, bits, a, b, np.empty(tile, dtype), out))


def range_grid(x: object, levels: object) -> RangeGrid:
    """The checked block x (1-D float32), its levels s, its range [m, M] and, when m < M, the scale."""
    block = check_block(x)
    s = check_levels(levels)
    m, M = block_range(block)
    scale = unit_scale(float32_width(m, M), s) if m < M else None
    return RangeGrid(block.numpy(), s, m, M, scale)
