"""Datasets the data tests share (loaded once per session)."""

from __future__ import annotations

import socket

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


@pytest.fixture
def network_attempts(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every socket call refused (OSError) and recorded: a loader that reaches for the network shows up here."""
    attempts: list[str] = []

    def refuse(*args: object, **kwargs: object) -> None:
        attempts.append(repr(args))
        raise OSError("network disabled in this test")

    monkeypatch.setattr(socket, "socket", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    return attempts
