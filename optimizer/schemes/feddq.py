"""feddq — FedDQ's range rule b = ⌈log2(R/δ)⌉ per client and block (Qu, Song, Tsui, arXiv 2110.02291).

From the authors' code (docs/design.md §4): every client picks, for each tensor, the smallest code
width whose step R/(2^b − 1) is about a fixed resolution δ, so levels fall as update ranges shrink
(descending). The ResNet script floors b at 2 (``floor``). theory/budget.py derives the same rule as the
budget-optimal level under equal round weights (s_t ∝ R_t). Calibration chooses δ (bits decrease in δ).
"""

from __future__ import annotations

import math

import numpy as np

from fedquant.errors import InvalidArgument
from fedquant.optimizer.problem import ScheduleProblem
from fedquant.optimizer.schemes.level_rule import Context, LevelRule, Observation
from fedquant.optimizer.schemes.record import Knob, Params, Scheme, check_whole, whole
from fedquant.theory.wire import ceil_log2, levels_for_width


def feddq(delta: float, floor: int | None = None) -> LevelRule:
    if not math.isfinite(delta) or delta <= 0:
        raise InvalidArgument("delta", "a positive resolution δ", delta)

    def init(ctx: Context) -> Context:
        return ctx

    def update(obs: Observation, ctx: Context) -> tuple[np.ndarray, Context]:
        r = np.asarray(obs.range_, dtype=np.float64)
        with np.errstate(divide="ignore"):
            b = ceil_log2(np.where(r > 0, r, delta) / delta)
        lo = ctx.bits_min if floor is None else max(ctx.bits_min, floor)
        b = np.clip(b, lo, ctx.bits_max)
        return levels_for_width(b), ctx

    return LevelRule("feddq", init, update, {"delta": float(delta), "floor": floor})


def delta_knob(params: Params, problem: ScheduleProblem) -> Knob:
    """δ from (smallest range)/2^(bits_max + 2) to 4 × (largest range): more δ, fewer bits."""
    r = problem.range_[problem.range_ > 0]
    r_max = float(r.max()) if r.size else 1.0
    r_min = float(r.min()) if r.size else 1.0
    floor = whole(params.get("floor"))
    return Knob("delta", lambda x: feddq(x, floor), r_min / 2.0 ** (problem.bits_max + 2), r_max * 4.0,
                increasing=False)


SCHEME = Scheme(
    name="feddq", summary="FedDQ: b = ⌈log2(R/δ)⌉ per client and block, descending as ranges shrink",
    params=("delta", "floor"), knob="delta", probe=1.0,
    rule=lambda p: feddq(float(p["delta"]), whole(p.get("floor"))), knob_of=delta_knob,
    check=lambda p: check_whole(p, "floor"), needs="feddq:delta=X (the resolution) or a budget to calibrate δ to",
)
