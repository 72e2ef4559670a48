"""A cell's rate lowered when a scheme diverges at it, instead of the study stopping.

The tuned rate is the unquantized run's best (tuning.py), often the largest rate at which ``none`` stays
finite; a quantized scheme at that rate can still diverge (AdaQuantFL's first rounds send the coarsest updates
of the run, and the quantization variance adds to the gradient noise). A unit whose run diverges (FedAvg's
``InvalidArgument("lr", …)``: a non-finite loss or client update) leaves ``diverged.json`` in its cell's folder
and returns; the study then moves that cell to the next lower rate of its tuning trials at which the
unquantized run was finite (half the rate when none is lower), deletes the cell's runs and predicts and
trains it again from scratch, so its prediction is still written before its training. ``lowered.json`` in the
study's folder records each step (from which rate, the diverging run), a resumed study applies it, and the
results page shows it beside the tuned rate. At most MAX_LOWER steps per cell.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

from fedquant.errors import InvalidArgument
from fedquant.files import dumps, write_atomic
from fedquant.validation.experiment.config import ExperimentConfig
from fedquant.validation.sweep import backends

#: marker a diverged unit leaves in its cell's folder
DIVERGED = "diverged.json"
#: steps down a cell may take before the study gives up on it
MAX_LOWER = 3


def diverged_file(folder: str | Path) -> Path:
    return Path(folder) / DIVERGED


def lowered_file(out: Path) -> Path:
    return out / "lowered.json"


def _guard(fn: backends.UnitFn, config: ExperimentConfig, folder: str, seed: int) -> int:
    try:
        return fn(config, folder, seed)
    except InvalidArgument as err:
        if err.argument != "lr":
            raise
        why = re.search(r"\((.*)\)$", err.allowed)  # FedAvg's "(the <scheme> run of seed s diverged by round t: …)"
        write_atomic(diverged_file(folder), dumps({"seed": seed, "lr": config.lr,
                                                   "why": why.group(1) if why else err.allowed}))
        return seed


def guarded_plan_unit(config: ExperimentConfig, folder: str, seed: int) -> int:
    """``backends.plan_unit``, a divergence recorded in the cell's folder instead of raised."""
    return _guard(backends.plan_unit, config, folder, seed)


def guarded_run_unit(config: ExperimentConfig, folder: str, seed: int) -> int:
    """``backends.run_unit``, a divergence recorded in the cell's folder instead of raised."""
    return _guard(backends.run_unit, config, folder, seed)


def read_lowered(out: Path) -> dict[str, list[dict[str, Any]]]:
    """{cell name: [{"from", "to", "why"}, …]} of the study in ``out`` (empty when nothing was lowered)."""
    f = lowered_file(out)
    return json.loads(f.read_text()) if f.exists() else {}


def lower_rate(tuned: dict[str, Any]) -> float:
    """The next lower rate of a cell's tuning trials at which the unquantized run stayed finite, or half."""
    below = [t["lr"] for t in tuned["trials"] if t["lr"] < tuned["lr"] and not t["diverged"]]
    return max(below) if below else tuned["lr"] / 2.0


def apply(tuned: dict[str, Any], steps: list[dict[str, Any]]) -> dict[str, Any]:
    """A cell's tuning record with its lowering steps applied: ``lr`` the last step's rate, ``lowered`` the steps."""
    if not steps:
        return tuned
    return {**tuned, "lr": steps[-1]["to"], "lowered": steps}


def lower(out: Path, name: str, tuned: dict[str, Any], folder: Path) -> None:
    """Move cell ``name`` (its current record ``tuned``, its folder ``folder``) one rate down: the folder is
    deleted first, then lowered.json gains the step, so an interruption in between only repeats the step."""
    marker = json.loads(diverged_file(folder).read_text())
    lowered = read_lowered(out)
    steps = lowered.get(name, [])
    if len(steps) >= MAX_LOWER:
        raise RuntimeError(f"study: cell {name} diverged at {MAX_LOWER + 1} learning rates down to "
                           f"{tuned['lr']:g} ({marker['why']})")
    step = {"from": tuned["lr"], "to": lower_rate(tuned), "why": marker["why"]}
    shutil.rmtree(folder)
    lowered[name] = [*steps, step]
    write_atomic(lowered_file(out), dumps(lowered))
