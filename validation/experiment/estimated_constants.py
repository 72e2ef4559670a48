"""Estimate the bound's constants from a run (the pilot's iterates): L, σ², ζ² and the initial gap.

* L: power iteration on Hessian-vector products of the global objective f (double backward), at each
  iterate, until the Rayleigh quotient changes by at most EIG_RTOL (relative) between two products or after
  ``power_iterations``; the largest |eigenvalue| found is the smoothness estimate (a lower estimate of the true
  global L, which the assumption needs everywhere).
* σ²: the stochastic-gradient variance at batch size B: for every client, E‖g_B − ∇f_i‖² over minibatches
  drawn as local training draws them (stream "estimate"); the largest over clients and iterates (the
  assumption bounds every client).
* ζ²: max_i ‖∇f_i(w) − ∇f(w)‖² over clients and iterates.
* gap: f(w_0) − f* ≤ f(w_0), since the cross-entropy loss is non-negative (f* ≥ 0).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np
import torch

from fedquant.validation.rng import numpy_rng
from fedquant.validation.training.global_loss import GlobalLoss


@dataclass(frozen=True)
class EstimatedConstants:
    L: float
    sigma2: float
    zeta2: float
    gap: float
    iterates: int
    power_iterations: int
    minibatches: int

    def to_json(self) -> dict[str, float]:
        return asdict(self)


#: relative change of the Rayleigh quotient at which the power iteration stops (each product is a full-data
#: double backward: on MNIST's CNN sixty of them cost more than the pilot)
EIG_RTOL = 1e-3


def top_eigenvalue(objective: GlobalLoss, w: torch.Tensor, iterations: int, seed: int) -> float:
    gen = torch.Generator().manual_seed(seed)
    v = torch.randn(w.numel(), generator=gen)
    v /= v.norm()
    lam = previous = 0.0
    for k in range(iterations):
        hv = objective.hvp(w, v)
        lam = float(torch.dot(v, hv))
        norm = hv.norm()
        if norm == 0:
            return 0.0
        v = hv / norm
        if k > 0 and abs(lam - previous) <= EIG_RTOL * abs(lam):
            break
        previous = lam
    return abs(lam)


def estimate_constants(objective: GlobalLoss, iterates: Sequence[torch.Tensor], client_indices: Sequence[np.ndarray],
             batch_size: int, seed: int, power_iterations: int = 20, minibatches: int = 8) -> EstimatedConstants:
    L = sigma2 = zeta2 = 0.0
    for n, w in enumerate(iterates):
        L = max(L, top_eigenvalue(objective, w, power_iterations, seed * 1000 + n))
        _, g = objective.loss_and_grad(w)
        for c, ix in enumerate(client_indices):
            _, gi = objective.client_loss_and_grad(w, c)
            zeta2 = max(zeta2, float(torch.sum((gi - g) ** 2)))
            rng = numpy_rng(seed, n, c, "estimate")
            ix = np.asarray(ix)
            if ix.size <= batch_size:
                continue  # a full batch has no sampling noise
            dev = 0.0
            for _ in range(minibatches):
                pick = torch.from_numpy(rng.choice(ix, size=batch_size, replace=False))
                _, gb = objective.loss_and_grad(w, objective.x_all[pick], objective.y_all[pick])
                dev += float(torch.sum((gb - gi) ** 2))
            sigma2 = max(sigma2, dev / minibatches)
    gap = objective.loss(iterates[0])
    return EstimatedConstants(L=L, sigma2=sigma2, zeta2=zeta2, gap=gap, iterates=len(iterates),
                     power_iterations=power_iterations, minibatches=minibatches)
