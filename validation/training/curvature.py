"""The sharp per-round cost of quantization: the curvature along the noise, not the top eigenvalue.

For an unbiased quantizer the aggregate error e = Σ_i p_i (Q(x_i) − x_i) has mean zero given the updates, so the
excess loss of a round is, to second order,

    E f(w̄ + e) − f(w̄) ≈ ½ E[eᵀ ∇²f(w̄) e] = ½ Σ_j H_jj V_j,     V_j = Σ_i p_i² Var(Q(x_i)_j)

(coordinates are rounded independently, so the off-diagonal terms vanish in expectation). The quantization
lemma replaces H_jj by L ≥ λ_max, which is why it is 100–3000× above the measured excess.

The estimate draws PROBES independent errors z from the same quantizer (fresh dither, stream "probe" keyed by
round and client) and averages the symmetric difference ½[f(w̄ + z) + f(w̄ − z)] − f(w̄): its first-order part
cancels exactly, it equals ½zᵀ∇²f(w̄)z + O(‖z‖⁴) where f is smooth, and unlike a Hessian-vector product it also
sees the curvature a ReLU network has only at its kinks (autograd's Hessian is zero across them: on the digits
MLP, ½zᵀHz by double backward came out at 0.07–0.14 of the measured excess, the symmetric difference near 1).
It uses nothing of the realised error e, so it is a prediction of the round's expected cost, not a fit to it.

Odd higher-order terms are ignored: where the grid step is not small against the scale over which the loss
changes (1-bit rounds) the expansion can break.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from fedquant.validation.compression.quantized_block import Quantizer
from fedquant.validation.rng import torch_generator
from fedquant.validation.training.global_loss import GlobalLoss

#: independent error draws per round; each costs one quantization per client and one Hessian-vector product
PROBES = 2


def error_draw(x: torch.Tensor, slices: Sequence[slice], ranges: np.ndarray, levels: np.ndarray,
               quantizer: Quantizer, generator: torch.Generator) -> torch.Tensor:
    """One fresh draw of Q(x) − x, block by block (constant blocks are sent exactly: zero error)."""
    z = torch.zeros_like(x)
    for k, sl in enumerate(slices):
        if ranges[k] == 0.0:
            continue
        z[sl] = quantizer(x[sl], int(np.rint(levels[k])), generator).dequantize() - x[sl]
    return z


def predicted_excess(objective: GlobalLoss, w_bar: torch.Tensor, at_bar: float, sent: torch.Tensor, p: np.ndarray,
                     chosen: np.ndarray, slices: Sequence[slice], ranges: np.ndarray, levels: np.ndarray,
                     quantizer: Quantizer, seed: int, round_: int) -> float:
    """mean over PROBES draws of ½[f(w̄ + z) + f(w̄ − z)] − f(w̄), z = Σ_i p_i (Q'(x_i) − x_i) with fresh dithers;
    ``at_bar`` is f(w̄), which the round has already evaluated."""
    # one generator per client on the "probe" stream: each quantizer call draws one seed, so the PROBES calls
    # get independent dithers, and none is shared with the dither of the sent update ("quantize")
    generators = [torch_generator(seed, round_, int(client), "probe") for client in chosen]
    total = 0.0
    for _ in range(PROBES):
        z = torch.zeros_like(w_bar)
        for j, gen in enumerate(generators):
            z += float(p[j]) * error_draw(sent[j], slices, ranges[j], levels[j], quantizer, gen)
        total += 0.5 * (objective.loss(w_bar + z) + objective.loss(w_bar - z)) - at_bar
    return total / PROBES
