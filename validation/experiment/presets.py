"""Named configurations of ``fedquant validate`` (``--preset``); explicit flags override them.

* ``demo`` — the embedded default: digits, MLP, 10 clients, Dirichlet(0.5), 40 rounds of one local epoch,
  three seeds, every scheme at the budget fixed:4 spends. Quantization barely matters here (as in the
  prototype study, docs/design.md §7): a check that schedules *agree* with the unquantized run.
* ``stress`` — a regime where quantization measurably hurts: one client of ten per round (no averaging of
  the noise), Dirichlet(0.5), 15 local steps at lr 0.2 on logistic regression, and a scarce budget of 1.5
  bits per coordinate on average, so the schedules must choose where the noise goes.
"""

from __future__ import annotations

from typing import Any

from fedquant.errors import InvalidArgument

PRESETS: dict[str, dict[str, Any]] = {
    "demo": {},
    "stress": {
        "dataset": "digits", "model": "logreg", "clients": 10, "participation": 0.1, "partition": "dirichlet:0.5",
        "rounds": 30, "local_steps": 15, "local_epochs": None, "lr": 0.2, "budget": "fixed:1.5",
        "schemes": ("none", "fixed:1", "fixed:2", "adaquantfl", "dadaquant", "feddq", "feddq-loss", "optimal",
                    "optimal-online"),
    },
}


def preset(name: str) -> dict[str, Any]:
    if name not in PRESETS:
        raise InvalidArgument("preset", f"one of {', '.join(PRESETS)}", name)
    return dict(PRESETS[name])
