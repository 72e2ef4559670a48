"""training — models, local SGD, the two engines that run it, the global loss, and the FedAvg loop.

``run_fedavg`` runs one scheme on one seed: sample clients, train locally, send quantized uplinks, aggregate.
"""

from fedquant.validation.training.engines import ENGINES, Engine, LoopEngine, VectorizedEngine, make_engine
from fedquant.validation.training.fedavg import RoundSpec, RunOutput, block_slices, participants, run_fedavg
from fedquant.validation.training.global_loss import GlobalLoss
from fedquant.validation.training.local_sgd import LocalConfig, batch_plan
from fedquant.validation.training.models import MODELS, build_model, num_parameters

__all__ = ["ENGINES", "MODELS", "Engine", "GlobalLoss", "LocalConfig", "LoopEngine", "RoundSpec", "RunOutput",
           "VectorizedEngine", "batch_plan", "block_slices", "build_model", "make_engine", "num_parameters",
           "participants", "run_fedavg"]
