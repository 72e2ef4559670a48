"""IID partitioner: a seeded shuffle split as evenly as possible (Flower Datasets' ``IidPartitioner``)."""

from __future__ import annotations

import numpy as np

from fedquant.validation.data.partition import Partition, check_clients, check_int, check_labels, finish
from fedquant.validation.rng import numpy_rng


def iid(labels: np.ndarray, clients: int, *, seed: int, num_classes: int | None = None) -> Partition:
    """Shuffle the ``n`` training indices and cut them into ``clients`` contiguous runs.

    Sizes differ by at most one (the first ``n mod clients`` clients get one more), so every client's
    label distribution is a uniform random sample of the whole set. The shuffle comes from
    ``numpy_rng(seed, stream="partition")``. ``num_classes`` defaults to ``max(labels) + 1``.
    Raises InvalidArgument if ``clients`` exceeds the number of samples.

    Examples
    --------
    >>> import numpy as np
    >>> labels = np.repeat(np.arange(3), 4)  # 12 samples, 3 classes
    >>> iid(labels, 5, seed=0).sizes.tolist()
    [3, 3, 2, 2, 2]
    """
    y, num_classes = check_labels(labels, num_classes)
    clients = check_clients(clients, y.size)
    seed = check_int("seed", seed, 0)
    order = numpy_rng(seed, stream="partition").permutation(y.size)
    return finish(np.array_split(order, clients), num_classes, f"iid seed={seed}")
