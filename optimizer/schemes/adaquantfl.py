"""adaquantfl — AdaQuantFL's ascending rule s_t = ⌈s_0·sqrt(F_0/F_t)⌉ (Jhunjhunwala et al., ICASSP 2021).

As implemented by DAdaQuant's code (docs/design.md §4): F_t is the global training loss at the
start of round t, s_0 = 2 is the authors' reported default, and the code sends ⌈log2(s_t + 1)⌉ bits per
coordinate. The level rises as the loss falls. Calibration chooses s_0.
"""

from __future__ import annotations

import math

import numpy as np

from fedquant.errors import InvalidArgument
from fedquant.optimizer.schemes.level_rule import Context, LevelRule, Observation, clip_levels
from fedquant.optimizer.schemes.record import Scheme, initial_level_knob

DEFAULT_S0 = 2.0


def adaquantfl(s0: float = DEFAULT_S0) -> LevelRule:
    if not math.isfinite(s0) or s0 <= 0:
        raise InvalidArgument("s0", "a positive initial level", s0)

    def init(ctx: Context) -> dict:
        return {"ctx": ctx, "F0": None}

    def update(obs: Observation, state: dict) -> tuple[np.ndarray, dict]:
        if not np.isfinite(obs.loss) or obs.loss <= 0:
            raise InvalidArgument("loss", "a positive training loss every round (adaquantfl divides by it)", obs.loss)
        f0 = state["F0"] if state["F0"] is not None else obs.loss
        s = math.ceil(s0 * math.sqrt(f0 / obs.loss) - 1e-12)
        levels = clip_levels(state["ctx"], np.full(obs.range_.shape, float(s)))
        return levels, {"ctx": state["ctx"], "F0": f0}

    return LevelRule("adaquantfl", init, update, {"s0": float(s0)})


SCHEME = Scheme(
    name="adaquantfl", summary="AdaQuantFL: s_t = ⌈s_0·sqrt(F_0/F_t)⌉, ascending as the loss falls",
    params=("s0",), knob="s0", probe=1.0, rule=lambda p: adaquantfl(float(p.get("s0", DEFAULT_S0))),
    knob_of=lambda p, problem: initial_level_knob(adaquantfl, problem),
)
