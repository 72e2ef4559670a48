"""Round weights α_t of the quantization term, and the criterion's factor into bound units.

nonconvex: α_t = 1 (every round's quantization variance counts the same in the average squared gradient);
pl: α_t = ρ^{T−1−t} (round t's variance is contracted T−1−t times before the final gap). Both come from
theory/bound.py through ``numeric``; ρ comes from the problem (given), from its constants
(ρ = 1 − 2μc, ``numeric.contraction``), or from a fit of the loss trajectory (forecast.py).

final: α_t = a·c(T−1−t), the cost at the last round of a unit of round t's quantization noise, where c(k) is
the persistence of noise k rounds after it was added (c(0) = 1) and a the immediate cost per unit of V — both
measured, not derived: ``fedquant validate`` injects noise in its pilot (validation/training/persistence.py),
``fedquant schedule --persistence FAMILY:…`` takes them as a forecast-family model.
"""

from __future__ import annotations

import numpy as np

from fedquant.errors import InvalidArgument
from fedquant.optimizer.forecast import fit_contraction, trajectory
from fedquant.optimizer.problem import ScheduleProblem
from fedquant.theory import numeric


def contraction(problem: ScheduleProblem) -> float:
    """ρ for the pl criterion: given, from the constants, or fitted to the loss trajectory."""
    if problem.rho is not None:
        return float(problem.rho)
    c = problem.constants
    if None not in (c.L, c.lr, c.local_steps, c.mu):
        return float(numeric.contraction(c.L, c.lr, c.local_steps, c.mu))
    if np.all(np.isfinite(problem.loss)) and problem.rounds >= 3:
        return fit_contraction(problem.loss, f_star=problem.f_star)
    raise InvalidArgument(
        "rho", "needed by the pl criterion: give rho, the constants L, lr, local_steps and mu, or a loss trajectory",
        None,
    )


def final_weights(persistence: str, rounds: int, scale: float = 1.0) -> np.ndarray:
    """α_t = scale·c(T−1−t) for a persistence model ``persistence`` in the forecast families' spec language
    ('exp:1,0.9', 'power:1,0.5', 'exp_floor:A,RHO,C', 'const:1'), normalised so that c(0) = 1."""
    c = trajectory(persistence, rounds, name="persistence")
    if c[0] <= 0:
        raise InvalidArgument("persistence", "a model with c(0) > 0 (the immediate cost of a round's noise)",
                              persistence)
    return scale * (c / c[0])[::-1].copy()


def round_weights(problem: ScheduleProblem) -> np.ndarray:
    """α_t for every round of the problem (shape (T,))."""
    if problem.round_weights is not None:
        return np.asarray(problem.round_weights, dtype=np.float64)
    t = np.arange(problem.rounds, dtype=np.float64)
    T = float(problem.rounds)
    if problem.criterion == "pl":
        return np.asarray(numeric.round_weight_pl(contraction(problem), T, t), dtype=np.float64)
    return np.broadcast_to(np.asarray(numeric.round_weight_nonconvex(T, t), dtype=np.float64),
                           t.shape).copy()


def bound_factor(problem: ScheduleProblem) -> float | None:
    """The factor that turns Σ_t α_t V_t into the bound's quantization term; None without constants."""
    c = problem.constants
    if not c.complete_for(problem.criterion):
        return None
    if problem.criterion == "final":
        return None
    if problem.criterion == "pl":
        return float(numeric.quant_factor_pl(c.L))
    return float(numeric.quant_factor_nonconvex(c.L, c.lr, c.local_steps, problem.rounds))
