"""Two engines with one interface: a plain per-client loop (the reference) and a vectorised engine.

``engine.local_updates(w, clients, round_)`` returns the clients' updates Δ_i = w_i^τ − w (one row per
client, in w's dtype — float32 in every experiment, float64 in the engines' equivalence test — and the flat
parameter order of ``model.parameters()``) after their local SGD on the batch plan
of local.py. Both engines use the same plan, the same loss (mean cross entropy over the batch) and the same
SGD/momentum update as ``torch.optim.SGD``, so for the same seed they give the same updates up to float32
summation order.

The vectorised engine trains every client of a round at once: stacked parameters [C, ...], one batched
forward (stacked_forward.py) and one autograd backward per local step. Clients are ordered by their number of steps,
so at step k only the prefix of clients that still train is computed (no padding work); a short last batch
is masked.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Protocol

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from fedquant.errors import InvalidArgument
from fedquant.validation.training import fused_linear, stacked_forward
from fedquant.validation.training.local_sgd import LocalConfig, batch_plan

ENGINES = ("vectorized", "loop")


class Engine(Protocol):
    name: str

    def local_updates(self, w: torch.Tensor, clients: Sequence[int], round_: int) -> torch.Tensor: ...


class _Base:
    def __init__(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, client_indices: Sequence[np.ndarray],
                 cfg: LocalConfig, seed: int) -> None:
        self.model = copy.deepcopy(model)
        for p in self.model.parameters():
            p.requires_grad_(True)
        self.x, self.y = x, y
        self.client_indices = [np.asarray(ix, dtype=np.int64) for ix in client_indices]
        self.cfg, self.seed = cfg, seed
        self.names = [n for n, _ in self.model.named_parameters()]
        self.shapes = [p.shape for p in self.model.parameters()]
        self.sizes = [p.numel() for p in self.model.parameters()]
        self.d = sum(self.sizes)

    def plan(self, client: int, round_: int) -> list[np.ndarray]:
        """Global training-set indices of each minibatch of a client's round."""
        ix = self.client_indices[client]
        return [ix[b] for b in batch_plan(self.cfg, ix.size, self.seed, round_, client)]


class LoopEngine(_Base):
    """One client after another: an nn.Module and torch.optim.SGD, as a textbook FedAvg would."""

    name = "loop"

    def local_updates(self, w: torch.Tensor, clients: Sequence[int], round_: int) -> torch.Tensor:
        params = list(self.model.parameters())
        out = torch.empty(len(clients), self.d, dtype=w.dtype)
        for row, c in enumerate(clients):
            with torch.no_grad():  # copy (vector_to_parameters would alias w and let SGD overwrite it)
                for p, chunk in zip(params, torch.split(w, self.sizes), strict=True):
                    p.copy_(chunk.view_as(p))
            opt = torch.optim.SGD(params, lr=self.cfg.lr, momentum=self.cfg.momentum)
            for idx in self.plan(c, round_):
                t = torch.from_numpy(idx)
                opt.zero_grad(set_to_none=True)
                F.cross_entropy(self.model(self.x[t]), self.y[t]).backward()
                opt.step()
            with torch.no_grad():
                out[row] = nn.utils.parameters_to_vector(params) - w
        return out


