"""Benchmark: how each cost grows with its work — a fitted exponent per curve and a log-log plot.

Curves (time of one call against the size of its work, every point the median of several calls after one
warm-up call; a point's repeats are chosen so it takes about ``POINT_SECONDS``, at least 5 and at most 15):

- ``integer vs T`` / ``continuous vs T``: ``solve_integer`` / ``solve_continuous`` on the schedule benchmark's
  trajectory (fedquant.benchmarks.solvers: one client, one block of d = 1000, 4 bits on average) for
  T = 10^3 … 10^7 rounds; the problem setup (``ScheduleProblem.create``, ``make_items``) is not timed.
- ``integer vs N`` / ``continuous vs N``: T = 10^3 rounds and N = 1 … 10^4 clients with their own ranges
  R_{t,i} = 0.2·0.999^t·exp(0.3·noise). ``ScheduleProblem`` keeps one block per client per round, and since
  the client ranges differ the default granularity is ``client``: T·N items, each of unit cost d (every
  client sends the same d coordinates), so multiple clients take the same equal-unit-cost path as T does —
  the work is T·N items, the curve is against N.
- ``vectorized vs clients`` / ``loop vs clients``: ``local_updates`` of ``make_engine("vectorized" | "loop")``
  for one round of every client, on a synthetic in-memory data set (numpy; 64 samples of 64 standard normal
  features per client, 10 classes drawn uniformly), MLP 64-32-10 (d = 2,410), 1 local epoch of batch 32
  (2 steps per client), lr 0.05, for 10 … 1000 clients.
- ``vectorized vs d`` / ``loop vs d``: the same for 10 clients and an MLP 64-h-10 whose hidden width h grows,
  d = 75h + 10 = 10^3 … 10^6 parameters.
- ``quantize+encode vs n``: ``fixed_codec.quantize_encode(QUANTIZERS["stochastic"], x, 15, generator)`` of n float32
  (N(0, 0.01²)), n = 10^4 … 10^8, as fedquant.benchmarks.quantizers times it.

Exponent (``fit_exponent``): the least-squares slope a of log t = a·log n + c, fitted over the points whose
median time is ≥ ``MIN_FIT_SECONDS`` = 1 ms and ≥ ``OVERHEAD_FACTOR`` = 10 times the curve's smallest time, so
a fixed per-call overhead (which would flatten the slope towards 0) does not enter it. Why both: with
t = c₀ + k·n^a the local slope is a·(1 − c₀/t); the smallest time measured is an upper bound on c₀, so on the
points used c₀ ≤ t/10 and the slope is biased low by at most 10 % — the 1 ms floor alone does not bound it
when a call has milliseconds of fixed cost (a solver's 64-step bisection, an engine's per-step autograd
calls). When fewer than two distinct sizes qualify, the two largest sizes are used instead and the fit is
marked as such; with fewer than two distinct sizes in all the exponent is NaN. The printout names the points
used. Its standard error is s/√Σ(x − x̄)² (s² = Σ residual²/(k − 2), x = ln n).

Beside every point, a plain copy of the bytes of the curve's main array (8 B per solver item, 4 B per float32
parameter of every client, 4 B per quantized element) between two preallocated buffers is timed too: where a
curve's time per unit grows, the copy's growth over the same sizes shows how much of it the memory hierarchy
(caches giving way to DRAM as the arrays outgrow them) accounts for.

Expectations (the verdict per curve): the solvers are O(T log T) or better — exponent ≤ 1.1 (a sort of n items
is n·log n, whose local slope over 10^3 … 10^7 is 1 + 1/ln n ≈ 1.06–1.14 at the small end; 1.1 allows it and
machine noise); the engines linear in clients and in d, and quantize + encode linear in n: exponent ≤ 1.1
too. An exponent well below 1 means the measured range is still amortising a fixed cost; it is reported,
not counted as a failure.

Sizes: the default run takes a few minutes on 2 cores; the loop engine is capped at 1000 clients and
quantize at 10^8 elements (1e8 float32 is 400 MB of input). ``quick=True`` runs few small sizes (≤ 30 s).
Timing claims live here, never in tests.
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from fedquant.files import atomic_path

#: points faster than this are left out of the fit (fixed per-call overhead would flatten the slope)
MIN_FIT_SECONDS = 1e-3
#: ... and points faster than this many times the curve's smallest time (an upper bound on its fixed cost)
OVERHEAD_FACTOR = 10.0
#: the exponent a curve may reach and still be "as expected" (see the module docstring)
EXPECTED_MAX_EXPONENT = 1.1
#: target time of one point's repeats
POINT_SECONDS = 0.5

#: sizes of the default run and of ``quick`` (per axis)
SIZES: dict[str, tuple[int, ...]] = {
    "rounds": (1_000, 3_000, 10_000, 30_000, 100_000, 300_000, 1_000_000, 3_000_000, 10_000_000),
    "clients_solver": (1, 3, 10, 30, 100, 300, 1_000, 3_000, 10_000),
    "clients_engine": (10, 20, 50, 100, 200, 500, 1_000),
    "d": (1_000, 3_000, 10_000, 30_000, 100_000, 300_000, 1_000_000),
    "n": (10_000, 30_000, 100_000, 300_000, 1_000_000, 3_000_000, 10_000_000, 30_000_000, 100_000_000),
}
QUICK_SIZES: dict[str, tuple[int, ...]] = {
    "rounds": (1_000, 10_000, 100_000),
    "clients_solver": (1, 10, 100),
    "clients_engine": (4, 16, 64),
    "d": (1_000, 10_000, 100_000),
    "n": (10_000, 100_000, 1_000_000),
}
#: the loop engine trains one client after another (about 4 ms per client here): capped so a run stays short
LOOP_MAX_CLIENTS = 1_000
#: fixed sizes of the curves that vary something else
SOLVER_ROUNDS_FOR_CLIENTS = 1_000
ENGINE_CLIENTS_FOR_D = 10
SAMPLES_PER_CLIENT, FEATURES, CLASSES, HIDDEN_FOR_CLIENTS = 64, 64, 10, 32
#: parameters of the MLP 64-32-10 of the clients curves
D_FOR_CLIENTS = FEATURES * HIDDEN_FOR_CLIENTS + HIDDEN_FOR_CLIENTS + HIDDEN_FOR_CLIENTS * CLASSES + CLASSES


@dataclass(frozen=True)
class ExponentFit:
    """Least-squares slope of log time against log size over the points ``used`` (indices)."""

    exponent: float
    stderr: float  # NaN with two points (no residual left)
    used: tuple[int, ...]
    rule: str  # which selection rule chose ``used``


def fit_exponent(sizes: Sequence[float], seconds: Sequence[float], min_seconds: float = MIN_FIT_SECONDS,
                 overhead_factor: float = OVERHEAD_FACTOR) -> ExponentFit:
    """Fit t ∝ n^a: the least-squares slope a = Σ(x − x̄)(y − ȳ)/Σ(x − x̄)², x = ln n, y = ln t.

    Points used: those with t ≥ max(``min_seconds``, ``overhead_factor``·min t) (rule ``"t >= min"``; the
    module docstring says why); if they hold fewer than two distinct sizes, the points at the two largest
    sizes (``"two largest sizes"``: possibly overhead-dominated, a lower bound on the true growth); with fewer
    than two distinct sizes overall, or non-positive or non-finite values, nothing (``"degenerate"``,
    exponent NaN). Standard error s/√Σ(x − x̄)², s² = Σ residual²/(k − 2).
    """
    n = np.asarray(sizes, dtype=np.float64)
    t = np.asarray(seconds, dtype=np.float64)
    if n.shape != t.shape or n.ndim != 1:
        raise ValueError(f"sizes and seconds must be 1-d of one length, got {n.shape} and {t.shape}")
    valid = np.isfinite(n) & np.isfinite(t) & (n > 0) & (t > 0)
    floor = max(min_seconds, overhead_factor * float(t[valid].min())) if valid.any() else min_seconds
    above = valid & (t >= floor)
    rule = "t >= min"
    if np.unique(n[above]).size < 2:
        distinct = np.unique(n[valid])
        if distinct.size < 2:
            return ExponentFit(float("nan"), float("nan"), (), "degenerate")
        above = valid & (n >= distinct[-2])
        rule = "two largest sizes"
    idx = np.flatnonzero(above)
    x, y = np.log(n[idx]), np.log(t[idx])
    dx = x - x.mean()
    sxx = float(dx @ dx)
    slope = float(dx @ (y - y.mean())) / sxx
    resid = y - y.mean() - slope * dx
    stderr = math.sqrt(float(resid @ resid) / (idx.size - 2) / sxx) if idx.size > 2 else float("nan")
    return ExponentFit(slope, stderr, tuple(int(i) for i in idx), rule)


def _median_seconds(fn: Callable[[], object], target: float = POINT_SECONDS, min_repeats: int = 5,
                    max_repeats: int = 15) -> float:
    """Median of repeated calls after one (timed) warm-up; repeats sized to take about ``target``."""
    start = time.perf_counter()
    fn()
    first = time.perf_counter() - start
    repeats = int(min(max_repeats, max(min_repeats, target / max(first, 1e-9))))
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return float(statistics.median(times))


# ---- the curves' workloads ---------------------------------------------------------------------------------


def _solver_items(rounds: int, clients: int) -> tuple[Any, float]:
    from fedquant.benchmarks.solvers import bench_problem
    from fedquant.optimizer.decision_items import make_items
    from fedquant.optimizer.problem import ScheduleProblem
    from fedquant.optimizer.schemes.optimal import default_granularity, side_bits

    if clients == 1:
        problem = bench_problem(rounds)
    else:
        rng = np.random.default_rng(0)
        t = np.arange(rounds)[:, None]
        ranges = 0.2 * 0.999**t * np.exp(0.3 * rng.standard_normal((rounds, clients)))
        problem = ScheduleProblem.create(range_=ranges, clients=clients, block_sizes=1000,
                                         budget_bits=rounds * clients * (1000 * 4.0 + 64))
    items = make_items(problem, default_granularity(problem))
    return items, float(problem.budget_bits - side_bits(problem))


def _solver_curves(axis: str, sizes: Sequence[int]) -> tuple[dict[str, list[float]], list[float]]:
    """Median seconds of each solver per size, and the share of the continuous levels strictly inside the box
    (the items its Newton iterations run on; the others are settled by a comparison)."""
    from fedquant.optimizer.solve_continuous import solve_continuous
    from fedquant.optimizer.solve_integer import solve_integer

    out: dict[str, list[float]] = {"integer": [], "continuous": []}
    interior: list[float] = []
    for size in sizes:
        rounds, clients = (size, 1) if axis == "rounds" else (SOLVER_ROUNDS_FOR_CLIENTS, size)
        items, budget = _solver_items(rounds, clients)
        w, u = items.weight, items.unit_cost
        out["integer"].append(_median_seconds(lambda w=w, u=u, b=budget: solve_integer(w, u, b, 1, 16)))
        out["continuous"].append(_median_seconds(lambda w=w, u=u, b=budget: solve_continuous(w, u, b, 1, 16)))
        levels = solve_continuous(w, u, budget, 1, 16).levels
        interior.append(float(np.mean((levels > 1.0) & (levels < 2.0**16 - 1))))
        del items
    return out, interior


def synthetic_clients(clients: int, seed: int = 0) -> tuple[Any, Any, list[np.ndarray]]:
    """x (clients·64, 64) float32 N(0, 1), y uniform over 10 classes, and each client's 64 sample indices."""
    import torch

    rng = np.random.default_rng(seed)
    m = clients * SAMPLES_PER_CLIENT
    x = rng.standard_normal((m, FEATURES)).astype(np.float32)
    y = rng.integers(0, CLASSES, size=m)
    parts = [np.arange(c * SAMPLES_PER_CLIENT, (c + 1) * SAMPLES_PER_CLIENT) for c in range(clients)]
    return torch.from_numpy(x), torch.from_numpy(y), parts


