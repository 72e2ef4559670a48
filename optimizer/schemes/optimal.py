"""optimal — the exact offline optimum of the problem's objective at its budget, for a known trajectory.

Fixed cost: integer code widths from ``solve_integer`` (exact for equal unit costs, dual-certified
otherwise), sent as s = 2^b − 1. Relaxed cost: real levels from ``solve_continuous`` (KKT + multiplier
search). Granularity: one level per round (shared by clients and blocks), per round and block, or per
round, client and block; the default is the finest the trajectory supports (per client when client ranges
differ).
"""

from __future__ import annotations

import numpy as np

from fedquant.errors import InvalidArgument
from fedquant.optimizer.bit_cost import block_bits
from fedquant.optimizer.decision_items import GRANULARITIES, make_items
from fedquant.optimizer.problem import ScheduleProblem
from fedquant.optimizer.schedule_record import Schedule
from fedquant.optimizer.schemes.level_rule import LevelRule, plan_rule
from fedquant.optimizer.schemes.record import Params, Scheme
from fedquant.optimizer.solve_continuous import solve_continuous
from fedquant.optimizer.solve_integer import solve_integer
from fedquant.theory.wire import levels_for_width


def default_granularity(problem: ScheduleProblem) -> str:
    r = problem.range_
    if problem.clients > 1 and not np.all(r == r[:, :1, :]):
        return "client"
    if problem.blocks > 1:
        return "block"
    return "round"


def side_bits(problem: ScheduleProblem) -> float:
    """Bits spent whatever the levels: the side information of every block (levels 0 costs exactly that)."""
    return float(block_bits(problem, np.zeros(problem.range_.shape)).sum())


def solve(problem: ScheduleProblem, granularity: str | None = None, ties: str = "spread") -> Schedule:
    if problem.budget_bits is None:
        raise InvalidArgument("budget_bits", "a budget: the optimal schedule is solved for one", None)
    gran = granularity or default_granularity(problem)
    items = make_items(problem, gran)
    code_budget = problem.budget_bits - side_bits(problem)
    if problem.cost in ("fixed", "qsgd"):
        sol = solve_integer(items.weight, items.unit_cost, code_budget, problem.bits_min, problem.bits_max, ties)
        levels = items.expand(problem, levels_for_width(sol.bits))
        params = {"granularity": gran, "gap": sol.gap, "lower_bound": sol.lower_bound}
        made_by = sol.method
    else:
        csol = solve_continuous(items.weight, items.unit_cost, code_budget, problem.bits_min, problem.bits_max)
        levels = items.expand(problem, csol.levels)
        params = {"granularity": gran, "multiplier": csol.multiplier}
        made_by = csol.method
    return Schedule.from_levels("optimal", problem, levels, made_by=made_by, params=params)


def check_granularity(params: Params) -> None:
    if "granularity" in params and params["granularity"] not in GRANULARITIES:
        raise InvalidArgument("granularity", f"one of {', '.join(GRANULARITIES)}", params["granularity"])


def _plan(params: Params, problem: ScheduleProblem) -> tuple[LevelRule, Schedule]:
    sched = solve(problem, params.get("granularity"))  # type: ignore[arg-type]
    return plan_rule("optimal", sched.levels, sched.params), sched


SCHEME = Scheme(
    name="optimal", summary="the exact offline optimum of the bound's quantization term at the budget",
    params=("granularity",), plan=_plan, check=check_granularity,
)
