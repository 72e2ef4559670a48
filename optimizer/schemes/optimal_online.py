"""optimal-online — at every round, this round's realised ranges plus the expected rest of the run, re-solved.

At round t the rule knows F_0..F_t and R_0..R_t (this round's ranges included: clients quantize after
computing their update) — everything FedDQ's rule sees, and the history. It plans rounds t..T−1 for the
remaining budget and sends round t's levels:

* round t enters with its realised ranges R_{t,i,k} and aggregation weights;
* a later round u is uncertain (under client sampling another client comes; SGD noise moves the range).
  It enters as J equally likely scenarios R_u^{(j)} = m(u)·Q_j: m is the per-round mean range fitted to the
  history (forecast.fit, held-out family choice) and Q_j = R_τ/m(τ) are the shapes of the last J observed
  rounds relative to their fitted mean (the empirical distribution of a round's ranges around the trend).
  Each scenario counts with probability 1/J in the objective and in the spend.

This is the certainty-equivalent of the stochastic problem min E Σ_u α_u Σ_{i,k} w/s² s.t. E(spend) ≤ budget:
its Lagrangian policy sets s ∝ √α_u·R at one multiplier, a threshold on the realised range like FedDQ's
rule, but with the multiplier re-solved from the remaining budget each round instead of calibrated. Every
plan reserves bits_min for every later scenario of every block, so the spend never exceeds the budget.
"""

from __future__ import annotations

import numpy as np

from fedquant.errors import InvalidArgument
from fedquant.optimizer.bit_cost import block_bits
from fedquant.optimizer.decision_items import Items, make_items
from fedquant.optimizer.forecast import fit
from fedquant.optimizer.problem import ScheduleProblem
from fedquant.optimizer.schemes.level_rule import Context, LevelRule, Observation, round_cost
from fedquant.optimizer.schemes.optimal import check_granularity
from fedquant.optimizer.schemes.record import Scheme
from fedquant.optimizer.solve_continuous import solve_continuous
from fedquant.optimizer.solve_integer import solve_integer
from fedquant.theory.wire import levels_for_width

MIN_HISTORY = 3
#: scenarios per later round: the last J observed rounds (recent dispersion is the relevant one)
MAX_SCENARIOS = 16
#: items one plan may hold (rounds × scenarios × clients × blocks); J shrinks to stay below it
MAX_ITEMS = 200_000


def range_trend(history: list[np.ndarray], rounds: np.ndarray) -> np.ndarray:
    """The fitted per-round mean range m(t) at ``rounds`` (held flat at the last mean before MIN_HISTORY)."""
    mean = np.array([float(np.mean(h)) for h in history])
    if len(history) < MIN_HISTORY:
        return np.full(rounds.shape, mean[-1])
    return fit(mean, name="range history").predict(rounds)


def scenario_ranges(history: list[np.ndarray], horizon: int, scenarios: int = MAX_SCENARIOS) -> np.ndarray:
    """Ranges of the next ``horizon`` rounds as (horizon, J, N, K) scenarios m(u)·R_τ/m(τ), τ the last J rounds
    (one scenario, the last round held flat, before MIN_HISTORY rounds).

    A round whose fitted mean is 0 (or that observed only zero ranges) contributes its observed ranges as
    they are; the scenarios of a round are equally likely. Identical shapes (a smooth trajectory the trend
    fits) are one scenario, so the plan stays the exact marginal allocation of a deterministic problem.
    """
    last = history[-1]
    # before MIN_HISTORY rounds there is no trend to measure shapes against: the last round, held flat
    J = 1 if len(history) < MIN_HISTORY else max(1, min(scenarios, len(history)))
    if horizon <= 0:
        return np.zeros((0, J, *last.shape))
    seen = np.arange(len(history) - J, len(history), dtype=np.float64)
    future = np.arange(len(history), len(history) + horizon, dtype=np.float64)
    m_seen = range_trend(history, seen)
    m_future = range_trend(history, future)
    recent = np.stack(history[-J:])  # (J, N, K)
    shapes = np.where(m_seen[:, None, None] > 0, recent / np.where(m_seen > 0, m_seen, 1.0)[:, None, None], 0.0)
    if np.allclose(shapes, shapes[-1:], rtol=1e-9, atol=0.0):  # one shape (a smooth trajectory): one scenario
        shapes, recent, m_seen = shapes[-1:], recent[-1:], m_seen[-1:]
    scaled = m_future[:, None, None, None] * shapes[None]
    flat_trend = m_seen[:, None, None] <= 0
    return np.where(flat_trend[None], recent[None], scaled)


