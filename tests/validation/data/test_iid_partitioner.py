"""iid_partitioner: an even shuffle split, unskewed; properties on arbitrary labels."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st
from partition_checks import SETTINGS, assert_exact_cover, label_arrays, mean_tv_to_global, raises

from fedquant.validation.data.datasets import Dataset
from fedquant.validation.data.iid_partitioner import iid


def test_iid_even_and_unskewed(digits: Dataset) -> None:
    y = digits.y_train
    p = iid(y, 10, seed=0)
    assert_exact_cover(p, y.size)
    assert sorted(p.sizes.tolist()) == [143] * 3 + [144] * 7  # 1437 = 10·143 + 7
    # a random 144-sample subset: expected TV to the global mix ≈ 0.5·Σ_c sqrt(2 p_c(1-p_c)/(π n)) ≈ 0.10
    assert mean_tv_to_global(p, y) < 0.15


@SETTINGS
@given(data=label_arrays(), clients=st.integers(1, 30), seed=st.integers(0, 2**32))
def test_iid_properties(data: tuple[np.ndarray, int], clients: int, seed: int) -> None:
    y, c = data
    if clients > y.size:
        raises("clients", iid, y, clients, seed=seed, num_classes=c)
        return
    p = iid(y, clients, seed=seed, num_classes=c)
    assert_exact_cover(p, y.size)
    assert p.sizes.max() - p.sizes.min() <= 1 and p.sizes.min() >= 1
    np.testing.assert_array_equal(p.label_counts(y).sum(axis=0), np.bincount(y, minlength=c))
