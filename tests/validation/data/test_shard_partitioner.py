"""shard_partitioner: exactly K classes per client, impossible splits refused; properties."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from partition_checks import SETTINGS, assert_exact_cover, label_arrays, raises

from fedquant.errors import InvalidArgument
from fedquant.validation.data.datasets import Dataset
from fedquant.validation.data.shard_partitioner import shards


@pytest.mark.parametrize(("clients", "k"), [(10, 1), (10, 2), (7, 3), (20, 2), (4, 10)])
def test_shards_exactly_k_classes(digits: Dataset, clients: int, k: int) -> None:
    y = digits.y_train
    p = shards(y, clients, k, seed=1)
    counts = p.label_counts(y)
    np.testing.assert_array_equal((counts > 0).sum(axis=1), np.full(clients, k))
    assert_exact_cover(p, y.size)  # k · clients ≥ 10, so every class is used
    holders = (counts > 0).sum(axis=0)
    assert holders.max() - holders.min() <= 1  # round-robin over a permutation balances the holders
    for c in range(10):  # each class split evenly among its holders
        held = counts[:, c][counts[:, c] > 0]
        assert held.max() - held.min() <= 1


def test_shards_fewer_slots_than_classes(digits: Dataset) -> None:
    y = digits.y_train
    p = shards(y, 3, 2, seed=4)  # 6 slots for 10 classes: 6 classes used, one client each
    counts = p.label_counts(y)
    used = np.flatnonzero(counts.sum(axis=0))
    assert used.size == 6 and np.all((counts > 0).sum(axis=1) == 2)
    every = np.sort(np.concatenate(p.client_indices))
    np.testing.assert_array_equal(every, np.flatnonzero(np.isin(y, used)))


def test_shards_impossible() -> None:
    labels = np.array([0] + [1] * 50)
    raises("classes_per_client", shards, labels, 3, 3, seed=0)  # 3 > 2 classes
    raises("classes_per_client", shards, labels, 3, 0, seed=0)
    err = raises("clients", shards, labels, 5, 1, seed=0)  # class 0: 1 sample, ≥ 2 holders
    assert "class 0 has 1 samples" in str(err)


@SETTINGS
@given(data=label_arrays(), clients=st.integers(1, 20), k=st.integers(1, 9), seed=st.integers(0, 2**32))
def test_shards_properties(data: tuple[np.ndarray, int], clients: int, k: int, seed: int) -> None:
    y, c = data
    counts = np.bincount(y, minlength=c)
    try:
        p = shards(y, clients, k, seed=seed, num_classes=c)
    except InvalidArgument as err:
        if clients > y.size:
            assert err.argument == "clients"
        elif k > c:
            assert err.argument == "classes_per_client"
        else:
            assert err.argument == "clients"
            # each class has ⌊kN/c⌋ or ⌈kN/c⌉ holders (at most 1 when kN < c): a refusal needs a class
            # with fewer samples than that
            assert counts.min() < -(-k * clients // c)
        return
    assert clients <= y.size and k <= c
    lc = p.label_counts(y)
    np.testing.assert_array_equal((lc > 0).sum(axis=1), np.full(clients, k))
    every = np.concatenate(p.client_indices)
    assert np.unique(every).size == every.size
    if k * clients >= c:
        assert_exact_cover(p, y.size)
        assert counts.min() >= k * clients // c  # otherwise a class would have been refused
