"""A cell measured against its prediction, and the study's score.

Measured (after training, from validate's summary.json and run files): the best calibrated scheme and the
schemes tied with it (paired 95 % intervals over seeds, verdicts.py), each scheme's cost against ``none`` (its
paired mean difference of final training loss), the schemes that beat ``none`` (quantization noise lowered
the loss: outside the theory's scope), the direction of every scheme's measured widths (direction.py), and
descending against ascending (feddq − adaquantfl final loss, paired).

Scored, per cell: the predicted winner is measured best or tied-best; each predicted tie is measured tied; the
predicted direction of the optimal schedule is the direction of the measured best (strict), or of one of the
best-or-tied schemes (tie-aware); and predicted / measured cost for every scheme whose measured cost is
resolved (its interval excludes 0). A miss is named with what the theory would need to get it right, read
off the cell's own numbers (:func:`diagnose`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from fedquant.run_folder import run_file
from fedquant.validation.experiment.config import ExperimentConfig
from fedquant.validation.report.verdicts import paired
from fedquant.validation.study.direction import direction

GOOD = ("best", "tied")
#: predicted / measured cost outside this band is called a mis-scaled cost model in a miss's diagnosis
COST_BAND = (0.5, 2.0)


def measured_widths(config: ExperimentConfig, folder: Path, scheme: str) -> np.ndarray:
    """Mean over seeds of a run's bits per coordinate, round by round."""
    runs = [json.loads(run_file(folder, s, scheme).read_text())["rows"] for s in config.seeds]
    return np.mean([[float(r["bit_width"]) for r in rows] for rows in runs], axis=0)


def final_losses(config: ExperimentConfig, folder: Path, scheme: str) -> np.ndarray:
    return np.array([json.loads(run_file(folder, s, scheme).read_text())["rows"][-1]["loss_after"]
                     for s in config.seeds], dtype=np.float64)


def measure_cell(config: ExperimentConfig, folder: Path) -> dict[str, Any]:
    summary = json.loads((folder / "summary.json").read_text())
    verdicts = summary["verdicts"]
    calibrated = config.adaptive()
    against_best = {v["scheme"]: v for v in verdicts["against_best"] if v["scheme"] in calibrated}
    best = next(s for s, v in against_best.items() if v["verdict"] == "best")
    good = [s for s, v in against_best.items() if v["verdict"] in GOOD]
    against_none = {v["scheme"]: v for v in verdicts["quantization"]["against_none"]}
    directions = {s: direction(measured_widths(config, folder, s)) for s in config.schemes if s != "none"}
    versus = None
    if "feddq" in config.schemes and "adaquantfl" in config.schemes:
        versus = paired("feddq", "adaquantfl", final_losses(config, folder, "feddq"),
                        final_losses(config, folder, "adaquantfl")).to_json()
    return {
        "best": best, "good": good, "verdicts": {s: v["verdict"] for s, v in against_best.items()},
        "best_direction": directions[best], "directions": directions,
        "cost_vs_none": {s: {k: v[k] for k in ("mean_difference", "ci_low", "ci_high", "verdict")}
                         for s, v in against_none.items()},
        "noise_helps": [s for s, v in against_none.items() if v["verdict"] == "better"],
        "limiting": verdicts["quantization"]["limiting"],
        "descending_vs_ascending": versus,
        "final_loss": {s: summary["schemes"][s]["final_loss"] for s in config.schemes},
        "final_accuracy": {s: summary["schemes"][s]["final_accuracy"] for s in config.schemes},
    }


def score_cell(prediction: dict[str, Any], measured: dict[str, Any]) -> dict[str, Any]:
    good = set(measured["good"])
    winner_hit = prediction["winner"] in good
    ties = prediction["ties"] or []
    tie_hits = [s for s in ties if s in good]
    strict = prediction["optimal_direction"] == measured["best_direction"]
    tie_aware = any(measured["directions"][s] == prediction["optimal_direction"] for s in good)
    ratios = {}
    if prediction["cost_vs_none"] is not None:
        for s, j in prediction["cost_vs_none"].items():
            m = measured["cost_vs_none"].get(s)
            if m is not None and m["verdict"] == "worse":  # a resolved cost: its interval lies above 0
                ratios[s] = j / m["mean_difference"]
    misses = []
    if not winner_hit:
        misses.append(f"predicted winner {prediction['winner']} measured {measured['verdicts'][prediction['winner']]}")
    misses += [f"predicted tie {s} measured {measured['verdicts'][s]}" for s in ties if s not in good]
    return {"winner_hit": winner_hit, "ties_predicted": len(ties), "ties_hit": len(tie_hits),
            "direction_hit": strict, "direction_hit_tie_aware": tie_aware, "cost_ratios": ratios,
            "misses": misses, "diagnosis": diagnose(prediction, measured, ratios) if misses else None}


def diagnose(prediction: dict[str, Any], measured: dict[str, Any], ratios: dict[str, float]) -> str:
    """What the theory would need to get a missed cell right, from the cell's own numbers (first rule that
    applies)."""
    if measured["noise_helps"]:
        helped = ", ".join(measured["noise_helps"])
        return (f"quantization noise lowered the loss below the tuned unquantized run ({helped}): the bound "
                "only adds a cost, so it cannot rank schedules by a benefit; it would need a model of the noise "
                "as a regulariser")
    if prediction["criterion"] != "final":
        return ("a pilot could not resolve the cost of injected noise, so its seed planned on the nonconvex "
                "criterion, whose J has no loss units and predicts no ties: it would need a longer pilot or more "
                "probes")
    off = {s: r for s, r in ratios.items() if not COST_BAND[0] <= r <= COST_BAND[1]}
    if off:
        worst = max(off, key=lambda s: abs(np.log(off[s])))
        return (f"the cost model is mis-scaled (predicted/measured cost {off[worst]:.2g} for {worst}): the "
                "pilot's immediate cost a(t) and persistence c(k) do not hold over the whole run; it would need "
                "them re-measured later in training")
    j = prediction["predicted_objective"]
    gap = min(abs(j[s] - j[prediction["winner"]]) for s in j if s != prediction["winner"]) if len(j) > 1 else 0.0
    return (f"the predicted gap to the runner-up (ΔJ = {gap:.2g}) is below what the seeds resolve and the "
            "predicted spread did not call it a tie: it would need a spread model that includes the seed-to-seed "
            "variation of the training itself, not only of the quantization noise")


def study_score(scores: list[dict[str, Any]]) -> dict[str, Any]:
    """Hit rates over the cells, with their counts, and the median predicted / measured cost."""
    n = len(scores)
    ratios = [r for s in scores for r in s["cost_ratios"].values()]
    ties_predicted = sum(s["ties_predicted"] for s in scores)
    return {
        "cells": n,
        "winner_hits": sum(s["winner_hit"] for s in scores),
        "ties_predicted": ties_predicted, "ties_hit": sum(s["ties_hit"] for s in scores),
        "direction_hits": sum(s["direction_hit"] for s in scores),
        "direction_hits_tie_aware": sum(s["direction_hit_tie_aware"] for s in scores),
        "cost_ratio_median": float(np.median(ratios)) if ratios else None,
        "cost_ratio_range": [float(min(ratios)), float(max(ratios))] if ratios else None,
        "cost_ratios": len(ratios),
    }
