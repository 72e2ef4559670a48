"""The tuned reference: each cell's learning rate, picked on its unquantized run before any scheme trains.

Quantization noise can lower the training loss when the step is too small for the problem (it did in two
regimes of the prediction issue), and then a scheme "wins" by repairing a bad step, not by spending its bits
well. So for every cell the unquantized FedAvg run (``none``) is trained at each learning rate of
``lr × LR_FACTORS`` on TUNING_SEEDS, and the cell runs at the one of least mean final training loss f(w_T)
(a run that diverges is out); ties (equal means) go to the smaller step. When the best rate is the largest
(smallest) tried, twice (half) it is tried too, up to MAX_EXTEND times, so the rate is not pinned by the grid;
a rate still at the edge is marked. Cells that differ only in what the unquantized run ignores (budget,
rounding, criterion) share one tuning. The cell's own ``none`` run, on all
of its seeds, then uses the tuned rate; cells where quantized schemes still beat it are reported
(scoring.py).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from fedquant.errors import InvalidArgument
from fedquant.files import dumps, write_atomic
from fedquant.validation.experiment.config import ExperimentConfig
from fedquant.validation.experiment.runner import RUN_THREADS, torch_threads
from fedquant.validation.experiment.seed_setup import set_up_seed
from fedquant.validation.study.cells import LR_FACTORS, StudyCell
from fedquant.validation.sweep.grid import cell_config
from fedquant.validation.training import fedavg

#: seeds the learning rate is tuned on (the cell's first two seeds)
TUNING_SEEDS = (0, 1)
#: options that do not change the unquantized run: cells differing only in these share their tuning
NOT_TRAINING = ("budget", "quantizer", "criterion")
#: times the grid is extended by a factor 2 past an edge where the best rate lies
MAX_EXTEND = 2


def trial_rates(cell: StudyCell) -> list[float]:
    return [cell.lr * f for f in LR_FACTORS]


def trial_key(cell: StudyCell) -> str:
    """What the unquantized run of a cell depends on: its options without NOT_TRAINING and lr."""
    return json.dumps({k: v for k, v in sorted(cell.options.items()) if k not in (*NOT_TRAINING, "lr")},
                      sort_keys=True)


def extension(picked: dict[str, Any]) -> float | None:
    """The next rate to try when the best lies at an edge of the rates tried (None: it does not)."""
    trials = picked["trials"]
    if picked["lr"] == trials[-1]["lr"]:
        return picked["lr"] * 2.0
    if picked["lr"] == trials[0]["lr"]:
        return picked["lr"] / 2.0
    return None


def trial_config(cell: StudyCell, lr: float) -> ExperimentConfig:
    """The cell's unquantized run alone at ``lr`` (no calibration, no pilot criterion)."""
    values = {**cell.options, "lr": lr, "schemes": ["none"], "seeds": list(TUNING_SEEDS), "criterion": "nonconvex",
              "calibration_runs": 0, "target_accuracy": 0.5}
    return cell_config(values, f"{cell.name} (lr {lr:g})")


def trial_file(folder: str | Path, seed: int) -> Path:
    return Path(folder) / f"seed{seed}.json"


def tune_unit(config: ExperimentConfig, folder: str, seed: int) -> int:
    """One unquantized run at the trial's rate (a backend unit): its final loss and accuracy, or that it
    diverged, written to ``folder``/seed<k>.json."""
    with torch_threads(RUN_THREADS):
        setup = set_up_seed(config, seed)
        try:
            out = fedavg.run_fedavg(setup.federation, scheme="none", rule=None, context=None)
            last = out.rows[-1]
            record: dict[str, Any] = {"lr": config.lr, "seed": seed, "diverged": False,
                                      "final_loss": float(last["loss_after"]),
                                      "final_accuracy": float(last["accuracy_after"])}
        except InvalidArgument as err:
            if err.argument != "lr":
                raise
            record = {"lr": config.lr, "seed": seed, "diverged": True, "final_loss": None, "final_accuracy": None}
    Path(folder).mkdir(parents=True, exist_ok=True)
    write_atomic(trial_file(folder, seed), dumps(record))
    return seed


def pick(cell: StudyCell, folders: dict[float, Path]) -> dict[str, Any]:
    """The tuned rate from the finished trials of one cell: {"lr", "trials": [{lr, mean_final_loss, …}]}."""
    trials = []
    for lr, folder in sorted(folders.items()):
        records = [json.loads(trial_file(folder, s).read_text()) for s in TUNING_SEEDS]
        losses = [r["final_loss"] for r in records]
        ok = not any(r["diverged"] for r in records) and all(math.isfinite(v) for v in losses)
        trials.append({"lr": lr, "diverged": not ok,
                       "mean_final_loss": sum(losses) / len(losses) if ok else None,
                       "mean_final_accuracy": (sum(r["final_accuracy"] for r in records) / len(records)
                                               if ok else None)})
    usable = [t for t in trials if not t["diverged"]]
    if not usable:
        raise InvalidArgument(f"study: cell {cell.name}: lr", "a learning rate at which the unquantized run stays "
                              "finite", ", ".join(f"{t['lr']:g}" for t in trials))
    best = min(usable, key=lambda t: (t["mean_final_loss"], t["lr"]))
    edge = best["lr"] in (trials[0]["lr"], trials[-1]["lr"])
    return {"lr": best["lr"], "trials": trials, "at_edge": edge}


def rate_folder(root: Path, key_index: int, lr: float) -> Path:
    return root / f"t{key_index:03d}" / f"lr{lr:.6g}"
