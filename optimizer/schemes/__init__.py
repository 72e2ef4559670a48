"""The schemes: one file per scheme, each a level rule (``level_rule.py``'s interface) and its record.

Every scheme file declares a :class:`~fedquant.optimizer.schemes.record.Scheme` (name, parameters,
calibration knob, constructor); ``SCHEMES`` below is the catalogue the planner, the spec parser and the CLI
read, in the order they list them. To add one, copy ``template.py``.
"""

from fedquant.optimizer.schemes import adaquantfl as _adaquantfl
from fedquant.optimizer.schemes import dadaquant as _dadaquant
from fedquant.optimizer.schemes import feddq as _feddq
from fedquant.optimizer.schemes import feddq_loss as _feddq_loss
from fedquant.optimizer.schemes import fixed as _fixed
from fedquant.optimizer.schemes import optimal as _optimal
from fedquant.optimizer.schemes import optimal_online as _optimal_online
from fedquant.optimizer.schemes.adaquantfl import adaquantfl
from fedquant.optimizer.schemes.dadaquant import dadaquant
from fedquant.optimizer.schemes.feddq import feddq
from fedquant.optimizer.schemes.feddq_loss import feddq_loss
from fedquant.optimizer.schemes.fixed import fixed
from fedquant.optimizer.schemes.level_rule import Context, LevelRule, Observation, budget_guard, plan_rule, replay
from fedquant.optimizer.schemes.optimal_online import optimal_online
from fedquant.optimizer.schemes.record import Knob, Scheme

#: every scheme by name, in catalogue order
SCHEMES: dict[str, Scheme] = {s.name: s for s in (
    _fixed.SCHEME, _adaquantfl.SCHEME, *_dadaquant.SCHEMES, _feddq.SCHEME, _feddq_loss.SCHEME, _optimal.SCHEME,
    _optimal_online.SCHEME,
)}

__all__ = ["SCHEMES", "Context", "Knob", "LevelRule", "Observation", "Scheme", "adaquantfl", "budget_guard",
           "dadaquant", "feddq", "feddq_loss", "fixed", "optimal_online", "plan_rule", "replay"]
