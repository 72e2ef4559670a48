"""The large-s closed form of the optimal levels: s_t − ½ ∝ √α_t·R_t, checked on the solver's levels.

Claim (theory step ``budget.closed_form``; docs/design.md §3): the stationarity cubic s³/(s + 1) = κ has the
expansion s = √κ + ½ + O(κ^{-1/2}) (``numeric.level_asymptotic``), and κ_t ∝ α_t R_t² at one multiplier, so
consecutive optimal levels satisfy, for large s,

    (s_{t+1} − ½)/(s_t − ½) ≈ √(α_{t+1}/α_t)·R_{t+1}/R_t       (``numeric.direction_ratio``).

With α_t = 1 (non-convex criterion) the levels track the ranges: FedDQ's constant-resolution rule.
"""

from __future__ import annotations

import numpy as np

from fedquant.examples.agreement import Agreement
from fedquant.optimizer import ScheduleProblem, schedule
from fedquant.theory import numeric
from fedquant.theory.wire import levels_for_width
from fedquant.validation.rng import numpy_rng

#: relative tolerance of the equality (justified in :func:`run`)
TOLERANCE = 2e-5
#: the next term of the expansion, s = √κ + ½ − NEXT_TERM/√κ + O(1/κ)
NEXT_TERM = 3 / 8


def run(rounds: int = 8, clients: int = 4, d: int = 1000, shrink: float = 0.85, bits_per_coordinate: float = 10.0,
        criterion: str = "nonconvex", rho: float = 0.9, seed: int = 0) -> Agreement:
    """(s_{t+1} − ½)/(s_t − ½) of the solver against √(α_{t+1}/α_t)·R_{t+1}/R_t, an equality (large s).

    Claim: for large levels the optimal level is s_t ≈ √κ_t + ½ (``numeric.level_asymptotic``) with
    κ_t ∝ α_t R_t², so

        (s_{t+1} − ½)/(s_t − ½) = √(α_{t+1}/α_t)·R_{t+1}/R_t·(1 + O(1/s²))      (``numeric.direction_ratio``).

    Setting: T = ``rounds`` rounds with ranges R_t = shrink^t·(1 + 0.2·U_t) (U_t uniform, from
    ``numpy_rng(seed, stream="data")``), N = ``clients`` equal clients, one block of d coordinates, the relaxed
    cost (``numeric.bits_relaxed``) and ``bits_per_coordinate`` code bits per coordinate, so that the levels
    are in the hundreds or more. α_t is the criterion's round weight (``numeric.round_weight_nonconvex``, or
    ``numeric.round_weight_pl`` with ρ = ``rho``). ``schedule("optimal", ...)`` gives the levels. measured =
    the level ratio in the pair of rounds where it is relatively farthest from the prediction;
    predicted = ``numeric.direction_ratio`` of that pair.

    Source: theory/budget.py (steps ``budget.closed_form`` and ``budget.direction``), docs/design.md §3.

    Tolerance: 2e-5 relative, the approximation error of the closed form, bounded before it is used. Solving
    s³ = κ(s + 1) in powers of κ^{-1/2} gives s − ½ = √κ·(1 − (3/8)/κ + O(κ^{-3/2})), so the ratio of two
    rounds is off by about (3/8)·|1/κ_{t+1} − 1/κ_t| ≤ (3/4)/(s_min − ½)², with s_min the smallest level
    (the solver's own precision, about 1e-15, does not count). The run checks that this estimate is at most a
    quarter of the tolerance (2e-6 at the defaults, s_min ≈ 600) and raises ValueError otherwise: the claim
    is asymptotic and says nothing at small s. Without the ½ the ratio would be off by about
    ½|1/s_{t+1} − 1/s_t| (≈ 1.4e-4 at the defaults), seven times the tolerance: ``note`` reports it.
    """
    rng = numpy_rng(seed, stream="data")
    t = np.arange(rounds)
    ranges = shrink**t * (1 + 0.2 * rng.uniform(size=rounds))
    side = float(numeric.bits_relaxed(d, 0))
    budget = rounds * clients * (d * bits_per_coordinate + side)
    problem = ScheduleProblem.create(range_=ranges, clients=clients, block_sizes=d, budget_bits=budget,
                                     cost="relaxed", criterion=criterion, rho=rho if criterion == "pl" else None)
    levels = schedule("optimal", problem).levels[:, 0, 0]
    if np.any(levels <= levels_for_width(problem.bits_min)) or np.any(levels >= levels_for_width(problem.bits_max)):
        raise ValueError("a level sits on the code-width box: the closed form is for interior levels")
    s_min = float(levels.min())
    estimate = 2 * NEXT_TERM / (s_min - 0.5) ** 2
    if estimate > TOLERANCE / 4:
        raise ValueError(f"levels down to {s_min:.3g}: the closed form's error ({estimate:.2e}) is not small "
                         f"against the tolerance {TOLERANCE}; give more bits per coordinate")
    if criterion == "pl":
        alpha = np.asarray(numeric.round_weight_pl(rho, float(rounds), t), dtype=np.float64)
    else:
        alpha = np.broadcast_to(np.asarray(numeric.round_weight_nonconvex(float(rounds), t), dtype=np.float64),
                                (rounds,))
    predicted = np.asarray(numeric.direction_ratio(alpha[1:] / alpha[:-1], ranges[1:] / ranges[:-1]),
                           dtype=np.float64)
    measured = (levels[1:] - 0.5) / (levels[:-1] - 0.5)
    rel = np.abs(measured / predicted - 1)
    worst = int(np.argmax(rel))
    plain = float(np.max(np.abs(levels[1:] / levels[:-1] / predicted - 1)))
    return Agreement(
        claim=f"optimal ({criterion}, large s): (s_(t+1) − ½)/(s_t − ½) = √(α_(t+1)/α_t)·R_(t+1)/R_t",
        measured=float(measured[worst]),
        predicted=float(predicted[worst]),
        tolerance=TOLERANCE,
        kind="equal",
        note=(f"levels {s_min:.4g}..{levels.max():.4g}; max relative deviation {rel.max():.2e} (rounds "
              f"{worst}→{worst + 1}) against the estimate (3/4)/(s_min − ½)² = {estimate:.2e}; without the ½, "
              f"s_(t+1)/s_t deviates by up to {plain:.2e}"),
    )