def _items_of_plan(ctx: Context, obs: Observation, future: np.ndarray, granularity: str) -> tuple[
        Items, ScheduleProblem, np.ndarray]:
    """Decision items of this round (probability 1) and of every later scenario (probability 1/J each)."""
    horizon, J = future.shape[0], future.shape[1]
    current = np.asarray(obs.range_, dtype=np.float64)
    floor = np.finfo(np.float64).tiny  # a later block at zero range now may not stay so: plan it as active
    ranges = np.concatenate([current[None], np.maximum(future, floor).reshape(horizon * J, *current.shape)])
    alpha = np.concatenate([ctx.round_weights[obs.round:obs.round + 1],
                            np.repeat(ctx.round_weights[obs.round + 1:obs.round + 1 + horizon], J)])
    weights = ctx.weights if obs.weights is None else np.asarray(obs.weights, dtype=np.float64)
    problem = ScheduleProblem.create(range_=ranges, weights=weights, block_sizes=ctx.block_sizes, cost=ctx.cost,
                                     bits_min=ctx.bits_min, bits_max=ctx.bits_max, round_weights=alpha)
    items = make_items(problem, granularity)
    per_round = int(np.prod(items.grid_shape[1:]))
    is_now = items.index // per_round == 0
    prob = np.where(is_now, 1.0, 1.0 / J)
    scaled = Items(weight=items.weight * prob, unit_cost=items.unit_cost * prob, index=items.index,
                   grid_shape=items.grid_shape, granularity=items.granularity)
    return scaled, problem, is_now


def plan_round(ctx: Context, obs: Observation, history: list[np.ndarray], remaining: float,
               granularity: str) -> np.ndarray:
    """This round's (N, K) levels of the plan for the remaining budget (bits_min everywhere if nothing is left)."""
    horizon = ctx.rounds - obs.round - 1
    per_plan = max(1, int(np.prod(np.shape(obs.range_))))
    J = max(1, min(MAX_SCENARIOS, MAX_ITEMS // max(1, horizon * per_plan)))
    future = scenario_ranges(history, horizon, J)
    items, problem, is_now = _items_of_plan(ctx, obs, future, granularity)
    side = block_bits(problem, np.zeros(problem.range_.shape)).sum(axis=(1, 2))  # side information per round
    code_budget = remaining - float(side[0]) - horizon * float(side[1:].max(initial=0.0))
    floor_levels = np.full(np.shape(obs.range_), levels_for_width(ctx.bits_min))
    try:
        if ctx.cost in ("fixed", "qsgd"):
            sol = solve_integer(items.weight, items.unit_cost, code_budget, ctx.bits_min, ctx.bits_max, ties="first")
            values = levels_for_width(sol.bits)
        else:
            values = solve_continuous(items.weight, items.unit_cost, code_budget, ctx.bits_min, ctx.bits_max).levels
    except ValueError:  # nothing left beyond the minimum
        return floor_levels
    levels = items.expand(problem, np.where(is_now, values, 0.0))[0]
    return np.where(np.asarray(obs.range_) > 0, levels, floor_levels)


def optimal_online(granularity: str = "round") -> LevelRule:
    def init(ctx: Context) -> dict:
        if ctx.budget_bits is None:
            raise InvalidArgument("budget_bits", "a budget: optimal-online plans against one", None)
        return {"ctx": ctx, "history": [], "spent": 0.0}

    def update(obs: Observation, state: dict) -> tuple[np.ndarray, dict]:
        ctx: Context = state["ctx"]
        history = [*state["history"], np.asarray(obs.range_, dtype=np.float64)]
        levels = plan_round(ctx, obs, history, ctx.budget_bits - state["spent"], granularity)
        cost = round_cost(ctx, levels, obs.range_)
        return levels, {"ctx": ctx, "history": history, "spent": state["spent"] + cost}

    return LevelRule("optimal-online", init, update, {"granularity": granularity})


SCHEME = Scheme(
    name="optimal-online",
    summary="this round's realised ranges plus the expected rest of the run (scenarios from the history), re-solved "
            "every round for the remaining budget",
    params=("granularity",), rule=lambda p: optimal_online(str(p.get("granularity", "round"))),
    check=check_granularity,
)
