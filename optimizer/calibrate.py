"""Calibrate a one-parameter rule to a budget: the largest spend that does not exceed it.

Every baseline has one knob whose effect on the total bits of a replayed trajectory is monotone (s_0 of
AdaQuantFL and of the loss rule, q_min of DAdaQuant: more bits as it grows; FedDQ's resolution δ: fewer).
Totals are step functions of the knob, so we bisect (in log space) for the knob value with the largest
total that still fits, keeping the best feasible point seen; among points that spend the same bits the one
with the lower objective wins (levels that do not fill their code width cost the same bits for more
error). The replay is the problem's trajectory: on a real run the trajectory depends on the schedule, so
validation refines the knob with trial runs (validation/experiment/trial_calibration.py) and adds a budget
guard (schemes/level_rule.py).
"""

from __future__ import annotations

import math
from collections.abc import Callable

from fedquant.errors import InvalidArgument
from fedquant.optimizer.problem import ScheduleProblem
from fedquant.optimizer.schedule_record import Schedule
from fedquant.optimizer.schemes.level_rule import LevelRule, replay


def calibrate(make: Callable[[float], LevelRule], problem: ScheduleProblem, lo: float, hi: float, *,
              increasing: bool, knob: str, iterations: int = 48) -> tuple[LevelRule, Schedule]:
    """Bisect the knob in [lo, hi] (log scale) for the largest total ≤ budget."""
    budget = problem.budget_bits
    if budget is None:
        raise InvalidArgument("budget_bits", "a budget to calibrate to", None)
    frugal, lavish = (lo, hi) if increasing else (hi, lo)
    cheap = replay(make(frugal), problem)
    if cheap.total_bits > budget:
        raise InvalidArgument("budget_bits", f"at least {cheap.total_bits:.0f} bits, what {cheap.scheme} spends "
                              f"at its most frugal {knob} = {frugal:.4g}", budget)
    rich = replay(make(lavish), problem)
    if rich.total_bits <= budget:
        return make(lavish), _with_param(rich, knob, lavish)
    best_knob, best = frugal, cheap
    a, b = math.log(frugal), math.log(lavish)  # a: feasible end, b: infeasible end
    for _ in range(iterations):
        mid = 0.5 * (a + b)
        sched = replay(make(math.exp(mid)), problem)
        if sched.total_bits <= budget:
            a = mid
            # most bits first; at equal bits the lower objective (e.g. q = 7 rather than 4 levels at 3 bits)
            if (sched.total_bits, -sched.objective) > (best.total_bits, -best.objective):
                best_knob, best = math.exp(mid), sched
        else:
            b = mid
        if best.total_bits == budget:
            break
    return make(best_knob), _with_param(best, knob, best_knob)


def _with_param(schedule: Schedule, knob: str, value: float) -> Schedule:
    params = dict(schedule.params, **{knob: value, "calibrated": knob})
    return Schedule(**{**schedule.__dict__, "params": params})
