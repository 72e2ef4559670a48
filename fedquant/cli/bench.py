"""``fedquant bench``: the speed claims, measured side by side in one run and printed as ratios."""

from __future__ import annotations

import argparse
from typing import Any

from fedquant.cli._common import check_output_file, emit_json, int_in
from fedquant.errors import InvalidArgument

#: cvxpy is run up to this T (fedquant.benchmarks.solvers.CVXPY_MAX_ROUNDS, repeated: importing that module
#: at parse time would load the optimizer for every command)
CVXPY_MAX_ROUNDS = 200_000

#: caps on the workload sizes: 10^7 rounds is the scale the solvers are benchmarked at; 2.5·10^8 float32
#: elements (1 GB per array, a few arrays live at once) still fits a 24 GiB machine
MAX_ROUNDS, MAX_ELEMENTS, MAX_THREADS = 10**7, 250_000_000, 256

HELP = ("benchmarks: theory (derive, CLI start, evaluation rate, bound / PEPit table), schedule (vs cvxpy), engine, "
        "quantize, sweep (serial vs local workers vs Ray), flower (Flower's simulation vs fedquant's engine; the "
        "flower extra), scaling (fitted exponent of time vs size per cost, and a log-log plot), job (where the "
        "default validate's wall time goes; --notebooks also times the notebook suite)")
PARTS = ("theory", "schedule", "engine", "quantize", "sweep", "flower", "scaling", "job")


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("bench", help=HELP, description=HELP + ". Each prints its numbers beside a reference "
                       "measured in the same run.")
    p.add_argument("part", nargs="?", default="all", choices=(*PARTS, "all"))
    p.add_argument("--rounds", type=int_in(1, MAX_ROUNDS), default=100_000, help="schedule: rounds T (default 10^5)")
    p.add_argument("--no-cvxpy", action="store_true", help="schedule: skip cvxpy (about 40 s at T = 10^5; refused "
                   f"above T = {CVXPY_MAX_ROUNDS:,})")
    p.add_argument("--threads", type=int_in(1, MAX_THREADS), help="engine, scaling: torch threads (default: torch's)")
    p.add_argument("--notebooks", action="store_true", help="job: also run and time the notebooks (pytest --nbmake)")
    p.add_argument("--quick", action="store_true", help="scaling: few small sizes (under 30 s) instead of the full "
                   "run (a few minutes)")
    p.add_argument("--out", default="bench-scaling.png", help="scaling: the log-log plot to write (.png, .pdf or "
                   ".svg; default bench-scaling.png in the current folder)")
    p.add_argument("--elements", type=int_in(1, MAX_ELEMENTS), default=10**7, help="quantize: float32 elements (10^7)")
    p.add_argument("--format", choices=("text", "json"), default="text")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    parts = PARTS if args.part == "all" else (args.part,)
    # refuse bad combinations at the door, before any part has run
    if "schedule" in parts and not args.no_cvxpy and args.rounds > CVXPY_MAX_ROUNDS:
        raise InvalidArgument("rounds", f"at most {CVXPY_MAX_ROUNDS:,} with cvxpy (it takes about 40 s at 10^5); "
                              "add --no-cvxpy to time our solvers alone up to 10^7", args.rounds)
    out = check_output_file(args.out, "out") if "scaling" in parts else None
    results: dict[str, Any] = {}
    texts = []
    for part in parts:
        if part == "theory":
            from fedquant.benchmarks.theory import bench_theory, format_bench

            results[part] = bench_theory()
            texts.append(format_bench(results[part]))
        elif part == "schedule":
            from fedquant.benchmarks.solvers import bench_schedule
            from fedquant.benchmarks.solvers import format_bench as fmt

            results[part] = bench_schedule(args.rounds, with_cvxpy=not args.no_cvxpy)
            texts.append(fmt(results[part]))
        elif part == "engine":
            from fedquant.benchmarks.engines import bench_engines
            from fedquant.benchmarks.engines import format_bench as fmt

            results[part] = [bench_engines("mlp", threads=args.threads),
                             bench_engines("cnn", rounds=10, threads=args.threads)]
            texts.append(fmt(results[part]))
        elif part == "flower":
            import importlib.util

            if importlib.util.find_spec("flwr") is None:
                if args.part == "flower":
                    raise InvalidArgument("part", "flower with the flower extra installed: pip install "
                                          "'fedquant[flower]'", "flower")
                continue
            from fedquant.benchmarks.flower import bench_flower
            from fedquant.benchmarks.flower import format_bench as fmt

            results[part] = bench_flower()
            texts.append(fmt(results[part]))
        elif part == "job":
            from fedquant.benchmarks.job import bench_job
            from fedquant.benchmarks.job import format_bench as fmt

            results[part] = bench_job(notebooks=args.notebooks)
            texts.append(fmt(results[part]))
        elif part == "scaling":
            from fedquant.benchmarks.scaling import bench_scaling
            from fedquant.benchmarks.scaling import format_bench as fmt

            results[part] = bench_scaling(out, quick=args.quick, threads=args.threads)
            texts.append(fmt(results[part]))
        elif part == "sweep":
            from fedquant.benchmarks.sweeps import bench_sweep
            from fedquant.benchmarks.sweeps import format_bench as fmt

            results[part] = bench_sweep()
            texts.append(fmt(results[part]))
        else:
            from fedquant.benchmarks.quantizers import bench_quantize
            from fedquant.benchmarks.quantizers import format as fmt

            results[part] = bench_quantize(n=args.elements)
            texts.append(fmt(results[part]))
    if args.format == "json":
        emit_json(results)
    else:
        print("\n\n".join(texts))
    return 0
