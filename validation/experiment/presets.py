"""Named configurations of ``fedquant validate`` (``--preset``); explicit flags override them.

* ``demo`` — the default: a regime where the schedule choice matters. One client of ten per round (no
  averaging of the noise), Dirichlet(0.5), 15 local steps at lr 0.2 on logistic regression, a scarce budget
  of 1.5 bits per coordinate on average, five seeds: the schedules must choose where the noise goes, and
  some choices measurably lose. ``stress`` is the same configuration under its earlier name.
* ``tie`` — the earlier default: digits, the MLP, 10 clients, Dirichlet(0.5), 40 rounds of one local epoch,
  every scheme at the budget fixed:4 spends, five seeds. Quantization barely matters here (as in the
  prototype study, docs/design.md §7): the schedules tie, and the report says so.

Five seeds each: comparisons of schedules are paired over seeds, and fewer leave the 95 % intervals wide.
"""

from __future__ import annotations

from typing import Any

from fedquant.errors import InvalidArgument

FIVE_SEEDS = (0, 1, 2, 3, 4)
SCARCE_BITS: dict[str, Any] = {
    "dataset": "digits", "model": "logreg", "clients": 10, "participation": 0.1, "partition": "dirichlet:0.5",
    "rounds": 30, "local_steps": 15, "local_epochs": None, "lr": 0.2, "budget": "fixed:1.5",
    "schemes": ("none", "fixed:1", "fixed:2", "adaquantfl", "dadaquant", "feddq", "feddq-loss", "optimal",
                "optimal-online"),
    "seeds": FIVE_SEEDS,
}
PRESETS: dict[str, dict[str, Any]] = {
    "demo": SCARCE_BITS,
    "stress": SCARCE_BITS,
    "tie": {"seeds": FIVE_SEEDS},
}


def preset(name: str) -> dict[str, Any]:
    if name not in PRESETS:
        raise InvalidArgument("preset", f"one of {', '.join(PRESETS)}", name)
    return dict(PRESETS[name])
