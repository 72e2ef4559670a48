"""Randomness keyed by (seed, round, client, stream): same seed, same bytes, whatever the engine or order.

Every random draw of a run (data split, partition, initial model, minibatch order, quantizer dither, client
sampling) comes from a generator built here from an explicit key, never from global state. Two engines that
process clients in a different order, or a resumed run, therefore draw the same numbers.
"""

from __future__ import annotations

import numpy as np
import torch

#: stream names; the index is part of the key, so streams never share numbers
STREAMS = ("data", "partition", "init", "batches", "quantize", "sample", "downlink", "estimate", "probe", "persistence")


def _entropy(seed: int, round_: int, client: int, stream: str) -> list[int]:
    if stream not in STREAMS:
        raise ValueError(f"stream: one of {', '.join(STREAMS)}, got {stream!r}")
    if seed < 0 or round_ < -1 or client < -1:
        raise ValueError(f"seed ≥ 0, round ≥ -1 and client ≥ -1, got {(seed, round_, client)}")
    # -1 means "not tied to a round / client"; shift so every component is a non-negative integer
    return [int(seed), int(round_) + 1, int(client) + 1, STREAMS.index(stream)]


def seed_for(seed: int, round_: int = -1, client: int = -1, stream: str = "data") -> int:
    """A 63-bit integer seed derived from the key with numpy's SeedSequence (a hash, not a counter)."""
    state = np.random.SeedSequence(_entropy(seed, round_, client, stream)).generate_state(2, dtype=np.uint32)
    return int((int(state[0]) << 31) ^ int(state[1])) & ((1 << 63) - 1)


def numpy_rng(seed: int, round_: int = -1, client: int = -1, stream: str = "data") -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence(_entropy(seed, round_, client, stream)))


def torch_generator(seed: int, round_: int = -1, client: int = -1, stream: str = "quantize") -> torch.Generator:
    gen = torch.Generator(device="cpu")
    gen.manual_seed(seed_for(seed, round_, client, stream))
    return gen
