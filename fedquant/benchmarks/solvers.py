"""Benchmark: the exact integer schedule for T = 10^5 rounds beside cvxpy on the continuous relaxation.

One run, side by side on one problem: (1) our exact integer solver (marginal allocation), (2) our
continuous KKT solver, (3) cvxpy (Clarabel) on the same continuous relaxation
    minimise Σ_t W_t / s_t²  s.t.  Σ_t u_t log2(s_t + 1) ≤ B,  b_min ≤ log2(s_t + 1) ≤ b_max.
It is convex in y = ln(s + 1) but not DCP as written; with z = e^{−y} one has 1/s = z/(1 − z), so the epigraph
form  min Σ W t  s.t.  t ≥ q²,  q ≥ inv_pos(1 − z) − 1,  z ≥ exp(−y),  Σ u y/ln 2 ≤ B  is DCP and exact (every
epigraph constraint is tight at the optimum). Prints times, their ratios and the two relaxation objectives.

The problem setup is timed apart from the solves, stage by stage: the trajectory (this benchmark's own
synthetic data), ``ScheduleProblem.create`` (validation), ``make_items`` (weights W_t and unit costs u_t) and
``side_bits``. Our solvers go up to T = 10^7 (``--rounds 10000000 --no-cvxpy``); cvxpy is refused above
``CVXPY_MAX_ROUNDS`` (it took 40 s at 10^5 and grows faster than linearly).
"""

from __future__ import annotations

import time
import warnings
from typing import Any

import numpy as np

from fedquant.errors import InvalidArgument
from fedquant.optimizer.decision_items import make_items
from fedquant.optimizer.problem import ScheduleProblem
from fedquant.optimizer.schemes.optimal import side_bits
from fedquant.optimizer.solve_continuous import solve_continuous
from fedquant.optimizer.solve_integer import solve_integer

#: the largest T cvxpy is run at (about 40 s at 10^5 on the reference machine)
CVXPY_MAX_ROUNDS = 200_000


def bench_trajectory(rounds: int = 100_000, d: int = 1000, mean_bits: float = 4.0,
                     seed: int = 0) -> tuple[np.ndarray, float]:
    """R_t = 0.2·0.99997^t·exp(0.3·noise), and the budget T·(d·mean_bits + 64) bits."""
    rng = np.random.default_rng(seed)
    t = np.arange(rounds)
    ranges = 0.2 * 0.99997**t * np.exp(0.3 * rng.standard_normal(rounds))
    return ranges, rounds * (d * mean_bits + 64)


def bench_problem(rounds: int = 100_000, d: int = 1000, mean_bits: float = 4.0, seed: int = 0) -> ScheduleProblem:
    """A long noisy shrinking-range trajectory: R_t = 0.2·0.99997^t·(1 + 0.3·noise), one client, one block."""
    ranges, budget = bench_trajectory(rounds, d, mean_bits, seed)
    return ScheduleProblem.create(range_=ranges, clients=1, block_sizes=d, budget_bits=budget)


def _best_of(fn: Any, repeats: int) -> tuple[float, Any]:
    best, out = float("inf"), None
    for _ in range(repeats):
        start = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - start)
    return best, out


def _timed(fn: Any) -> tuple[float, Any]:
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


