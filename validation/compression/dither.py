"""The dither's seed and threads: one 63-bit seed drawn from the caller's generator, QSGD's PCG64 stream
addressed by position, and the threads that run a large block in CHUNK-aligned ranges (so the codes never
depend on the thread count).

Randomness is explicit (docs/design.md §6): a stochastic quantizer takes a ``torch.Generator`` (from
``fedquant.validation.rng.torch_generator(seed, round, client)``) and draws exactly one 63-bit integer from it
(:func:`dither_seed`). The stochastic range quantizer keys its counter-based dither with it (keyed_dither.py:
SplitMix64 of (seed, ⌊i/4⌋), computed inside its fused kernel); QSGD seeds numpy's PCG64 bit generator with
it (16 bits per coordinate, four per 64-bit word, every bit used; ~2.3 ns per 64 bits). :func:`run_ranges`
also drives the numba kernels (quantizers, bit packing, dequantization), which release the GIL.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import torch

from fedquant.errors import InvalidArgument

#: bits of dither per coordinate; the rounding probability is a multiple of 2^-DITHER_BITS (see stochastic.py)
DITHER_BITS = 16
#: elements per thread below which a block is quantized by one thread
PARALLEL_MIN = 1 << 19
#: elements per slice of the hot loops: the float32 scratch slices (512 KiB each) stay in cache and numpy's
#: per-call overhead is amortised (2^16..2^18 measured within 5 % of each other at n = 10^7, 2^13 was 40 %
#: slower); a multiple of 4 so the dither stream (4 dithers per 64-bit word) does not depend on it
CHUNK = 1 << 17


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
    # a pool for this call only (a block this large takes milliseconds; starting threads, microseconds)
    with ThreadPoolExecutor(max_workers=len(bounds) - 1, thread_name_prefix="fedquant-quantize") as pool:
        futures = [pool.submit(work, a, b) for a, b in bounds[1:]]
        try:
            work(*bounds[0])
        finally:
            for f in futures:
                f.result()


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
