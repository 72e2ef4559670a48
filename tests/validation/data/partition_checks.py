"""What the partitioner tests share: exact-cover and skew measures, error checks, a label strategy."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import settings
from hypothesis import strategies as st

from fedquant.errors import InvalidArgument
from fedquant.validation.data.partitioning import Partition


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


@st.composite
def label_arrays(draw: st.DrawFn) -> tuple[np.ndarray, int]:
    classes = draw(st.integers(1, 8))
    labels = draw(st.lists(st.integers(0, classes - 1), min_size=0, max_size=120))
    return np.array(labels, dtype=np.int64), classes


SETTINGS = settings(max_examples=60, deadline=None)