class VectorizedEngine(_Base):
    """All clients of a round at once, on stacked parameters."""

    name = "vectorized"

    def __init__(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, client_indices: Sequence[np.ndarray],
                 cfg: LocalConfig, seed: int) -> None:
        super().__init__(model, x, y, client_indices, cfg, seed)
        #: Linear/ReLU networks train with the written-out backward of fused_linear.py
        self.fused = fused_linear.supports(self.model)
        self.linears = [layer for layer in self.model.children() if isinstance(layer, nn.Linear)]
        self.x_flat = self.x.reshape(self.x.shape[0], -1)
        self._buffers: dict[str, torch.Tensor] = {}

    def _scratch(self, name: str, shape: tuple[int, ...], dtype: torch.dtype) -> torch.Tensor:
        """A buffer kept between rounds (reallocated when the shape changes): a round of these small models
        otherwise spends as long allocating and first touching its tensors as multiplying them."""
        buf = self._buffers.get(name)
        if buf is None or buf.shape != shape or buf.dtype != dtype:
            buf = torch.empty(shape, dtype=dtype)
            self._buffers[name] = buf
        return buf

    def _fused_round(self, w: torch.Tensor, m: int, index: torch.Tensor, scale: torch.Tensor, active: list[int],
                     order: torch.Tensor) -> torch.Tensor:
        """The round of fused_linear.train on the clients sorted by steps; returns their updates [m, d] in the
        caller's client order."""
        chunks = iter(torch.split(w, self.sizes))
        weights, biases = [], []
        for k, layer in enumerate(self.linears):  # parameters() order: weight [out, in], bias [out] per Linear
            wk = next(chunks).view(layer.out_features, layer.in_features)
            weights.append(self._scratch(f"w{k}", (m, *wk.shape), w.dtype).copy_(wk.expand(m, *wk.shape)))
            b = next(chunks).view(1, 1, -1)
            biases.append(self._scratch(f"b{k}", (m, 1, layer.out_features), w.dtype).copy_(b.expand(m, 1, -1)))
        S, _, B = index.shape
        flat_index = index.reshape(-1)
        x_round = torch.index_select(self.x_flat, 0, flat_index,
                                     out=self._scratch("x", (S * m * B, self.x_flat.shape[1]), self.x.dtype))
        onehot = self._scratch("onehot", (S * m * B, self.linears[-1].out_features), w.dtype).zero_()
        onehot.scatter_(1, self.y[flat_index].unsqueeze(1), 1.0)
        fused_linear.train(weights, biases, x_round.view(S, m, B, -1).to(w.dtype), onehot.view(S, m, B, -1), scale,
                           active, self.cfg.lr, self.cfg.momentum)
        flat = self._scratch("flat", (m, self.d), w.dtype)
        at = 0
        for wk, b in zip(weights, biases, strict=True):  # back to parameters() order, in place
            n = wk.shape[1] * wk.shape[2]
            flat[:, at:at + n].copy_(wk.view(m, n))
            flat[:, at + n:at + n + b.shape[2]].copy_(b.view(m, -1))
            at += n + b.shape[2]
        flat.sub_(w)
        inverse = torch.empty_like(order)
        inverse[order] = torch.arange(m)
        return flat.index_select(0, inverse)

    def local_updates(self, w: torch.Tensor, clients: Sequence[int], round_: int) -> torch.Tensor:
        m = len(clients)
        plans = [self.plan(c, round_) for c in clients]
        steps = np.array([len(p) for p in plans])
        order = np.argsort(-steps, kind="stable")  # most steps first: the active clients are a prefix
        S, B = int(steps.max()), self.cfg.batch_size
        index = np.zeros((S, m, B), dtype=np.int64)
        scale = np.zeros((S, m, B))  # 1/|batch| on real samples, 0 on padding (rounded to w.dtype below)
        for j, i in enumerate(order):
            for k, idx in enumerate(plans[i]):
                index[k, j, : idx.size] = idx
                scale[k, j, : idx.size] = 1.0 / idx.size
        active = [int((steps > k).sum()) for k in range(S)]
        index_t = torch.from_numpy(index)
        scale_t = torch.from_numpy(scale).to(w.dtype)
        if self.fused:
            return self._fused_round(w, m, index_t, scale_t, active, torch.from_numpy(order))
        x_round, y_round = self.x[index_t], self.y[index_t]  # one gather per round: [S, m, B, ...]
        stacked = [c.reshape(s).expand(m, *s).clone() for c, s in zip(torch.split(w, self.sizes), self.shapes,
                                                                        strict=True)]
        bufs = [torch.zeros_like(p) for p in stacked] if self.cfg.momentum > 0 else None
        lr, beta = self.cfg.lr, self.cfg.momentum
        for k in range(S):
            a = active[k]
            leaves = [p[:a].detach().requires_grad_(True) for p in stacked]
            logits = stacked_forward.forward(self.model, dict(zip(self.names, leaves, strict=True)), x_round[k, :a])
            ce = F.cross_entropy(logits.reshape(a * B, -1), y_round[k, :a].reshape(-1), reduction="none")
            loss = torch.dot(ce, scale_t[k, :a].reshape(-1))  # Σ_clients mean CE over the real batch
            grads = torch.autograd.grad(loss, leaves)
            with torch.no_grad():
                views = [p[:a] for p in stacked]
                if bufs is None:
                    torch._foreach_add_(views, grads, alpha=-lr)
                else:
                    bviews = [b_[:a] for b_ in bufs]
                    torch._foreach_mul_(bviews, beta)
                    torch._foreach_add_(bviews, grads)
                    torch._foreach_add_(views, bviews, alpha=-lr)
        flat = torch.cat([p.reshape(m, -1) for p in stacked], dim=1)
        out = torch.empty_like(flat)
        out[torch.from_numpy(order)] = flat - w
        return out


def make_engine(name: str, model: nn.Module, x: torch.Tensor, y: torch.Tensor,
                client_indices: Sequence[np.ndarray], cfg: LocalConfig, seed: int) -> Engine:
    if name == "loop":
        return LoopEngine(model, x, y, client_indices, cfg, seed)
    if name == "vectorized":
        return VectorizedEngine(model, x, y, client_indices, cfg, seed)
    raise InvalidArgument("engine", f"one of {', '.join(ENGINES)}", name)
