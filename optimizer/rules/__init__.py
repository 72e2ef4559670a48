"""Level rules: one file per scheme, one interface (rules/base.py)."""

from .adaquantfl import adaquantfl
from .base import Context, LevelRule, Observation, budget_guard, plan_rule, replay
from .dadaquant import dadaquant
from .feddq import feddq
from .feddq_loss import feddq_loss
from .fixed import fixed
from .optimal_online import optimal_online

__all__ = ["Context", "LevelRule", "Observation", "adaquantfl", "budget_guard", "dadaquant", "feddq",
           "feddq_loss", "fixed", "optimal_online", "plan_rule", "replay"]
