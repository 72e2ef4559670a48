"""Level rules: one file per scheme, one interface (rules/base.py)."""

from fedquant.optimizer.schemes.adaquantfl import adaquantfl
from fedquant.optimizer.schemes.dadaquant import dadaquant
from fedquant.optimizer.schemes.feddq import feddq
from fedquant.optimizer.schemes.feddq_loss import feddq_loss
from fedquant.optimizer.schemes.fixed import fixed
from fedquant.optimizer.schemes.level_rule import Context, LevelRule, Observation, budget_guard, plan_rule, replay
from fedquant.optimizer.schemes.optimal_online import optimal_online

__all__ = ["Context", "LevelRule", "Observation", "adaquantfl", "budget_guard", "dadaquant", "feddq",
           "feddq_loss", "fixed", "optimal_online", "plan_rule", "replay"]
