"""fedquant.optimizer — budget-optimal quantization-level schedules and the published baselines.

* ``ScheduleProblem.create(range_=..., loss=..., clients=..., block_sizes=..., budget_bits=..., criterion=...)``
  holds a trajectory, the criterion (round weights from theory/) and the bit-cost model; it is data.
* ``schedule("optimal", problem)`` solves it exactly; ``schedule("feddq", problem)`` etc. calibrate a
  baseline to the same budget; ``compare([...], problem)`` scores several on one objective (planner.py).
* ``schemes`` holds one file per scheme: its level rule (one interface, never peeking ahead, run for real by
  validation/) and its record; ``SCHEMES`` is the catalogue, ``schemes/template.py`` shows how to add one.
* ``forecast.fit`` fits range/loss trajectories; ``trace.read_trace`` reads a pilot run.

Imports theory only (numpy/scipy, never torch). Names load on first use, so importing the package is cheap.
"""

from __future__ import annotations

from fedquant.lazy import lazy_exports

_EXPORTS = {
    "Fit": "forecast", "fit": "forecast", "trajectory": "forecast",
    "BoundConstants": "problem", "ScheduleProblem": "problem",
    "SCHEMES": "schemes",
    "build_scheme": "planner", "compare": "planner", "schedule": "planner",
    "Schedule": "schedule_record", "parse_scheme": "scheme_spec", "split_specs": "scheme_spec",
    "Trace": "trace", "read_trace": "trace",
}

__all__ = sorted(_EXPORTS)


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, lambda: globals())
