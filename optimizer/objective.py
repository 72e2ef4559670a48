"""The objective every schedule is scored on: J = Σ_t α_t Σ_i p_i² Σ_k d_k R_{t,i,k}²/(4 s_{t,i,k}²).

theory/bound.py's quantization term, evaluated with ``numeric.quantization_error_bound``; the round weights
α_t come from ``round_weights``. Zero-range blocks add nothing.
"""

from __future__ import annotations

import numpy as np

from fedquant.optimizer.problem import ScheduleProblem
from fedquant.optimizer.round_weights import round_weights
from fedquant.theory import numeric


def item_weights(problem: ScheduleProblem) -> np.ndarray:
    """w_{t,i,k} = α_t p_i² d_k R_{t,i,k}²/4, so that J = Σ w/s² (theory's bound with s = 1)."""
    alpha = round_weights(problem)
    per_block = numeric.quantization_error_bound(problem.block_sizes[None, None, :], problem.range_, 1.0)
    return alpha[:, None, None] * (problem.weights**2)[None, :, None] * np.asarray(per_block, dtype=np.float64)


def objective(problem: ScheduleProblem, levels: np.ndarray) -> float:
    """J(s): the bound's quantization term up to the criterion's factor (zero-range blocks add nothing)."""
    s = np.broadcast_to(np.asarray(levels, dtype=np.float64), problem.range_.shape)
    alpha = round_weights(problem)
    active = problem.range_ > 0
    safe = np.where(active, s, 1.0)
    err = numeric.quantization_error_bound(problem.block_sizes[None, None, :], problem.range_, safe)
    err = np.where(active, err, 0.0)
    return float(np.sum(alpha[:, None, None] * (problem.weights**2)[None, :, None] * err))
