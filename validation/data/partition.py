"""The result every partitioner returns, and the checks they share.

A :class:`Partition` is a list of disjoint index arrays into a training set, one per client, with the
readable report of the label distribution it actually produced (as Flower Datasets' partitioners and
their visualisation helpers give). Partitioners are plain functions, one per file: ``iid``, ``dirichlet``,
``shards``, ``natural``; they check their input at the door and raise
:class:`~fedquant.errors.InvalidArgument` naming the argument and its limit.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from fedquant.errors import InvalidArgument


@dataclass(frozen=True, eq=False)
class Partition:
    """Disjoint training-set indices per client.

    ``client_indices[i]`` (int64, 1-D) are the training samples of client ``i``; no index appears twice.
    ``num_classes`` is the label range the counts are taken over. ``how`` records the partitioner and its
    arguments (e.g. ``"dirichlet:0.5 seed=0"``), for reports.
    """

    client_indices: tuple[np.ndarray, ...]
    num_classes: int
    how: str = ""

    def __post_init__(self) -> None:
        arrays = tuple(np.asarray(ix) for ix in self.client_indices)
        for i, ix in enumerate(arrays):
            if ix.ndim != 1 or not (np.issubdtype(ix.dtype, np.integer) or ix.size == 0):
                got = f"client {i}: {ix.dtype}{ix.shape}"
                raise InvalidArgument("client_indices", "1-D integer arrays", got)
        arrays = tuple(ix.astype(np.int64, copy=False) for ix in arrays)
        for ix in arrays:
            ix.flags.writeable = False
        every = np.concatenate(arrays) if arrays else np.empty(0, dtype=np.int64)
        if every.size and every.min() < 0:
            raise InvalidArgument("client_indices", "non-negative indices", int(every.min()))
        if np.unique(every).size != every.size:
            raise InvalidArgument("client_indices", "disjoint index arrays (an index given to two clients)")
        if self.num_classes < 1:
            raise InvalidArgument("num_classes", "an integer ≥ 1", self.num_classes)
        object.__setattr__(self, "client_indices", arrays)

    @property
    def num_clients(self) -> int:
        return len(self.client_indices)

    @property
    def sizes(self) -> np.ndarray:
        """Samples per client (int64, shape (clients,))."""
        return np.array([ix.size for ix in self.client_indices], dtype=np.int64)

    @property
    def weights(self) -> np.ndarray:
        """FedAvg aggregation weights p_i = n_i / Σ_j n_j (float64, sum 1)."""
        sizes = self.sizes
        return sizes / sizes.sum()

    def label_counts(self, y: np.ndarray) -> np.ndarray:
        """Counts of each label per client: int64 array of shape (clients, num_classes)."""
        y = np.asarray(y)
        return np.stack(
            [np.bincount(y[ix], minlength=self.num_classes) for ix in self.client_indices]
        ).astype(np.int64)

    def report(self, y: np.ndarray) -> str:
        """A table: one row per client with its size, weight and label counts, then a total row."""
        counts = self.label_counts(y)
        sizes = self.sizes
        width = max(5, len(str(int(sizes.sum()))) + 1)
        header = f"{'client':>6} {'size':>{width}} {'weight':>7} " + " ".join(
            f"{'c' + str(c):>{width}}" for c in range(self.num_classes)
        )
        lines = [self.how] if self.how else []
        lines.append(header)
        for i, (size, weight, row) in enumerate(zip(sizes, self.weights, counts, strict=True)):
            cells = " ".join(f"{int(v):>{width}}" for v in row)
            lines.append(f"{i:>6} {int(size):>{width}} {weight:>7.4f} {cells}")
        total = " ".join(f"{int(v):>{width}}" for v in counts.sum(axis=0))
        lines.append(f"{'total':>6} {int(sizes.sum()):>{width}} {1.0:>7.4f} {total}")
        present = (counts > 0).sum(axis=1)
        lines.append(
            f"classes per client: min {int(present.min())}, max {int(present.max())}; "
            f"size min {int(sizes.min())}, max {int(sizes.max())}"
        )
        return "\n".join(lines)


# ---------------------------------------------------------------------------------------------- checks


def check_int(name: str, value: object, low: int) -> int:
    """``value`` as an int, or InvalidArgument(name) if it is not an integer ≥ ``low``."""
    if isinstance(value, bool | np.bool_) or not isinstance(value, int | np.integer) or value < low:
        raise InvalidArgument(name, f"an integer ≥ {low}", value)
    return int(value)


def check_labels(labels: object, num_classes: int | None) -> tuple[np.ndarray, int]:
    """Labels as a 1-D int64 array and the class count (``max + 1`` when not given); checks the range."""
    y = np.asarray(labels)
    if y.ndim != 1 or not (np.issubdtype(y.dtype, np.integer) or y.size == 0):
        got = f"{y.dtype} of shape {y.shape}"
        raise InvalidArgument("labels", "a 1-D array of integer class labels", got)
    y = y.astype(np.int64, copy=False)
    if y.size and y.min() < 0:
        raise InvalidArgument("labels", "non-negative class labels", int(y.min()))
    if num_classes is None:
        num_classes = int(y.max()) + 1 if y.size else 1
    num_classes = check_int("num_classes", num_classes, 1)
    if y.size and y.max() >= num_classes:
        raise InvalidArgument("labels", f"labels below num_classes={num_classes}", int(y.max()))
    return y, num_classes


def check_clients(clients: object, num_samples: int) -> int:
    """The client count, at least 1 and at most the number of samples (no client may be empty)."""
    clients = check_int("clients", clients, 1)
    if clients > num_samples:
        raise InvalidArgument(
            "clients",
            f"at most the number of training samples ({num_samples}), so no client is empty",
            clients,
        )
    return clients


def finish(
    indices: Sequence[np.ndarray], num_classes: int, how: str, *, argument: str = "clients"
) -> Partition:
    """Sort each client's indices, refuse an empty client (naming ``argument``), build the Partition."""
    arrays = tuple(np.sort(np.asarray(ix, dtype=np.int64)) for ix in indices)
    empty = [i for i, ix in enumerate(arrays) if ix.size == 0]
    if empty:
        raise InvalidArgument(
            argument,
            f"a split that leaves no client empty ({how} left client(s) {empty[:10]} with no samples)",
        )
    return Partition(arrays, num_classes, how)
