"""data — the offline datasets and how a training set is split over clients.

One ``<kind>_partitioner.py`` per split (iid, dirichlet, shard, natural), each returning a :class:`Partition`.
"""

from fedquant.validation.data.datasets import DATASETS, Dataset, load_dataset
from fedquant.validation.data.dirichlet_partitioner import dirichlet
from fedquant.validation.data.iid_partitioner import iid
from fedquant.validation.data.natural_partitioner import natural
from fedquant.validation.data.partition import Partition
from fedquant.validation.data.partitioning import PARTITIONS, PartitionSpec, make_partition, parse_partition
from fedquant.validation.data.shard_partitioner import shards

__all__ = ["DATASETS", "PARTITIONS", "Dataset", "Partition", "PartitionSpec", "dirichlet", "iid", "load_dataset",
           "make_partition", "natural", "parse_partition", "shards"]
