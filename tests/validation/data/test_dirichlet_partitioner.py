"""dirichlet_partitioner: Dirichlet(α) label skew, its limits and its errors; properties."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st
from partition_checks import SETTINGS, assert_exact_cover, label_arrays, mean_tv_to_global, raises

from fedquant.errors import InvalidArgument
from fedquant.validation.data.datasets import Dataset
from fedquant.validation.data.dirichlet_partitioner import dirichlet


def test_dirichlet_large_alpha_matches_global_mix(digits: Dataset) -> None:
    """Dir(α·1) shares have sd sqrt((1/N)(1-1/N)/(Nα+1)) ≈ 0.003 at α=1000, N=10: every client gets ~1/10 of
    every class, so its mix is the global one up to rounding (measured TV ≈ 0.015, seeds 0-4)."""
    y = digits.y_train
    for seed in range(3):
        p = dirichlet(y, 10, 1000.0, seed=seed)
        assert_exact_cover(p, y.size)
        assert mean_tv_to_global(p, y) < 0.05
        assert p.sizes.min() > 0.8 * 143.7 and p.sizes.max() < 1.2 * 143.7


def test_dirichlet_small_alpha_is_skewed(digits: Dataset) -> None:
    """At α=0.1, E Σ_i q_i² = (α+1)/(Nα+1) = 0.55: each class lives on ~2 of the 10 clients, so client mixes
    are far from the global one (measured TV 0.62-0.71, seeds 0-4) and many client-class cells are empty."""
    y = digits.y_train
    for seed in range(3):
        p = dirichlet(y, 10, 0.1, seed=seed)
        assert_exact_cover(p, y.size)
        assert p.sizes.min() >= 1
        assert mean_tv_to_global(p, y) > 0.4
        assert (p.label_counts(y) == 0).mean() > 0.3


def test_dirichlet_gives_up_with_clear_error() -> None:
    labels = np.repeat(np.arange(2), 10)  # 20 samples, 2 classes
    err = raises("alpha", dirichlet, labels, 10, 0.01, seed=0, min_size=2, max_tries=5)
    assert "clients=10" in str(err) and "max_tries=5" in str(err) and "min_size=2" in str(err)


def test_dirichlet_bad_arguments() -> None:
    labels = np.repeat(np.arange(3), 10)
    raises("alpha", dirichlet, labels, 3, 0.0, seed=0)
    raises("alpha", dirichlet, labels, 3, -1.0, seed=0)
    raises("alpha", dirichlet, labels, 3, float("inf"), seed=0)
    raises("min_size", dirichlet, labels, 3, 1.0, seed=0, min_size=11)  # 3 · 11 > 30
    raises("max_tries", dirichlet, labels, 3, 1.0, seed=0, max_tries=0)
    raises("clients", dirichlet, labels, 31, 1.0, seed=0)


@SETTINGS
@given(
    data=label_arrays(),
    clients=st.integers(1, 20),
    alpha=st.floats(0.05, 50.0),
    seed=st.integers(0, 2**32),
)
def test_dirichlet_properties(data: tuple[np.ndarray, int], clients: int, alpha: float, seed: int) -> None:
    y, c = data
    try:
        p = dirichlet(y, clients, alpha, seed=seed, num_classes=c, max_tries=5)
    except InvalidArgument as err:
        # only two clean refusals exist: too many clients, or no good draw in max_tries
        assert err.argument == ("clients" if clients > y.size else "alpha")
        return
    assert clients <= y.size
    assert_exact_cover(p, y.size)
    assert p.sizes.min() >= 1 and p.num_clients == clients
