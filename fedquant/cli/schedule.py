"""``fedquant schedule``: quantization levels per round under a bit budget, for one scheme or several."""

from __future__ import annotations

import argparse
import itertools
import sys
from typing import Any

import numpy as np

from fedquant.cli._common import check_output_file, emit_json, finite_float, parse_bits, positive_int
from fedquant.errors import InvalidArgument
from fedquant.optimizer.problem import PLAN_CRITERIA

HELP = "levels per round under a bit budget: the exact optimum or a calibrated baseline"

FLAGS = {"range_": "--range-model", "loss": "--loss-model", "rounds": "--rounds", "clients": "--clients",
         "d": "--d", "budget_bits": "--budget", "bits": "--scheme", "delta": "--scheme", "s0": "--scheme",
         "q_min": "--scheme", "granularity": "--scheme", "mode": "--scheme", "psi": "--scheme", "phi": "--scheme",
         "trace": "--trace", "trace_scheme": "--trace-scheme", "trace_seed": "--trace-seed", "rho": "--rho",
         "bits_min": "--bits-min", "bits_max": "--bits-max", "criterion": "--criterion", "cost": "--cost",
         "persistence": "--persistence", "round_weights": "--persistence"}

SPARK = "▁▂▃▄▅▆▇█"


def add_parser(sub: argparse._SubParsersAction) -> None:
    from fedquant.optimizer.schemes import SCHEMES

    p = sub.add_parser("schedule", help=HELP, description=HELP + ". Schemes: " + ", ".join(SCHEMES)
                       + "; several comma-separated, or 'all', print a comparison at the same budget.")
    p.add_argument("--scheme", required=True, help="a scheme spec (fixed:4, feddq, optimal, ...), a comma list, or all")
    p.add_argument("--budget", required=True, help="total uplink bits: 4096, 1.5e6, 12Mb (megabits), 3MB (bytes)")
    p.add_argument("--rounds", type=positive_int, help="rounds T (from the trace when omitted)")
    p.add_argument("--clients", type=positive_int, help="clients sending every round, equal weights (from the run's "
                   "plan.json when --trace is a fedquant validate rounds.csv)")
    p.add_argument("--d", default=None, help="coordinates per block: one number, or one per block (8192,128,...); "
                   "from the run's plan.json when --trace is a fedquant validate rounds.csv")
    src = p.add_mutually_exclusive_group()
    src.add_argument("--trace", help="CSV with round,loss,range[,client] (a validation rounds.csv works)")
    src.add_argument("--range-model", help="exp:R0,RHO | power:R0,K | exp_floor:R0,RHO,C | const:R")
    p.add_argument("--loss-model", help="exp:F0,RHO | power:F0,K | exp_floor:F0,RHO,C | const:F")
    p.add_argument("--trace-scheme", help="which scheme's run of a multi-run trace (default: none)")
    p.add_argument("--trace-seed", type=int, help="which seed of a multi-run trace (default: the smallest)")
    p.add_argument("--criterion", choices=("auto", *PLAN_CRITERIA), default="auto",
                   help="round weights of the objective: nonconvex (every round alike: average gradient norm), pl "
                        "(ρ^(T−1−t): the final gap under PL), final (a measured --persistence: the final training "
                        "loss); auto (the default) = final when --persistence is given, else nonconvex")
    p.add_argument("--persistence", help="final criterion: how round t's noise persists to the end, as a family "
                   "exp:1,RHO | power:1,K | exp_floor:A,RHO,C | const:1 (fedquant validate measures it: its "
                   "plan.json 'persistence'.'spec')")
    p.add_argument("--rho", type=finite_float, help="PL contraction ρ (pl; else from --L/--lr/--local-steps/--mu "
                   "or fitted to the loss)")
    p.add_argument("--cost", choices=("fixed", "relaxed", "qsgd"), default="fixed",
                   help="fixed: d·⌈log2(s+1)⌉+64 bits per block; relaxed: d·log2(s+1)+64; qsgd: d(⌈log2(s+1)⌉+1)+32")
    p.add_argument("--bits-min", type=positive_int, default=1)
    p.add_argument("--bits-max", type=positive_int, default=16)
    p.add_argument("--L", type=finite_float, help="smoothness (with --lr, --local-steps: report bound units)")
    p.add_argument("--lr", type=finite_float)
    p.add_argument("--local-steps", type=positive_int)
    p.add_argument("--mu", type=finite_float)
    p.add_argument("--format", choices=("text", "json", "csv"), default="text")
    p.add_argument("--plot", help="write a PNG of bits and range per round")
    p.set_defaults(run=run)


def _block_sizes(text: str | None) -> list[int]:
    if text is None:
        raise InvalidArgument("d", "the number of coordinates (or one per block; read from the run's plan.json "
                              "when the --trace is a fedquant validate rounds.csv)", None)
    try:
        sizes = [int(v) for v in text.split(",")]
    except ValueError:
        raise InvalidArgument("d", "positive integers, comma-separated for several blocks", text) from None
    if not sizes or min(sizes) < 1:
        raise InvalidArgument("d", "positive integers, comma-separated for several blocks", text)
    return sizes


