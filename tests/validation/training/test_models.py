"""Models: exact parameter counts, shapes, seeded init without global RNG side effects, vmap-compatibility."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.func import functional_call, grad, stack_module_state, vmap

from fedquant.errors import InvalidArgument
from fedquant.validation.data.datasets import load_dataset
from fedquant.validation.training.models import MODELS, build_model, num_parameters

DIGITS, MNIST1D, SYNTHETIC = (1, 8, 8), (1, 40), (60,)

# hand-computed: weights + biases per layer
EXPECTED = [
    (DIGITS, "logreg", 64 * 10 + 10),  # 650
    (DIGITS, "mlp", (64 * 128 + 128) + (128 * 128 + 128) + (128 * 10 + 10)),  # 26,122 (docs/design.md §7)
    (DIGITS, "cnn", (1 * 16 * 9 + 16) + (16 * 32 * 9 + 32) + (32 * 4 * 4 * 10 + 10)),  # 9,930
    (MNIST1D, "logreg", 40 * 10 + 10),  # 410
    (MNIST1D, "mlp", (40 * 128 + 128) + (128 * 128 + 128) + (128 * 10 + 10)),  # 23,050
    (MNIST1D, "cnn", (1 * 16 * 5 + 16) + (16 * 32 * 5 + 32) + (32 * 10 * 10 + 10)),  # 5,898
    (SYNTHETIC, "logreg", 60 * 10 + 10),  # 610
    (SYNTHETIC, "mlp", (60 * 128 + 128) + (128 * 128 + 128) + (128 * 10 + 10)),  # 25,610
]
CASES = [(shape, name) for shape, name, _ in EXPECTED]


def batch(shape: tuple[int, ...], n: int = 5, seed: int = 0) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    return torch.randn((n, *shape), generator=gen)


@pytest.mark.parametrize(("shape", "name", "count"), EXPECTED)
def test_parameter_counts(shape: tuple[int, ...], name: str, count: int) -> None:
    assert num_parameters(build_model(name, shape, 10, seed=0)) == count


def test_reference_numbers() -> None:
    assert MODELS == ("logreg", "mlp", "cnn", "vanilla-cnn")
    assert [c for _, _, c in EXPECTED] == [650, 26122, 9930, 410, 23050, 5898, 610, 25610]


def test_build_from_dataset() -> None:
    digits = load_dataset("digits")
    model = build_model("mlp", digits, seed=0)
    assert num_parameters(model) == 26122
    out = model(torch.from_numpy(digits.x_test[:4]))
    assert out.shape == (4, 10) and out.dtype == torch.float32
    assert num_parameters(build_model("mlp", digits, seed=0, hidden=(32,))) == 64 * 32 + 32 + 32 * 10 + 10


@pytest.mark.parametrize(("shape", "name"), CASES)
def test_output_shape_and_no_buffers(shape: tuple[int, ...], name: str) -> None:
    model = build_model(name, shape, 7, seed=1)
    out = model(batch(shape, 5))
    assert out.shape == (5, 7) and out.dtype == torch.float32 and torch.isfinite(out).all()
    assert list(model.buffers()) == []  # nothing but parameters: stackable for torch.func


@pytest.mark.parametrize(("shape", "name"), CASES)
def test_seeded_init_and_global_rng_untouched(shape: tuple[int, ...], name: str) -> None:
    torch.manual_seed(1234)
    state = torch.random.get_rng_state()
    a = build_model(name, shape, 10, seed=3)
    assert torch.equal(torch.random.get_rng_state(), state)
    b = build_model(name, shape, 10, seed=3)
    c = build_model(name, shape, 10, seed=4)
    assert torch.equal(torch.random.get_rng_state(), state)
    expected_next = torch.Generator().manual_seed(1234)
    assert torch.equal(torch.rand(3), torch.rand(3, generator=expected_next))
    for (na, pa), (nb, pb), (_, pc) in zip(
        a.named_parameters(), b.named_parameters(), c.named_parameters(), strict=True
    ):
        assert na == nb
        assert pa.detach().numpy().tobytes() == pb.detach().numpy().tobytes()
        assert not torch.equal(pa, pc)


@pytest.mark.parametrize(("shape", "name"), CASES)
def test_vmap_functional_call_matches_separate_calls(shape: tuple[int, ...], name: str) -> None:
    models = [build_model(name, shape, 10, seed=s) for s in range(3)]
    params, buffers = stack_module_state(models)  # type: ignore[arg-type]
    base = models[0]

    def logits(p: dict[str, torch.Tensor], b: dict[str, torch.Tensor], x: torch.Tensor) -> torch.Tensor:
        return functional_call(base, (p, b), (x,))

    shared = batch(shape, 6, seed=1)
    own = torch.stack([batch(shape, 6, seed=10 + s) for s in range(3)])
    with torch.no_grad():
        out_shared = vmap(logits, in_dims=(0, 0, None))(params, buffers, shared)
        out_own = vmap(logits, in_dims=(0, 0, 0))(params, buffers, own)
        for s, model in enumerate(models):
            torch.testing.assert_close(out_shared[s], model(shared), atol=1e-6, rtol=1e-6)
            torch.testing.assert_close(out_own[s], model(own[s]), atol=1e-6, rtol=1e-6)


@pytest.mark.parametrize(("shape", "name"), [(DIGITS, "mlp"), (DIGITS, "cnn"), (MNIST1D, "cnn")])
def test_vmap_grad_matches_autograd(shape: tuple[int, ...], name: str) -> None:
    """What the vectorised engine will do: per-client gradients with vmap(grad(loss))."""
    models = [build_model(name, shape, 10, seed=s) for s in range(3)]
    params, buffers = stack_module_state(models)  # type: ignore[arg-type]
    base = models[0]
    x = torch.stack([batch(shape, 8, seed=20 + s) for s in range(3)])
    y = torch.tensor(np.arange(24).reshape(3, 8) % 10)

    def loss(p: dict[str, torch.Tensor], b: dict[str, torch.Tensor], xb: torch.Tensor, yb: torch.Tensor):  # type: ignore[no-untyped-def]
        return torch.nn.functional.cross_entropy(functional_call(base, (p, b), (xb,)), yb)

    grads = vmap(grad(loss), in_dims=(0, 0, 0, 0))(params, buffers, x, y)
    for s, model in enumerate(models):
        model.zero_grad()
        torch.nn.functional.cross_entropy(model(x[s]), y[s]).backward()
        for key, p in model.named_parameters():
            assert p.grad is not None
            torch.testing.assert_close(grads[key][s], p.grad, atol=1e-6, rtol=1e-5)


def test_cnn_refuses_flat_features() -> None:
    with pytest.raises(InvalidArgument) as info:
        build_model("cnn", SYNTHETIC, 10, seed=0)
    message = str(info.value)
    assert info.value.argument == "model" and "flat features" in message and "(60,)" in message


@pytest.mark.parametrize(
    ("name", "shape", "kwargs", "argument"),
    [
        ("resnet", DIGITS, {"num_classes": 10}, "model"),
        ("mlp", DIGITS, {}, "num_classes"),
        ("mlp", DIGITS, {"num_classes": 1}, "num_classes"),
        ("mlp", DIGITS, {"num_classes": 10, "seed": -1}, "seed"),
        ("mlp", DIGITS, {"num_classes": 10, "hidden": ()}, "hidden"),
        ("mlp", DIGITS, {"num_classes": 10, "hidden": (0, 5)}, "hidden"),
        ("logreg", (0, 3), {"num_classes": 10}, "feature_shape"),
        ("cnn", (1, 3), {"num_classes": 10}, "model"),  # shorter than the max-pool of 4
        ("cnn", (1, 1, 8), {"num_classes": 10}, "model"),  # one pixel high: no 2×2 pool
    ],
)
def test_bad_arguments(name: str, shape: tuple[int, ...], kwargs: dict[str, object], argument: str) -> None:
    kwargs = {"seed": 0, **kwargs}
    with pytest.raises(InvalidArgument) as info:
        build_model(name, shape, **kwargs)  # type: ignore[arg-type]
    assert info.value.argument == argument
