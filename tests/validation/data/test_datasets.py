"""Offline datasets: shapes, fixed splits, no network, the Synthetic(α, β) recipe, bad input."""

from __future__ import annotations

import itertools
import os
import random

import numpy as np
import pytest

from fedquant.errors import InvalidArgument
from fedquant.validation.data import datasets
from fedquant.validation.data.datasets import DATASETS, Dataset, load_dataset

# the datasets digits, mnist1d and synthetic are conftest.py's session fixtures


def _mean_pairwise_tv(data: Dataset) -> float:
    """Mean total-variation distance between the label distributions of every pair of natural clients."""
    assert data.natural_clients is not None
    k = data.num_natural_clients
    assert k is not None
    q = np.stack(
        [np.bincount(data.y_train[data.natural_clients == c], minlength=data.num_classes) for c in range(k)]
    )
    q = q / q.sum(axis=1, keepdims=True)
    return float(np.mean([0.5 * np.abs(q[i] - q[j]).sum() for i, j in itertools.combinations(range(k), 2)]))


# ---------------------------------------------------------------------------------------------- digits


def test_digits_shapes_and_values(digits: Dataset) -> None:
    assert DATASETS == ("digits", "mnist", "mnist1d", "synthetic")
    assert digits.x_train.shape == (1437, 1, 8, 8) and digits.x_test.shape == (360, 1, 8, 8)
    assert digits.x_train.dtype == np.float32 and digits.y_train.dtype == np.int64
    assert digits.feature_shape == (1, 8, 8) and digits.num_classes == 10
    assert digits.natural_clients is None and digits.natural_test_clients is None
    # pixels were 0..16, divided by 16
    assert digits.x_train.min() == 0.0 and digits.x_train.max() == 1.0
    assert np.all(np.isin(digits.x_train * 16, np.arange(17)))
    train, test = np.bincount(digits.y_train, minlength=10), np.bincount(digits.y_test, minlength=10)
    # sklearn's digits has 178, 182, 177, 183, 181, 182, 181, 179, 174, 180 images per class
    np.testing.assert_array_equal(train + test, [178, 182, 177, 183, 181, 182, 181, 179, 174, 180])
    assert train.sum() == 1437 and test.sum() == 360
    # stratified: every class's test share is 20 % up to rounding of one sample
    assert np.all(np.abs(test - 0.2 * (train + test)) <= 1)


def test_digits_split_does_not_depend_on_seed(digits: Dataset) -> None:
    other = load_dataset("digits", seed=7)
    for field in ("x_train", "y_train", "x_test", "y_test"):
        assert getattr(digits, field).tobytes() == getattr(other, field).tobytes()


def test_digits_describe(digits: Dataset) -> None:
    line = digits.describe()
    assert "\n" not in line
    assert "1437 train / 360 test" in line and "10 classes" in line and "(1, 8, 8)" in line
    assert str(np.bincount(digits.y_train).tolist()) in line


# ---------------------------------------------------------------------------------------------- mnist1d


def test_mnist1d_shapes_and_standardization(mnist1d: Dataset) -> None:
    assert mnist1d.x_train.shape == (4000, 1, 40) and mnist1d.x_test.shape == (1000, 1, 40)
    assert mnist1d.feature_shape == (1, 40) and mnist1d.num_classes == 10
    assert mnist1d.x_train.dtype == np.float32
    # the recipe makes num_samples // 10 = 500 signals per class before the 80/20 split
    counts = np.bincount(mnist1d.y_train, minlength=10) + np.bincount(mnist1d.y_test, minlength=10)
    np.testing.assert_array_equal(counts, np.full(10, 500))
    # standardized with the training set's scalar mean and std
    assert abs(float(mnist1d.x_train.mean())) < 1e-5
    assert abs(float(mnist1d.x_train.std()) - 1.0) < 1e-4
    assert abs(float(mnist1d.x_test.mean())) < 0.05  # same transform, a different sample


def test_mnist1d_offline_no_files_no_global_rng_change(
    monkeypatch: pytest.MonkeyPatch, tmp_path: os.PathLike[str], request: pytest.FixtureRequest
) -> None:
    import mnist1d.data  # noqa: F401  (imported first: urllib3 probes IPv6 with a socket at import time)

    attempts = request.getfixturevalue("network_attempts")  # after the import, so only the loader is watched
    monkeypatch.chdir(tmp_path)
    misses = datasets._mnist1d_arrays.cache_info().misses
    np_state, py_state = np.random.get_state(), random.getstate()

    data = load_dataset("mnist1d", num_samples=600)  # a size no other test uses: generated right here

    assert datasets._mnist1d_arrays.cache_info().misses == misses + 1
    assert attempts == []
    assert os.listdir(tmp_path) == []
    after = np.random.get_state()
    assert after[0] == np_state[0] and np.array_equal(after[1], np_state[1]) and after[2:] == np_state[2:]
    assert random.getstate() == py_state
    assert data.x_train.shape == (480, 1, 40) and data.x_test.shape == (120, 1, 40)
    assert data.options == {"num_samples": 600}