def build_problem(args: argparse.Namespace) -> Any:
    from fedquant.optimizer import BoundConstants, ScheduleProblem, read_trace, trajectory
    from fedquant.optimizer.bit_cost import check_budget_floor
    from fedquant.optimizer.round_weights import final_weights
    from fedquant.optimizer.trace import sizes_beside

    budget = parse_bits(args.budget)
    if args.trace:
        tr = read_trace(args.trace, args.trace_scheme, args.trace_seed)
        beside = sizes_beside(args.trace, args.trace_seed) if args.d is None or args.clients is None else None
        sizes = _block_sizes(args.d) if args.d is not None or beside is None else beside.block_sizes
        ranges, loss = tr.range_, tr.loss
        if args.rounds is not None:
            if args.rounds > ranges.shape[0]:
                raise InvalidArgument("rounds", f"at most the trace's {ranges.shape[0]} rounds", args.rounds)
            ranges, loss = ranges[: args.rounds], loss[: args.rounds]
        if args.loss_model:
            raise InvalidArgument("loss_model", "not with --trace (the trace has the loss)", args.loss_model)
        clients = args.clients if ranges.ndim == 1 else None
        if ranges.ndim == 1 and clients is None:
            if beside is None:
                raise InvalidArgument("clients", "the number of clients (the trace has one row per round, and no "
                                      "fedquant validate run's plan.json lies beside it)", None)
            clients = beside.clients
        if ranges.ndim == 2 and args.clients not in (None, ranges.shape[1]):
            raise InvalidArgument("clients", f"{ranges.shape[1]}, the clients in the trace", args.clients)
    else:
        sizes = _block_sizes(args.d)
        if args.rounds is None:
            raise InvalidArgument("rounds", "the number of rounds (or a --trace)", None)
        if args.clients is None:
            raise InvalidArgument("clients", "the number of clients sending each round", None)
        if not args.range_model:
            raise InvalidArgument("range_", "a range model such as exp:0.2,0.97 (or a --trace)", None)
        ranges = trajectory(args.range_model, args.rounds, "range_")
        loss = trajectory(args.loss_model, args.rounds, "loss") if args.loss_model else None
        clients = args.clients
    constants = BoundConstants(L=args.L, lr=args.lr, local_steps=args.local_steps, mu=args.mu)
    criterion = resolve_criterion(args.criterion, args.persistence)
    alpha = None
    if criterion == "final":
        if args.persistence is None:
            raise InvalidArgument("persistence", "a persistence model for the final criterion, such as exp:1,0.9",
                                  None)
        alpha = final_weights(args.persistence, ranges.shape[0])
    elif args.persistence is not None:
        raise InvalidArgument("persistence", f"only with --criterion final or auto (not {criterion})",
                              args.persistence)
    return check_budget_floor(ScheduleProblem.create(
        range_=ranges, loss=loss, clients=clients, block_sizes=sizes, budget_bits=budget, criterion=criterion,
        cost=args.cost, bits_min=args.bits_min, bits_max=args.bits_max, rho=args.rho, constants=constants,
        round_weights=alpha))


def resolve_criterion(criterion: str, persistence: str | None) -> str:
    """auto: the final criterion when a persistence model is given (the final loss is what it measures), else
    nonconvex (every round alike)."""
    if criterion != "auto":
        return criterion
    return "final" if persistence is not None else "nonconvex"


def _spark(values: np.ndarray, width: int = 60) -> str:
    v = np.asarray(values, dtype=np.float64)
    if v.size > width:
        edges = np.linspace(0, v.size, width + 1).astype(int)
        v = np.array([v[a:b].mean() for a, b in itertools.pairwise(edges)])
    lo, hi = float(v.min()), float(v.max())
    if hi - lo < 1e-12:
        return SPARK[3] * v.size
    return "".join(SPARK[round((x - lo) / (hi - lo) * (len(SPARK) - 1))] for x in v)


def _fmt_bits(bits: float) -> str:
    for unit, scale in (("Gb", 1e9), ("Mb", 1e6), ("kb", 1e3)):
        if bits >= scale:
            return f"{bits / scale:.4g} {unit}"
    return f"{bits:.0f} b"


def _problem_line(pr: Any) -> str:
    per_coord = (pr.budget_bits / (pr.rounds * pr.clients) - 64 * pr.blocks) / pr.d
    return (f"problem: T = {pr.rounds} rounds, N = {pr.clients} clients, d = {pr.d:,} in {pr.blocks} block(s), "
            f"budget {_fmt_bits(pr.budget_bits)} (≈ {per_coord:.2f} bits per coordinate per round)")


