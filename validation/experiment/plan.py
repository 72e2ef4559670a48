"""From a pilot run to the schedules an experiment runs: forecast, budget, calibration, offline optimum.

The pilot is the first K rounds of the unquantized run of the same seed (or a --trace). Each block's
p²-weighted RMS range and the loss are fitted with the optimizer's forecast families (held-out choice) and
extrapolated to T rounds; that planning problem is what every scheme is calibrated and planned on, and what
its *predicted objective* (the bound's quantization term, optimizer/problem.py) is computed on. Budget
``auto`` is what ``fixed:4`` spends over the run. Schemes that leave their knob free are calibrated to the
budget and run under a budget guard, so no run can exceed it; a scheme with a pinned knob (fixed:8,
feddq:delta=…) runs as given.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from fedquant.optimizer import ScheduleProblem, fit, read_trace
from fedquant.optimizer.bit_cost import bits_function, cost_model
from fedquant.optimizer.planner import build_scheme, knob_of
from fedquant.optimizer.schedule_record import Schedule
from fedquant.optimizer.scheme_spec import pinned
from fedquant.optimizer.schemes.level_rule import Context, LevelRule, budget_guard, context_of
from fedquant.optimizer.schemes.record import Knob
from fedquant.theory.ranges import block_range_rms
from fedquant.theory.wire import FLOAT_BITS, levels_for_width
from fedquant.validation.experiment.config import budget_bits_per_coordinate
from fedquant.validation.experiment.criterion import Criterion
from fedquant.validation.experiment.seed_setup import SeedSetup
from fedquant.validation.training.fedavg import RunOutput


@dataclass
class Plan:
    budget_bits: float | None
    problem: ScheduleProblem
    context: Context
    rules: dict[str, LevelRule]
    schedules: dict[str, Schedule]
    forecasts: dict[str, str]
    pilot_rounds: int
    pilot_bits: float
    params: dict[str, dict[str, Any]] = field(default_factory=dict)
    knobs: dict[str, tuple[Knob, float]] = field(default_factory=dict)  # calibrated baselines: knob, planned value


def _extend(values: np.ndarray, rounds: int, name: str) -> tuple[np.ndarray, str]:
    """The observed values, then the fitted family's forecast up to ``rounds``."""
    if values.size >= rounds:
        return values[:rounds], "observed"
    f = fit(values, name=name)
    t = np.arange(rounds, dtype=np.float64)
    out = f.predict(t)
    out[: values.size] = values
    return out, f.describe()


def planning_problem(setup: SeedSetup, pilot: RunOutput | None, budget: float | None,
                     criterion: Criterion | None = None) -> tuple[ScheduleProblem, dict[str, str]]:
    cfg = setup.config
    T, m = cfg.rounds, setup.spec.per_round
    if cfg.trace:
        tr = read_trace(cfg.trace)
        if tr.range_.ndim == 1:
            per_round = tr.range_
        else:  # a trace's clients carry equal weights (it records no others)
            per_round = block_range_rms(np.ones(tr.range_.shape[1]), tr.range_[:, :, None])[:, 0]
        block = np.repeat(per_round[:, None], setup.block_sizes.size, axis=1)
        loss = tr.loss
    else:
        assert pilot is not None
        block = np.array(pilot.block_ranges)
        loss = np.array([r["loss"] for r in pilot.rows])
    forecasts: dict[str, str] = {}
    ranges = np.empty((T, block.shape[1]))
    for k in range(block.shape[1]):
        ranges[:, k], how = _extend(block[:, k], T, f"range of block {k}")
        forecasts[f"range[{k}]"] = how
    loss_full, forecasts["loss"] = _extend(loss, T, "loss")
    problem = ScheduleProblem.create(
        range_=np.broadcast_to(ranges[:, None, :], (T, m, ranges.shape[1])).copy(),
        loss=loss_full,
        clients=m,
        block_sizes=setup.block_sizes,
        budget_bits=budget,
        criterion=criterion.name if criterion is not None else "nonconvex",
        round_weights=None if criterion is None else criterion.round_weights,
        cost=cost_model(cfg.quantizer),
    )
    return problem, forecasts


def fixed_budget(setup: SeedSetup, width: float) -> float:
    """Bits a fixed code of ``width`` bits per coordinate spends over the run, every block active.

    The theory's bit formula at s = 2^width − 1 for whole widths (auto = fixed:4); for a fractional width the
    side information plus width bits per coordinate (fixed:1.5 is halfway between fixed:1 and fixed:2).
    """
    cost = bits_function(cost_model(setup.config.quantizer))
    lo, hi = int(np.floor(width)), int(np.ceil(width))
    at_lo = float(np.sum(cost(setup.block_sizes, levels_for_width(lo))))
    at_hi = float(np.sum(cost(setup.block_sizes, levels_for_width(hi))))
    per_client = at_lo + (width - lo) * (at_hi - at_lo)
    return setup.config.rounds * setup.spec.per_round * per_client


def budget_of(setup: SeedSetup) -> float:
    width = budget_bits_per_coordinate(setup.config.budget)
    return fixed_budget(setup, width) if width is not None else float(setup.config.budget)


def make_plan(setup: SeedSetup, pilot: RunOutput | None, criterion: Criterion | None = None) -> Plan:
    """The plan on ``criterion`` (the resolved one, criterion.py; None: nonconvex)."""
    cfg = setup.config
    budget = budget_of(setup)
    free, forecasts = planning_problem(setup, pilot, None, criterion)
    bounded = free.with_budget(budget)
    rules: dict[str, LevelRule] = {}
    schedules: dict[str, Schedule] = {}
    params: dict[str, dict[str, Any]] = {}
    knobs: dict[str, tuple[Knob, float]] = {}
    for scheme in cfg.schemes:
        if scheme == "none":
            continue
        if pinned(scheme):
            rule, sched = build_scheme(scheme, free)
        else:
            rule, sched = build_scheme(scheme, bounded)
            rule = budget_guard(rule, budget)
            name = sched.params.get("calibrated")
            if name is not None:  # calibrated by its knob (fixed meets the budget its own way)
                knob = knob_of(scheme, bounded)
                if knob.name != name and knob.fallback is not None:
                    knob = knob.fallback
                knobs[scheme] = (knob, float(sched.params[name]))
        rules[scheme], schedules[scheme] = rule, sched
        params[scheme] = {k: v for k, v in sched.params.items() if isinstance(v, int | float | str)}
    ctx = context_of(bounded)
    K = 0 if pilot is None else len(pilot.rows)
    pilot_bits = float(K * setup.spec.per_round * FLOAT_BITS * setup.d)
    return Plan(budget_bits=budget, problem=bounded, context=ctx, rules=rules, schedules=schedules,
                forecasts=forecasts, pilot_rounds=K, pilot_bits=pilot_bits, params=params, knobs=knobs)
