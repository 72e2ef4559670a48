"""Local SGD of C clients at once for Linear/ReLU networks, with the backward pass written out (no autograd).

For a ``nn.Sequential`` of an optional leading Flatten, Linear layers and ReLUs between them (the ``logreg``
and ``mlp`` models), every client's parameters are stacked along a leading axis, stored as
W_l ∈ R^{C × d_out × d_in} (``nn.Linear.weight``'s layout, so that stacking and unstacking them are plain copies)
and b_l ∈ R^{C × 1 × d_out}. One local step of client c on its
batch (x, y) with per-sample weights ω (1/|batch| on real samples, 0 on padding) is

    forward:   h_0 = x,   z_l = h_{l−1} W_lᵀ + b_l,   h_l = relu(z_l) (l < n),   p = softmax(z_n)
    loss:      ℓ = Σ_j ω_j · CE(z_n,j, y_j),   ∂ℓ/∂z_n = ω ⊙ (p − onehot(y))                (the CE gradient)
    backward:  g_n = ∂ℓ/∂z_n,   ∂ℓ/∂W_l = g_lᵀ h_{l−1},   ∂ℓ/∂b_l = 1ᵀ g_l,
               g_{l−1} = (g_l W_l) ⊙ 1[h_{l−1} > 0]                                         (ReLU's subgradient 0 at 0)

followed by torch.optim.SGD's update (momentum β, buffer reset every round: v ← βv + ∂ℓ/∂θ, θ ← θ − ηv; with
β = 0, θ ← θ − η ∂ℓ/∂θ). The gradients are those autograd computes for the same graph (``F.cross_entropy``
with the mean over the real batch; ReLU's derivative at 0 taken as 0, as torch does), so the result equals the
autograd engine's up to float32 summation order (tests/validation/training/test_engines.py). What it saves is
the framework's work per step: no graph, no gradient buffers (with β = 0 the weight update is fused into one
``baddbmm_``: W ← W − η gᵀh), about ten tensor operations per layer and step for all clients together.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn


def supports(model: nn.Module) -> bool:
    """True for Sequential([Flatten,] Linear, [ReLU, Linear]*): what :func:`train` computes."""
    if not isinstance(model, nn.Sequential):
        return False
    layers = list(model.children())
    if layers and isinstance(layers[0], nn.Flatten):
        layers = layers[1:]
    if not layers or not isinstance(layers[-1], nn.Linear):
        return False
    expect_linear = True
    for layer in layers:
        if expect_linear and not isinstance(layer, nn.Linear):
            return False
        if not expect_linear and not isinstance(layer, nn.ReLU):
            return False
        expect_linear = not expect_linear
    return all(layer.bias is not None for layer in layers if isinstance(layer, nn.Linear))


def train(weights: Sequence[torch.Tensor], biases: Sequence[torch.Tensor], x_round: torch.Tensor,
          onehot: torch.Tensor, scale: torch.Tensor, active: Sequence[int], lr: float, momentum: float) -> None:
    """Run every local step of a round in place on the stacked parameters.

    ``weights[l]``: [m, d_out, d_in] and ``biases[l]``: [m, 1, d_out], updated in place; ``x_round``:
    [S, m, B, d_0]; ``onehot``: [S, m, B, classes] (the labels); ``scale``: [S, m, B] (ω above); at step k only
    the first ``active[k]`` clients train (clients sorted by their number of steps, most first).
    """
    n = len(weights)
    vw = [torch.zeros_like(w) for w in weights] if momentum > 0 else None
    vb = [torch.zeros_like(b) for b in biases] if momentum > 0 else None
    for k, a in enumerate(active):
        W = [w[:a] for w in weights]
        b = [b_[:a] for b_ in biases]
        h = [x_round[k, :a]]
        for layer in range(n):
            z = torch.baddbmm(b[layer], h[-1], W[layer].transpose(1, 2))
            h.append(torch.relu_(z) if layer < n - 1 else z)
        g = torch.softmax(h.pop(), dim=-1)
        g.sub_(onehot[k, :a]).mul_(scale[k, :a].unsqueeze(-1))
        for layer in range(n - 1, -1, -1):
            inp = h[layer]
            g_prev = None
            if layer > 0:  # before W changes: g_{l−1} = (g W_l) ⊙ 1[h_{l−1} > 0]
                g_prev = torch.ops.aten.threshold_backward(torch.bmm(g, W[layer]), inp, 0)
            gb = g.sum(dim=1, keepdim=True)
            if vw is None:
                W[layer].baddbmm_(g.transpose(1, 2), inp, alpha=-lr)
                b[layer].sub_(gb, alpha=lr)
            else:
                assert vb is not None
                mw, mb = vw[layer][:a], vb[layer][:a]
                mw.mul_(momentum).baddbmm_(g.transpose(1, 2), inp)
                mb.mul_(momentum).add_(gb)
                W[layer].sub_(mw, alpha=lr)
                b[layer].sub_(mb, alpha=lr)
            if g_prev is not None:
                g = g_prev
