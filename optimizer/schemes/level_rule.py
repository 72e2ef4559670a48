"""One interface for every level rule, offline or online (optax-style: a pair of pure functions).

A rule is ``LevelRule(name, init, update, params)``: ``init(context) -> state`` and
``update(observation, state) -> (levels, state)``. At round t the observation holds what a real system
knows when it quantizes round t: the loss F_t of the global model w_t and the ranges R_{t,i,k} of this
round's client updates (each client sees its own update before quantizing it). Rules never see later
rounds. ``replay`` feeds a problem's trajectory round by round and scores the result as a Schedule;
``budget_guard`` wraps any rule so that its running spend can never exceed a budget.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np

from fedquant.optimizer.bit_cost import bits_function
from fedquant.optimizer.problem import ScheduleProblem
from fedquant.optimizer.round_weights import round_weights
from fedquant.optimizer.schedule_record import Schedule
from fedquant.theory.wire import levels_for_width, width_for_levels


class Context(NamedTuple):
    """What a rule knows before round 0."""

    rounds: int
    clients: int
    weights: np.ndarray  # (N,) p_i
    block_sizes: np.ndarray  # (K,)
    bits_min: int
    bits_max: int
    cost: str
    round_weights: np.ndarray  # (T,) α_t (depends on t and the criterion only)
    budget_bits: float | None
    f_star: float = 0.0


class Observation(NamedTuple):
    round: int
    loss: float  # F_t at the start of round t
    range_: np.ndarray  # (N, K) ranges of this round's updates
    weights: np.ndarray | None = None  # this round's aggregation weights p_i (None: the context's)


class LevelRule(NamedTuple):
    name: str
    init: Callable[[Context], Any]
    update: Callable[[Observation, Any], tuple[np.ndarray, Any]]
    params: dict[str, Any]


def context_of(problem: ScheduleProblem) -> Context:
    return Context(
        rounds=problem.rounds,
        clients=problem.clients,
        weights=problem.weights,
        block_sizes=problem.block_sizes,
        bits_min=problem.bits_min,
        bits_max=problem.bits_max,
        cost=problem.cost,
        round_weights=round_weights(problem),
        budget_bits=problem.budget_bits,
        f_star=problem.f_star,
    )


def level_bounds(ctx: Context) -> tuple[float, float]:
    """Smallest and largest levels the bit box allows: 2^b_min − 1 and 2^b_max − 1."""
    return levels_for_width(ctx.bits_min), levels_for_width(ctx.bits_max)


def clip_levels(ctx: Context, levels: np.ndarray, integer: bool = True) -> np.ndarray:
    lo, hi = level_bounds(ctx)
    s = np.clip(np.asarray(levels, dtype=np.float64), lo, hi)
    return np.ceil(s - 1e-9) if integer else s


def round_cost(ctx: Context, levels: np.ndarray, ranges: np.ndarray) -> float:
    """Bits one round costs: every block of every client, zero-range blocks at side information only."""
    s = np.where(ranges > 0, np.broadcast_to(levels, ranges.shape), 0.0)
    return float(np.sum(bits_function(ctx.cost)(ctx.block_sizes[None, :], s)))


def replay(rule: LevelRule, problem: ScheduleProblem, scheme: str | None = None) -> Schedule:
    """Run a rule on a known trajectory, one round at a time, and score it."""
    ctx = context_of(problem)
    state = rule.init(ctx)
    levels = np.zeros(problem.range_.shape)
    for t in range(problem.rounds):
        obs = Observation(t, float(problem.loss[t]), problem.range_[t])
        s, state = rule.update(obs, state)
        levels[t] = np.broadcast_to(s, (problem.clients, problem.blocks))
    return Schedule.from_levels(scheme or rule.name, problem, levels, made_by=f"rule {rule.name}",
                                params=rule.params)


def budget_guard(rule: LevelRule, budget_bits: float) -> LevelRule:
    """Cap a rule's levels so that the spend so far plus the cheapest possible rest never exceeds the budget.

    When a round's levels would overspend, every block's code width is lowered one bit at a time (never
    below bits_min) until it fits. ``state['clipped']`` counts the rounds that were capped.
    """

    def init(ctx: Context) -> dict[str, Any]:
        return {"inner": rule.init(ctx), "ctx": ctx, "spent": 0.0, "clipped": 0}

    def update(obs: Observation, state: dict[str, Any]) -> tuple[np.ndarray, dict[str, Any]]:
        ctx: Context = state["ctx"]
        levels, inner = rule.update(obs, state["inner"])
        levels = np.broadcast_to(np.asarray(levels, dtype=np.float64), obs.range_.shape).copy()
        rest = ctx.rounds - obs.round - 1
        floor_s = levels_for_width(ctx.bits_min)
        # the rest of the run at bits_min, assuming every block stays active (the worst case)
        reserve = rest * round_cost(ctx, np.full(obs.range_.shape, floor_s), np.ones_like(obs.range_))
        allowed = budget_bits - state["spent"] - reserve
        cost = round_cost(ctx, levels, obs.range_)
        clipped = state["clipped"]
        if cost > allowed:
            clipped += 1
            b = width_for_levels(levels)
            while cost > allowed and np.any(b > ctx.bits_min):
                b = np.maximum(b - 1, ctx.bits_min)
                levels = np.minimum(levels, levels_for_width(b))
                cost = round_cost(ctx, levels, obs.range_)
        new = {"inner": inner, "ctx": ctx, "spent": state["spent"] + cost, "clipped": clipped}
        return levels, new

    return LevelRule(rule.name, init, update, dict(rule.params, guarded_budget=budget_bits))


def plan_rule(name: str, levels: np.ndarray, params: dict[str, Any] | None = None) -> LevelRule:
    """Play back a precomputed (T, N, K) level plan."""
    plan = np.asarray(levels, dtype=np.float64)

    def init(ctx: Context) -> None:
        if plan.shape[0] != ctx.rounds:
            raise ValueError(f"plan has {plan.shape[0]} rounds, the run {ctx.rounds}")

    def update(obs: Observation, state: None) -> tuple[np.ndarray, None]:
        s = np.broadcast_to(plan[obs.round], obs.range_.shape)
        # a block planned at 0 (zero range in the plan) that has a range now gets the round's largest level
        if np.any((s == 0) & (obs.range_ > 0)):
            s = np.where(s == 0, max(float(s.max()), 1.0), s)
        return s, state

    return LevelRule(name, init, update, dict(params or {}))
