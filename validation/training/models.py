"""Small torch classifiers for the FedAvg validator: ``logreg``, ``mlp``, ``cnn`` and ``vanilla-cnn``.

Every model is a plain ``nn.Sequential`` of Linear / Conv / ReLU / MaxPool / Flatten layers with named
children, so that it works with ``torch.func.functional_call`` under ``torch.func.vmap`` over stacked
parameters (no BatchNorm or other buffers, no in-place ops, no data-dependent Python control flow). The
initial parameters are torch's default initialisation drawn from a generator seeded with
``seed_for(seed, stream="init")``; the global torch RNG is saved and restored around construction, so
building a model never changes anyone else's random numbers.

The architectures are the ones measured in docs/design.md §7: the 64-128-128-10 MLP on digits has
26,122 parameters, the digits CNN 9,930 and the mnist1d 1-D CNN 5,898.

``vanilla-cnn`` is the "vanilla CNN" of FedDQ (Qu, Song and Tsui, "FedDQ: Communication-Efficient Federated
Learning with Descending Quantization", arXiv:2110.02291; class ``vanillacnn`` in ``models/Nets.py`` of the
authors' public code): Conv2d 5×5 (no padding) → MaxPool 2 → ReLU, twice, then Linear → ReLU → Linear.
The paper's widths 32, 64 and 512 give 582,026 parameters on 28×28 MNIST. The default here divides the
convolution widths by 4 and the hidden linear width by 8 (1→8→16 channels, 64 hidden units): 20,522
parameters. Measured on one torch thread of a 2-core AMD EPYC (shared with other jobs), one FedAvg round of
10 clients × 400 mnist images × 1 local epoch at batch 64 takes ≈ 0.5 s with the vectorized engine
(≈ 0.5 s with the loop engine too: grouped convolutions batch little), against ≈ 5 s (loop ≈ 3 s) at the
paper's widths; halving the widths again, (4, 8, 32), only saves ≈ 20 % (≈ 0.4 s), as the 28×28
convolution and pooling passes dominate. ``build_model(..., vanilla_widths=(32, 64, 512))`` builds the paper's
network.
"""

from __future__ import annotations

from collections import OrderedDict

import torch
from torch import nn

from fedquant.errors import InvalidArgument
from fedquant.validation.data.datasets import Dataset
from fedquant.validation.rng import seed_for

#: the names :func:`build_model` accepts
MODELS = ("logreg", "mlp", "cnn", "vanilla-cnn")

#: FedDQ's vanilla CNN widths (conv1 channels, conv2 channels, hidden units) and the scaled default used here
VANILLA_PAPER_WIDTHS = (32, 64, 512)
VANILLA_WIDTHS = (8, 16, 64)
#: kernel size of both convolutions and the max-pooling factor after each
_VANILLA_KERNEL, _VANILLA_POOL = 5, 2


def num_parameters(model: nn.Module) -> int:
    """The number of scalar parameters of ``model`` (the d of the design notes when not split in blocks)."""
    return sum(p.numel() for p in model.parameters())


def _flat_size(shape: tuple[int, ...]) -> int:
    size = 1
    for n in shape:
        size *= n
    return size


def _logreg(shape: tuple[int, ...], classes: int) -> nn.Sequential:
    """Multinomial logistic regression: one linear layer on the flattened input."""
    return nn.Sequential(OrderedDict(flatten=nn.Flatten(), fc=nn.Linear(_flat_size(shape), classes)))


def _mlp(shape: tuple[int, ...], classes: int, hidden: tuple[int, ...]) -> nn.Sequential:
    """Flatten, then Linear + ReLU for every hidden width, then a linear layer to the classes."""
    layers: OrderedDict[str, nn.Module] = OrderedDict(flatten=nn.Flatten())
    width = _flat_size(shape)
    for i, h in enumerate(hidden, start=1):
        layers[f"fc{i}"] = nn.Linear(width, h)
        layers[f"relu{i}"] = nn.ReLU()
        width = h
    layers["out"] = nn.Linear(width, classes)
    return nn.Sequential(layers)


