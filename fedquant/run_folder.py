"""The folder ``fedquant validate`` writes, in one place: what each file is called, and how a damaged one is named.

The experiment writes it, the report reads it, and ``fedquant schedule --trace`` reads the sizes beside a
``rounds.csv``.

    out/config.json                the configuration (a --resume must match it)
    out/runs/seed<k>/plan.json     pilot, forecasts, budget, calibrated knobs, estimated constants
    out/runs/seed<k>/<scheme>.json one finished (scheme, seed) run: its round and client rows
    out/rounds.csv, clients.csv    every run's rows (``rounds.csv`` is a trace for ``fedquant schedule``)
    out/summary.json, report.md    per-scheme results over seeds, and the checks
    out/*.png                      the figures
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from fedquant.errors import InvalidArgument

#: version of the run records' format
FORMAT = 1


def config_file(out: Path) -> Path:
    return out / "config.json"


def seed_folder(out: Path, seed: int) -> Path:
    return out / "runs" / f"seed{seed}"


def plan_file(out: Path, seed: int) -> Path:
    return seed_folder(out, seed) / "plan.json"


def run_file(out: Path, seed: int, scheme: str) -> Path:
    """The record of one (scheme, seed) run; the spec's ``:``, ``=`` and ``,`` become ``_``, ``-`` and ``+``."""
    safe = scheme.replace(":", "_").replace("=", "-").replace(",", "+")
    return seed_folder(out, seed) / f"{safe}.json"


def read_json(out: Path, path: Path) -> Any:
    """A file of a finished run; a damaged one is named with what to do about it."""
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        rel = path.relative_to(out)
        fix = ("delete that file and rerun with --resume to redo only that run" if path.name != "config.json"
               else "it cannot be resumed: choose another --out (or delete the folder) and start again")
        raise InvalidArgument("resume", f"an intact experiment folder ({rel} is damaged or truncated: {fix})",
                              str(out)) from None
