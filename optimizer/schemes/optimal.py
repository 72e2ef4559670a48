"""optimal — the exact offline optimum of the problem's objective at its budget, for a known trajectory.

Fixed cost: integer code widths from ``solve_integer`` (exact for equal unit costs, dual-certified
otherwise), sent as s = 2^b − 1. Relaxed cost: real levels from ``solve_continuous`` (KKT + multiplier
search). Granularity: one level per round (shared by clients and blocks), per round and block, or per
round, client and block; the default is the finest the trajectory supports (per client when client ranges
differ).

Played in training, the plan reacts to the realised ranges the way its own optimality condition says: at
the plan's multiplier every item's level satisfies s ∝ √W (relaxed KKT, s ≫ 1; W = α p² d R²/4 its weight),
so an item whose realised weight is W instead of the planned Ŵ is sent at s·√(W/Ŵ) — for fixed-length codes
the planned width shifted by round(½·log2(W/Ŵ)) bits. On the planned trajectory the rule is the plan itself.
"""

from __future__ import annotations

import numpy as np

from fedquant.errors import InvalidArgument
from fedquant.optimizer.bit_cost import bits_function
from fedquant.optimizer.decision_items import GRANULARITIES, make_items
from fedquant.optimizer.problem import ScheduleProblem
from fedquant.optimizer.schedule_record import Schedule
from fedquant.optimizer.schemes.level_rule import Context, LevelRule, Observation
from fedquant.optimizer.schemes.record import Params, Scheme
from fedquant.optimizer.solve_continuous import solve_continuous
from fedquant.optimizer.solve_integer import solve_integer
from fedquant.theory.wire import levels_for_width, width_for_levels


def default_granularity(problem: ScheduleProblem) -> str:
    r = problem.range_
    if problem.clients > 1 and not np.all(r == r[:, :1, :]):
        return "client"
    if problem.blocks > 1:
        return "block"
    return "round"


def side_bits(problem: ScheduleProblem) -> float:
    """Bits spent whatever the levels: the side information of every block (levels 0 costs exactly that).

    The bit formula at s = 0 depends on the block size only, so this is T·N·Σ_k bits(d_k, 0) — the same
    whole number as summing ``block_bits`` at levels 0 over the (T, N, K) grid, without building it.
    """
    per_round_client = block_bits_at_zero(problem)
    return float(problem.rounds * problem.clients * per_round_client)


def block_bits_at_zero(problem: ScheduleProblem) -> float:
    """Σ_k bits(d_k, s = 0): one client's side information in one round (``bit_cost.bits_function``)."""
    return float(np.sum(bits_function(problem.cost)(problem.block_sizes, np.zeros(problem.blocks))))


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


def group_weight(range_: np.ndarray, weights: np.ndarray, block_sizes: np.ndarray, granularity: str) -> np.ndarray:
    """Σ p_i² d_k R_{i,k}² over the clients and blocks that share one level, broadcast to (N, K)."""
    w = (weights**2)[:, None] * block_sizes[None, :] * np.asarray(range_, dtype=np.float64) ** 2
    if granularity == "round":
        return np.broadcast_to(w.sum(), w.shape)
    if granularity == "block":
        return np.broadcast_to(w.sum(axis=0, keepdims=True), w.shape)
    return w


def reactive_plan_rule(sched: Schedule, problem: ScheduleProblem, granularity: str) -> LevelRule:
    """Play the plan, each item's level moved by the realised over planned weight (s ∝ √W at the multiplier)."""
    plan = np.asarray(sched.levels, dtype=np.float64)
    planned = problem.range_
    integer = problem.cost in ("fixed", "qsgd")

    def init(ctx: Context) -> dict:
        if plan.shape[0] != ctx.rounds:
            raise ValueError(f"plan has {plan.shape[0]} rounds, the run {ctx.rounds}")
        return {"ctx": ctx}

    def update(obs: Observation, state: dict) -> tuple[np.ndarray, dict]:
        ctx: Context = state["ctx"]
        t = obs.round
        s = np.broadcast_to(plan[t], obs.range_.shape).astype(np.float64)
        if np.any((s == 0) & (obs.range_ > 0)):  # planned at zero range, active now: the round's largest level
            s = np.where(s == 0, max(float(s.max()), 1.0), s)
        p = ctx.weights if obs.weights is None else np.asarray(obs.weights, dtype=np.float64)
        w_now = group_weight(obs.range_, p, ctx.block_sizes, granularity)
        w_plan = group_weight(planned[t], problem.weights, problem.block_sizes, granularity)
        ok = (w_now > 0) & (w_plan > 0)
        ratio = np.where(ok, np.sqrt(np.where(ok, w_now, 1.0) / np.where(ok, w_plan, 1.0)), 1.0)
        lo, hi = levels_for_width(ctx.bits_min), levels_for_width(ctx.bits_max)
        if integer:
            b = width_for_levels(s) + np.round(np.log2(ratio))
            s = levels_for_width(np.clip(b, ctx.bits_min, ctx.bits_max))
        else:
            s = np.clip(s * ratio, lo, hi)
        return np.where(obs.range_ > 0, s, 0.0), state

    return LevelRule("optimal", init, update, dict(sched.params, reacts="s ∝ √(W/Ŵ)"))


def _plan(params: Params, problem: ScheduleProblem) -> tuple[LevelRule, Schedule]:
    sched = solve(problem, params.get("granularity"))  # type: ignore[arg-type]
    return reactive_plan_rule(sched, problem, str(sched.params["granularity"])), sched


SCHEME = Scheme(
    name="optimal", summary="the exact offline optimum of the bound's quantization term at the budget",
    params=("granularity",), plan=_plan, check=check_granularity,
)
