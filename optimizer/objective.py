"""Bit cost and objective of a level assignment, both through theory's formulas.

Cost: a block of d coordinates sent with s intervals costs ``numeric.bits_fixed(d, s)`` =
d·⌈log2(s+1)⌉ + 64 bits (fixed-length code + two float32), ``numeric.bits_relaxed`` = d·log2(s+1) + 64, or
for QSGD ``numeric.bits_qsgd`` = d(⌈log2(s+1)⌉ + 1) + 32 (its extra sign bit is a constant, like the side
information, so the solvers treat it the same way);
a block with zero range sends its side information only (levels 0). Every client sends every block every
round. Objective: J = Σ_t α_t Σ_i p_i² Σ_k quantization_error_bound(d_k, R_{t,i,k}, s_{t,i,k}) (problem.py).
"""

from __future__ import annotations

import numpy as np

from fedquant.optimizer.problem import ScheduleProblem
from fedquant.optimizer.round_weights import round_weights
from fedquant.theory import numeric


def bits_function(cost: str):
    """fixed: d·⌈log2(s+1)⌉ + 64; relaxed: d·log2(s+1) + 64; qsgd: d(⌈log2(s+1)⌉ + 1) + 32 (a sign bit each)."""
    return {"fixed": numeric.bits_fixed, "relaxed": numeric.bits_relaxed, "qsgd": numeric.bits_qsgd}[cost]


def block_bits(problem: ScheduleProblem, levels: np.ndarray) -> np.ndarray:
    """Bits of every (t, i, k) block for levels of shape broadcastable to (T, N, K)."""
    s = np.broadcast_to(np.asarray(levels, dtype=np.float64), problem.range_.shape)
    s = np.where(problem.range_ > 0, s, 0.0)
    return np.asarray(bits_function(problem.cost)(problem.block_sizes[None, None, :], s), dtype=np.float64)


def total_bits(problem: ScheduleProblem, levels: np.ndarray) -> float:
    return float(block_bits(problem, levels).sum())


def round_bits(problem: ScheduleProblem, levels: np.ndarray) -> np.ndarray:
    return block_bits(problem, levels).sum(axis=(1, 2))


def minimum_bits(problem: ScheduleProblem) -> float:
    """The cheapest feasible schedule: every nonzero-range block at bits_min."""
    return total_bits(problem, np.full(problem.range_.shape, 2.0**problem.bits_min - 1))


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


def bits_per_coordinate(cost: str, levels: np.ndarray) -> np.ndarray:
    """b = ⌈log2(s+1)⌉ (fixed) or log2(s+1) (relaxed): the per-coordinate width of the bit formula."""
    return np.asarray(bits_function(cost)(1, levels), dtype=np.float64) - bits_function(cost)(1, 0)
