"""``fedquant study`` as a function: tune, predict, train, score, write the results page.

The folder (``--out``, default runs/study):

    study.json                  the study's cells and seeds (a --resume must match them)
    tuning/<cell>/lr<k>/        the unquantized trial runs of each cell's learning rates (tuning.py)
    tuning.json                 the rate each cell runs at
    sweep/                      a fedquant sweep folder: sweep.json, cells/c<k>/ (validate folders), tables
    sweep/cells/c<k>/predictions.json   the cell's prediction, written after its pilots and before it trains
    study.json's "result"       scores, claims and wall times; results.md and its figures (results.py)

Phases, each over (cell, seed) units on the chosen backend (one torch thread per worker): (1) the tuning runs;
(2) every unit's pilot and plan only (``plan_unit``), then every cell's predictions.json; (3) every unit's
training (the same pilot and plan again, so every plan.json is rewritten with the same bytes: checked); (4)
each cell's report (validate's summary.json, report.md), the sweep's tables, the scores and the page.
Everything is resumable: finished files are kept and only what is missing runs. A cell where some scheme
diverges at its tuned rate moves to a lower rate and is predicted and trained again (stability.py).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fedquant.errors import InvalidArgument
from fedquant.files import dumps, write_atomic
from fedquant.run_folder import FORMAT, config_file, plan_file
from fedquant.validation.experiment.runner import check_out, locked, seed_jobs
from fedquant.validation.report.summary import write_outputs
from fedquant.validation.study import cells as grid
from fedquant.validation.study import stability, tuning
from fedquant.validation.study.claim import cell_claim
from fedquant.validation.study.predictions import predict_cell
from fedquant.validation.study.scoring import measure_cell, score_cell, study_score
from fedquant.validation.sweep import backends
from fedquant.validation.sweep.grid import Cell, Sweep, cell_config
from fedquant.validation.sweep.run import check as check_sweep
from fedquant.validation.sweep.run import sweep_file
from fedquant.validation.sweep.tables import cell_folder, write_tables


def study_file(out: Path) -> Path:
    return out / "study.json"


def predictions_file(folder: Path) -> Path:
    return folder / "predictions.json"


def _plan(cells: list[grid.StudyCell], seeds: tuple[int, ...], schemes: tuple[str, ...], quick: bool) -> dict[str, Any]:
    return {"format": FORMAT, "quick": quick, "seeds": list(seeds), "schemes": list(schemes),
            "cells": [{"name": c.name, "family": c.family, "axis": c.axis, "options": c.options} for c in cells]}


def _check(out: Path, plan: dict[str, Any], resume: bool) -> None:
    check_out(out)
    f = study_file(out)
    if f.exists():
        saved = json.loads(f.read_text())
        if not resume:
            raise InvalidArgument("out", "an empty or new folder (it holds a study: add --resume to continue it, or "
                                  "choose another --out)", str(out))
        keys = ("quick", "seeds", "schemes", "cells")
        if {k: saved.get(k) for k in keys} != {k: plan[k] for k in keys}:
            raise InvalidArgument("resume", "the same study as the interrupted one (same --quick and release)",
                                  str(out))
    elif out.exists() and any(out.iterdir()):
        raise InvalidArgument("resume" if resume else "out", "a folder written by fedquant study (it has no "
                              "study.json)" if resume else "an empty or new folder", str(out))


def _run_units(units: list[backends.Unit], fn: backends.UnitFn, backend: str, workers: int, address: str | None,
               progress: Callable[[str, int], Any], label: str) -> None:
    if not units:
        return
    bar = progress(label, len(units))
    try:
        if backend == "ray":
            backends.run_ray(units, workers, address, lambda u: bar.update(1), fn=fn)
        else:
            backends.run_local(units, workers, lambda u: bar.update(1), fn=fn)
    finally:
        bar.close()


def _progress_bar(enabled: bool) -> Callable[[str, int], Any]:
    from tqdm import tqdm

    def make(label: str, total: int) -> Any:
        return tqdm(total=total, desc=f"fedquant study: {label}", unit="unit", disable=not enabled, leave=False,
                    mininterval=0.5, delay=2.0)

    return make


def _tune(cells: list[grid.StudyCell], root: Path, backend: str, workers: int, address: str | None,
          bar: Callable[[str, int], Any]) -> dict[str, Any]:
    """Every cell's tuned rate (tuning.py): the trial grid, extended past an edge up to MAX_EXTEND times."""
    keys = list(dict.fromkeys(tuning.trial_key(c) for c in cells))
    first = {k: next(c for c in cells if tuning.trial_key(c) == k) for k in keys}
    rates = {k: tuning.trial_rates(first[k]) for k in keys}
    for attempt in range(1 + tuning.MAX_EXTEND):
        folders = {k: {lr: tuning.rate_folder(root, i, lr) for lr in rates[k]} for i, k in enumerate(keys)}
        units = [(tuning.trial_config(first[k], lr), str(f), s) for k in keys for lr, f in folders[k].items()
                 for s in tuning.TUNING_SEEDS if not tuning.trial_file(f, s).exists()]
        _run_units(units, tuning.tune_unit, backend, workers, address, bar, "tuning")
        picked = {k: tuning.pick(first[k], folders[k]) for k in keys}
        more = {k: tuning.extension(p) for k, p in picked.items()}
        if attempt == tuning.MAX_EXTEND or all(v is None for v in more.values()):
            break
        for k, lr in more.items():
            if lr is not None:
                rates[k] = sorted([*rates[k], lr])
    return {c.name: picked[tuning.trial_key(c)] for c in cells}


