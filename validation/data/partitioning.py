"""Partitioners: how a training set is split over clients.

One function per file, each seeded from ``numpy_rng(seed, stream="partition")`` and returning a
:class:`Partition` (modelled on Flower Datasets' partitioners: a seed, clear errors on impossible splits,
a report of the label distribution actually produced):

- ``iid``: a shuffle split evenly;
- ``dirichlet:A``: per-class Dirichlet(A) proportions (label skew, smaller A = more skew);
- ``shards:K``: exactly K classes per client (pathological skew);
- ``natural``: the dataset's own client split (``synthetic``).

:func:`parse_partition` reads these CLI strings; :func:`make_partition` applies one to a dataset.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from fedquant.errors import InvalidArgument
from fedquant.validation.data.datasets import Dataset
from fedquant.validation.data.dirichlet_partitioner import dirichlet
from fedquant.validation.data.iid_partitioner import iid
from fedquant.validation.data.natural_partitioner import natural
from fedquant.validation.data.partition import Partition
from fedquant.validation.data.shard_partitioner import shards

__all__ = [
    "PARTITIONS",
    "Partition",
    "PartitionSpec",
    "dirichlet",
    "iid",
    "make_partition",
    "natural",
    "parse_partition",
    "shards",
]

#: the partition kinds, as written on the command line
PARTITIONS = ("iid", "dirichlet", "shards", "natural")
_SPEC_HELP = "one of iid, dirichlet:A (A > 0), shards:K (integer K ≥ 1), natural"


@dataclass(frozen=True)
class PartitionSpec:
    """A parsed partition string: ``kind`` plus ``alpha`` (dirichlet) or ``classes_per_client`` (shards)."""

    kind: str
    alpha: float | None = None
    classes_per_client: int | None = None

    def __str__(self) -> str:
        if self.kind == "dirichlet":
            return f"dirichlet:{self.alpha:g}"
        if self.kind == "shards":
            return f"shards:{self.classes_per_client}"
        return self.kind


def parse_partition(spec: str | PartitionSpec) -> PartitionSpec:
    """Read ``iid``, ``dirichlet:A`` (A a finite float > 0), ``shards:K`` (K an integer ≥ 1) or ``natural``.

    Whitespace around the parts is ignored; anything else raises InvalidArgument("partition", ...).
    """
    if isinstance(spec, PartitionSpec):
        return spec
    if not isinstance(spec, str):
        raise InvalidArgument("partition", _SPEC_HELP, spec)
    kind, sep, value = (part.strip() for part in spec.strip().partition(":"))
    if kind in ("iid", "natural") and not sep:
        return PartitionSpec(kind)
    if kind == "dirichlet" and sep:
        try:
            alpha = float(value)
        except ValueError:
            raise InvalidArgument("partition", f"{_SPEC_HELP}; A must be a number", spec) from None
        if not math.isfinite(alpha) or alpha <= 0:
            raise InvalidArgument("alpha", "a finite number > 0 (dirichlet:A)", alpha)
        return PartitionSpec(kind, alpha=alpha)
    if kind == "shards" and sep:
        try:
            k = int(value)
        except ValueError:
            raise InvalidArgument("partition", f"{_SPEC_HELP}; K must be an integer", spec) from None
        if k < 1:
            raise InvalidArgument("classes_per_client", "an integer ≥ 1 (shards:K)", k)
        return PartitionSpec(kind, classes_per_client=k)
    raise InvalidArgument("partition", _SPEC_HELP, spec)


def make_partition(spec: str | PartitionSpec, dataset: Dataset, clients: int, seed: int) -> Partition:
    """Split ``dataset``'s training set over ``clients`` clients as ``spec`` says, seeded by ``seed``.

    ``natural`` needs a dataset with its own client split and ``clients`` equal to its client count
    (``natural`` ignores ``seed``: the split is the dataset's).
    """
    parsed = parse_partition(spec)
    y, c = dataset.y_train, dataset.num_classes
    if parsed.kind == "iid":
        return iid(y, clients, seed=seed, num_classes=c)
    if parsed.kind == "dirichlet":
        assert parsed.alpha is not None
        return dirichlet(y, clients, parsed.alpha, seed=seed, num_classes=c)
    if parsed.kind == "shards":
        assert parsed.classes_per_client is not None
        return shards(y, clients, parsed.classes_per_client, seed=seed, num_classes=c)
    if dataset.natural_clients is None:
        raise InvalidArgument(
            "partition",
            f"a split {dataset.name} supports (iid, dirichlet:A, shards:K); natural needs a dataset with its "
            "own client split, such as synthetic",
            str(parsed),
        )
    return natural(dataset.natural_clients, clients, num_classes=c)
