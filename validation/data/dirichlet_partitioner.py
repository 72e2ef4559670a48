"""Dirichlet label-skew partitioner (Hsu et al. 2019; Flower Datasets' ``DirichletPartitioner``)."""

from __future__ import annotations

import math

import numpy as np

from fedquant.errors import InvalidArgument
from fedquant.validation.data.partition import Partition, check_clients, check_int, check_labels, finish
from fedquant.validation.rng import numpy_rng


def dirichlet(
    labels: np.ndarray,
    clients: int,
    alpha: float,
    *,
    seed: int,
    min_size: int = 1,
    max_tries: int = 100,
    num_classes: int | None = None,
) -> Partition:
    """Split every class over the clients with proportions drawn from Dirichlet(α·1).

    For each class c (in label order) its shuffled indices are cut at ``⌊n_c · cumsum(q)⌋`` with
    q ~ Dirichlet(α, …, α) over the ``clients``; a client's label mix is therefore skewed for small α (a few
    classes dominate) and close to the global mix for large α. As in Flower Datasets, a draw in which some
    client has fewer than ``min_size`` samples is discarded and redrawn; unlike an early Flower version,
    whose resampling could loop forever, at most ``max_tries`` draws are made and then an InvalidArgument
    naming ``alpha`` (and the client count) is raised. Randomness: ``numpy_rng(seed, stream="partition")``.

    Examples
    --------
    >>> import numpy as np
    >>> labels = np.repeat(np.arange(3), 4)
    >>> dirichlet(labels, 2, 0.1, seed=0).label_counts(labels).tolist()  # small α: skewed
    [[1, 0, 0], [3, 4, 4]]
    >>> dirichlet(labels, 2, 1000.0, seed=0).label_counts(labels).tolist()  # large α: close to the global mix
    [[2, 1, 2], [2, 3, 2]]
    """
    y, num_classes = check_labels(labels, num_classes)
    clients = check_clients(clients, y.size)
    seed = check_int("seed", seed, 0)
    if isinstance(alpha, bool) or not isinstance(alpha, int | float | np.integer | np.floating):
        raise InvalidArgument("alpha", "a finite number > 0", alpha)
    if not math.isfinite(alpha) or alpha <= 0:
        raise InvalidArgument("alpha", "a finite number > 0", alpha)
    alpha = float(alpha)
    min_size = check_int("min_size", min_size, 1)
    if min_size * clients > y.size:
        raise InvalidArgument(
            "min_size", f"at most {y.size // clients} (= {y.size} samples // {clients} clients)", min_size
        )
    max_tries = check_int("max_tries", max_tries, 1)

    rng = numpy_rng(seed, stream="partition")
    by_class = [np.flatnonzero(y == c) for c in range(num_classes)]
    how = f"dirichlet:{alpha:g} seed={seed}"
    for _ in range(max_tries):
        parts: list[list[np.ndarray]] = [[] for _ in range(clients)]
        for members in by_class:
            if members.size == 0:
                continue
            shuffled = rng.permutation(members)
            q = rng.dirichlet(np.full(clients, alpha))
            if not np.all(np.isfinite(q)):  # guard against underflow at extreme α; counts as a failed draw
                break
            cuts = (np.cumsum(q)[:-1] * members.size).astype(np.int64)
            for client, chunk in enumerate(np.split(shuffled, cuts)):
                parts[client].append(chunk)
        else:
            sizes = np.array([sum(chunk.size for chunk in part) for part in parts])
            if sizes.min() >= min_size:
                return finish([np.concatenate(part) for part in parts], num_classes, how)
    raise InvalidArgument(
        "alpha",
        f"a concentration for which one of max_tries={max_tries} Dirichlet draws gives each of "
        f"clients={clients} clients at least min_size={min_size} of the {y.size} samples "
        "(raise alpha, or lower clients or min_size)",
        alpha,
    )