def bench_schedule(rounds: int = 100_000, repeats: int | None = None, with_cvxpy: bool = True,
                   d: int = 1000) -> dict[str, Any]:
    """Setup stages (one run each), then the best of ``repeats`` solves (default 5, 3 above T = 10^6)."""
    if with_cvxpy and rounds > CVXPY_MAX_ROUNDS:
        raise InvalidArgument("rounds", f"at most {CVXPY_MAX_ROUNDS:,} with cvxpy (it takes about 40 s at 10^5); "
                              "add --no-cvxpy to time our solvers alone up to 10^7", rounds)
    if repeats is None:
        repeats = 5 if rounds <= 1_000_000 else 3
    t_traj, (ranges, budget_bits) = _timed(lambda: bench_trajectory(rounds, d))
    t_create, problem = _timed(lambda: ScheduleProblem.create(range_=ranges, clients=1, block_sizes=d,
                                                              budget_bits=budget_bits))
    t_items, items = _timed(lambda: make_items(problem, "round"))
    t_side, side = _timed(lambda: side_bits(problem))
    budget = problem.budget_bits - side
    t_int, sol = _best_of(lambda: solve_integer(items.weight, items.unit_cost, budget, 1, 16), repeats)
    t_cont, csol = _best_of(lambda: solve_continuous(items.weight, items.unit_cost, budget, 1, 16),
                            max(1, repeats // 2))
    out: dict[str, Any] = {
        "rounds": rounds,
        "d": d,
        "setup_seconds": {"trajectory": t_traj, "create": t_create, "make_items": t_items, "side_bits": t_side},
        "integer_seconds": t_int,
        "integer_objective": sol.objective,
        "integer_gap": sol.gap,
        "continuous_seconds": t_cont,
        "continuous_objective": csol.objective,
        "integer_over_continuous": sol.objective / csol.objective,
    }
    if with_cvxpy:
        try:
            import cvxpy as cp
        except ImportError:
            out["cvxpy"] = "not installed (pip install cvxpy, or the dev extra)"
            return out
        w, u = items.weight, items.unit_cost
        y, z, q, tt = (cp.Variable(w.size) for _ in range(4))
        ln2 = float(np.log(2.0))
        prob = cp.Problem(cp.Minimize(w @ tt),
                          [cp.square(q) <= tt, cp.inv_pos(1 - z) - 1 <= q, cp.exp(-y) <= z,
                           (u / ln2) @ y <= budget, y >= 1 * ln2, y <= 16 * ln2])
        start = time.perf_counter()
        with warnings.catch_warnings():  # "optimal_inaccurate" is reported in the status instead
            warnings.simplefilter("ignore", UserWarning)
            prob.solve(solver=cp.CLARABEL)
        t_cvx = time.perf_counter() - start
        out.update({
            "cvxpy_seconds": t_cvx,
            "cvxpy_status": prob.status,
            "cvxpy_objective": float(prob.value),
            "relaxation_rel_diff": abs(float(prob.value) - csol.objective) / csol.objective,
            "speedup_integer_vs_cvxpy": t_cvx / t_int,
            "speedup_continuous_vs_cvxpy": t_cvx / t_cont,
        })
    return out


def format_bench(r: dict[str, Any]) -> str:
    setup = r["setup_seconds"]
    lines = [f"schedule benchmark: T = {r['rounds']:,} rounds, one block of {r['d']} coordinates, 4 bits on average",
             f"  setup (once each): trajectory {1e3 * setup['trajectory']:.1f} ms, ScheduleProblem.create "
             f"{1e3 * setup['create']:.1f} ms, make_items {1e3 * setup['make_items']:.1f} ms, side_bits "
             f"{1e3 * setup['side_bits']:.2f} ms",
             f"  exact integer (ours)      {1e3 * r['integer_seconds']:9.2f} ms   objective "
             f"{r['integer_objective']:.10g}   certified gap {r['integer_gap']:.3g}",
             f"  continuous KKT (ours)     {1e3 * r['continuous_seconds']:9.2f} ms   objective "
             f"{r['continuous_objective']:.10g}"]
    if "cvxpy_seconds" in r:
        lines += [f"  cvxpy + Clarabel (relax.) {1e3 * r['cvxpy_seconds']:9.2f} ms   objective "
                  f"{r['cvxpy_objective']:.10g}   ({r['cvxpy_status']})",
                  f"  speed-up: exact integer {r['speedup_integer_vs_cvxpy']:.0f}× cvxpy; continuous "
                  f"{r['speedup_continuous_vs_cvxpy']:.0f}× cvxpy",
                  f"  relaxation objectives agree to {r['relaxation_rel_diff']:.2e} (relative; ours is "
                  f"{'lower' if r['continuous_objective'] <= r['cvxpy_objective'] else 'higher'}); the integer "
                  f"optimum is {100 * (r['integer_over_continuous'] - 1):.3f}% above the relaxation"]
    elif "cvxpy" in r:
        lines.append(f"  cvxpy: {r['cvxpy']}")
    return "\n".join(lines)


if __name__ == "__main__":
    print(format_bench(bench_schedule()))
