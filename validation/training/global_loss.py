"""The global objective f(w) = Σ_i (n_i/n) f_i(w) on the clients' training data, and test accuracy.

Full-batch evaluations at a flat parameter vector w: the loss f(w) (mean cross entropy over every training
sample of every client, so the weights n_i/n are implicit), its gradient ∇f(w) and ‖∇f(w)‖², per-client
gradients (for ζ²), Hessian-vector products (for L), and test accuracy and loss. The model is evaluated at w
without touching the module's own parameters: a Linear/ReLU network (``fused_linear.supports``) by its layer
formulas h_l = relu(h_{l−1}W_lᵀ + b_l) on views of w (one ``addmm`` per layer: the evaluations run every round,
and torch.func.functional_call's per-call bookkeeping cost several times the arithmetic on these models),
any other model by ``torch.func.functional_call``. Both are differentiable, so autograd gives ∇f and ∇²f·v.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call

from fedquant.validation.training import fused_linear


class GlobalLoss:
    def __init__(self, model: nn.Module, x_train: torch.Tensor, y_train: torch.Tensor, x_test: torch.Tensor,
                 y_test: torch.Tensor, client_indices: Sequence[np.ndarray]) -> None:
        self.model = model
        self.names = [n for n, _ in model.named_parameters()]
        self.shapes = [p.shape for p in model.parameters()]
        self.sizes = [p.numel() for p in model.parameters()]
        covered = np.sort(np.concatenate([np.asarray(ix) for ix in client_indices]))
        self.train_index = torch.from_numpy(covered)
        self.x, self.y = x_train[self.train_index], y_train[self.train_index]
        self.x_all, self.y_all = x_train, y_train
        self.x_test, self.y_test = x_test, y_test
        self.client_indices = [torch.from_numpy(np.array(ix, dtype=np.int64)) for ix in client_indices]
        self.linears = ([m for m in model.children() if isinstance(m, nn.Linear)]
                        if fused_linear.supports(model) else None)

    def params(self, w: torch.Tensor) -> dict[str, torch.Tensor]:
        chunks = torch.split(w, self.sizes)
        return {n: c.view(s) for n, c, s in zip(self.names, chunks, self.shapes, strict=True)}

    def logits(self, w: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """The model's outputs on x at parameters w (flat, in ``model.parameters()`` order)."""
        if self.linears is None:
            return functional_call(self.model, self.params(w), (x,))
        h, chunks = x.reshape(x.shape[0], -1), torch.split(w, self.sizes)
        for k, layer in enumerate(self.linears):
            weight = chunks[2 * k].view(layer.out_features, layer.in_features)
            h = torch.addmm(chunks[2 * k + 1], h, weight.t())
            if k < len(self.linears) - 1:
                h = torch.relu(h)
        return h

    def _loss(self, w: torch.Tensor, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(self.logits(w, x), y)

    def loss(self, w: torch.Tensor) -> float:
        with torch.no_grad():
            return float(self._loss(w, self.x, self.y))

    def loss_and_grad(self, w: torch.Tensor, x: torch.Tensor | None = None,
                      y: torch.Tensor | None = None) -> tuple[float, torch.Tensor]:
        wr = w.detach().clone().requires_grad_(True)
        value = self._loss(wr, self.x if x is None else x, self.y if y is None else y)
        (g,) = torch.autograd.grad(value, wr)
        return float(value.detach()), g

    def client_loss_and_grad(self, w: torch.Tensor, client: int) -> tuple[float, torch.Tensor]:
        ix = self.client_indices[client]
        return self.loss_and_grad(w, self.x_all[ix], self.y_all[ix])

    def hvp(self, w: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        """∇²f(w)·v by double backward."""
        wr = w.detach().clone().requires_grad_(True)
        (g,) = torch.autograd.grad(self._loss(wr, self.x, self.y), wr, create_graph=True)
        (hv,) = torch.autograd.grad(g, wr, grad_outputs=v)
        return hv.detach()

    def test(self, w: torch.Tensor) -> tuple[float, float]:
        """(test accuracy, test loss) of w."""
        with torch.no_grad():
            logits = self.logits(w, self.x_test)
            acc = float((logits.argmax(dim=1) == self.y_test).float().mean())
            return acc, float(F.cross_entropy(logits, self.y_test))
