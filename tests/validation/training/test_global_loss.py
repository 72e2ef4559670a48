"""GlobalLoss evaluates Linear/ReLU networks by their layer formulas: the same values and derivatives as
torch.func.functional_call on the module (float64, so agreement to a few ulp of the summation order)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch.func import functional_call

from fedquant.validation.data.datasets import load_dataset
from fedquant.validation.training.global_loss import GlobalLoss
from fedquant.validation.training.models import build_model

#: float64 evaluations in another operation order: relative agreement to 1e-12 (≈ 5000 ulp, far below any
#: real difference: a wrong layer order or a missing ReLU moves the loss by > 1e-2)
TOL = 1e-12


def _setup(model: str) -> tuple[GlobalLoss, torch.Tensor, torch.nn.Module]:
    ds = load_dataset("digits", seed=0)
    net = build_model(model, ds, seed=0).double()
    x, y = torch.from_numpy(ds.x_train).double(), torch.from_numpy(ds.y_train)
    xt, yt = torch.from_numpy(ds.x_test).double(), torch.from_numpy(ds.y_test)
    clients = np.array_split(np.arange(ds.num_train), 4)
    w = torch.nn.utils.parameters_to_vector(net.parameters()).detach().clone()
    w += 0.1 * torch.randn(w.shape, generator=torch.Generator().manual_seed(1), dtype=w.dtype)
    return GlobalLoss(net, x, y, xt, yt, clients), w, net


def _reference(obj: GlobalLoss, net: torch.nn.Module, w: torch.Tensor) -> torch.Tensor:
    return F.cross_entropy(functional_call(net, obj.params(w), (obj.x,)), obj.y)


@pytest.mark.parametrize("model", ["logreg", "mlp"])
def test_layer_formulas_match_functional_call(model: str) -> None:
    obj, w, net = _setup(model)
    assert obj.linears is not None
    ref = _reference(obj, net, w)
    assert abs(obj.loss(w) - float(ref)) <= TOL * abs(float(ref))
    wr = w.clone().requires_grad_(True)
    (g_ref,) = torch.autograd.grad(_reference(obj, net, wr), wr)
    _, g = obj.loss_and_grad(w)
    assert float((g - g_ref).norm() / g_ref.norm()) <= TOL
    v = torch.randn(w.shape, generator=torch.Generator().manual_seed(2), dtype=w.dtype)
    wr = w.clone().requires_grad_(True)
    (gg,) = torch.autograd.grad(_reference(obj, net, wr), wr, create_graph=True)
    (hv_ref,) = torch.autograd.grad(gg, wr, grad_outputs=v)
    hv = obj.hvp(w, v)
    assert float((hv - hv_ref).norm() / hv_ref.norm()) <= TOL
    acc, test_loss = obj.test(w)
    logits = functional_call(net, obj.params(w), (obj.x_test,))
    assert acc == float((logits.argmax(dim=1) == obj.y_test).float().mean())
    assert abs(test_loss - float(F.cross_entropy(logits, obj.y_test))) <= TOL * test_loss


def test_other_models_use_functional_call() -> None:
    obj, w, net = _setup("cnn")
    assert obj.linears is None
    assert obj.loss(w) == float(_reference(obj, net, w))
