"""fixed:B — the same B-bit code every round (s = 2^B − 1): the static level of QSGD and FedPAQ."""

from __future__ import annotations

import numpy as np

from fedquant.errors import InvalidArgument
from fedquant.optimizer.problem import ScheduleProblem
from fedquant.optimizer.schedule_record import Schedule
from fedquant.optimizer.schemes.level_rule import Context, LevelRule, Observation, replay
from fedquant.optimizer.schemes.record import Params, Scheme
from fedquant.theory.wire import levels_for_width


def fixed(bits: int) -> LevelRule:
    if int(bits) != bits or not 1 <= bits <= 32:
        raise InvalidArgument("bits", "an integer from 1 to 32", bits)
    levels = levels_for_width(int(bits))

    def init(ctx: Context) -> None:
        if not ctx.bits_min <= bits <= ctx.bits_max:
            raise InvalidArgument("bits", f"within bits_min..bits_max = {ctx.bits_min}..{ctx.bits_max}", bits)

    def update(obs: Observation, state: None) -> tuple[np.ndarray, None]:
        return np.full(obs.range_.shape, levels), state

    return LevelRule(f"fixed:{int(bits)}", init, update, {"bits": int(bits)})


def calibrate_fixed(problem: ScheduleProblem) -> LevelRule:
    """The largest B whose schedule fits the budget (total bits are increasing in B)."""
    assert problem.budget_bits is not None
    for bits in range(problem.bits_max, problem.bits_min - 1, -1):
        if replay(fixed(bits), problem).total_bits <= problem.budget_bits:
            return fixed(bits)
    raise InvalidArgument("budget_bits", "enough for fixed at bits_min", problem.budget_bits)


def _check(params: Params) -> None:
    if "bits" in params and float(params["bits"]) != int(float(params["bits"])):
        raise InvalidArgument("bits", "whole bits per coordinate (a fractional width is a budget: fixed:1.5 there)",
                              params["bits"])


def _plan(params: Params, problem: ScheduleProblem) -> tuple[LevelRule, Schedule]:
    if problem.budget_bits is None:
        raise InvalidArgument("scheme", "fixed:B (bits per coordinate) without a budget", "fixed")
    rule = calibrate_fixed(problem)
    return rule, replay(rule, problem, "fixed")


SCHEME = Scheme(
    name="fixed", summary="the same B-bit code every round (QSGD, FedPAQ); without B, the widest that fits",
    params=("bits",), knob="bits", probe=4.0, rule=lambda p: fixed(int(float(p["bits"]))), plan=_plan, check=_check,
)