def hidden_for(d: int) -> int:
    """The hidden width h of the MLP 64-h-10 with d = 75h + 10 parameters closest to d (at least 1)."""
    return max(1, round((d - CLASSES) / (FEATURES + 1 + CLASSES)))


def _engine_curves(axis: str, sizes: Sequence[int]) -> tuple[dict[str, list[float]], dict[str, list[int]]]:
    import torch

    from fedquant.validation.training.engines import make_engine
    from fedquant.validation.training.local_sgd import LocalConfig
    from fedquant.validation.training.models import build_model

    cfg = LocalConfig(lr=0.05, batch_size=32, local_epochs=1)
    times: dict[str, list[float]] = {"vectorized": [], "loop": []}
    done: dict[str, list[int]] = {"vectorized": [], "loop": []}
    for size in sizes:
        clients, hidden = (size, HIDDEN_FOR_CLIENTS) if axis == "clients" else (ENGINE_CLIENTS_FOR_D, hidden_for(size))
        x, y, parts = synthetic_clients(clients)
        net = build_model("mlp", (FEATURES,), CLASSES, seed=0, hidden=(hidden,))
        w = torch.nn.utils.parameters_to_vector(net.parameters()).detach().clone()
        d = int(w.numel())
        everyone = list(range(clients))
        for name in ("vectorized", "loop"):
            if name == "loop" and clients > LOOP_MAX_CLIENTS:
                continue
            engine = make_engine(name, net, x, y, parts, cfg, 0)
            times[name].append(_median_seconds(lambda e=engine, w=w, c=everyone: e.local_updates(w, c, 0)))
            done[name].append(clients if axis == "clients" else d)
    return times, done


