"""Scheme specs → rules and schedules, calibrated to the problem's budget where the spec leaves a knob free.

Like ``scipy.optimize.minimize(method=...)``: ``build_scheme`` looks the scheme up in ``schemes.SCHEMES`` and
dispatches on what its record declares (``schemes/record.py``): its own ``plan`` for a budget, calibration of
its knob, or its rule as given. Every path returns the same pair, a rule and its scored ``Schedule``.

Specs: ``fixed:B`` (or ``fixed``, calibrated), ``adaquantfl[:s0=X]``, ``dadaquant[:q_min=X,q_max=Y,psi=Z,phi=N]``
and its halves ``dadaquant-time`` / ``dadaquant-clients``, ``feddq[:delta=X,floor=B]``, ``feddq-loss[:s0=X]``,
``optimal[:granularity=round|block|client]``, ``optimal-online[:granularity=...]``. With a budget in the
problem, a knob not given in the spec is calibrated so the scheme spends as much as it can without exceeding
it; a knob given explicitly is used as is, and a schedule over budget is an error.
"""

from __future__ import annotations

from fedquant.errors import InvalidArgument
from fedquant.optimizer.bit_cost import check_budget_floor
from fedquant.optimizer.calibrate import calibrate
from fedquant.optimizer.problem import ScheduleProblem
from fedquant.optimizer.schedule_record import Schedule
from fedquant.optimizer.scheme_spec import SchemeSpec, parse_scheme
from fedquant.optimizer.schemes import SCHEMES
from fedquant.optimizer.schemes.level_rule import LevelRule, replay
from fedquant.optimizer.schemes.record import Knob


def build_scheme(spec: SchemeSpec | str, problem: ScheduleProblem) -> tuple[LevelRule, Schedule]:
    """The rule for a spec (calibrated to the problem's budget when a knob is free) and its replay."""
    if isinstance(spec, str):
        spec = parse_scheme(spec)
    check_budget_floor(problem)
    record, p, budget = SCHEMES[spec.name], spec.params, problem.budget_bits
    knob_given = record.knob is not None and record.knob in p
    if record.plan is not None and not knob_given:
        return record.plan(p, problem)
    assert record.rule is not None, f"scheme {record.name} has neither a plan nor a rule"
    if record.knob is None:
        rule = record.rule(p)
        return rule, replay(rule, problem, record.name)
    if budget is None or knob_given:
        if not knob_given and record.needs is not None:
            raise InvalidArgument("scheme", record.needs, str(spec))
        rule = record.rule(p)
        sched = replay(rule, problem, str(spec))
        if budget is not None and sched.total_bits > budget:
            raise InvalidArgument("budget_bits", f"at least {sched.total_bits:.0f} bits, what {spec} spends",
                                  budget)
        return rule, sched
    knob = knob_of(spec, problem)
    try:
        return calibrate(knob.make, problem, knob.lo, knob.hi, increasing=knob.increasing, knob=knob.name)
    except InvalidArgument:
        if knob.fallback is None:
            raise
        knob = knob.fallback
        return calibrate(knob.make, problem, knob.lo, knob.hi, increasing=knob.increasing, knob=knob.name)


def knob_of(spec: SchemeSpec | str, problem: ScheduleProblem) -> Knob:
    """The calibration knob of a baseline spec (fixed, optimal and optimal-online have none)."""
    if isinstance(spec, str):
        spec = parse_scheme(spec)
    record = SCHEMES[spec.name]
    if record.knob_of is None:
        raise InvalidArgument("scheme", "a baseline with a calibration knob (adaquantfl, dadaquant*, feddq, "
                              "feddq-loss)", str(spec))
    return record.knob_of(spec.params, problem)


def schedule(spec: SchemeSpec | str, problem: ScheduleProblem) -> Schedule:
    return build_scheme(spec, problem)[1]


def compare(specs: list[str], problem: ScheduleProblem) -> list[Schedule]:
    """Every scheme on one problem at its budget, scored on the same objective."""
    return [schedule(s, problem) for s in specs]
