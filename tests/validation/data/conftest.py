"""Datasets the data tests share (loaded once per session)."""

from __future__ import annotations

import pytest

from fedquant.validation.data.datasets import Dataset, load_dataset


@pytest.fixture(scope="session")
def digits() -> Dataset:
    return load_dataset("digits")


@pytest.fixture(scope="session")
def mnist1d() -> Dataset:
    return load_dataset("mnist1d")


@pytest.fixture(scope="session")
def synthetic() -> Dataset:
    return load_dataset("synthetic")
