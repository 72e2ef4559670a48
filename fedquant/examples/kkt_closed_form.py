"""The optimal schedule under the relaxed cost is the KKT point of the budget problem, solved independently.

Claim (theory steps ``budget.problem`` and ``budget.kkt``; docs/design.md §3): the minimiser of
Σ_t α_t A_t/s_t² subject to Σ_t c_t log2(s_t + 1) ≤ B, s_t ≥ 1, is, for the multiplier λ > 0 that makes the
budget bind, the root of the stationarity cubic in every round,

    s_t³/(s_t + 1) = κ_t = 2 ln2·α_t A_t/(λ c_t)            (``numeric.kkt_kappa``),

clipped to the code-width box [2^b_min − 1, 2^b_max − 1]. The problem is convex in b = log2(s + 1), so this
point is the global optimum and ``schedule("optimal", ...)`` must return it.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.optimize import brentq

from fedquant.examples.agreement import Agreement
from fedquant.optimizer import ScheduleProblem, schedule
from fedquant.theory import numeric
from fedquant.theory.wire import levels_for_width
from fedquant.validation.rng import numpy_rng

#: relative tolerance of the equality (justified in :func:`run`)
TOLERANCE = 1e-10
_EPS = float(np.finfo(np.float64).eps)


def cubic_root(kappa: float) -> float:
    """The positive root of s³ − κ(s + 1) = 0 by bracketing (brentq on [0, 2√κ + 2]), not the solver's Newton.

    The cubic is −κ < 0 at 0 and positive at 2√κ + 2 (it has one positive root: one sign change).
    """
    return brentq(lambda s: float(numeric.stationarity_residual(s, kappa)), 0.0, 2 * math.sqrt(kappa) + 2.0,
                  xtol=1e-300, rtol=4 * _EPS, maxiter=500)


def kkt_levels(lam: float, alpha: np.ndarray, weight: np.ndarray, cost: float, s_min: float,
               s_max: float) -> np.ndarray:
    """Every round's level at the multiplier λ: the stationarity root, clipped to the box."""
    kappa = np.asarray(numeric.kkt_kappa(alpha, weight, lam, cost), dtype=np.float64)
    return np.clip([cubic_root(float(k)) for k in kappa], s_min, s_max)


def run(rounds: int = 8, clients: int = 4, d: int = 1000, bits_per_coordinate: float = 6.0,
        seed: int = 0) -> Agreement:
    """The solver's levels against an independent solution of the KKT conditions, an equality.

    Claim: ``schedule("optimal", ...)`` with the relaxed cost returns, in every round, the level

        s_t³/(s_t + 1) = κ_t = 2 ln2·α_t A_t/(λ c_t)      (``numeric.stationarity_residual``, ``numeric.kkt_kappa``)

    clipped to [2^b_min − 1, 2^b_max − 1], at the one multiplier λ for which Σ_t c_t log2(s_t + 1) = B,

    which is the unique optimum of the budget problem (convex in b = log2(s + 1)).

    Setting: T = ``rounds`` rounds with ranges R_t = 0.85^t·(1 + 0.2·U_t) (U_t uniform, from
    ``numpy_rng(seed, stream="data")``) shared by N = ``clients`` clients with random weights p_i, one block of
    d coordinates, the non-convex criterion (α_t = 1 from ``numeric.round_weight_nonconvex``), the relaxed
    cost d·log2(s + 1) + 64 per block (``numeric.bits_relaxed``), and a budget of ``bits_per_coordinate`` code
    bits per coordinate plus the side information. A level is shared by the round's clients, so per round
    A_t = Σ_i p_i²·d R_t²/4 (``numeric.quantization_error_bound(d, R_t, 1)``) and c_t = N·d.

    Independent solution: the cubic root by bracketing for each κ_t (``cubic_root``), and λ by a root search
    on log λ that makes Σ_t c_t log2(s_t + 1) equal the code budget B − Σ side information. measured = the
    solver's level in the round where it is relatively farthest from the independent one; predicted = the
    independent level in that round.

    Source: theory/budget.py (steps ``budget.problem`` and ``budget.kkt``), docs/design.md §3.

    Tolerance: 1e-10 relative, from how precisely the two solutions are pinned down, not from any
    approximation (there is none). Both meet the budget to about 1e-12 relative (the solver's own
    tolerance; it may scale λ by up to 1 + 1e-11 to stay feasible). Along the stationarity curve
    d ln s/d ln λ = −(s + 1)/(2s + 3) ∈ [−½, −⅖], so a relative error ε in λ moves every level by at most ε/2,
    and d log2(s + 1)/d ln λ = −s/((2s + 3) ln2), at least 1/(5 ln2) in size for s ≥ 1, so a relative budget
    error ε_B moves the levels by at most 2.5·ln2·b̄·ε_B ≤ 28 ε_B (b̄ ≤ 16 the mean code width). Hence
    |Δs/s| ≲ 3e-11 + 5e-12; 1e-10 leaves a margin above 2. The levels agree to float64 precision at the
    defaults (``note``).
    """
    rng = numpy_rng(seed, stream="data")
    t = np.arange(rounds)
    ranges = 0.85**t * (1 + 0.2 * rng.uniform(size=rounds))
    p = rng.uniform(0.5, 1.5, size=clients)
    p = p / p.sum()
    side = float(numeric.bits_relaxed(d, 0))  # a block's cost at s = 0: its side information
    budget = rounds * clients * (d * bits_per_coordinate + side)
    problem = ScheduleProblem.create(range_=ranges, clients=clients, weights=p, block_sizes=d, budget_bits=budget,
                                     cost="relaxed")
    solved = schedule("optimal", problem)
    levels = solved.levels[:, 0, 0]

    alpha = np.broadcast_to(np.asarray(numeric.round_weight_nonconvex(float(rounds), t), dtype=np.float64),
                            (rounds,))
    weight = float(np.sum(p**2)) * np.asarray(numeric.quantization_error_bound(d, ranges, 1.0), dtype=np.float64)
    cost = float(clients * d)
    s_min, s_max = levels_for_width(problem.bits_min), levels_for_width(problem.bits_max)
    code_budget = budget - rounds * clients * side

    def excess(log_lam: float) -> float:
        s = kkt_levels(math.exp(log_lam), alpha, weight, cost, s_min, s_max)
        return float(np.sum(cost * np.log2(s + 1))) - code_budget

    lo, hi = -60.0, 60.0
    while excess(lo) < 0:
        lo -= 60.0
    while excess(hi) > 0:
        hi += 60.0
    log_lam = brentq(excess, lo, hi, xtol=1e-15, rtol=4 * _EPS, maxiter=500)
    mine = kkt_levels(math.exp(log_lam), alpha, weight, cost, s_min, s_max)

    rel = np.abs(levels / mine - 1)
    worst = int(np.argmax(rel))
    multiplier = float(solved.params["multiplier"])
    return Agreement(
        claim="optimal (relaxed cost): the solver's levels are the KKT point s³/(s+1) = 2 ln2·αA/(λc)",
        measured=float(levels[worst]),
        predicted=float(mine[worst]),
        tolerance=TOLERANCE,
        kind="equal",
        note=(f"T = {rounds}, N = {clients}, d = {d}; levels {levels.min():.4g}..{levels.max():.4g}; "
              f"max relative level difference {rel.max():.2e} (round {worst}); multiplier solver/independent − 1 "
              f"= {multiplier / math.exp(log_lam) - 1:.2e}; total bits {solved.total_bits:.10g} of {budget:.10g}"),
    )
