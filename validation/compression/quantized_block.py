"""What every quantizer shares: the quantized block, the checks at the door, the dither, and the block helper.

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

Randomness is explicit (docs/design.md §6): a stochastic quantizer takes a ``torch.Generator`` (from
``fedquant.validation.rng.torch_generator(seed, round, client)``) and draws exactly one 63-bit integer from it,
which seeds numpy's PCG64 bit generator for the dither (16 bits per coordinate, four per 64-bit word, every
bit used). The quantizer is RNG-bound (docs/design.md §7); measured here, PCG64 gives 64 bits in ~2.3 ns
(0.6 ns per dither), torch's full-range ``int64.random_`` ~3.9 ns, ``torch.rand`` ~3 ns per float.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import torch

from fedquant.errors import InvalidArgument
from fedquant.theory import numeric
from fedquant.theory.wire import FLOAT_BITS, QSGD_SIDE_INFO_BITS, SIDE_INFO_BITS

#: largest number of intervals: codes fit 16 bits (b = ⌈log2(s+1)⌉ ≤ 16)
MAX_LEVELS = 2**16 - 1
#: wire id of each scheme (the codecs write it in their header)
SCHEME_IDS = {"stochastic": 1, "deterministic": 2, "qsgd": 3}
#: the schemes on the [min, max] grid, with side information (m, M)
RANGE_SCHEMES = frozenset({"stochastic", "deterministic"})
#: bits of dither per coordinate; the rounding probability is a multiple of 2^-DITHER_BITS (see stochastic.py)
DITHER_BITS = 16
#: elements per thread below which a block is quantized by one thread
PARALLEL_MIN = 1 << 19
#: elements per slice of the hot loops: the float32 scratch slices (512 KiB each) stay in cache and numpy's
#: per-call overhead is amortised (2^16..2^18 measured within 5 % of each other at n = 10^7, 2^13 was 40 %
#: slower); a multiple of 4 so the dither stream (4 dithers per 64-bit word) does not depend on it
CHUNK = 1 << 17

_FLOAT32_MAX = float(np.finfo(np.float32).max)
assert FLOAT_BITS == 32, "side information is stored as float32"


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


def block_range(x: torch.Tensor, name: str = "x", finite_range: bool = True) -> tuple[float, float]:
    """(m, M) = (min x, max x) as float32 values; fails at the door on NaN/inf (and, if ``finite_range``, on
    a range M − m that overflows float32, which the range quantizers' side information cannot express).

    One ``aminmax`` pass: a NaN or an infinity shows up in the min or the max, so finiteness costs nothing.
    """
    lo, hi = torch.aminmax(x)
    m, M = float(lo), float(hi)
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


def dither_seed(generator: object, name: str = "generator") -> int:
    """One draw of 63 bits from ``generator``: the seed of the call's PCG64 dither stream.

    This is the only use a quantizer makes of the generator, so every call advances it by exactly one draw,
    whatever the block holds (a constant block draws too).
    """
    if not isinstance(generator, torch.Generator):
        raise InvalidArgument(name, "a torch.Generator (e.g. fedquant.validation.rng.torch_generator)",
                              type(generator).__name__)
    return int(torch.empty((), dtype=torch.int64).random_(generator=generator))


assert DITHER_BITS == 16, "draw_dither hands out 16-bit quarters of 64-bit words"


def draw_dither(source: np.random.PCG64, k: int) -> np.ndarray:
    """k independent 16-bit dithers, int16 uniform over all 2^16 values [−2^15, 2^15 − 1].

    Four per 64-bit PCG64 word (little-endian quarters, so the stream is the same on every platform); drawing
    k = k1 + k2 in two calls gives the same values as one call when k1 is a multiple of 4.
    """
    raw = source.random_raw((k + 3) // 4)
    return raw.astype("<u8", copy=False).view("<i2")[:k]


def run_ranges(n: int, work: Callable[[int, int], None]) -> None:
    """Call ``work(start, stop)`` over [0, n) cut into contiguous CHUNK-aligned ranges, one per thread.

    Threads: ``torch.get_num_threads()`` (what the caller set), fewer when a block has under PARALLEL_MIN
    elements per thread. numpy releases the GIL in its loops and PCG64 in ``random_raw``, so the ranges run
    in parallel (on the 2-vCPU development VM the gain was small, 1.0–1.3×: the two vCPUs share a core's
    arithmetic). Every chunk is computed the same way whoever computes it (the dither stream is addressed by
    position, see :func:`dither_at`), so the codes do not depend on the number of threads.
    """
    workers = max(1, min(torch.get_num_threads(), n // PARALLEL_MIN))
    if workers == 1:
        work(0, n)
        return
    per = -(-n // workers)
    per = -(-per // CHUNK) * CHUNK
    bounds = [(a, min(a + per, n)) for a in range(0, n, per)]
    pool = _pool(len(bounds) - 1)
    futures = [pool.submit(work, a, b) for a, b in bounds[1:]]
    try:
        work(*bounds[0])
    finally:
        for f in futures:
            f.result()


_POOL: dict[str, object] = {"executor": None, "size": 0}


def _pool(size: int) -> ThreadPoolExecutor:
    """A shared thread pool with at least ``size`` workers (grown, never shrunk)."""
    if _POOL["size"] < size:  # type: ignore[operator]
        old = _POOL["executor"]
        _POOL["executor"] = ThreadPoolExecutor(max_workers=size, thread_name_prefix="fedquant-quantize")
        _POOL["size"] = size
        if isinstance(old, ThreadPoolExecutor):
            old.shutdown(wait=False)
    return _POOL["executor"]  # type: ignore[return-value]


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


def dither_at(seed: int, start: int) -> np.random.PCG64:
    """The dither stream of a call positioned at coordinate ``start`` (a multiple of 4): word start/4."""
    assert start % 4 == 0
    source = np.random.PCG64(seed)
    if start:
        source.advance(start // 4)
    return source


def run_dithered(n: int, seed: int, kernel: Callable[[int, int, np.ndarray, np.ndarray, np.ndarray], None]) -> None:
    """Call ``kernel(a, b, dither, buf, dv)`` on every CHUNK-sized slice [a, b) of [0, n), in parallel.

    ``dither`` holds the slice's 16-bit dithers, drawn from the stream position a (so the codes do not
    depend on the thread count); ``buf`` and ``dv`` are float32 scratch of the slice's length.
    """

    def work(start: int, stop: int) -> None:
        source = dither_at(seed, start)
        size = min(CHUNK, stop - start)
        buf, dv = np.empty(size, np.float32), np.empty(size, np.float32)
        for a in range(start, stop, CHUNK):
            b = min(a + CHUNK, stop)
            k = b - a
            kernel(a, b, draw_dither(source, k), buf[:k], dv[:k])

    run_ranges(n, work)


@dataclass(frozen=True)
class RangeGrid:
    """What both range quantizers set up: the checked block, its grid and the code buffer they fill.

    ``codes`` is all zeros for a zero-range block (nothing to round: it dequantizes exactly); otherwise it is
    uninitialised and every code is written by the quantizer (np.empty can reuse freed memory where np.zeros
    maps fresh pages). ``scale`` maps x − m onto [0, s] (None for a zero range).
    """

    x: np.ndarray
    levels: int
    lower: float
    upper: float
    codes: np.ndarray
    scale: Scale | None

    @property
    def n(self) -> int:
        return self.codes.size


def range_grid(x: object, levels: object) -> RangeGrid:
    block = check_block(x)
    s = check_levels(levels)
    m, M = block_range(block)
    n = block.numel()
    if m < M:
        return RangeGrid(block.numpy(), s, m, M, np.empty(n, numpy_code_dtype(s)),
                         unit_scale(float32_width(m, M), s))
    return RangeGrid(block.numpy(), s, m, M, np.zeros(n, numpy_code_dtype(s)), None)


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
        if self.scheme in RANGE_SCHEMES:
            if not self.lower <= self.upper or not np.isfinite(float32_width(self.lower, self.upper)):
                raise InvalidArgument("upper", "upper ≥ lower with a range finite in float32",
                                      (self.lower, self.upper))
        else:
            if self.norm < 0:
                raise InvalidArgument("norm", "‖x‖₂ ≥ 0", self.norm)
            s = self.signs
            if not isinstance(s, torch.Tensor) or s.dtype != torch.bool or s.shape != c.shape:
                raise InvalidArgument("signs", "a bool tensor shaped like codes", getattr(s, "dtype", s))

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
    def side_info_bits(self) -> int:
        return SIDE_INFO_BITS if self.scheme in RANGE_SCHEMES else QSGD_SIDE_INFO_BITS

    @property
    def bits_formula(self) -> int:
        """The theory's fixed-length cost: bits_fixed(d, s) (range schemes) or bits_qsgd(d, s) (QSGD)."""
        fn = numeric.bits_fixed if self.scheme in RANGE_SCHEMES else numeric.bits_qsgd
        value = float(fn(self.d, self.levels))
        assert value.is_integer(), value
        return int(value)

    @property
    def error_bound(self) -> float:
        """The theory's bound on ‖Q(x) − x‖²: d R²/(4s²) (range schemes) or min(d/s², √d/s)‖x‖² (QSGD)."""
        if self.scheme in RANGE_SCHEMES:
            return float(numeric.quantization_error_bound(self.d, self.range_, self.levels))
        return float(numeric.qsgd_error_bound(self.d, self.levels, self.norm**2))

    def dequantize(self) -> torch.Tensor:
        """The float32 values the codes stand for (the fixed formula of the module docstring)."""
        out = self.codes.numpy().astype(np.float32)  # exact: codes ≤ 2^16 − 1 < 2^24
        np.divide(out, np.float32(self.levels), out=out)
        if self.scheme in RANGE_SCHEMES:
            np.multiply(out, float32_width(self.lower, self.upper), out=out)
            np.add(out, np.float32(self.lower), out=out)
            # j/s·R ≥ 0 so the sum never drops below m; rounding can lift j = s a hair above M
            np.minimum(out, np.float32(self.upper), out=out)
        else:
            assert self.signs is not None
            np.multiply(out, np.float32(self.norm), out=out)
            np.negative(out, out=out, where=self.signs.numpy())
        return torch.from_numpy(out)

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
    exactly when ``stochastic`` is True.
    """

    name: str
    unbiased: bool
    stochastic: bool
    fn: Callable[..., QuantizedBlock]

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
