"""A cell's prediction, from its pilots alone, written to ``predictions.json`` before the cell trains.

From every seed's plan (validate's plan.json: the pilot, the forecast and the planned schedules):

- the expected winner w and the schemes expected to tie with it (``checks.predict_winner``: least mean J̄,
  ties at |J̄_s − J̄_w| < 1.96·SE of the schedules' own predicted spread; all tie when the pilot's injected
  noise cost nothing measurable), among the schemes calibrated to the budget;
- the expected direction of the optimal schedule (direction.py on its planned widths, averaged over seeds);
- the expected cost of each scheme against ``none``: J̄_s itself when every seed planned on the final-loss
  criterion (J is then the predicted rise of the final training loss over the unquantized run, persistence.py),
  else none (the nonconvex criterion's J has no loss units).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from fedquant.run_folder import plan_file
from fedquant.validation.experiment.config import ExperimentConfig
from fedquant.validation.report.checks import predict_winner
from fedquant.validation.report.summary import plan_inputs
from fedquant.validation.study.direction import change, direction


def planned_widths(plan: dict[str, Any], scheme: str) -> np.ndarray:
    """A planned schedule's bits per coordinate per round: its round bits over participants × d."""
    bits = np.asarray(plan["planned_round_bits"][scheme], dtype=np.float64)
    return bits / (plan["participants_per_round"] * plan["d"])


def predict_cell(config: ExperimentConfig, folder: Path) -> dict[str, Any]:
    """The prediction of one cell from the plans in ``folder`` (every seed's plan.json must exist)."""
    plans = {s: json.loads(plan_file(folder, s).read_text()) for s in config.seeds}
    predicted, spread, unresolved = plan_inputs(config, plans)
    usable = {s: v for s, v in predicted.items() if v and all(x is not None for x in v)}
    winner, ties, mean_j = predict_winner(usable, spread, all_tie=unresolved)
    criteria = sorted({plans[k].get("criterion", {}).get("name", "nonconvex") for k in config.seeds})
    in_loss_units = criteria == ["final"]
    widths = np.mean([planned_widths(plans[k], "optimal") for k in config.seeds], axis=0)
    return {
        "winner": winner,
        "ties": ties,
        "all_tie": unresolved,
        "criterion": ", ".join(criteria),
        "optimal_direction": direction(widths),
        "optimal_width_change": change(widths),
        "optimal_widths": widths.tolist(),
        "predicted_objective": mean_j,
        "cost_vs_none": {s: mean_j[s] for s in mean_j} if in_loss_units else None,
        "cost_note": None if in_loss_units else "no loss units: a seed planned on the nonconvex criterion",
    }
