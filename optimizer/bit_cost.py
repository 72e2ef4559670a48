"""Bit cost of a level assignment, through theory's formulas; the cost model of each quantizer; the budget floor.

A block of d coordinates sent with s intervals costs ``numeric.bits_fixed(d, s)`` = d·⌈log2(s+1)⌉ + 64 bits
(fixed-length code + two float32), ``numeric.bits_relaxed`` = d·log2(s+1) + 64, or for QSGD
``numeric.bits_qsgd`` = d(⌈log2(s+1)⌉ + 1) + 32 (its extra sign bit is a constant, like the side
information, so the solvers treat it the same way); a block with zero range sends its side information only
(levels 0). Every client sends every block every round.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from fedquant.errors import InvalidArgument
from fedquant.optimizer.problem import ScheduleProblem
from fedquant.theory import numeric
from fedquant.theory.wire import levels_for_width

#: the bit formula each quantizer's fixed-length code pays (validation/compression realises them)
QUANTIZER_COST = {"stochastic": "fixed", "deterministic": "fixed", "qsgd": "qsgd"}


def cost_model(quantizer: str) -> str:
    """The cost model of a quantizer's fixed-length code: ``qsgd`` for QSGD (a sign bit each), else ``fixed``."""
    return QUANTIZER_COST[quantizer]


def bits_function(cost: str) -> Callable[..., np.ndarray]:
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
    return total_bits(problem, np.full(problem.range_.shape, levels_for_width(problem.bits_min)))


def bits_per_coordinate(cost: str, levels: np.ndarray) -> np.ndarray:
    """b = ⌈log2(s+1)⌉ (fixed) or log2(s+1) (relaxed): the per-coordinate width of the bit formula."""
    return np.asarray(bits_function(cost)(1, levels), dtype=np.float64) - bits_function(cost)(1, 0)


def check_budget_floor(problem: ScheduleProblem) -> ScheduleProblem:
    """The problem itself if its budget pays for every block at bits_min; else the error says how much it needs."""
    if problem.budget_bits is None:
        return problem
    floor = minimum_bits(problem)
    if problem.budget_bits < floor:
        raise InvalidArgument(
            "budget_bits",
            f"at least {floor:.0f} bits, the cost of every block at bits_min = {problem.bits_min} "
            "(zero-range blocks cost their side information only)",
            problem.budget_bits,
        )
    return problem
