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
from fedquant.optimizer.schemes.level_rule import Context, LevelRule, Observation
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
