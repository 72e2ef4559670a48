"""Decision items: the (round), (round, block) or (round, client, block) groups that share one level.

A solver sees n items, each with a weight W (its share of the objective at s = 1, so the item's term is
W/s²) and a unit cost u (bits per extra bit of code width: the coordinates it sends). Zero-range blocks are
not items: they send side information only.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fedquant.errors import InvalidArgument
from fedquant.optimizer.objective import item_weights
from fedquant.optimizer.problem import ScheduleProblem
from fedquant.theory import numeric

GRANULARITIES = ("round", "block", "client")


def unit_error(levels: np.ndarray) -> np.ndarray:
    """The bound's dependence on s alone: quantization_error_bound(d=1, R=2, s) = 1/s²."""
    return np.asarray(numeric.quantization_error_bound(1.0, 2.0, np.asarray(levels, dtype=np.float64)))


@dataclass(frozen=True)
class Items:
    weight: np.ndarray  # (n,) W_i > 0
    unit_cost: np.ndarray  # (n,) u_i > 0, bits per unit of code width
    index: np.ndarray  # (n,) flat index into the granularity's grid
    grid_shape: tuple[int, ...]  # (T,), (T, K) or (T, N, K)
    granularity: str

    def expand(self, problem: ScheduleProblem, values: np.ndarray) -> np.ndarray:
        """Per-item values (levels) to a (T, N, K) array; zero-range blocks get 0."""
        grid = np.zeros(int(np.prod(self.grid_shape)))
        grid[self.index] = values
        grid = grid.reshape(self.grid_shape)
        if self.granularity == "round":
            full = np.broadcast_to(grid[:, None, None], problem.range_.shape)
        elif self.granularity == "block":
            full = np.broadcast_to(grid[:, None, :], problem.range_.shape)
        else:
            full = grid
        return np.where(problem.range_ > 0, full, 0.0)


def make_items(problem: ScheduleProblem, granularity: str) -> Items:
    if granularity not in GRANULARITIES:
        raise InvalidArgument("granularity", f"one of {', '.join(GRANULARITIES)}", granularity)
    w = item_weights(problem)  # (T, N, K)
    active = problem.range_ > 0
    coords = np.where(active, problem.block_sizes[None, None, :], 0).astype(np.float64)
    T, N, K = w.shape
    # summing over axes of length 1 is the identity: skip those reductions (a copy each at T = 10^7)
    if granularity == "round":
        if N * K == 1:
            weight, cost = w.reshape(T), coords.reshape(T)
        else:
            weight, cost = w.sum(axis=(1, 2)), coords.sum(axis=(1, 2))
    elif granularity == "block":
        weight, cost = (w[:, 0, :], coords[:, 0, :]) if N == 1 else (w.sum(axis=1), coords.sum(axis=1))
    else:
        weight, cost = w, coords
    shape = weight.shape
    flat_w, flat_c = np.ascontiguousarray(weight).ravel(), np.ascontiguousarray(cost).ravel()
    sends = flat_c > 0
    if sends.all():  # every item sends (no zero-range block): no gather needed
        keep = np.arange(flat_c.size)
        return Items(weight=flat_w, unit_cost=flat_c, index=keep, grid_shape=shape, granularity=granularity)
    keep = np.flatnonzero(sends)
    return Items(weight=flat_w[keep], unit_cost=flat_c[keep], index=keep, grid_shape=shape,
                 granularity=granularity)
