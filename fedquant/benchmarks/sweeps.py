"""``fedquant bench sweep``: one small grid run serially, on 2 local workers and (when installed) on a local Ray,
wall times side by side, and the tables compared byte for byte.

The grid: digits, logistic regression, 4 clients, 15 rounds of 5 local steps, 2 partitions × 2 budgets, 4 schemes,
2 seeds — 8 (cell, seed) units of about 1.5 s each, so the ratio shows the pool's speed-up rather than start-up
costs (Ray's start-up, tens of seconds on 2 cores, is included in its time: that is what a user waits for).
"""

from __future__ import annotations

import importlib.util
import tempfile
import time
from pathlib import Path
from typing import Any

from fedquant.validation.sweep import parse, run_sweep

GRID: dict[str, Any] = {
    "dataset": "digits", "model": "logreg", "clients": 4, "rounds": 15, "local_steps": 5, "participation": 1.0,
    "partition": ["iid", "dirichlet:0.5"], "budget": ["fixed:1.5", "fixed:3"],
    "schemes": ["none", "fixed:2", "feddq", "optimal-online"], "seeds": [0, 1], "calibration_runs": 0,
}


def bench_sweep(workers: int = 2) -> dict[str, Any]:
    sweep = parse(GRID)
    backends = [("serial", "local", 1), (f"local, {workers} workers", "local", workers)]
    if importlib.util.find_spec("ray") is not None:
        backends.append((f"ray, {workers} workers", "ray", workers))
    rows, tables = [], {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, backend, k in backends:
            out = Path(tmp) / name.replace(" ", "_").replace(",", "")
            start = time.perf_counter()
            run_sweep(sweep, out, backend=backend, workers=k, progress=False)
            rows.append({"run": name, "seconds": time.perf_counter() - start})
            tables[name] = [(out / f).read_bytes() for f in ("cells.csv", "summary.csv")]
    first = next(iter(tables.values()))
    return {"cells": len(sweep.cells), "units": sum(len(c.config.seeds) for c in sweep.cells), "runs": rows,
            "identical": all(t == first for t in tables.values()), "ray": len(backends) == 3}


def format_bench(r: dict[str, Any]) -> str:
    serial = r["runs"][0]["seconds"]
    lines = [f"sweep benchmark: {r['cells']} cells, {r['units']} (cell, seed) units (digits, logreg, 15 rounds)"]
    for row in r["runs"]:
        lines.append(f"  {row['run']:<20} {row['seconds']:7.2f} s   {serial / row['seconds']:5.2f}× serial")
    if not r["ray"]:
        lines.append("  ray: not installed (pip install 'fedquant[ray]')")
    lines.append(f"  tables byte-identical across runs: {'yes' if r['identical'] else 'NO'}")
    return "\n".join(lines)
