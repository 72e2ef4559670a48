"""Everything one seed of an experiment shares across its schemes: data, partition, model, engine, objective."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from fedquant.validation.data.datasets import Dataset, load_dataset
from fedquant.validation.data.partitioning import Partition, make_partition, parse_partition
from fedquant.validation.experiment.config import ExperimentConfig
from fedquant.validation.training.engines import Engine, make_engine
from fedquant.validation.training.fedavg import Federation, RoundSpec, block_slices
from fedquant.validation.training.global_loss import GlobalLoss
from fedquant.validation.training.local_sgd import LocalConfig
from fedquant.validation.training.models import build_model


@dataclass
class SeedSetup:
    config: ExperimentConfig
    seed: int
    dataset: Dataset
    partition: Partition
    model: torch.nn.Module
    w0: torch.Tensor
    engine: Engine
    objective: GlobalLoss
    sizes: np.ndarray  # samples per client
    slices: list[slice]
    block_sizes: np.ndarray
    local: LocalConfig
    spec: RoundSpec

    @property
    def federation(self) -> Federation:
        """What ``run_fedavg`` needs of this seed."""
        return Federation(seed=self.seed, spec=self.spec, engine=self.engine, objective=self.objective, w0=self.w0,
                          sizes=self.sizes, slices=self.slices)

    @property
    def d(self) -> int:
        return int(self.block_sizes.sum())

    @property
    def max_local_steps(self) -> int:
        return max(self.local.steps_for(int(n)) for n in self.sizes)


def load_data(config: ExperimentConfig, seed: int) -> tuple[Dataset, Partition]:
    """The seed's dataset and partition (raises InvalidArgument for a split the data cannot give)."""
    options = dict(config.dataset_options)
    if config.dataset == "synthetic" and parse_partition(config.partition).kind == "natural":
        options.setdefault("clients", config.clients)
    dataset = load_dataset(config.dataset, seed=seed, **options)
    return dataset, make_partition(config.partition, dataset, config.clients, seed)


def set_up_seed(config: ExperimentConfig, seed: int) -> SeedSetup:
    dataset, partition = load_data(config, seed)
    model = build_model(config.model, dataset, seed=seed)
    w0 = torch.nn.utils.parameters_to_vector(model.parameters()).detach().clone()
    x = torch.from_numpy(np.ascontiguousarray(dataset.x_train))
    y = torch.from_numpy(np.ascontiguousarray(dataset.y_train))
    local = LocalConfig(lr=config.lr, batch_size=config.batch_size, local_epochs=config.local_epochs,
                        local_steps=config.local_steps, momentum=config.momentum)
    engine = make_engine(config.engine, model, x, y, partition.client_indices, local, seed)
    objective = GlobalLoss(model, x, y, torch.from_numpy(np.ascontiguousarray(dataset.x_test)),
                          torch.from_numpy(np.ascontiguousarray(dataset.y_test)), partition.client_indices)
    sizes = [p.numel() for p in model.parameters()]
    slices = block_slices(sizes, config.blocks)
    spec = RoundSpec(rounds=config.rounds, clients=config.clients, participation=config.participation,
                     quantizer=config.quantizer, entropy=config.entropy, downlink_bits=config.downlink_bits,
                     error_feedback=config.error_feedback)
    return SeedSetup(config=config, seed=seed, dataset=dataset, partition=partition, model=model, w0=w0,
                     engine=engine, objective=objective, sizes=partition.sizes.astype(np.float64), slices=slices,
                     block_sizes=np.array([s.stop - s.start for s in slices], dtype=np.int64), local=local,
                     spec=spec)
