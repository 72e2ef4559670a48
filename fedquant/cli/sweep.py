"""``fedquant sweep``: a grid of validation experiments from a TOML file, on this machine or on Ray."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from fedquant.cli._common import emit_json, positive_int
from fedquant.errors import InvalidArgument

HELP = "a grid of fedquant validate experiments (a TOML [grid] of validate's options), resumable, local or on Ray"
FLAGS = {"backend": "--backend", "workers": "--workers", "out": "--out", "resume": "--resume", "FILE": "FILE",
         "address": "--address", "reference": "--reference"}


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("sweep", help=HELP, description=HELP + ". A list in [grid] is an axis, a scalar is fixed; "
                       "schemes and seeds are what every cell compares and repeats (a list of lists makes schemes "
                       "an axis).")
    p.add_argument("file", metavar="FILE", help="the sweep's TOML file")
    p.add_argument("--backend", choices=("local", "ray"), default="local",
                   help="local: a process pool here (the default); ray: Ray tasks (pip install 'fedquant[ray]')")
    p.add_argument("--address", help="a running Ray cluster's address (ray only; default: a local Ray)")
    p.add_argument("--workers", type=positive_int, help="parallel (cell, seed) units, one torch thread each "
                   "(default: the machine's cores)")
    p.add_argument("--out", default="runs/sweep", help="output folder (default runs/sweep)")
    p.add_argument("--resume", action="store_true", help="continue an interrupted sweep in --out")
    p.add_argument("--reference", default="none", help="the scheme whose bits the figure compares against")
    p.add_argument("--no-progress", action="store_true")
    p.add_argument("--format", choices=("text", "json"), default="text")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from fedquant.validation.sweep import load, run_sweep
    from fedquant.validation.sweep.tables import summary_rows

    out = Path(args.out)
    try:
        if args.address and args.backend != "ray":
            raise InvalidArgument("address", "only with --backend ray", args.address)
        sweep = load(args.file)
        workers = args.workers or max(1, os.cpu_count() or 1)
        result = run_sweep(sweep, out, backend=args.backend, workers=workers, address=args.address,
                           resume=args.resume, reference=args.reference,
                           progress=not args.no_progress and sys.stderr.isatty())
    except InvalidArgument as err:
        raise err.with_argument(FLAGS.get(err.argument, err.argument)) from None
    except KeyboardInterrupt:
        print(f"fedquant sweep: interrupted; finished runs are kept in {out} — rerun with --resume", file=sys.stderr)
        return 130
    rows = summary_rows(sweep, out)
    if args.format == "json":
        emit_json({**result, "axes": list(sweep.axes), "summary": rows})
        return 0
    print(f"fedquant sweep — {result['cells']} cells × their seeds = {result['units']} units "
          f"({result['ran']} run now, backend {args.backend}, {workers} workers); axes: {', '.join(sweep.axes) or '–'}")
    print()
    print(_winners(sweep, rows))
    print()
    print(f"wrote {out}/cells.csv, summary.csv, winners.png and one validate folder per cell in {out}/cells")
    return 0


def _winners(sweep: Any, rows: list[dict[str, Any]]) -> str:
    from fedquant.validation.report.summary import _aligned

    table = []
    for cell in sweep.cells:
        mine = [r for r in rows if r["cell"] == cell.name]
        best = next((r for r in mine if r["verdict"] == "best"), None)
        tied = [r["scheme"] for r in mine if r["verdict"] == "tied" and r["equal_bits"]]
        worse = [r["scheme"] for r in mine if r["verdict"] == "worse" and r["equal_bits"]]
        table.append([cell.name, cell.label, best["scheme"] if best else "–",
                      "–" if best is None else f"{best['final_loss']:.4f}", ", ".join(tied) or "–",
                      ", ".join(worse) or "–", mine[0]["prediction"] if mine else "–"])
    return "\n".join(_aligned(["cell", "grid values", "best", "final loss", "tied with it", "worse", "prediction"],
                              table, left=2))
