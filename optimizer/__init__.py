"""fedquant.optimizer — budget-optimal quantization-level schedules and the published baselines.

* ``ScheduleProblem.create(range_=..., loss=..., clients=..., block_sizes=..., budget_bits=..., criterion=...)``
  holds a trajectory, the criterion (round weights from theory/) and the bit-cost model.
* ``schedule("optimal", problem)`` solves it exactly; ``schedule("feddq", problem)`` etc. calibrate a
  baseline to the same budget; ``compare([...], problem)`` scores several on one objective.
* ``rules`` holds the online rules (one interface, never peeking ahead) that validation/ runs for real.
* ``forecast.fit`` fits range/loss trajectories; ``trace.read_trace`` reads a pilot run.

Imports theory only (numpy/scipy, never torch).
"""

from .forecast import Fit, fit, trajectory
from .problem import Constants, ScheduleProblem
from .registry import SCHEMES, build, compare, parse_scheme, schedule
from .schedule import Schedule
from .trace import Trace, read_trace

__all__ = ["SCHEMES", "Constants", "Fit", "Schedule", "ScheduleProblem", "Trace", "build", "compare", "fit",
           "parse_scheme", "read_trace", "schedule", "trajectory"]
