"""The FedDQ paper's view of a cell: bits and rounds to reach a target accuracy, and the saving of each
descending scheme against the ascending AdaQuantFL.

The target of a seed is validate's default: 95 % of the tuned unquantized run's final test accuracy on that
seed (summary.json ``targets``). A run reaches it at the first round t whose accuracy after the round is at
least the target; its rounds to target are t + 1 and its bits the uplink bits of rounds 0..t. The saving of a
scheme s against adaquantfl on one seed is 1 − bits_s/bits_adaquantfl (likewise for rounds), and the cell's
saving is its mean over the seeds where both reach the target, with a paired 95 % Student-t interval
(verdicts.paired on the per-seed savings against 0). The paper reports up to 65.2 % fewer bits and 68 % fewer
rounds (Qu, Song, Tsui, arXiv 2110.02291).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from fedquant.run_folder import run_file
from fedquant.validation.experiment.config import ExperimentConfig
from fedquant.validation.report.verdicts import paired

PAPER_BITS_SAVING, PAPER_ROUNDS_SAVING = 0.652, 0.68
ASCENDING = "adaquantfl"
#: the schemes set beside adaquantfl: the two FedDQ rules and the toolkit's optima
COMPARED = ("feddq", "feddq-loss", "optimal", "optimal-online")


def to_target(rows: list[dict[str, Any]], target: float) -> tuple[int | None, float | None]:
    """(rounds, bits) until the accuracy after a round first reaches ``target``; (None, None) if it never does."""
    bits = 0.0
    for t, row in enumerate(rows):
        bits += float(row["bits"])
        if row["accuracy_after"] is not None and row["accuracy_after"] >= target:
            return t + 1, bits
    return None, None


def _saving(scheme: str, mine: list[float | None], theirs: list[float | None]) -> dict[str, Any]:
    both = [(a, b) for a, b in zip(mine, theirs, strict=True) if a is not None and b is not None]
    if not both:
        return {"seeds": 0, "mean": None, "ci_low": None, "ci_high": None}
    s = np.array([1.0 - a / b for a, b in both])
    v = paired(scheme, ASCENDING, s, np.zeros_like(s))
    return {"seeds": len(both), "mean": v.mean_difference, "ci_low": v.ci_low, "ci_high": v.ci_high}


def cell_claim(config: ExperimentConfig, folder: Path) -> dict[str, Any]:
    """Rounds and bits to target per scheme (mean over the seeds that reach it, and how many do), and the
    savings of COMPARED against adaquantfl."""
    summary = json.loads((folder / "summary.json").read_text())
    targets = {int(k): v for k, v in summary["targets"].items()}
    reach: dict[str, dict[str, list[Any]]] = {}
    for scheme in config.schemes:
        rounds, bits = [], []
        for seed in config.seeds:
            rows = json.loads(run_file(folder, seed, scheme).read_text())["rows"]
            r, b = to_target(rows, targets[seed]) if targets.get(seed) is not None else (None, None)
            rounds.append(r)
            bits.append(b)
        reach[scheme] = {"rounds": rounds, "bits": bits}
    per_scheme = {}
    for scheme, v in reach.items():
        ok = [i for i, r in enumerate(v["rounds"]) if r is not None]
        per_scheme[scheme] = {"reached": len(ok), "seeds": len(config.seeds),
                              "rounds": float(np.mean([v["rounds"][i] for i in ok])) if ok else None,
                              "bits": float(np.mean([v["bits"][i] for i in ok])) if ok else None}
    savings = {}
    if ASCENDING in reach:
        for scheme in COMPARED:
            if scheme in reach:
                savings[scheme] = {"bits": _saving(scheme, reach[scheme]["bits"], reach[ASCENDING]["bits"]),
                                   "rounds": _saving(scheme, reach[scheme]["rounds"], reach[ASCENDING]["rounds"])}
    return {"targets": targets, "to_target": per_scheme, "savings_vs_adaquantfl": savings}