def _quantize_curve(sizes: Sequence[int]) -> list[float]:
    import torch

    from fedquant.validation.compression import fixed_codec
    from fedquant.validation.compression.quantizers import QUANTIZERS
    from fedquant.validation.rng import torch_generator

    q = QUANTIZERS["stochastic"]
    out = []
    for n in sizes:
        x = torch.randn(n, generator=torch.Generator().manual_seed(0)) * 0.01
        gen = torch_generator(0, 0, 0)
        out.append(_median_seconds(lambda x=x, gen=gen: fixed_codec.quantize_encode(q, x, 15, gen)))
        del x
    return out


# ---- the benchmark ---------------------------------------------------------------------------------------

#: (curve, panel, unit of the size, what is expected)
PANELS = {
    "rounds": "schedule solvers vs rounds T (1 client)",
    "clients_solver": f"schedule solvers vs clients N (T = {SOLVER_ROUNDS_FOR_CLIENTS:,})",
    "clients_engine": "engine local_updates vs clients (d = 2,410)",
    "d": f"engine local_updates vs parameters d ({ENGINE_CLIENTS_FOR_D} clients)",
    "n": "quantize + fixed encode vs float32 elements n",
}
EXPECTATIONS = {
    "rounds": "O(T log T) or better",
    "clients_solver": "O(TN log TN) or better",
    "clients_engine": "linear in clients",
    "d": "linear in d",
    "n": "linear in n",
}


