"""Pathological label partitioner: K classes per client (McMahan et al. 2017's "shards"; Flower Datasets'
``PathologicalPartitioner`` with deterministic class assignment)."""

from __future__ import annotations

import numpy as np

from fedquant.errors import InvalidArgument
from fedquant.validation.data.partition import Partition, check_clients, check_int, check_labels, finish
from fedquant.validation.rng import numpy_rng


def shards(
    labels: np.ndarray, clients: int, classes_per_client: int, *, seed: int, num_classes: int | None = None
) -> Partition:
    """Give each client exactly ``classes_per_client`` (K) distinct classes and split each class evenly.

    Classes are dealt round-robin over a seeded permutation π of the classes: client i holds
    π[(iK + j) mod C] for j = 0..K-1, so its K classes are distinct (K ≤ C), every class is held when
    K·clients ≥ C, and the number of clients per class differs by at most one. When K·clients < C the
    classes left over are not used (their samples belong to no client). Each held class's shuffled samples
    are split as evenly as possible among its holders. Randomness: ``numpy_rng(seed, stream="partition")``.

    Raises InvalidArgument if K > C (``classes_per_client``), or if a held class has fewer samples than
    clients holding it, which would leave a client without that class (``clients``).

    Examples
    --------
    >>> import numpy as np
    >>> labels = np.repeat(np.arange(3), 4)
    >>> shards(labels, 3, 1, seed=0).label_counts(labels).tolist()  # one class per client
    [[4, 0, 0], [0, 0, 4], [0, 4, 0]]
    """
    y, num_classes = check_labels(labels, num_classes)
    clients = check_clients(clients, y.size)
    seed = check_int("seed", seed, 0)
    k = check_int("classes_per_client", classes_per_client, 1)
    if k > num_classes:
        raise InvalidArgument("classes_per_client", f"at most the number of classes ({num_classes})", k)

    rng = numpy_rng(seed, stream="partition")
    perm = rng.permutation(num_classes)
    held = [perm[(i * k + np.arange(k)) % num_classes] for i in range(clients)]
    holders: dict[int, list[int]] = {}
    for client, classes in enumerate(held):
        for c in classes:
            holders.setdefault(int(c), []).append(client)
    counts = np.bincount(y, minlength=num_classes)
    for c in sorted(holders):
        if counts[c] < len(holders[c]):
            raise InvalidArgument(
                "clients",
                f"a count such that each class has at least as many samples as clients holding it; with "
                f"shards:{k} class {c} has {int(counts[c])} samples but {len(holders[c])} clients hold it",
                clients,
            )

    parts: list[list[np.ndarray]] = [[] for _ in range(clients)]
    for c in sorted(holders):
        members = rng.permutation(np.flatnonzero(y == c))
        for client, chunk in zip(holders[c], np.array_split(members, len(holders[c])), strict=True):
            parts[client].append(chunk)
    return finish([np.concatenate(part) for part in parts], num_classes, f"shards:{k} seed={seed}")
