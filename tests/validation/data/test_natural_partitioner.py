"""natural_partitioner: the dataset's own client split, and where there is none."""

from __future__ import annotations

import numpy as np
from partition_checks import assert_exact_cover, raises

from fedquant.validation.data.datasets import Dataset
from fedquant.validation.data.natural_partitioner import natural
from fedquant.validation.data.partitioning import make_partition


def test_natural_is_the_datasets_split(synthetic: Dataset) -> None:
    assert synthetic.natural_clients is not None
    p = make_partition("natural", synthetic, 30, seed=5)
    assert_exact_cover(p, synthetic.num_train)
    for k, ix in enumerate(p.client_indices):
        np.testing.assert_array_equal(ix, np.flatnonzero(synthetic.natural_clients == k))
    assert p.num_classes == 10


def test_natural_impossible(digits: Dataset, synthetic: Dataset) -> None:
    err = raises("partition", make_partition, "natural", digits, 10, 0)
    assert "digits" in str(err) and "synthetic" in str(err)
    err = raises("clients", make_partition, "natural", synthetic, 10, 0)
    assert "30" in str(err)
    err = raises("client_ids", natural, np.array([0, 0, 2, 2]), num_classes=3)  # client 1 has no sample
    assert "[1]" in str(err)
    raises("client_ids", natural, np.array([0, -1]), num_classes=3)
