"""The Partition record and partition specs: accounting, overlap refused, seeded bytes, parsing."""

from __future__ import annotations

import numpy as np
import pytest
from partition_checks import raises

from fedquant.validation.data.datasets import Dataset
from fedquant.validation.data.partition import finish
from fedquant.validation.data.partitioning import (
    PARTITIONS,
    Partition,
    PartitionSpec,
    dirichlet,
    make_partition,
    parse_partition,
)


def test_partition_accounting(digits: Dataset) -> None:
    y = digits.y_train
    p = dirichlet(y, 7, 0.5, seed=3)
    counts = p.label_counts(y)
    assert counts.shape == (7, 10) and counts.dtype == np.int64
    np.testing.assert_array_equal(counts.sum(axis=1), p.sizes)
    np.testing.assert_array_equal(counts.sum(axis=0), np.bincount(y, minlength=10))
    assert p.sizes.sum() == y.size and p.num_clients == 7
    np.testing.assert_allclose(p.weights, p.sizes / 1437)
    assert abs(p.weights.sum() - 1.0) < 1e-12
    report = p.report(y).splitlines()
    assert report[0] == "dirichlet:0.5 seed=3"
    assert report[1].split()[:3] == ["client", "size", "weight"] and report[1].split()[-1] == "c9"
    assert len(report) == 1 + 1 + 7 + 1 + 1  # title, header, clients, total, summary
    row = report[2].split()
    assert int(row[0]) == 0 and int(row[1]) == p.sizes[0]
    assert [int(v) for v in row[3:]] == counts[0].tolist()
    assert report[-2].split()[:2] == ["total", "1437"]


def test_partition_refuses_overlap_and_empty_clients() -> None:
    raises("client_indices", Partition, (np.array([0, 1]), np.array([1, 2])), 2)
    raises("client_indices", Partition, (np.array([0.5]),), 2)
    err = raises("clients", finish, [np.array([0, 1]), np.array([], dtype=np.int64)], 2, "test")
    assert "[1]" in str(err)


@pytest.mark.parametrize("spec", ["iid", "dirichlet:0.3", "shards:2"])
def test_same_seed_same_bytes_other_seed_differs(digits: Dataset, spec: str) -> None:
    a = make_partition(spec, digits, 12, seed=11)
    b = make_partition(spec, digits, 12, seed=11)
    c = make_partition(spec, digits, 12, seed=12)
    assert all(x.tobytes() == y.tobytes() for x, y in zip(a.client_indices, b.client_indices, strict=True))
    assert any(
        x.shape != y.shape or x.tobytes() != y.tobytes()
        for x, y in zip(a.client_indices, c.client_indices, strict=True)
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("iid", PartitionSpec("iid")),
        (" natural ", PartitionSpec("natural")),
        ("dirichlet:0.5", PartitionSpec("dirichlet", alpha=0.5)),
        ("dirichlet: 1e3", PartitionSpec("dirichlet", alpha=1000.0)),
        ("shards:2", PartitionSpec("shards", classes_per_client=2)),
    ],
)
def test_parse_partition(text: str, expected: PartitionSpec) -> None:
    parsed = parse_partition(text)
    assert parsed == expected
    assert parse_partition(str(parsed)) == parsed
    assert parsed.kind in PARTITIONS


@pytest.mark.parametrize(
    ("text", "argument"),
    [
        ("dirichlet:0", "alpha"),
        ("dirichlet:-2", "alpha"),
        ("dirichlet:nan", "alpha"),
        ("dirichlet:x", "partition"),
        ("dirichlet", "partition"),
        ("shards:0", "classes_per_client"),
        ("shards:1.5", "partition"),
        ("iid:3", "partition"),
        ("pathological", "partition"),
    ],
)
def test_parse_partition_rejects(text: str, argument: str) -> None:
    raises(argument, parse_partition, text)


def test_make_partition_too_many_clients(digits: Dataset) -> None:
    raises("clients", make_partition, "iid", digits, 1438, 0)
    raises("classes_per_client", make_partition, "shards:11", digits, 10, 0)


@pytest.mark.parametrize("module", ["iid_partitioner", "dirichlet_partitioner", "shard_partitioner",
                                    "natural_partitioner"])
def test_docstring_examples_run(module: str) -> None:
    """Every partitioner's numpydoc Examples section is executed and prints what it shows."""
    import doctest
    import importlib

    mod = importlib.import_module(f"fedquant.validation.data.{module}")
    result = doctest.testmod(mod, verbose=False)
    assert result.attempted >= 2 and result.failed == 0
