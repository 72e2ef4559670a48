"""Local training configuration and the minibatch plan every engine follows.

A client's round is a list of minibatches of its own samples: with ``local_epochs`` E it is E passes over a
fresh permutation, ⌈n_i/B⌉ batches each (the last one may be short); with ``local_steps`` τ it is τ batches
of B cycling through permutations. Permutations come from ``rng.numpy_rng(seed, round, client, "batches")``,
so the loop and the vectorised engine see exactly the same batches in the same order.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from fedquant.errors import InvalidArgument
from fedquant.validation.rng import numpy_rng


@dataclass(frozen=True)
class LocalConfig:
    """Plain local SGD (optionally with momentum, reset every round as a fresh optimizer would)."""

    lr: float = 0.05
    batch_size: int = 32
    local_epochs: int | None = 1
    local_steps: int | None = None
    momentum: float = 0.0

    def __post_init__(self) -> None:
        if not (math.isfinite(self.lr) and self.lr > 0):
            raise InvalidArgument("lr", "a step size > 0", self.lr)
        if int(self.batch_size) != self.batch_size or self.batch_size < 1:
            raise InvalidArgument("batch_size", "an integer ≥ 1", self.batch_size)
        if (self.local_epochs is None) == (self.local_steps is None):
            raise InvalidArgument("local_steps", "either local steps or local epochs (exactly one)", self.local_steps)
        if self.local_epochs is not None and (int(self.local_epochs) != self.local_epochs or self.local_epochs < 1):
            raise InvalidArgument("local_epochs", "an integer ≥ 1", self.local_epochs)
        if self.local_steps is not None and (int(self.local_steps) != self.local_steps or self.local_steps < 1):
            raise InvalidArgument("local_steps", "an integer ≥ 1", self.local_steps)
        if not (math.isfinite(self.momentum) and 0 <= self.momentum < 1):
            raise InvalidArgument("momentum", "a momentum 0 ≤ β < 1", self.momentum)

    def steps_for(self, n: int) -> int:
        """Local SGD steps of a client with n samples: τ, or E·⌈n/B⌉."""
        if self.local_steps is not None:
            return int(self.local_steps)
        return int(self.local_epochs) * math.ceil(n / self.batch_size)


def batch_plan(cfg: LocalConfig, n: int, seed: int, round_: int, client: int) -> list[np.ndarray]:
    """Positions (into the client's own samples) of every minibatch of one client's round."""
    if n < 1:
        raise InvalidArgument("client", "a client with at least one sample", client)
    rng = numpy_rng(seed, round_, client, "batches")
    batches: list[np.ndarray] = []
    if cfg.local_epochs is not None:
        for _ in range(int(cfg.local_epochs)):
            perm = rng.permutation(n)
            batches.extend(perm[i : i + cfg.batch_size] for i in range(0, n, cfg.batch_size))
        return batches
    perm, pos = rng.permutation(n), 0
    for _ in range(int(cfg.local_steps)):
        if pos + cfg.batch_size > n and pos > 0:
            perm, pos = rng.permutation(n), 0
        batches.append(perm[pos : pos + cfg.batch_size])
        pos += cfg.batch_size
    return batches
