"""Natural partitioner: the client split that comes with the dataset (FedProx's Synthetic(α, β))."""

from __future__ import annotations

import numpy as np

from fedquant.errors import InvalidArgument
from fedquant.validation.data.partition import Partition, check_int, finish


def natural(client_ids: np.ndarray | None, clients: int | None = None, *, num_classes: int) -> Partition:
    """Client ``k`` gets the training samples whose id is ``k``; there are ``max(id) + 1`` clients.

    ``client_ids`` is the dataset's ``natural_clients`` array (``None`` for a dataset without a natural
    split, which is refused). If ``clients`` is given it must equal the dataset's client count: the split is
    the dataset's own and cannot be re-cut. An id with no training sample is an empty client and is refused.
    The split is deterministic, so there is no seed.

    Examples
    --------
    >>> import numpy as np
    >>> [ix.tolist() for ix in natural(np.array([0, 0, 1, 2, 2, 2]), num_classes=3).client_indices]
    [[0, 1], [2], [3, 4, 5]]
    """
    if client_ids is None:
        raise InvalidArgument("partition", "natural only for a dataset with its own client split", "natural")
    ids = np.asarray(client_ids)
    if ids.ndim != 1 or not np.issubdtype(ids.dtype, np.integer) or ids.size == 0:
        got = f"{ids.dtype} of shape {ids.shape}"
        raise InvalidArgument("client_ids", "a non-empty 1-D integer array", got)
    if ids.min() < 0:
        raise InvalidArgument("client_ids", "non-negative client ids", int(ids.min()))
    num_classes = check_int("num_classes", num_classes, 1)
    have = int(ids.max()) + 1
    if clients is not None and check_int("clients", clients, 1) != have:
        allowed = f"{have}, the number of clients of the dataset's natural split"
        raise InvalidArgument("clients", allowed, clients)
    order = np.argsort(ids, kind="stable")
    bounds = np.searchsorted(ids[order], np.arange(1, have))
    return finish(np.split(order, bounds), num_classes, f"natural ({have} clients)", argument="client_ids")
