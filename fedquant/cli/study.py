"""``fedquant study``: the regime map of descending vs ascending quantization, predicted before it is measured."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from fedquant.cli._common import emit_json, positive_int
from fedquant.errors import InvalidArgument

HELP = ("the study: where descending quantization wins — a grid of validate cells, each tuned, predicted from its "
        "pilots, then trained and scored; writes docs/results.md")
FLAGS = {"backend": "--backend", "workers": "--workers", "out": "--out", "resume": "--resume",
         "address": "--address", "results": "--results"}


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("study", help=HELP, description=HELP + ". The full study takes about 40 minutes on 2 cores; "
                       "--quick (two cells, two seeds) about 3.")
    p.add_argument("--quick", action="store_true", help="two cells, two seeds (what CI runs)")
    p.add_argument("--backend", choices=("local", "ray"), default="local",
                   help="local: a process pool here (the default); ray: Ray tasks (pip install 'fedquant[ray]')")
    p.add_argument("--address", help="a running Ray cluster's address (ray only; default: a local Ray)")
    p.add_argument("--workers", type=positive_int, help="parallel units, one torch thread each (default: the cores)")
    p.add_argument("--out", help="the study's folder (default runs/study, or runs/study-quick with --quick)")
    p.add_argument("--resume", action="store_true", help="continue an interrupted study in --out")
    p.add_argument("--results", help="the page to write (default docs/results.md; with --quick, results.md in --out)")
    p.add_argument("--no-progress", action="store_true")
    p.add_argument("--format", choices=("text", "json"), default="text")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from fedquant.validation.study.results import headline_rows, write_results
    from fedquant.validation.study.run import run_study

    out = Path(args.out or ("runs/study-quick" if args.quick else "runs/study"))
    page = Path(args.results) if args.results else (out / "results.md" if args.quick else Path("docs/results.md"))
    command = "fedquant study" + (" --quick" if args.quick else "")
    try:
        if args.address and args.backend != "ray":
            raise InvalidArgument("address", "only with --backend ray", args.address)
        if page.suffix != ".md":
            raise InvalidArgument("results", "a Markdown file path ending in .md", str(page))
        workers = args.workers or max(1, os.cpu_count() or 1)
        result = run_study(out, quick=args.quick, backend=args.backend, workers=workers, address=args.address,
                           resume=args.resume, progress=not args.no_progress and sys.stderr.isatty())
    except InvalidArgument as err:
        raise err.with_argument(FLAGS.get(err.argument, err.argument)) from None
    except KeyboardInterrupt:
        print(f"fedquant study: interrupted; finished runs are kept in {out} — rerun with --resume", file=sys.stderr)
        return 130
    paths = write_results(result, page, command)
    if args.format == "json":
        emit_json({"out": str(out), "results": str(page), "score": result["score"],
                   "wall_seconds": result["wall_seconds"]})
        return 0
    from fedquant.validation.report.summary import _aligned
    from fedquant.validation.study.results import HEADLINE

    sc = result["score"]
    print(f"fedquant study — {sc['cells']} cells, {result['seeds']} seeds, backend {args.backend}, {workers} workers")
    print()
    print("\n".join(_aligned(HEADLINE, headline_rows(result), left=2)))
    print()
    print(f"predicted winner measured best or tied: {sc['winner_hits']}/{sc['cells']}; predicted ties measured tied: "
          f"{sc['ties_hit']}/{sc['ties_predicted']}; direction: {sc['direction_hits']}/{sc['cells']}")
    print(f"wrote {paths['page']} with {paths['regime_map'].name} and {paths['savings'].name}; the runs are in {out}")
    return 0
