"""``fedquant validate``: FedAvg on real data with every schedule, exact bit accounting and the four checks."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fedquant.cli._common import emit_json, finite_float, parse_bits, positive_int
from fedquant.errors import InvalidArgument
from fedquant.optimizer.problem import PLAN_CRITERIA

HELP = "run FedAvg on real data with each schedule at equal bits and check the theory against it"

#: error arguments whose flag is not "--" + the argument with dashes (partition options, trace selection)
FLAGS = {"alpha": "--partition", "classes_per_client": "--partition", "client_ids": "--partition",
         "trace_scheme": "--trace", "trace_seed": "--trace"}


def _seeds(text: str) -> tuple[int, ...]:
    try:
        seeds = tuple(int(x) for x in text.split(",") if x.strip() != "")
    except ValueError:
        raise InvalidArgument("seeds", "comma-separated non-negative integers", text) from None
    return seeds


def _budget(text: str) -> str:
    if text == "auto" or text.startswith("fixed:"):
        return text
    return repr(parse_bits(text, "budget"))


def _schemes(text: str) -> tuple[str, ...]:
    from fedquant.optimizer.scheme_spec import split_specs

    return tuple(split_specs(text))


#: every flag that sets the ExperimentConfig field of its name (dashes for underscores): argparse's options,
#: and the conversion applied after parsing (one that can refuse with the flag's name)
CONFIG_FLAGS: tuple[tuple[str, dict[str, Any], Callable[[str], Any] | None], ...] = (
    ("dataset", {"help": "digits | mnist | mnist1d | synthetic (all offline: bundled or generated)"}, None),
    ("model", {"help": "logreg | mlp | cnn | vanilla-cnn (FedDQ's CNN, scaled down; mnist only)"}, None),
    ("clients", {"type": positive_int}, None),
    ("participation", {"type": finite_float, "help": "fraction of clients sampled per round, in (0, 1]"}, None),
    ("partition", {"help": "iid | dirichlet:A | shards:K | natural (synthetic)"}, None),
    ("rounds", {"type": positive_int}, None),
    ("batch_size", {"type": positive_int}, None),
    ("lr", {"type": finite_float}, None),
    ("momentum", {"type": finite_float}, None),
    ("quantizer", {"help": "stochastic | deterministic | qsgd"}, None),
    ("blocks", {"help": "model (one block) | tensor (one block per tensor)"}, None),
    ("schemes", {"help": "comma-separated: none, fixed:B, adaquantfl, dadaquant, feddq, feddq-loss, optimal, "
                         "optimal-online, ... (none, the unquantized reference, is added when the default target "
                         "needs it)"}, _schemes),
    ("budget", {"help": "auto (what fixed:4 spends), fixed:B (B bits per coordinate, e.g. fixed:1.5) or bits: 4e7, "
                        "12Mb, 3MB"}, _budget),
    ("criterion", {"choices": ("auto", *PLAN_CRITERIA),
                   "help": "round weights the schedules plan on: auto (the default: final, the final training loss "
                           "the report compares, its weights measured by injecting noise into the pilot), final, "
                           "nonconvex (every round alike) or pl"}, None),
    ("target_accuracy", {"type": finite_float, "help": "default: 95%% of the unquantized final accuracy"}, None),
    ("seeds", {"help": "comma-separated seeds (the demo: 0,1,2)"}, _seeds),
    ("engine", {"help": "vectorized (default) | loop"}, None),
    ("pilot_rounds", {"type": positive_int, "help": "unquantized rounds planned from (default T/5)"}, None),
    ("calibration_runs", {"type": int, "help": "trial runs refining each baseline's knob to the budget on the real "
                          "trajectory (default 5; 0 calibrates on the pilot's forecast only)"}, None),
    ("trace", {"help": "plan from this trace CSV instead of a pilot"}, None),
    ("downlink_bits", {"type": positive_int, "help": "quantize the broadcast too (off by default)"}, None),
)


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("validate", help=HELP, description=HELP + ". With no flags it runs the embedded demo "
                       "(logistic regression on digits, one client of ten per round, 1.5 bits per coordinate, five "
                       "seeds: a regime where the schedule choice matters); --preset tie is the MLP at 4 bits, where "
                       "schedules tie. Flags override the preset.")
    p.add_argument("--preset", default="demo", help="demo (the default) | tie | stress (= demo)")
    for name, options, _ in CONFIG_FLAGS:
        if name == "downlink_bits":
            p.add_argument("--entropy", action="store_true", help="also measure Elias-coded bytes")
        p.add_argument("--" + name.replace("_", "-"), **options)
        if name == "quantizer":
            p.add_argument("--error-feedback", action="store_true", help="clients add their last rounding "
                           "residual to the next update (error feedback, EF-SGD)")
        if name == "rounds":  # keep the help in the order a reader thinks of a run
            local = p.add_mutually_exclusive_group()
            local.add_argument("--local-steps", type=positive_int, help="τ local SGD steps per round")
            local.add_argument("--local-epochs", type=positive_int, help="local epochs per round (the demo: 1)")
    p.add_argument("--jobs", type=positive_int, help="seeds run in parallel processes, one torch thread each "
                   "(default: min(cores, seeds)); results do not depend on it")
    p.add_argument("--out", default="runs/validate", help="output folder (default runs/validate)")
    p.add_argument("--resume", action="store_true", help="continue an interrupted run in --out")
    p.add_argument("--no-progress", action="store_true")
    p.add_argument("--format", choices=("text", "json"), default="text")
    p.set_defaults(run=run)


def config_from(args: argparse.Namespace) -> Any:
    """The preset, overridden by every flag given, checked (an ExperimentConfig)."""
    from fedquant.validation.experiment.config import ExperimentConfig
    from fedquant.validation.experiment.presets import preset

    values = preset(args.preset)
    for name, _, convert in CONFIG_FLAGS:
        given = getattr(args, name)
        if given is not None:
            values[name] = given if convert is None else convert(given)
    if args.local_steps is not None:
        values.update(local_steps=args.local_steps, local_epochs=None)
    elif args.local_epochs is not None:
        values.update(local_epochs=args.local_epochs, local_steps=None)
    if args.entropy:
        values["entropy"] = True
    if args.error_feedback:
        values["error_feedback"] = True
    return ExperimentConfig(**values).checked()


def run(args: argparse.Namespace) -> int:
    from fedquant.validation.report.summary import checks_table, criterion_line, summary_table, verdicts_table
    from fedquant.validation.validate import run_experiment

    out = Path(args.out)
    try:
        cfg = config_from(args)
        if cfg.trace and not Path(cfg.trace).is_file():
            raise InvalidArgument("trace", "a readable trace CSV", cfg.trace)
        jobs = args.jobs if args.jobs is not None else max(1, min(os.cpu_count() or 1, len(cfg.seeds)))
        # run_experiment checks everything (prepare) before it writes anything
        summary = run_experiment(cfg, out, resume=args.resume, jobs=jobs,
                                 progress=not args.no_progress and sys.stderr.isatty())
    except InvalidArgument as err:
        raise err.with_argument(FLAGS.get(err.argument, "--" + err.argument.replace("_", "-"))) from None
    except KeyboardInterrupt:
        print(f"fedquant validate: interrupted; finished runs are kept in {out} — rerun with --resume",
              file=sys.stderr)
        return 130
    if args.format == "json":
        emit_json(summary)
        return 0
    budget = next(iter(summary["budget_bits"].values()))
    print(f"fedquant validate — {cfg.dataset}/{cfg.model}, {cfg.clients} clients, {cfg.rounds} rounds, "
          f"seeds {list(cfg.seeds)}, criterion {cfg.criterion}; budget {budget:,.0f} bits per run")
    print()
    print(summary_table(summary))
    print(criterion_line(summary))
    print()
    print("checks (predicted vs measured):")
    print(checks_table(summary))
    print()
    print("verdicts (final training loss, each scheme against the best):")
    print(verdicts_table(summary))
    print()
    print(f"wrote {out}/rounds.csv, clients.csv, summary.json, report.md and plots")
    return 0
