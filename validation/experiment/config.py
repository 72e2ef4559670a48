"""An experiment's configuration: everything ``fedquant validate`` takes, checked at the door.

Every field is validated in ``ExperimentConfig.checked()`` before anything runs or is written, so bad input
fails with the argument's name and the valid range (the CLI maps names to flags).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from fedquant.errors import InvalidArgument
from fedquant.optimizer.problem import PLAN_CRITERIA

#: what --criterion accepts: auto, or a criterion the planner knows
CRITERIA = ("auto", *PLAN_CRITERIA)

DEFAULT_SCHEMES = ("none", "fixed:8", "adaquantfl", "dadaquant", "feddq", "feddq-loss", "optimal", "optimal-online")
BLOCKS = ("model", "tensor")
#: more rounds than a validation run on these small models could finish in days on a workstation
MAX_ROUNDS = 100_000
#: a batch larger than any offline dataset here, and more local steps than a round could usefully take
MAX_BATCH, MAX_LOCAL_STEPS = 100_000, 100_000


@dataclass(frozen=True)
class ExperimentConfig:
    dataset: str = "digits"
    model: str = "mlp"
    clients: int = 10
    participation: float = 1.0
    partition: str = "dirichlet:0.5"
    rounds: int = 40
    local_steps: int | None = None
    local_epochs: int | None = 1
    batch_size: int = 32
    lr: float = 0.05
    momentum: float = 0.0
    quantizer: str = "stochastic"
    error_feedback: bool = False  # clients add their last rounding residual to the next update (EF-SGD)
    blocks: str = "model"
    schemes: tuple[str, ...] = DEFAULT_SCHEMES
    budget: str = "auto"  # "auto" (what fixed:4 spends), "fixed:B" (what B bits per coordinate spend), or bits
    criterion: str = "auto"  # auto: the criterion of the metric the report compares (criterion.py)
    target_accuracy: float | None = None  # default: 95 % of the unquantized run's final accuracy, per seed
    seeds: tuple[int, ...] = (0, 1, 2)
    engine: str = "vectorized"
    pilot_rounds: int | None = None  # default max(3, rounds // 5)
    calibration_runs: int = 5  # trial runs that refine a baseline's knob to the budget on the real trajectory
    entropy: bool = False
    downlink_bits: int | None = None
    trace: str | None = None
    dataset_options: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # the default target (95 % of the unquantized final accuracy) needs the reference run: add it rather
        # than refuse, so `--schemes feddq,optimal` just works (with --target-accuracy it is not needed)
        if (self.target_accuracy is None and isinstance(self.schemes, tuple | list)
                and self.schemes and "none" not in self.schemes):
            object.__setattr__(self, "schemes", ("none", *self.schemes))

    def checked(self) -> ExperimentConfig:
        from fedquant.optimizer.scheme_spec import parse_scheme
        from fedquant.validation.compression.quantizers import QUANTIZERS
        from fedquant.validation.data.datasets import DATASETS
        from fedquant.validation.data.partitioning import parse_partition
        from fedquant.validation.training.engines import ENGINES
        from fedquant.validation.training.models import MODELS

        if self.dataset not in DATASETS:
            raise InvalidArgument("dataset", f"one of {', '.join(DATASETS)}", self.dataset)
        if self.model not in MODELS:
            raise InvalidArgument("model", f"one of {', '.join(MODELS)}", self.model)
        if self.model == "cnn" and self.dataset == "synthetic":
            raise InvalidArgument("model", "logreg or mlp on synthetic (flat features)", self.model)
        if self.model == "vanilla-cnn" and self.dataset != "mnist":
            raise InvalidArgument("model", "logreg, mlp or cnn on " + self.dataset + " (vanilla-cnn needs images of "
                                  "at least 16×16 pixels: mnist)", self.model)
        _int("clients", self.clients, 1)
        if not (isinstance(self.participation, int | float) and 0 < self.participation <= 1):
            raise InvalidArgument("participation", "a fraction in (0, 1]", self.participation)
        parse_partition(self.partition)
        _int("rounds", self.rounds, 1, MAX_ROUNDS)
        if (self.local_steps is None) == (self.local_epochs is None):
            raise InvalidArgument("local_steps", "either local steps or local epochs", self.local_steps)
        if self.local_steps is not None:
            _int("local_steps", self.local_steps, 1, MAX_LOCAL_STEPS)
        if self.local_epochs is not None:
            _int("local_epochs", self.local_epochs, 1)
        _int("batch_size", self.batch_size, 1, MAX_BATCH)
        if not (isinstance(self.lr, int | float) and math.isfinite(self.lr) and self.lr > 0):
            raise InvalidArgument("lr", "a step size > 0", self.lr)
        if not (0 <= self.momentum < 1):
            raise InvalidArgument("momentum", "0 ≤ momentum < 1", self.momentum)
        if self.quantizer not in QUANTIZERS:
            raise InvalidArgument("quantizer", f"one of {', '.join(QUANTIZERS)}", self.quantizer)
        if not isinstance(self.error_feedback, bool):
            raise InvalidArgument("error_feedback", "true or false", self.error_feedback)
        if self.blocks not in BLOCKS:
            raise InvalidArgument("blocks", f"one of {', '.join(BLOCKS)}", self.blocks)
        if not self.schemes:
            raise InvalidArgument("schemes", "at least one scheme", "")
        for s in self.schemes:
            if s != "none":
                parse_scheme(s, "schemes")
        if len(set(self.schemes)) != len(self.schemes):
            raise InvalidArgument("schemes", "each scheme once", ",".join(self.schemes))
        budget_bits_per_coordinate(self.budget)
        if self.criterion not in CRITERIA:
            raise InvalidArgument("criterion", f"one of {', '.join(CRITERIA)}", self.criterion)
        if self.target_accuracy is not None and not 0 < self.target_accuracy <= 1:
            raise InvalidArgument("target_accuracy", "an accuracy in (0, 1]", self.target_accuracy)
        if not self.seeds or any(isinstance(s, bool) or int(s) != s or not 0 <= s < 2**32 for s in self.seeds):
            raise InvalidArgument("seeds", "integers from 0 to 2^32 − 1", ",".join(map(str, self.seeds)))
        if len(set(self.seeds)) != len(self.seeds):
            raise InvalidArgument("seeds", "distinct seeds", self.seeds)
        if self.engine not in ENGINES:
            raise InvalidArgument("engine", f"one of {', '.join(ENGINES)}", self.engine)
        if self.pilot_rounds is not None:
            _int("pilot_rounds", self.pilot_rounds, 2)
            if self.pilot_rounds > self.rounds:
                raise InvalidArgument("pilot_rounds", f"at most --rounds = {self.rounds}", self.pilot_rounds)
        _int("calibration_runs", self.calibration_runs, 0, 50)
        if self.downlink_bits is not None:
            _int("downlink_bits", self.downlink_bits, 1, 16)
        return self

    @property
    def pilot(self) -> int:
        return self.pilot_rounds if self.pilot_rounds is not None else min(self.rounds, max(3, self.rounds // 5))

    def adaptive(self) -> list[str]:
        """Schemes calibrated to the budget (every scheme whose knob the spec leaves free)."""
        from fedquant.optimizer.scheme_spec import pinned

        return [s for s in self.schemes if s != "none" and not pinned(s)]

    def to_json(self) -> dict[str, Any]:
        """The fields as JSON; ``error_feedback`` only when on, so a configuration without it (and every
        folder written before the option existed) has the same bytes as before and still resumes."""
        out = asdict(self)
        out["schemes"] = list(self.schemes)
        out["seeds"] = list(self.seeds)
        if not self.error_feedback:
            del out["error_feedback"]
        return out

    @staticmethod
    def from_json(data: dict[str, Any]) -> ExperimentConfig:
        data = dict(data)
        data["schemes"] = tuple(data["schemes"])
        data["seeds"] = tuple(data["seeds"])
        return ExperimentConfig(**data)

    def with_(self, **changes: Any) -> ExperimentConfig:
        return replace(self, **changes)


BUDGET_ALLOWED = ("auto (what fixed:4 spends), fixed:B (what B bits per coordinate spend, 1 ≤ B ≤ 16, B may be "
                  "fractional: fixed:1.5) or a positive number of bits")


def budget_bits_per_coordinate(budget: str) -> float | None:
    """The code width a budget spec stands for (4 for auto), or None when it is a number of bits."""
    if budget == "auto":
        return 4.0
    if budget.startswith("fixed:"):
        try:
            width = float(budget.split(":", 1)[1])
        except ValueError:
            raise InvalidArgument("budget", BUDGET_ALLOWED, budget) from None
        if not (math.isfinite(width) and 1 <= width <= 16):
            raise InvalidArgument("budget", BUDGET_ALLOWED, budget)
        return width
    try:
        bits = float(budget)
    except ValueError:
        raise InvalidArgument("budget", BUDGET_ALLOWED, budget) from None
    if not (math.isfinite(bits) and bits > 0):
        raise InvalidArgument("budget", BUDGET_ALLOWED, budget)
    return None


def _int(name: str, value: Any, low: int, high: int | None = None) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or int(value) != value or value < low or (
            high is not None and value > high):
        rng = f"from {low} to {high}" if high is not None else f"≥ {low}"
        raise InvalidArgument(name, f"an integer {rng}", value)