def _cnn(shape: tuple[int, ...], classes: int) -> nn.Sequential:
    """2-D CNN for (C, H, W) images, 1-D CNN for (C, L) sequences (see :func:`build_model`)."""
    if len(shape) == 3:
        channels, height, width = shape
        if height < 2 or width < 2:
            raise InvalidArgument("model", "cnn on images of at least 2×2 pixels (it max-pools by 2)", shape)
        flat = 32 * (height // 2) * (width // 2)
        return nn.Sequential(
            OrderedDict(
                conv1=nn.Conv2d(channels, 16, kernel_size=3, padding=1),
                relu1=nn.ReLU(),
                conv2=nn.Conv2d(16, 32, kernel_size=3, padding=1),
                relu2=nn.ReLU(),
                pool=nn.MaxPool2d(2),
                flatten=nn.Flatten(),
                fc=nn.Linear(flat, classes),
            )
        )
    if len(shape) == 2:
        channels, length = shape
        if length < 4:
            raise InvalidArgument("model", "cnn on sequences of length at least 4 (it max-pools by 4)", shape)
        return nn.Sequential(
            OrderedDict(
                conv1=nn.Conv1d(channels, 16, kernel_size=5, padding=2),
                relu1=nn.ReLU(),
                conv2=nn.Conv1d(16, 32, kernel_size=5, padding=2),
                relu2=nn.ReLU(),
                pool=nn.MaxPool1d(4),
                flatten=nn.Flatten(),
                fc=nn.Linear(32 * (length // 4), classes),
            )
        )
    raise InvalidArgument(
        "model",
        f"logreg or mlp for flat features of shape {shape}; cnn needs images (C, H, W) like digits or "
        "sequences (C, L) like mnist1d",
        "cnn",
    )


def _vanilla_side(side: int) -> int:
    """Side length after the two unpadded 5×5 convolutions, each followed by 2×2 max pooling."""
    for _ in range(2):
        side = (side - _VANILLA_KERNEL + 1) // _VANILLA_POOL
    return side


def _vanilla_cnn(shape: tuple[int, ...], classes: int, widths: tuple[int, ...]) -> nn.Sequential:
    """FedDQ's vanilla CNN with the given (conv1, conv2, hidden) widths (see :func:`build_model`)."""
    if len(shape) != 3 or min(shape[1:]) < 16:
        raise InvalidArgument(
            "model",
            "vanilla-cnn on images (C, H, W) of at least 16×16 pixels (two unpadded 5×5 convolutions, each "
            f"max-pooled by 2), like mnist; not features of shape {shape}",
            "vanilla-cnn",
        )
    channels, height, width = shape
    c1, c2, hidden = widths
    flat = c2 * _vanilla_side(height) * _vanilla_side(width)
    return nn.Sequential(
        OrderedDict(
            conv1=nn.Conv2d(channels, c1, kernel_size=_VANILLA_KERNEL),
            pool1=nn.MaxPool2d(_VANILLA_POOL),
            relu1=nn.ReLU(),
            conv2=nn.Conv2d(c1, c2, kernel_size=_VANILLA_KERNEL),
            pool2=nn.MaxPool2d(_VANILLA_POOL),
            relu2=nn.ReLU(),
            flatten=nn.Flatten(),
            fc1=nn.Linear(flat, hidden),
            relu3=nn.ReLU(),
            fc2=nn.Linear(hidden, classes),
        )
    )


def build_model(
    name: str,
    data: Dataset | tuple[int, ...],
    num_classes: int | None = None,
    *,
    seed: int,
    hidden: tuple[int, ...] = (128, 128),
    vanilla_widths: tuple[int, int, int] = VANILLA_WIDTHS,
) -> nn.Module:
    """Build model ``name`` (one of :data:`MODELS`) for ``data``, initialised deterministically from ``seed``.

    ``data`` is a :class:`~fedquant.validation.data.datasets.Dataset` (its ``feature_shape`` and ``num_classes``
    are used) or a feature shape, in which case ``num_classes`` is required. The model maps a float32 batch
    of shape ``(B, *feature_shape)`` to logits ``(B, num_classes)``:

    - ``logreg``: Flatten → Linear(d, classes).
    - ``mlp``: Flatten → [Linear(·, h) → ReLU for h in ``hidden``] → Linear(·, classes); the default
      ``hidden=(128, 128)`` on digits is the reference 64-128-128-10 MLP (26,122 parameters).
    - ``cnn`` on (C, H, W): Conv2d 3×3 (C→16, pad 1) → ReLU → Conv2d 3×3 (16→32, pad 1) → ReLU →
      MaxPool 2 → Flatten → Linear(32·⌊H/2⌋·⌊W/2⌋, classes); on (C, L): Conv1d k5 (C→16, pad 2) → ReLU →
      Conv1d k5 (16→32, pad 2) → ReLU → MaxPool 4 → Flatten → Linear(32·⌊L/4⌋, classes). Flat features
      (``synthetic``) are refused.
    - ``vanilla-cnn`` on (C, H, W) with H, W ≥ 16: FedDQ's vanilla CNN with ``vanilla_widths = (c1, c2, h)``,
      Conv2d 5×5 (C→c1) → MaxPool 2 → ReLU → Conv2d 5×5 (c1→c2) → MaxPool 2 → ReLU → Flatten →
      Linear(c2·s_H·s_W, h) → ReLU → Linear(h, classes), s = ⌊(⌊(n − 4)/2⌋ − 4)/2⌋ (4 for n = 28). The
      default (8, 16, 64) is the paper's (32, 64, 512) scaled down: 20,522 parameters on 28×28 MNIST
      (8·25 + 8, 16·8·25 + 16, 256·64 + 64, 64·10 + 10), against the paper's 582,026.

    Parameters are drawn with torch's default initialisation under ``torch.random.fork_rng`` after
    ``torch.manual_seed(seed_for(seed, stream="init"))``: the same seed gives the same parameters and the
    caller's global RNG state is unchanged.
    """
    if name not in MODELS:
        raise InvalidArgument("model", f"one of {', '.join(MODELS)}", name)
    if isinstance(data, Dataset):
        shape, classes = data.feature_shape, data.num_classes if num_classes is None else num_classes
    else:
        shape, classes = tuple(data), num_classes
    if not shape or any(isinstance(n, bool) or not isinstance(n, int) or n < 1 for n in shape):
        raise InvalidArgument("feature_shape", "a non-empty tuple of positive integers", shape)
    if isinstance(classes, bool) or not isinstance(classes, int) or classes < 2:
        raise InvalidArgument("num_classes", "an integer ≥ 2", classes)
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise InvalidArgument("seed", "an integer ≥ 0", seed)
    hidden = tuple(hidden)
    if name == "mlp" and (
        not hidden or any(isinstance(h, bool) or not isinstance(h, int) or h < 1 for h in hidden)
    ):
        raise InvalidArgument("hidden", "a non-empty tuple of positive layer widths", hidden)
    vanilla_widths = tuple(vanilla_widths)
    if name == "vanilla-cnn" and (
        len(vanilla_widths) != 3 or any(isinstance(n, bool) or not isinstance(n, int) or n < 1 for n in vanilla_widths)
    ):
        raise InvalidArgument("vanilla_widths", "three positive widths (conv1, conv2, hidden)", vanilla_widths)

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed_for(seed, stream="init"))
        if name == "logreg":
            model = _logreg(shape, classes)
        elif name == "mlp":
            model = _mlp(shape, classes, hidden)
        elif name == "cnn":
            model = _cnn(shape, classes)
        else:
            model = _vanilla_cnn(shape, classes, vanilla_widths)
    return model
