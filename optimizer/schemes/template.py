"""template — how to add a scheme: a level rule and its record in one file (this one is a working example).

To add a scheme ``myscheme``:

1. Copy this file to ``optimizer/schemes/myscheme.py``. In the module docstring state the rule as a formula,
   whose it is (paper, venue, year) and where it was checked against the authors' code.
2. Write the rule as ``init(context) -> state`` and ``update(observation, state) -> (levels, state)``
   (``level_rule.py``): at round t it sees only what a real system knows then (the loss F_t and this round's
   ranges), never later rounds. Return levels s ≥ 1 of shape broadcastable to the round's (N, K) ranges;
   clip them to the bit box with ``clip_levels``.
3. Declare the record: the parameters a spec may set, the one knob a budget calibrates (the total bits must
   be monotone in it: say which way with ``increasing``), a probe value at which the rule can be built, and
   ``needs`` when the knob has no default.
4. Add ``SCHEME`` to the catalogue in ``schemes/__init__.py`` and a test of the rule's formula beside the
   others (``tests/optimizer/test_schedules.py``). ``tests/optimizer/test_scheme_records.py`` then checks
   the record for every catalogued scheme, and this template as if it were one.

The example: geometric levels s_t = s_0·γ^t (γ < 1 descends at a fixed rate whatever the training does, a
baseline for the adaptive rules; γ = 1 is a constant level). It is not in the catalogue.
"""

from __future__ import annotations

import math

import numpy as np

from fedquant.errors import InvalidArgument
from fedquant.optimizer.schemes.level_rule import Context, LevelRule, Observation, clip_levels
from fedquant.optimizer.schemes.record import Params, Scheme, initial_level_knob

DEFAULT_GAMMA = 0.95


def geometric(s0: float, gamma: float = DEFAULT_GAMMA) -> LevelRule:
    """s_t = ⌈s_0·γ^t⌉, clipped to the bit box."""
    if not math.isfinite(s0) or s0 <= 0:
        raise InvalidArgument("s0", "a positive initial level", s0)
    if not (math.isfinite(gamma) and 0 < gamma <= 1):
        raise InvalidArgument("gamma", "a rate 0 < γ ≤ 1", gamma)

    def init(ctx: Context) -> Context:
        return ctx

    def update(obs: Observation, ctx: Context) -> tuple[np.ndarray, Context]:
        return clip_levels(ctx, np.full(obs.range_.shape, s0 * gamma**obs.round)), ctx

    return LevelRule("geometric", init, update, {"s0": float(s0), "gamma": float(gamma)})


def _rule(params: Params) -> LevelRule:
    return geometric(float(params["s0"]), float(params.get("gamma", DEFAULT_GAMMA)))


SCHEME = Scheme(
    name="geometric", summary="template: s_t = s_0·γ^t, descending at a fixed rate",
    params=("s0", "gamma"), knob="s0", probe=1.0, rule=_rule,
    knob_of=lambda p, problem: initial_level_knob(lambda s0: geometric(s0, float(p.get("gamma", DEFAULT_GAMMA))),
                                                  problem),
    needs="geometric:s0=X or a budget to calibrate s0 to",
)
