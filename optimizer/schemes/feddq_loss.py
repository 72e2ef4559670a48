"""feddq-loss — the loss-based descending rule derived in theory/budget.py.

The budget-optimal level tracks √α_t·R_t (``budget.closed_form``); with R_t ≲ c·sqrt(F_t − f*) it becomes
s_t ∝ √α_t·sqrt(F_t − f*) (``budget.loss_based``). Normalised at round 0:

    s_t = s_0 · sqrt(α_t/α_0) · sqrt((F_t − f*)/(F_0 − f*)),   b_t = ⌈log2(s_t + 1)⌉, sent as s = 2^{b_t} − 1

(the code pays for 2^b − 1 levels, so it uses them all). α_t depends only on t and the criterion, so the rule
is online. Under the nonconvex criterion it descends as the loss falls. Calibration chooses s_0.
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np

from fedquant.errors import InvalidArgument
from fedquant.optimizer.problem import ScheduleProblem
from fedquant.optimizer.round_weights import round_weights
from fedquant.optimizer.schemes.level_rule import Context, LevelRule, Observation
from fedquant.optimizer.schemes.record import Knob, Scheme, initial_level_knob
from fedquant.theory.wire import levels_for_width, width_for_levels


def feddq_loss(s0: float) -> LevelRule:
    if not math.isfinite(s0) or s0 <= 0:
        raise InvalidArgument("s0", "a positive initial level", s0)

    def init(ctx: Context) -> dict:
        return {"ctx": ctx, "gap0": None}

    def update(obs: Observation, state: dict) -> tuple[np.ndarray, dict]:
        ctx: Context = state["ctx"]
        gap = obs.loss - ctx.f_star
        if not np.isfinite(gap):
            raise InvalidArgument("loss", "a finite training loss every round", obs.loss)
        gap0 = state["gap0"] if state["gap0"] is not None else gap
        if gap0 <= 0:
            raise InvalidArgument("loss", f"F_0 above f* = {ctx.f_star}", obs.loss)
        alpha = ctx.round_weights
        s = s0 * math.sqrt(alpha[obs.round] / alpha[0]) * math.sqrt(max(gap, 0.0) / gap0)
        b = min(max(int(width_for_levels(s)), ctx.bits_min), ctx.bits_max)
        return np.full(obs.range_.shape, levels_for_width(b)), {"ctx": ctx, "gap0": gap0}

    return LevelRule("feddq-loss", init, update, {"s0": float(s0)})


def s0_knob(problem: ScheduleProblem) -> Knob:
    """initial_level_knob, its frugal end lowered by sqrt(max_t α_t/α_0): the rule scales s_0 by sqrt(α_t/α_0),
    which a measured final criterion can make large (round 0's noise nearly forgotten by the end)."""
    base = initial_level_knob(feddq_loss, problem)
    alpha = round_weights(problem)
    spread = math.sqrt(float(alpha.max()) / float(alpha[0])) if alpha[0] > 0 else 1.0
    return replace(base, lo=base.lo / max(1.0, spread))


SCHEME = Scheme(
    name="feddq-loss", summary="the loss-based descending rule: s_t ∝ sqrt(α_t (F_t − f*))",
    params=("s0",), knob="s0", probe=1.0, rule=lambda p: feddq_loss(float(p["s0"])),
    knob_of=lambda p, problem: s0_knob(problem),
    needs="feddq-loss:s0=X or a budget to calibrate s0 to",
)