def _copy_seconds(nbytes: int) -> float:
    """Median time of copying ``nbytes`` between two preallocated buffers: the memory hierarchy's yardstick."""
    src = np.ones(max(1, int(nbytes)), dtype=np.uint8)
    dst = np.empty_like(src)
    return _median_seconds(lambda: np.copyto(dst, src), target=0.1)


def _curve(name: str, axis: str, sizes: Sequence[int], seconds: Sequence[float], unit: str,
           bytes_per_unit: int) -> dict[str, Any]:
    """A curve's record: its fit, its verdict, and beside each point a plain copy of its main array's bytes
    (``bytes_per_unit`` per unit of size), so a per-unit time that grows can be set against the memory
    hierarchy's own growth measured in the same run."""
    fit = fit_exponent(sizes, seconds)
    ok = bool(np.isfinite(fit.exponent) and fit.exponent <= EXPECTED_MAX_EXPONENT)
    return {
        "curve": name, "axis": axis, "unit": unit, "sizes": [int(s) for s in sizes],
        "seconds": [float(t) for t in seconds], "exponent": fit.exponent, "stderr": fit.stderr,
        "used": [int(sizes[i]) for i in fit.used], "fit_rule": fit.rule, "expectation": EXPECTATIONS[axis],
        "expected_max_exponent": EXPECTED_MAX_EXPONENT, "as_expected": ok, "bytes_per_unit": bytes_per_unit,
        "copy_seconds": [_copy_seconds(int(s) * bytes_per_unit) for s in sizes],
    }