def _sweep(cells: list[grid.StudyCell], tuned: dict[str, Any], seeds: tuple[int, ...], schemes: tuple[str, ...],
           sdir: Path) -> Sweep:
    """The study's sweep at the cells' current rates, its folders checked and their configs written."""
    sweep_cells = [Cell(i, {"regime": c.name},
                        cell_config(grid.cell_options(c, tuned[c.name]["lr"], seeds, schemes), c.name))
                   for i, c in enumerate(cells)]
    sweep = Sweep(grid={"study": [c.name for c in cells], "seeds": list(seeds),
                        "lr": {c.name: tuned[c.name]["lr"] for c in cells}},
                  axes=("regime",), cells=tuple(sweep_cells))
    resume = sweep_file(sdir).exists()
    if resume:  # the study checks its own grid (study.json); a lowered rate changes this one: rewritten first
        write_atomic(sweep_file(sdir), dumps({"format": FORMAT, "grid": sweep.grid}))
    check_sweep(sweep, sdir, resume=resume)
    if not resume:
        write_atomic(sweep_file(sdir), dumps({"format": FORMAT, "grid": sweep.grid}))
    for cell in sweep.cells:
        folder = cell_folder(sdir, cell.name)
        folder.mkdir(parents=True, exist_ok=True)
        write_atomic(config_file(folder), dumps({"format": FORMAT, "config": cell.config.to_json()}))
    return sweep


def _lower_diverged(out: Path, cells: list[grid.StudyCell], sweep: Sweep, tuned: dict[str, Any]) -> bool:
    """Every cell with a diverged unit moved one rate down (stability.py); True if any was."""
    moved = False
    for cell, sc in zip(cells, sweep.cells, strict=True):
        folder = cell_folder(out / "sweep", sc.name)
        if stability.diverged_file(folder).exists():
            stability.lower(out, cell.name, tuned[cell.name], folder)
            moved = True
    return moved


