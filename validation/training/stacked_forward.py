"""Forward pass of a ``nn.Sequential`` for C clients at once, each with its own parameters.

Parameters are stacked along a leading client axis ([C, ...]); inputs are [C, B, ...]. Linear layers become
one batched matrix product (``baddbmm``), convolutions one grouped convolution (clients folded into channel
groups), activations and pooling act on the folded batch. Autograd differentiates it like any torch code,
and since every client's loss depends only on its own slice, one backward gives every client's gradient.
Layers outside this list fall back to ``torch.func.vmap`` over ``functional_call`` (correct, slower).
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
import torch.nn.functional as F
from torch import nn

SUPPORTED = (nn.Linear, nn.ReLU, nn.Flatten, nn.Conv1d, nn.Conv2d, nn.MaxPool1d, nn.MaxPool2d)


def supports(model: nn.Module) -> bool:
    return isinstance(model, nn.Sequential) and all(isinstance(m, SUPPORTED) for m in model)


def _conv(layer: nn.Module, w: torch.Tensor, b: torch.Tensor | None, x: torch.Tensor) -> torch.Tensor:
    C, B = x.shape[:2]
    spatial = x.shape[3:]
    folded = x.transpose(0, 1).reshape(B, C * x.shape[2], *spatial)  # [B, C·Cin, ...]
    weight = w.reshape(C * w.shape[1], *w.shape[2:])  # [C·Cout, Cin, k...]
    bias = None if b is None else b.reshape(-1)
    conv = F.conv1d if isinstance(layer, nn.Conv1d) else F.conv2d
    out = conv(folded, weight, bias, stride=layer.stride, padding=layer.padding, dilation=layer.dilation,
               groups=C * layer.groups)
    return out.reshape(B, C, w.shape[1], *out.shape[2:]).transpose(0, 1)


def forward(model: nn.Sequential, params: Mapping[str, torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    """Logits [C, B, classes] of C stacked copies of ``model`` on inputs [C, B, ...]."""
    if not supports(model):
        return _vmap_forward(model, params, x)
    for name, layer in model.named_children():
        if isinstance(layer, nn.Linear):
            w, b = params[f"{name}.weight"], params.get(f"{name}.bias")
            x = torch.bmm(x, w.transpose(1, 2)) if b is None else torch.baddbmm(b.unsqueeze(1), x, w.transpose(1, 2))
        elif isinstance(layer, nn.ReLU):
            x = torch.relu(x)
        elif isinstance(layer, nn.Flatten):
            x = x.reshape(x.shape[0], x.shape[1], -1)
        elif isinstance(layer, nn.Conv1d | nn.Conv2d):
            x = _conv(layer, params[f"{name}.weight"], params.get(f"{name}.bias"), x)
        else:  # pooling: fold clients into the batch
            C, B = x.shape[:2]
            x = layer(x.reshape(C * B, *x.shape[2:]))
            x = x.reshape(C, B, *x.shape[1:])
    return x


def _vmap_forward(model: nn.Module, params: Mapping[str, torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    from torch.func import functional_call, vmap

    return vmap(lambda p, xb: functional_call(model, p, (xb,)))(dict(params), x)
