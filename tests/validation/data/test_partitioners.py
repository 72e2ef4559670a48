"""Partitioners: exact covers, seeded reproducibility, skew statistics, clear errors, property tests."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fedquant.errors import InvalidArgument
from fedquant.validation.data.datasets import Dataset, load_dataset
from fedquant.validation.data.partition import finish
from fedquant.validation.data.partitioning import (
    PARTITIONS,
    Partition,
    PartitionSpec,
    dirichlet,
    iid,
    make_partition,
    natural,
    parse_partition,
    shards,
)


@pytest.fixture(scope="module")
def digits() -> Dataset:
    return load_dataset("digits")


@pytest.fixture(scope="module")
def synthetic() -> Dataset:
    return load_dataset("synthetic")


def assert_exact_cover(p: Partition, n: int) -> None:
    every = np.concatenate(p.client_indices)
    np.testing.assert_array_equal(np.sort(every), np.arange(n))


def mean_tv_to_global(p: Partition, y: np.ndarray) -> float:
    """Mean over clients of the total-variation distance between its label mix and the global one."""
    counts = p.label_counts(y)
    mix = counts / counts.sum(axis=1, keepdims=True)
    overall = np.bincount(y, minlength=p.num_classes) / y.size
    return float(0.5 * np.abs(mix - overall).sum(axis=1).mean())


def raises(argument: str, fn, *args, **kwargs) -> InvalidArgument:  # type: ignore[no-untyped-def]
    with pytest.raises(InvalidArgument) as info:
        fn(*args, **kwargs)
    assert info.value.argument == argument
    assert argument in str(info.value)
    return info.value


# ---------------------------------------------------------------------------------------------- Partition


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


# ---------------------------------------------------------------------------------------------- iid


def test_iid_even_and_unskewed(digits: Dataset) -> None:
    y = digits.y_train
    p = iid(y, 10, seed=0)
    assert_exact_cover(p, y.size)
    assert sorted(p.sizes.tolist()) == [143] * 3 + [144] * 7  # 1437 = 10·143 + 7
    # a random 144-sample subset: expected TV to the global mix ≈ 0.5·Σ_c sqrt(2 p_c(1-p_c)/(π n)) ≈ 0.10
    assert mean_tv_to_global(p, y) < 0.15


# ---------------------------------------------------------------------------------------------- dirichlet


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


# ---------------------------------------------------------------------------------------------- shards


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


# ---------------------------------------------------------------------------------------------- natural


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


# ---------------------------------------------------------------------------------------------- seeds


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


# ---------------------------------------------------------------------------------------------- parsing


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


# ---------------------------------------------------------------------------------------------- properties


@st.composite
def label_arrays(draw: st.DrawFn) -> tuple[np.ndarray, int]:
    classes = draw(st.integers(1, 8))
    labels = draw(st.lists(st.integers(0, classes - 1), min_size=0, max_size=120))
    return np.array(labels, dtype=np.int64), classes


SETTINGS = settings(max_examples=60, deadline=None)


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
