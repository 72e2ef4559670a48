"""Equal bits for real: refine_knob a baseline's calibration with trial runs on the real training trajectory.

Calibration on the planning problem (pilot + forecast) is only as good as the forecast: a rule that reads the
loss or the ranges of the real run (AdaQuantFL, DAdaQuant, FedDQ, the loss rule) may then spend noticeably
less than the budget, and a comparison "at equal bits" would not be one. So, as the prototype study did
(docs/design.md §7), the knob is refined with up to K full runs: bracket the budget in log steps of the knob
from the planned value, then bisect; each trial runs the rule *without* the guard, and the trial that spends
the most bits without exceeding the budget is kept. Runs are deterministic, and a rule whose unguarded spend
fits the budget is never touched by the guard (the guard only acts when a round would leave less than the
cheapest rest), so the kept trial *is* the guarded run. If no trial fits, the guarded planned rule runs instead.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from fedquant.optimizer.schemes.record import Knob
from fedquant.validation.training.fedavg import RunOutput

#: knob step of the bracketing phase (a factor of 4 moves s_0 or δ by two bits, q_min by two doublings)
BRACKET = math.log(4.0)


def refine_knob(knob: Knob, planned: float, budget: float, runs: int,
           run: Callable[[float], RunOutput]) -> tuple[RunOutput | None, list[dict[str, Any]]]:
    """Best unguarded trial (most bits ≤ budget) within ``runs`` trials; (None, trials) if none fits."""
    trials: list[dict[str, Any]] = []
    best: tuple[float, RunOutput, float] | None = None
    seen: dict[float, float] = {}

    def spend(x: float) -> float:
        nonlocal best
        x = min(max(x, knob.lo), knob.hi)
        if x in seen:
            return seen[x]
        out = run(x)
        bits = float(sum(r["bits"] for r in out.rows))
        seen[x] = bits
        trials.append({"knob": knob.name, "value": x, "bits": bits, "fits": bits <= budget})
        if bits <= budget and (best is None or bits > best[0]):
            best = (bits, out, x)
        return bits

    def lavish(x: float, step: float) -> float:  # the direction that spends more
        return x * math.exp(step if knob.increasing else -step)

    lo_x = hi_x = None  # lo_x fits the budget, hi_x does not
    x = planned
    for _ in range(runs):
        if lo_x is not None and hi_x is not None:
            x = math.sqrt(lo_x * hi_x)  # bisection in log space
        fits = spend(x) <= budget
        if fits:
            lo_x = x
        else:
            hi_x = x
        if lo_x is None:
            x = lavish(x, -BRACKET)
        elif hi_x is None:
            x = lavish(x, BRACKET)
        if x <= knob.lo or x >= knob.hi:
            x = min(max(x, knob.lo), knob.hi)
    return (None if best is None else best[1]), trials
