"""Benchmark: quantize + encode (fixed codec) and decode + dequantize of n float32 beside a plain copy, one run.

Rows, all on the same float32 input x (n = 10^7 by default, an update-like N(0, 0.01²) vector):

- ``copy``: ``y.copy_(x)`` into a preallocated buffer, the memory-bandwidth yardstick;
- ``<quantizer>``: ``fixed_codec.quantize_encode(quantizer, x, levels, generator)``, the full path from
  float32 tensor to message bytes (one pass for the range schemes: codes packed as they are computed);
- ``<quantizer>/decode+dequantize``: ``fixed_codec.decode_dequantize(message, out=y)``, message bytes back to
  float32 in a preallocated buffer, as the copy writes into one;

and, to show where the time goes:

- ``<quantizer>/two-step encode``: ``fixed_codec.encode(quantizer(x, ...))`` (a code array, then packing),
  ``<quantizer>/two-step decode``: ``fixed_codec.decode(message).dequantize()``, the same bytes and values as
  the rows above; ``<quantizer>/decode, new tensor``: ``decode_dequantize`` into a fresh 4n-byte tensor (the
  page faults of new memory, which the copy row does not pay);
- ``range (min, max)``: ``grid.block_range``, the min/max pass every range quantizer starts with;
- ``<quantizer>/quantize``: the quantizer alone; ``<quantizer>/encode``, ``<quantizer>/decode``: the codec alone;
- ``stochastic/dither``: the keyed SplitMix64 dither alone (n int16 dithers, threaded like the quantizer);
  ``qsgd/dither``: QSGD's PCG64 draws alone.

Also, per quantizer on one block of ``small_d`` = 26,122 coordinates (the size of the project's demo model):
milliseconds to quantize, to encode and decode with each codec, and the message sizes (the fixed code's is
the theory's formula plus its header; the Elias code's is measured).

Each row reports seconds (median and min of ``repeats``, the repeats interleaved row by row so drift hits
every row alike, each call after IDLE_S of idle cores), GB/s of float32 input (4n bytes / median) and the
ratio to the copy's GB/s. The goals (GOALS: stochastic quantize + encode ≥ 30 % of the copy, deterministic
≥ 50 %, decode + dequantize ≥ 50 %) are printed beside their rows, met or not, from the medians of this run.
Threads: whatever ``torch.get_num_threads()`` is when called (the quantizers use that many; the copy uses
torch's pool). Speed claims live here, never in tests.

Run: ``python -m fedquant.benchmarks.quantizers [--n N] [--levels S] [--repeats R] [--threads T]``.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from fedquant.validation.compression import elias_codec, fixed_codec
from fedquant.validation.compression.dither import dither_at, draw_dither, run_ranges
from fedquant.validation.compression.grid import block_range, check_levels
from fedquant.validation.compression.jit import kernels
from fedquant.validation.compression.quantizers import QUANTIZERS
from fedquant.validation.rng import torch_generator

#: idle seconds before each timed call: torch's OpenMP threads spin-wait for a few milliseconds after a
#: parallel region (libgomp's default policy) on the cores the next row's threads need; measured here, a
#: quantize right after the copy took 18 ms instead of 11. The gap lets every row start on idle cores.
IDLE_S = 0.02

#: the issue's goals: a row's GB/s at least this fraction of the copy's
GOALS = {
    "stochastic": 0.30,
    "deterministic": 0.50,
    "stochastic/decode+dequantize": 0.50,
    "deterministic/decode+dequantize": 0.50,
}


def _best_ms(fn: Callable[[], object], repeats: int) -> float:
    fn()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best * 1e3


def bench_small_block(d: int = 26_122, levels: int = 15, repeats: int = 20, seed: int = 0) -> dict[str, Any]:
    """Per quantizer on one block of d coordinates: ms (best of ``repeats``) and message sizes."""
    x = torch.randn(d, generator=torch.Generator().manual_seed(seed)) * 0.01
    out: dict[str, Any] = {}
    for name, q in QUANTIZERS.items():
        gen = torch_generator(seed, 0, 1)
        block = q(x, levels, gen)
        fixed_msg, elias_msg = fixed_codec.encode(block), elias_codec.encode(block)
        out[name] = {
            "quantize_ms": _best_ms(lambda q=q, gen=gen: q(x, levels, gen), repeats),
            "fixed_encode_ms": _best_ms(lambda b=block: fixed_codec.encode(b), repeats),
            "fixed_decode_ms": _best_ms(lambda m=fixed_msg: fixed_codec.decode(m), repeats),
            "elias_encode_ms": _best_ms(lambda b=block: elias_codec.encode(b), repeats),
            "elias_decode_ms": _best_ms(lambda m=elias_msg: elias_codec.decode(m), repeats),
            "formula_bytes": -(-block.bits_formula // 8),
            "fixed_bytes": len(fixed_msg),
            "elias_bytes": len(elias_msg),
        }
    return out


def bench_quantize(n: int = 10**7, levels: int = 15, repeats: int = 5, seed: int = 0,
                   small_d: int = 26_122) -> dict[str, Any]:
    """Time copy, and quantize + fixed encode per quantizer, side by side; returns a dict (see module doc)."""
    if n < 1 or repeats < 1:
        raise ValueError(f"n ≥ 1 and repeats ≥ 1, got n = {n}, repeats = {repeats}")
    levels = check_levels(levels)
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(n, generator=gen) * 0.01
    y = torch.empty_like(x)
    qgen = torch_generator(seed, 0, 0)

    def pcg64_dither() -> None:
        source = dither_at(seed, 0)
        for a in range(0, n, 1 << 16):
            draw_dither(source, min(1 << 16, n - a))

    keyed = np.empty(n, np.int16)
    range_kernels = kernels("range_kernels")

    def keyed_dither() -> None:
        run_ranges(n, lambda a, b: range_kernels.fill_dither(np.uint64(seed), a, b, keyed))

    blocks = {name: q(x, levels, qgen) for name, q in QUANTIZERS.items()}
    messages = {name: fixed_codec.encode(b) for name, b in blocks.items()}
    rows: dict[str, Callable[[], object]] = {"copy": lambda: y.copy_(x), "range (min, max)": lambda: block_range(x)}
    for name, q in QUANTIZERS.items():
        rows[name] = lambda q=q: fixed_codec.quantize_encode(q, x, levels, qgen)
    for name in QUANTIZERS:
        rows[f"{name}/decode+dequantize"] = lambda m=messages[name]: fixed_codec.decode_dequantize(m, out=y)
    for name, q in QUANTIZERS.items():
        rows[f"{name}/two-step encode"] = lambda q=q: fixed_codec.encode(q(x, levels, qgen))
        rows[f"{name}/two-step decode"] = lambda m=messages[name]: fixed_codec.decode(m).dequantize()
        rows[f"{name}/decode, new tensor"] = lambda m=messages[name]: fixed_codec.decode_dequantize(m)
    for name, q in QUANTIZERS.items():
        rows[f"{name}/quantize"] = lambda q=q: q(x, levels, qgen)
        rows[f"{name}/encode"] = lambda b=blocks[name]: fixed_codec.encode(b)
        rows[f"{name}/decode"] = lambda m=messages[name]: fixed_codec.decode(m)
    rows["stochastic/dither"] = keyed_dither
    rows["qsgd/dither"] = pcg64_dither

    times: dict[str, list[float]] = {k: [] for k in rows}
    for fn in rows.values():  # warm-up: first-touch page faults, thread pool start
        fn()
    for _ in range(repeats):
        for key, fn in rows.items():
            time.sleep(IDLE_S)
            start = time.perf_counter()
            fn()
            times[key].append(time.perf_counter() - start)

    nbytes = 4 * n
    copy_gbps = nbytes / statistics.median(times["copy"]) / 1e9
    result: dict[str, Any] = {
        "n": n, "levels": levels, "repeats": repeats, "threads": torch.get_num_threads(),
        "goals": GOALS, "rows": {},
    }
    for key, ts in times.items():
        med = statistics.median(ts)
        gbps = nbytes / med / 1e9
        result["rows"][key] = {"seconds": med, "seconds_min": min(ts), "gbps": gbps, "ratio_to_copy": gbps / copy_gbps}
        if key in GOALS:
            result["rows"][key]["goal_met"] = gbps / copy_gbps >= GOALS[key]
    sizes = {}
    for name, block in blocks.items():
        sizes[name] = {
            "bits_formula": block.bits_formula,
            "fixed_bytes": len(fixed_codec.encode(block)),
            "fixed_header_bytes": fixed_codec.HEADER_BYTES,
            "elias_bytes": elias_codec.encoded_nbytes(block),
        }
    result["sizes"] = sizes
    result["small_d"] = small_d
    result["small_block"] = bench_small_block(small_d, levels, max(3, 4 * repeats), seed)
    return result


def format(result: dict[str, Any]) -> str:
    """A small table of the rows (each goal beside its row, met or not) and the message sizes."""
    lines = [
        f"quantize + encode (fixed codec), decode + dequantize of n = {result['n']:,} float32, "
        f"s = {result['levels']}, {result['threads']} thread(s), median of {result['repeats']}",
        f"{'row':<34}{'ms (median)':>12}{'ms (min)':>10}{'GB/s':>8}{'× copy':>9}  goal",
    ]
    for key, row in result["rows"].items():
        goal = ""
        if key in result["goals"]:
            goal = f"  ≥ {result['goals'][key]:.0%}: {'met' if row['goal_met'] else 'NOT met'}"
        lines.append(f"{key:<34}{row['seconds'] * 1e3:>12.2f}{row['seconds_min'] * 1e3:>10.2f}"
                     f"{row['gbps']:>8.2f}{row['ratio_to_copy']:>9.3f}{goal}")
    lines.append(f"{'message of the n floats':<26}{'formula B':>12}{'fixed B':>12}{'elias B':>12}"
                 "  (fixed B = formula B + header)")
    for name, s in result["sizes"].items():
        formula = -(-s["bits_formula"] // 8)
        lines.append(f"{name:<26}{formula:>12,}{s['fixed_bytes']:>12,}{s['elias_bytes']:>12,}")
    lines.append(f"one block of d = {result['small_d']:,}: ms (best) and bytes")
    lines.append(f"{'quantizer':<15}{'quantize':>9}{'fix enc':>9}{'fix dec':>9}{'eli enc':>9}{'eli dec':>9}"
                 f"{'formula B':>11}{'fixed B':>9}{'elias B':>9}")
    for name, r in result["small_block"].items():
        lines.append(f"{name:<15}{r['quantize_ms']:>9.3f}{r['fixed_encode_ms']:>9.3f}{r['fixed_decode_ms']:>9.3f}"
                     f"{r['elias_encode_ms']:>9.3f}{r['elias_decode_ms']:>9.3f}{r['formula_bytes']:>11,}"
                     f"{r['fixed_bytes']:>9,}{r['elias_bytes']:>9,}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=10**7)
    parser.add_argument("--levels", type=int, default=15)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: as set)")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    print(format(bench_quantize(args.n, args.levels, args.repeats)))


if __name__ == "__main__":
    main()