def run_study(out: str | Path, *, quick: bool = False, backend: str = "local", workers: int = 1,
              address: str | None = None, resume: bool = False, progress: bool = True,
              cells: list[grid.StudyCell] | None = None, seeds: tuple[int, ...] | None = None,
              schemes: tuple[str, ...] = grid.SCHEMES) -> dict[str, Any]:
    """Run (or finish) the study in ``out``; returns the result record (also saved in study.json).

    ``cells`` and ``seeds`` default to the study's (cells.py), or the quick study's with ``quick``."""
    if backend not in backends.BACKENDS:
        raise InvalidArgument("backend", f"one of {', '.join(backends.BACKENDS)}", backend)
    out = Path(out)
    cells = grid.study_cells(quick) if cells is None else list(cells)
    seeds = (grid.QUICK_SEEDS if quick else grid.SEEDS) if seeds is None else tuple(seeds)
    plan = _plan(cells, seeds, schemes, quick)
    _check(out, plan, resume)
    bar = _progress_bar(progress)
    wall: dict[str, float] = {}
    with locked(out):
        previous = json.loads(study_file(out).read_text()) if study_file(out).exists() else {}
        write_atomic(study_file(out), dumps({**plan, **{k: previous[k] for k in ("result",) if k in previous}}))

        start = time.perf_counter()  # (1) the tuned reference
        picked = _tune(cells, out / "tuning", backend, workers, address, bar)
        wall["tuning"] = time.perf_counter() - start

        sdir = out / "sweep"
        for _attempt in range(len(cells) * stability.MAX_LOWER + 1):
            lowered = stability.read_lowered(out)
            tuned = {c.name: stability.apply(picked[c.name], lowered.get(c.name, [])) for c in cells}
            write_atomic(out / "tuning.json", dumps(tuned))
            sweep = _sweep(cells, tuned, seeds, schemes, sdir)

            start = time.perf_counter()  # (2) predictions, from the pilots only
            units = [(cell.config, str(cell_folder(sdir, cell.name)), s) for cell in sweep.cells for s in seeds
                     if not plan_file(cell_folder(sdir, cell.name), s).exists()]
            _run_units(units, stability.guarded_plan_unit, backend, workers, address, bar, "pilots")
            wall["pilots"] = wall.get("pilots", 0.0) + time.perf_counter() - start
            if _lower_diverged(out, cells, sweep, tuned):
                continue
            start = time.perf_counter()
            predictions = {}
            for cell, sc in zip(cells, sweep.cells, strict=True):
                folder = cell_folder(sdir, sc.name)
                f = predictions_file(folder)
                if not f.exists():
                    record = {"cell": cell.name, "written_at": time.time(), "plans": {
                        str(s): plan_file(folder, s).read_bytes().hex() for s in seeds},
                        **predict_cell(sc.config, folder)}
                    write_atomic(f, dumps(record))
                predictions[cell.name] = json.loads(f.read_text())
            wall["pilots"] += time.perf_counter() - start

            start = time.perf_counter()  # (3) training
            units = [(cell.config, str(cell_folder(sdir, cell.name)), s) for cell in sweep.cells for s in seeds
                     if seed_jobs(cell.config, cell_folder(sdir, cell.name), s)]
            _run_units(units, stability.guarded_run_unit, backend, workers, address, bar, "training")
            wall["training"] = wall.get("training", 0.0) + time.perf_counter() - start
            if not _lower_diverged(out, cells, sweep, tuned):
                break
        else:  # unreachable: stability.lower refuses a cell's (MAX_LOWER + 1)-th step first
            raise RuntimeError("study: learning rates still being lowered after every allowed step")
        for cell, sc in zip(cells, sweep.cells, strict=True):
            folder = cell_folder(sdir, sc.name)
            for s in seeds:  # training recomputed each pilot and plan: the same bytes the prediction read
                if plan_file(folder, s).read_bytes().hex() != predictions[cell.name]["plans"][str(s)]:
                    raise RuntimeError(f"{cell.name}, seed {s}: the plan trained on differs from the predicted one")

        start = time.perf_counter()  # (4) reports, scores, claims
        for sc in sweep.cells:
            write_outputs(sc.config, cell_folder(sdir, sc.name))
        write_tables(sweep, sdir, "none")
        rows = []
        for cell, sc in zip(cells, sweep.cells, strict=True):
            folder = cell_folder(sdir, sc.name)
            pred = {k: v for k, v in predictions[cell.name].items() if k != "plans"}
            measured = measure_cell(sc.config, folder)
            rows.append({"cell": cell.name, "folder": sc.name, "family": cell.family, "axis": cell.axis,
                         "options": cell.options, "lr": tuned[cell.name], "prediction": pred, "measured": measured,
                         "score": score_cell(pred, measured), "claim": cell_claim(sc.config, folder)})
        wall["reports"] = time.perf_counter() - start
        result = {"cells": rows, "score": study_score([r["score"] for r in rows]), "wall_seconds": wall,
                  "seeds": len(seeds), "workers": workers, "backend": backend}
        write_atomic(study_file(out), dumps({**plan, "result": result}))
    return result
