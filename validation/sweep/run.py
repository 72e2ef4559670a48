"""``fedquant sweep`` as a function: check every cell, run the missing (cell, seed) units, report, tabulate.

The folder:

    out/sweep.json            the grid (a --resume must match it)
    out/cells/c<k>/           cell k: a fedquant validate folder (config, plans, runs, rounds.csv, report.md)
    out/cells.csv, summary.csv, winners.png   the tidy tables and the figure (tables.py)

Everything that could refuse is checked before anything is written, naming the cell; files are written
atomically, so an interrupted sweep keeps every finished run and ``resume`` redoes only what is missing.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from fedquant.errors import InvalidArgument
from fedquant.files import dumps, write_atomic
from fedquant.run_folder import FORMAT, config_file, read_json
from fedquant.validation.experiment.runner import check_out, locked, prepare, seed_jobs
from fedquant.validation.report.summary import write_outputs
from fedquant.validation.sweep import backends
from fedquant.validation.sweep.grid import Sweep
from fedquant.validation.sweep.tables import cell_folder, write_tables


def sweep_file(out: Path) -> Path:
    return out / "sweep.json"


def check(sweep: Sweep, out: Path, resume: bool) -> None:
    """The folder and every cell, as ``fedquant validate`` checks them, before anything is written."""
    check_out(out)
    existing = sweep_file(out)
    if existing.exists():
        saved = read_json(out, existing)
        if not resume:
            raise InvalidArgument("out", "an empty or new folder (it holds a sweep: add --resume to continue it, or "
                                  "choose another --out)", str(out))
        if not isinstance(saved, dict) or saved.get("grid") != sweep.grid:
            raise InvalidArgument("resume", "the same grid as the interrupted sweep", str(out))
    elif out.exists() and any(out.iterdir()):
        raise InvalidArgument("resume" if resume else "out", "a folder written by fedquant sweep (it has no "
                              "sweep.json)" if resume else "an empty or new folder", str(out))
    for cell in sweep.cells:
        folder = cell_folder(out, cell.name)
        try:
            prepare(cell.config, folder, resume=config_file(folder).exists())
        except InvalidArgument as err:
            raise InvalidArgument(f"grid: cell {cell.name} ({cell.label}): {err.argument}", err.allowed,
                                  err.got) from None


def units_of(sweep: Sweep, out: Path) -> list[backends.Unit]:
    return [(cell.config, str(cell_folder(out, cell.name)), seed) for cell in sweep.cells
            for seed in cell.config.seeds if seed_jobs(cell.config, cell_folder(out, cell.name), seed)]


def run_sweep(sweep: Sweep, out: str | Path, *, backend: str = "local", workers: int = 1, address: str | None = None,
              resume: bool = False, reference: str | None = "none", progress: bool = True,
              on_unit: Callable[[backends.Unit], None] | None = None) -> dict[str, Any]:
    """Run (or finish) a sweep and write its tables; returns {"cells", "units", "ran"}."""
    if backend not in backends.BACKENDS:
        raise InvalidArgument("backend", f"one of {', '.join(backends.BACKENDS)}", backend)
    if workers < 1:
        raise InvalidArgument("workers", "an integer ≥ 1", workers)
    out = Path(out)
    check(sweep, out, resume)
    with locked(out):
        write_atomic(sweep_file(out), dumps({"format": FORMAT, "grid": sweep.grid}))
        for cell in sweep.cells:
            folder = cell_folder(out, cell.name)
            folder.mkdir(parents=True, exist_ok=True)
            write_atomic(config_file(folder), dumps({"format": FORMAT, "config": cell.config.to_json()}))
        units = units_of(sweep, out)
        bar = _progress(len(units), progress)

        def done(unit: backends.Unit) -> None:
            bar.update(1)
            if on_unit is not None:
                on_unit(unit)

        try:
            if backend == "ray":
                backends.run_ray(units, workers, address, done)
            else:
                backends.run_local(units, workers, done)
        finally:
            bar.close()
        for cell in sweep.cells:
            write_outputs(cell.config, cell_folder(out, cell.name))
        ref = reference if reference and all(reference in c.config.schemes for c in sweep.cells) else None
        write_tables(sweep, out, ref)
    return {"cells": len(sweep.cells), "units": sum(len(c.config.seeds) for c in sweep.cells), "ran": len(units)}


def _progress(total: int, enabled: bool) -> Any:
    from tqdm import tqdm

    return tqdm(total=total, desc="fedquant sweep", unit="cell×seed", disable=not enabled or total == 0, leave=False,
                mininterval=0.5, delay=2.0)