def bench_scaling(out: str | Path = "bench-scaling.png", quick: bool = False, threads: int | None = None,
                  sizes: Mapping[str, Sequence[int]] | None = None) -> dict[str, Any]:
    """Measure every curve (module docstring), fit the exponents, write the log-log plot to ``out``.

    ``sizes`` overrides the sizes of some axes (``rounds``, ``clients_solver``, ``clients_engine``, ``d``,
    ``n``); ``quick`` starts from ``QUICK_SIZES`` instead of ``SIZES``.
    """
    import torch

    chosen = dict(QUICK_SIZES if quick else SIZES)
    chosen.update({k: tuple(v) for k, v in (sizes or {}).items()})
    unknown = set(chosen) - set(SIZES)
    if unknown:
        raise ValueError(f"unknown axes {sorted(unknown)}; known: {sorted(SIZES)}")
    old = torch.get_num_threads()
    if threads:
        torch.set_num_threads(threads)
    start = time.perf_counter()
    try:
        curves: list[dict[str, Any]] = []
        # bytes per unit of size of each curve's main array: float64 W per item (T or T·N items), float32
        # stacked parameters per client (d of them) or per parameter (10 clients), float32 input per element
        for axis, unit, nbytes in (("rounds", "round", 8), ("clients_solver", "client", 8 * SOLVER_ROUNDS_FOR_CLIENTS)):
            measured, interior = _solver_curves("rounds" if axis == "rounds" else "clients", chosen[axis])
            label = "T" if axis == "rounds" else "N"
            for solver, seconds in measured.items():
                curves.append(_curve(f"{solver} vs {label}", axis, chosen[axis], seconds, unit, nbytes))
            curves[-1]["interior_share"] = interior  # the continuous curve
        for axis, unit in (("clients_engine", "client"), ("d", "parameter")):
            times, done = _engine_curves("clients" if axis == "clients_engine" else "d", chosen[axis])
            nbytes = 4 * (D_FOR_CLIENTS if axis == "clients_engine" else ENGINE_CLIENTS_FOR_D)
            for name in ("vectorized", "loop"):
                curves.append(_curve(f"{name} vs {'clients' if axis == 'clients_engine' else 'd'}", axis,
                                     done[name], times[name], unit, nbytes))
        curves.append(_curve("quantize+encode vs n", "n", chosen["n"], _quantize_curve(chosen["n"]), "element", 4))
        used_threads = torch.get_num_threads()
    finally:
        torch.set_num_threads(old)
    path = plot_scaling(curves, out)
    return {"quick": quick, "threads": used_threads, "min_fit_seconds": MIN_FIT_SECONDS,
            "overhead_factor": OVERHEAD_FACTOR,
            "loop_max_clients": LOOP_MAX_CLIENTS, "seconds_total": time.perf_counter() - start,
            "curves": curves, "plot": str(path)}


def plot_scaling(curves: Sequence[Mapping[str, Any]], out: str | Path) -> Path:
    """One log-log panel per axis: measured points (hollow where left out of the fit) and the fitted line."""
    from matplotlib.figure import Figure  # no pyplot: whatever backend the caller has is untouched

    axes_order = [a for a in PANELS if any(c["axis"] == a for c in curves)]
    cols = min(3, len(axes_order))
    rows = -(-len(axes_order) // cols)
    fig = Figure(figsize=(5.2 * cols, 4.0 * rows), constrained_layout=True)
    grid = fig.subplots(rows, cols, squeeze=False)
    for ax in grid.ravel()[len(axes_order):]:
        ax.set_visible(False)
    for ax, axis in zip(grid.ravel(), axes_order, strict=False):
        for k, c in enumerate(cv for cv in curves if cv["axis"] == axis):
            n, t = np.asarray(c["sizes"], dtype=float), np.asarray(c["seconds"], dtype=float)
            if n.size == 0:
                continue
            used = np.isin(n, c["used"])
            colour = f"C{k}"
            ax.loglog(n, t, color=colour, lw=0.8, alpha=0.6)
            ax.loglog(n[used], t[used], "o", color=colour,
                      label=f"{c['curve']}: slope {c['exponent']:.2f}")
            ax.loglog(n[~used], t[~used], "o", mfc="none", color=colour)
            if np.isfinite(c["exponent"]) and used.sum() >= 2:
                x = np.log(n[used])
                y = np.log(t[used])
                line = np.exp(y.mean() + c["exponent"] * (np.log(n[used]) - x.mean()))
                ax.loglog(n[used], line, "--", color=colour, lw=1.0)
        ax.axhline(MIN_FIT_SECONDS, color="#999999", lw=0.6, ls=":")
        ax.set_title(PANELS[axis], fontsize=9)
        ax.set_xlabel("size")
        ax.set_ylabel("seconds (median)")
        ax.legend(fontsize=7, loc="upper left")
    fig.suptitle(f"scaling: fitted (dashed) over the filled points, t ≥ {MIN_FIT_SECONDS * 1e3:g} ms and ≥ "
                 f"{OVERHEAD_FACTOR:g}× the curve's fastest; hollow points left out; dotted: 1 ms", fontsize=10)
    path = Path(out)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=100)
    return path


