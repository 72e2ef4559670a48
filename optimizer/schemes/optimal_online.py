"""optimal-online — re-solve at every round for the remaining budget, from what has been observed so far.

At round t the rule knows F_0..F_t and R_0..R_t (this round's ranges included: clients quantize after
computing their update). It fits the range history with forecast.fit (held-out family choice; the last
observed range per client and block scales the forecast), plans rounds t..T−1 with the exact solver on the
observed round plus the forecast, sends round t's planned levels, and carries the spend forward. Since
every plan is feasible for the remaining budget with every later round at least at bits_min, the total
never exceeds the budget. Round weights α_t depend on t only, so they are known in advance.
"""

from __future__ import annotations

import numpy as np

from fedquant.errors import InvalidArgument
from fedquant.optimizer.forecast import fit
from fedquant.optimizer.problem import ScheduleProblem
from fedquant.optimizer.schemes.level_rule import Context, LevelRule, Observation, round_cost
from fedquant.optimizer.schemes.optimal import check_granularity, solve
from fedquant.optimizer.schemes.record import Scheme
from fedquant.theory.wire import levels_for_width

MIN_HISTORY = 3


def forecast_ranges(history: list[np.ndarray], horizon: int) -> np.ndarray:
    """Ranges for the next ``horizon`` rounds, shape (horizon, N, K).

    The p-agnostic mean range per round is fitted (family chosen on held-out error); each client/block keeps
    its last observed share of that mean. With fewer than MIN_HISTORY rounds the last ranges are held flat.
    """
    last = history[-1]
    if horizon <= 0:
        return np.zeros((0, *last.shape))
    if len(history) < MIN_HISTORY:
        return np.broadcast_to(last, (horizon, *last.shape)).copy()
    mean = np.array([float(np.mean(h)) for h in history])
    if mean[-1] <= 0:
        return np.zeros((horizon, *last.shape))
    f = fit(mean, name="range history")
    t_future = np.arange(len(history), len(history) + horizon, dtype=np.float64)
    scale = f.predict(t_future) / mean[-1]
    return scale[:, None, None] * last[None, :, :]


def optimal_online(granularity: str = "round") -> LevelRule:
    def init(ctx: Context) -> dict:
        if ctx.budget_bits is None:
            raise InvalidArgument("budget_bits", "a budget: optimal-online plans against one", None)
        return {"ctx": ctx, "history": [], "losses": [], "spent": 0.0}

    def update(obs: Observation, state: dict) -> tuple[np.ndarray, dict]:
        ctx: Context = state["ctx"]
        history = [*state["history"], np.asarray(obs.range_, dtype=np.float64)]
        horizon = ctx.rounds - obs.round
        future = forecast_ranges(history, horizon - 1)
        # plan as if every later block were active (a block at zero range now may not stay so): the reserve
        # for the rest of the run is then never smaller than what it will really cost
        floor = np.finfo(np.float64).tiny
        ranges = np.concatenate([history[-1][None], np.maximum(future, floor)], axis=0)
        remaining = ctx.budget_bits - state["spent"]
        problem = ScheduleProblem.create(
            range_=ranges,
            weights=ctx.weights,
            block_sizes=ctx.block_sizes,
            budget_bits=None,
            cost=ctx.cost,
            bits_min=ctx.bits_min,
            bits_max=ctx.bits_max,
            round_weights=ctx.round_weights[obs.round:],
        )
        # the plan may assume later rounds cost their minimum with every block active (ranges may be 0 now)
        problem = problem.with_budget(max(remaining, 1.0))
        try:
            plan = solve(problem, granularity, ties="first")  # indifferent between now and later: spend now
            levels = plan.levels[0]
        except ValueError:  # nothing left beyond the minimum: everything at bits_min
            levels = np.full(obs.range_.shape, levels_for_width(ctx.bits_min))
        cost = round_cost(ctx, levels, obs.range_)
        new = {"ctx": ctx, "history": history, "losses": [*state["losses"], obs.loss],
               "spent": state["spent"] + cost}
        return levels, new

    return LevelRule("optimal-online", init, update, {"granularity": granularity})


SCHEME = Scheme(
    name="optimal-online", summary="re-solves every round for the remaining budget from what it has seen",
    params=("granularity",), rule=lambda p: optimal_online(str(p.get("granularity", "round"))),
    check=check_granularity,
)