def test_mnist1d_is_cached_and_copies_are_independent(mnist1d: Dataset) -> None:
    again = load_dataset("mnist1d", seed=3)
    assert again.x_train.tobytes() == mnist1d.x_train.tobytes()  # the recipe's own seed, not ours
    again.y_train[:] = -1  # a caller mutating its copy must not corrupt the cached arrays
    third = load_dataset("mnist1d")
    assert third.y_train.tobytes() == mnist1d.y_train.tobytes()


# ---------------------------------------------------------------------------------------------- synthetic


def test_synthetic_structure(synthetic: Dataset) -> None:
    assert synthetic.feature_shape == (60,) and synthetic.num_classes == 10
    assert synthetic.natural_clients is not None and synthetic.natural_test_clients is not None
    assert synthetic.num_natural_clients == 30
    train = np.bincount(synthetic.natural_clients, minlength=30)
    test = np.bincount(synthetic.natural_test_clients, minlength=30)
    total = train + test
    # every client: 50 ≤ n_k ≤ 20000 // 30 = 666, split ⌊0.8 n_k⌋ / rest
    assert total.min() >= 50 and total.max() <= 666
    np.testing.assert_array_equal(train, (0.8 * total).astype(int))
    assert synthetic.num_train + synthetic.num_test == total.sum() <= 20000
    assert synthetic.x_train.dtype == np.float32 and synthetic.y_train.dtype == np.int64
    assert "natural split into 30 clients" in synthetic.describe()


def test_synthetic_covariance_follows_recipe(synthetic: Dataset) -> None:
    """Within a client x ~ N(v_k, Σ) with Σ_jj = j^-1.2: the pooled within-client variance recovers Σ."""
    assert synthetic.natural_clients is not None
    x, ids = synthetic.x_train.astype(np.float64), synthetic.natural_clients
    centred = np.concatenate([x[ids == k] - x[ids == k].mean(axis=0) for k in range(30)])
    dof = x.shape[0] - 30
    var = (centred**2).sum(axis=0) / dof
    expected = np.arange(1, 61) ** -1.2
    # a variance estimate with ~3000 degrees of freedom has relative sd sqrt(2/3000) ≈ 2.6 %; allow 15 %
    np.testing.assert_allclose(var, expected, rtol=0.15)


def test_synthetic_heterogeneity_and_iid_variant(synthetic: Dataset) -> None:
    """Different clients draw different W_k, b_k, v_k, so their label mixes differ; the IID variant shares
    them. Measured over seeds 0-3: mean pairwise TV 0.88-0.91 non-IID vs 0.15-0.18 IID (the IID value is the
    sampling noise of ~40-500 labels per client)."""
    assert _mean_pairwise_tv(synthetic) > 0.6
    assert _mean_pairwise_tv(load_dataset("synthetic", iid=True)) < 0.3


def test_synthetic_reproducible_and_seeded(synthetic: Dataset) -> None:
    same = load_dataset("synthetic", seed=0)
    for name in ("x_train", "y_train", "x_test", "y_test", "natural_clients", "natural_test_clients"):
        assert getattr(same, name).tobytes() == getattr(synthetic, name).tobytes()
    other = load_dataset("synthetic", seed=1)
    assert other.num_train != synthetic.num_train or other.x_train.tobytes() != synthetic.x_train.tobytes()


def test_synthetic_cap_and_options() -> None:
    # cap = 1500 // 30 = 50 = the recipe's minimum, so every client has exactly 50 samples: 40 train, 10 test
    data = load_dataset("synthetic", max_samples=1500, dim=5, classes=3, seed=2)
    assert data.x_train.shape == (1200, 5) and data.x_test.shape == (300, 5)
    assert data.natural_clients is not None
    np.testing.assert_array_equal(np.bincount(data.natural_clients), np.full(30, 40))
    assert data.y_train.max() < 3 and data.num_classes == 3


# ---------------------------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("name", "options", "argument"),
    [
        ("cifar10", {}, "dataset"),
        ("digits", {"num_samples": 100}, "num_samples"),
        ("mnist1d", {"num_samples": 10}, "num_samples"),
        ("mnist1d", {"num_samples": 1000.0}, "num_samples"),
        ("mnist1d", {"alpha": 1.0}, "alpha"),
        ("synthetic", {"alpha": -1.0}, "alpha"),
        ("synthetic", {"beta": float("nan")}, "beta"),
        ("synthetic", {"clients": 0}, "clients"),
        ("synthetic", {"clients": 500}, "clients"),  # 500 · 50 > max_samples = 20000
        ("synthetic", {"classes": 1}, "classes"),
        ("synthetic", {"dim": True}, "dim"),
        ("synthetic", {"iid": "yes"}, "iid"),
        ("synthetic", {"seed": -1}, "seed"),
    ],
)
def test_bad_names_and_options(name: str, options: dict[str, object], argument: str) -> None:
    with pytest.raises(InvalidArgument) as info:
        load_dataset(name, **options)  # type: ignore[arg-type]
    assert info.value.argument == argument
    assert str(info.value).startswith(f"{argument}: ")
