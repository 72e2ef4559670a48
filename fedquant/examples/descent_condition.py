"""When the optimal levels descend: the sign of s_{t+1} − s_t is the sign of √(α_{t+1}/α_t)·R_{t+1}/R_t − 1.

Claim (theory step ``budget.direction``; docs/design.md §3): at one multiplier the optimal level solves
s³/(s + 1) = κ_t with κ_t ∝ α_t R_t², and ds/dκ > 0 for every s (not only for large s), so consecutive levels
move exactly as κ does:

    s_{t+1} < s_t  ⟺  √(α_{t+1}/α_t)·r_t < 1,   r_t = R_{t+1}/R_t       (``numeric.direction_ratio``).

Non-convex criterion (α_t = 1): the levels descend exactly when the ranges shrink. PL criterion
(α_t = ρ^{T−1−t}, ratio 1/ρ): they descend iff r_t < √ρ, so ranges that shrink slowly give ascending levels.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from fedquant.examples.agreement import Agreement
from fedquant.optimizer import ScheduleProblem, schedule
from fedquant.theory import numeric
from fedquant.theory.wire import levels_for_width
from fedquant.validation.rng import numpy_rng

#: relative tolerance: counts of rounds, and the claim is exact
TOLERANCE = 0.0
#: (criterion, ρ or None, per-round range factor r, or None for a random walk of factors)
TRAJECTORIES: tuple[tuple[str, float | None, float | None], ...] = (
    ("nonconvex", None, 0.85),  # shrinking ranges: descending
    ("nonconvex", None, 1 / 0.85),  # growing ranges: ascending
    ("nonconvex", None, None),  # ranges up and down: levels follow them round by round
    ("pl", 0.81, 0.85),  # r < √ρ = 0.9: descending
    ("pl", 0.81, 0.95),  # √ρ < r < 1: ranges shrink, yet the levels ascend
)


def ranges_for(factor: float | None, rounds: int, rng: np.random.Generator) -> np.ndarray:
    """R_t = r^t, or for ``factor`` None a random walk R_{t+1} = R_t·exp(±U[0.05, 0.3]) (random signs)."""
    if factor is not None:
        return factor ** np.arange(rounds, dtype=np.float64)
    steps = rng.uniform(0.05, 0.3, size=rounds - 1) * rng.choice([-1.0, 1.0], size=rounds - 1)
    return np.exp(np.concatenate([[0.0], np.cumsum(steps)]))


def round_weights(criterion: str, rho: float | None, rounds: int) -> np.ndarray:
    t = np.arange(rounds, dtype=np.float64)
    if criterion == "pl":
        return np.asarray(numeric.round_weight_pl(rho, float(rounds), t), dtype=np.float64)
    return np.broadcast_to(np.asarray(numeric.round_weight_nonconvex(float(rounds), t), dtype=np.float64),
                           (rounds,)).copy()


def run(rounds: int = 12, clients: int = 2, d: int = 500, bits_per_coordinate: float = 4.0,
        trajectories: Sequence[tuple[str, float | None, float | None]] = TRAJECTORIES, seed: int = 0) -> Agreement:
    """Rounds whose level trend has the predicted sign, against the number of rounds compared: an equality.

    Claim: for every pair of consecutive rounds with interior optimal levels,

        sign(s_{t+1} − s_t) = sign(√(α_{t+1}/α_t)·R_{t+1}/R_t − 1)               (``numeric.direction_ratio``),

    that is, under the non-convex criterion the levels descend exactly when the ranges shrink.

    Setting: for each trajectory of ``TRAJECTORIES`` (non-convex: shrinking, growing and up-and-down ranges;
    PL with ρ = 0.81: r = 0.85 < √ρ and √ρ < r = 0.95 < 1), a problem of T = ``rounds`` rounds, N equal
    clients, one block of d coordinates, the relaxed cost (``numeric.bits_relaxed``) and
    ``bits_per_coordinate`` code bits per coordinate, solved by ``schedule("optimal", ...)``. The random walk
    draws from ``numpy_rng(seed, stream="data")``. For every pair of consecutive rounds the predicted sign is
    sign(``numeric.direction_ratio``(α_{t+1}/α_t, R_{t+1}/R_t) − 1) (for the non-convex criterion, the sign
    of R_{t+1} − R_t) and the measured one is sign(s_{t+1} − s_t). measured = the number of pairs where they
    agree; predicted = the number of pairs.

    The claim is about interior optima (a level clipped to the code-width box stops moving), so the run
    refuses a problem whose levels touch the box (ValueError). The level *ratio* √(α_{t+1}/α_t)·r is only
    the large-s limit (example ``level_asymptotic``): ``note`` reports how far s_{t+1}/s_t is from it here.

    Source: theory/budget.py (steps ``budget.kkt`` and ``budget.direction``), docs/design.md §3.

    Tolerance: 0. Both sides are counts and the claim is exact. The random walk's factors keep |ln r| ≥ 0.05
    and the geometric ones give |√(α ratio)·r − 1| ≥ 0.055 (``note`` reports the smallest), so κ moves by at
    least 10 % between rounds and, with d ln s/d ln κ = (s + 1)/(2s + 3) ≥ 2/5, the levels of a pair differ by
    at least about 4 %: far above the solver's float64 precision, so no sign is decided by rounding.
    """
    rng = numpy_rng(seed, stream="data")
    side = float(numeric.bits_relaxed(d, 0))
    budget = rounds * clients * (d * bits_per_coordinate + side)
    agree = pairs = 0
    ratio_gap = np.inf
    closed_form_gap = 0.0
    for criterion, rho, factor in trajectories:
        ranges = ranges_for(factor, rounds, rng)
        problem = ScheduleProblem.create(range_=ranges, clients=clients, block_sizes=d, budget_bits=budget,
                                         cost="relaxed", criterion=criterion, rho=rho)
        levels = schedule("optimal", problem).levels[:, 0, 0]
        if np.any(levels <= levels_for_width(problem.bits_min)) or np.any(levels >= levels_for_width(problem.bits_max)):
            raise ValueError(f"{criterion} trajectory with factor {factor}: a level touches the code-width box")
        alpha = round_weights(criterion, rho, rounds)
        ratio = np.asarray(numeric.direction_ratio(alpha[1:] / alpha[:-1], ranges[1:] / ranges[:-1]),
                           dtype=np.float64)
        agree += int(np.sum(np.sign(np.diff(levels)) == np.sign(ratio - 1)))
        pairs += rounds - 1
        ratio_gap = min(ratio_gap, float(np.min(np.abs(ratio - 1))))
        closed_form_gap = max(closed_form_gap, float(np.max(np.abs(levels[1:] / levels[:-1] / ratio - 1))))
    return Agreement(
        claim="optimal levels descend iff √(α_(t+1)/α_t)·R_(t+1)/R_t < 1 (nonconvex: iff the ranges shrink)",
        measured=float(agree),
        predicted=float(pairs),
        tolerance=TOLERANCE,
        kind="equal",
        note=(f"{len(trajectories)} trajectories × {rounds - 1} pairs; smallest |√(α ratio)·r − 1| = {ratio_gap:.3f}; "
              f"s_(t+1)/s_t differs from √(α ratio)·r by up to {closed_form_gap:.2%} at these levels "
              "(the ratio is a large-s limit; the direction is exact)"),
    )