def _sizes_text(sizes: Sequence[int]) -> str:
    return ", ".join(f"{s:.0e}".replace("e+0", "e") if s >= 1000 else str(s) for s in sizes) or "-"


def format_bench(r: Mapping[str, Any]) -> str:
    lines = [f"scaling benchmark{' (quick)' if r['quick'] else ''}: median time per call, {r['threads']} torch "
             f"thread(s); exponent = least-squares slope of log t vs log size over the points with "
             f"t ≥ {r['min_fit_seconds'] * 1e3:g} ms and ≥ {r['overhead_factor']:g}× the curve's fastest "
             f"({r['seconds_total']:.0f} s in all)",
             f"  {'curve':<24}{'size':>12}{'ms':>11}{'µs/unit':>11}{'copy µs/unit':>14}  fit"]
    for c in r["curves"]:
        for n, t, cp in zip(c["sizes"], c["seconds"], c["copy_seconds"], strict=True):
            mark = "used" if n in c["used"] else "-"
            lines.append(f"  {c['curve']:<24}{n:>12,}{1e3 * t:>11.3f}{1e6 * t / n:>11.4g}{1e6 * cp / n:>14.4g}  {mark}")
    lines.append("")
    lines.append(f"  {'curve':<24}{'exponent':>9}{'± s.e.':>8}  points used; verdict")
    for c in r["curves"]:
        se = f"{c['stderr']:.2f}" if np.isfinite(c["stderr"]) else "-"
        rule = "" if c["fit_rule"] == "t >= min" else f" [{c['fit_rule']}]"
        if not np.isfinite(c["exponent"]):
            verdict = "no fit (fewer than two sizes)"
        elif c["as_expected"]:
            verdict = f"as expected ({c['expectation']}: ≤ {c['expected_max_exponent']})"
            if c["exponent"] < 0.9:
                verdict += "; below 1: the time per unit falls with size"
                if "interior_share" in c:
                    share = [f for n, f in zip(c["sizes"], c["interior_share"], strict=True) if n in c["used"]]
                    verdict += (f" (levels inside the box, the ones Newton iterates on: {100 * share[0]:.0f}% → "
                                f"{100 * share[-1]:.0f}% of the items)")
                else:
                    fixed = 1e3 * min(c["seconds"])
                    verdict += f" (a fixed per-call cost, at most the smallest size's {fixed:.3g} ms, still amortised)"
        else:
            pairs = [(t / n, cp / n) for n, t, cp in zip(c["sizes"], c["seconds"], c["copy_seconds"], strict=True)
                     if n in c["used"]]
            verdict = (f"WORSE than expected ({c['expectation']}: ≤ {c['expected_max_exponent']}); time per "
                       f"{c['unit']} grows {pairs[-1][0] / pairs[0][0]:.2f}× over the points used, a plain copy "
                       f"of its {c['bytes_per_unit']} B per {c['unit']} {pairs[-1][1] / pairs[0][1]:.2f}× "
                       "(the memory hierarchy's share)")
        lines.append(f"  {c['curve']:<24}{c['exponent']:>9.3f}{se:>8}  {_sizes_text(c['used'])}{rule}; {verdict}")
    lines.append(f"  plot: {r['plot']}")
    return "\n".join(lines)


if __name__ == "__main__":
    print(format_bench(bench_scaling(quick=True)))
