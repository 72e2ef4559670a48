"""``vanilla-cnn``: FedDQ's vanilla CNN, scaled down; its parameter count, shapes and both engines on mnist.

The engines are compared as in test_engines.py (whose module docstring gives the reasoning): in float64 with
the relative tolerance ``TOL64`` = 1e-9, where a different summation order (a grouped against a plain
convolution) cannot account for more, and in the production float32 with a tolerance that still separates
rounding from a wrong batch plan by a wide margin (``TOL32`` below).
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
from torch import nn

from fedquant.errors import InvalidArgument
from fedquant.validation.data.datasets import Dataset, load_dataset
from fedquant.validation.experiment.config import ExperimentConfig
from fedquant.validation.training.engines import LoopEngine, VectorizedEngine, make_engine
from fedquant.validation.training.local_sgd import LocalConfig
from fedquant.validation.training.models import (
    MODELS,
    VANILLA_PAPER_WIDTHS,
    VANILLA_WIDTHS,
    build_model,
    num_parameters,
)

MNIST = (1, 28, 28)
TOL64 = 1e-9
#: float32, one round of ≤ 4 plain or momentum SGD steps from the initial model: the engines' difference was
#: measured at ≤ 3.7e-6 relative (3 seeds, x86-64); a ReLU or max-pool decision flipped by rounding moves one
#: sample's contribution to one step, well below 1e-3 of the update, while a wrong plan (the control below)
#: moves the update by more than 1e-2
TOL32 = 1e-3


def conv_weights(c_in: int, c_out: int, k: int = 5) -> int:
    return c_in * c_out * k * k + c_out


def linear_weights(n_in: int, n_out: int) -> int:
    return n_in * n_out + n_out


@pytest.fixture(scope="module")
def mnist() -> Dataset:
    return load_dataset("mnist")


def test_registered_with_the_documented_widths() -> None:
    assert "vanilla-cnn" in MODELS
    assert VANILLA_PAPER_WIDTHS == (32, 64, 512) and VANILLA_WIDTHS == (8, 16, 64)


@pytest.mark.parametrize(
    ("widths", "count"),
    [
        # 28 → conv5 24 → pool 12 → conv5 8 → pool 4: the flattened size is c2 · 4 · 4
        ((8, 16, 64), conv_weights(1, 8) + conv_weights(8, 16) + linear_weights(16 * 16, 64) + linear_weights(64, 10)),
        ((32, 64, 512), conv_weights(1, 32) + conv_weights(32, 64) + linear_weights(64 * 16, 512)
         + linear_weights(512, 10)),
    ],
)
def test_parameter_count(widths: tuple[int, int, int], count: int) -> None:
    assert num_parameters(build_model("vanilla-cnn", MNIST, 10, seed=0, vanilla_widths=widths)) == count


def test_documented_counts() -> None:
    assert num_parameters(build_model("vanilla-cnn", MNIST, 10, seed=0)) == 20_522  # the default
    assert num_parameters(build_model("vanilla-cnn", MNIST, 10, seed=0, vanilla_widths=(32, 64, 512))) == 582_026


def test_architecture_is_a_plain_sequential_the_engines_stack() -> None:
    model = build_model("vanilla-cnn", MNIST, 10, seed=0)
    assert isinstance(model, nn.Sequential)
    names = [name for name, _ in model.named_children()]
    assert names == ["conv1", "pool1", "relu1", "conv2", "pool2", "relu2", "flatten", "fc1", "relu3", "fc2"]
    assert all(isinstance(m, nn.Conv2d | nn.ReLU | nn.MaxPool2d | nn.Flatten | nn.Linear) for m in model)
    assert list(model.buffers()) == []
    conv1, conv2 = model.conv1, model.conv2
    assert isinstance(conv1, nn.Conv2d) and isinstance(conv2, nn.Conv2d)
    assert conv1.kernel_size == conv2.kernel_size == (5, 5) and conv1.padding == conv2.padding == (0, 0)


def test_output_shape_on_mnist(mnist: Dataset) -> None:
    model = build_model("vanilla-cnn", mnist, seed=1)
    out = model(torch.from_numpy(mnist.x_test[:6]))
    assert out.shape == (6, 10) and out.dtype == torch.float32 and torch.isfinite(out).all()
    # the smallest image it takes: 16 → 12 → 6 → 2 → 1
    assert build_model("vanilla-cnn", (3, 16, 20), 4, seed=0)(torch.zeros(2, 3, 16, 20)).shape == (2, 4)


def test_seeded_init() -> None:
    a, b = build_model("vanilla-cnn", MNIST, 10, seed=5), build_model("vanilla-cnn", MNIST, 10, seed=5)
    c = build_model("vanilla-cnn", MNIST, 10, seed=6)
    for pa, pb, pc in zip(a.parameters(), b.parameters(), c.parameters(), strict=True):
        assert torch.equal(pa, pb) and not torch.equal(pa, pc)


@pytest.mark.parametrize(
    ("shape", "kwargs", "argument"),
    [
        ((1, 8, 8), {}, "model"),  # digits: too small for two unpadded 5×5 convolutions and pools
        ((1, 15, 28), {}, "model"),
        ((1, 40), {}, "model"),  # mnist1d sequences
        ((60,), {}, "model"),  # synthetic's flat features
        (MNIST, {"vanilla_widths": (8, 16)}, "vanilla_widths"),
        (MNIST, {"vanilla_widths": (8, 0, 64)}, "vanilla_widths"),
        (MNIST, {"vanilla_widths": (8, 16, 64.0)}, "vanilla_widths"),
    ],
)
def test_bad_input_names_the_argument(shape: tuple[int, ...], kwargs: dict[str, object], argument: str) -> None:
    with pytest.raises(InvalidArgument) as info:
        build_model("vanilla-cnn", shape, 10, seed=0, **kwargs)  # type: ignore[arg-type]
    assert info.value.argument == argument


@pytest.mark.parametrize("dataset", ["digits", "mnist1d", "synthetic"])
def test_config_refuses_vanilla_cnn_off_mnist(dataset: str) -> None:
    with pytest.raises(InvalidArgument) as info:
        ExperimentConfig(dataset=dataset, model="vanilla-cnn").checked()
    assert info.value.argument == "model" and "mnist" in str(info.value)
    for model in ("logreg", "mlp", "cnn", "vanilla-cnn"):
        assert ExperimentConfig(dataset="mnist", model=model).checked().model == model


def awkward_clients(n_train: int) -> list[np.ndarray]:
    """Clients of 7 (less than a batch of 32), 45, 100 (short last batches), 33 (a last batch of one), 64."""
    perm = np.random.default_rng(1234).permutation(n_train)
    bounds = np.concatenate([[0], np.cumsum([7, 45, 100, 33, 64])])
    return [np.sort(perm[a:b]) for a, b in itertools.pairwise(bounds)]


def rel_diff(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).abs().max() / a.abs().max())


@pytest.mark.parametrize(("dtype", "tol"), [(torch.float64, TOL64), (torch.float32, TOL32)], ids=["f64", "f32"])
@pytest.mark.parametrize("momentum", [0.0, 0.5])
def test_vectorized_agrees_with_loop_on_one_round(
    mnist: Dataset, dtype: torch.dtype, tol: float, momentum: float
) -> None:
    net = build_model("vanilla-cnn", mnist, seed=0).to(dtype)
    x, y = torch.from_numpy(mnist.x_train).to(dtype), torch.from_numpy(mnist.y_train)
    clients = awkward_clients(mnist.num_train)
    cfg = LocalConfig(lr=0.05, batch_size=32, local_epochs=1, momentum=momentum)
    w = torch.nn.utils.parameters_to_vector(net.parameters()).detach().clone()
    loop = make_engine("loop", net, x, y, clients, cfg, 3)
    vec = make_engine("vectorized", net, x, y, clients, cfg, 3)
    assert isinstance(loop, LoopEngine) and isinstance(vec, VectorizedEngine)
    chosen = [4, 0, 2, 3, 1]
    a, b = loop.local_updates(w, chosen, 2), vec.local_updates(w, chosen, 2)
    assert a.shape == b.shape == (5, 20_522) and a.dtype == b.dtype == dtype
    for row in range(len(chosen)):
        assert float(a[row].abs().max()) > 0
        assert rel_diff(a[row], b[row]) <= tol, (chosen[row], rel_diff(a[row], b[row]))
    # control: another round's batches change every multi-batch client's update by far more than tol
    c = vec.local_updates(w, chosen, 3)
    assert min(rel_diff(a[r], c[r]) for r in range(len(chosen)) if clients[chosen[r]].size > 32) > 10 * TOL32