def _text_one(s: Any) -> str:
    pr = s.problem
    mean_b = s.mean_bits()
    third = max(1, s.rounds // 3)
    bound = (f"{s.bound:.6g}" if s.bound is not None else "n/a (give --L, --lr, --local-steps"
             + (", --mu" if pr.criterion == "pl" else "") + ")")
    out = [f"fedquant schedule — {s.scheme}, criterion {pr.criterion}, cost {pr.cost}", _problem_line(pr),
           f"made by: {s.made_by}" + (f"; {_params(s.params)}" if s.params else ""),
           f"total {s.total_bits:,.0f} bits = {100 * s.total_bits / pr.budget_bits:.2f}% of the budget; "
           f"objective J = {s.objective:.6g}; bound term {bound}",
           f"trend: {s.trend()} (mean {mean_b[:third].mean():.2f} bits in the first third, "
           f"{mean_b[-third:].mean():.2f} in the last)", ""]
    rows = list(range(min(5, s.rounds))) + [t for t in range(max(5, s.rounds - 5), s.rounds)]
    rms = s.range_rms()
    has_loss = bool(np.any(np.isfinite(pr.loss)))  # no --loss-model: no loss column
    out.append(f"  {'round':>5}  {'levels':>10}  {'bits':>5}  {'range':>10}" + (f"  {'loss':>8}" if has_loss else ""))
    prev = -1
    for t in rows:
        if t != prev + 1:
            out.append(f"  {'…':>5}")
        lv = s._round_levels(t)
        lv_txt = f"{lv:g}" if not isinstance(lv, list) else "per client"
        loss = pr.loss[t]
        loss_txt = (f"  {loss:>8.4g}" if np.isfinite(loss) else f"  {'–':>8}") if has_loss else ""
        out.append(f"  {t:>5}  {lv_txt:>10}  {mean_b[t]:>5.2f}  {rms[t]:>10.4g}{loss_txt}")
        prev = t
    out.append("")
    out.append(f"  bits per round  {_spark(mean_b)}")
    out.append(f"  range per round {_spark(rms)}")
    return "\n".join(out)


def _params(params: dict[str, Any]) -> str:
    shown = []
    for k, v in params.items():
        if v is None or k == "calibrated":
            continue
        shown.append(f"{k} = {v:.4g}" if isinstance(v, float) else f"{k} = {v}")
    return ", ".join(shown)


def _text_many(schedules: list[Any]) -> str:
    pr = schedules[0].problem
    best = min(s.objective for s in schedules)
    out = [f"fedquant schedule — {len(schedules)} schemes, criterion {pr.criterion}, cost {pr.cost}",
           _problem_line(pr), "",
           f"  {'scheme':<18}{'total bits':>14}{'of budget':>10}{'objective J':>14}{'J/best':>8}  "
           f"{'trend':<11}{'bits first→last':>16}  knob"]
    for s in schedules:
        b = s.mean_bits()
        knob = s.params.get("calibrated")
        knob_txt = f"{knob} = {s.params[knob]:.4g}" if knob else _params({k: v for k, v in s.params.items()
                                                                           if k in ("bits", "granularity")})
        out.append(f"  {s.scheme:<18}{s.total_bits:>14,.0f}{100 * s.total_bits / pr.budget_bits:>9.2f}%"
                   f"{s.objective:>14.6g}{s.objective / best:>8.3f}  {s.trend():<11}"
                   f"{b[0]:>7.2f} → {b[-1]:<6.2f}  {knob_txt}")
    return "\n".join(out)


def run(args: argparse.Namespace) -> int:
    from fedquant.optimizer import SCHEMES, parse_scheme, schedule
    from fedquant.optimizer.scheme_spec import split_specs

    try:
        specs_text = list(SCHEMES) if args.scheme.strip() == "all" else split_specs(args.scheme)
        if not specs_text:
            raise InvalidArgument("scheme", "a scheme name", args.scheme)
        specs = [parse_scheme(x) for x in specs_text]
        if args.plot is not None:
            check_output_file(args.plot, "plot")
        if args.format == "csv" and len(specs) > 1:
            raise InvalidArgument("format", "json or text for several schemes (csv holds one schedule)", "csv")
        problem = build_problem(args)
        schedules = [schedule(spec, problem) for spec in specs]
    except InvalidArgument as err:
        raise err.with_argument(FLAGS.get(err.argument, err.argument)) from None
    if args.plot:
        from fedquant.optimizer.plot import plot_schedules

        plot_schedules(schedules, args.plot)
    if args.format == "json":
        emit_json(schedules[0].to_json() if len(schedules) == 1 else {"schedules": [s.to_json() for s in schedules]})
    elif args.format == "csv":
        sys.stdout.write(schedules[0].to_csv())
    else:
        print(_text_one(schedules[0]) if len(schedules) == 1 else _text_many(schedules))
        if args.plot:
            print(f"\nplot written to {args.plot}")
    return 0
