"""Schedules: budgets, optimality against baselines, direction, online rules that never peek ahead."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fedquant.errors import InvalidArgument
from fedquant.optimizer import SCHEMES, ScheduleProblem, build_scheme, schedule, trajectory
from fedquant.optimizer.bit_cost import check_budget_floor, minimum_bits
from fedquant.optimizer.objective import objective
from fedquant.optimizer.schemes import Observation, adaquantfl, budget_guard, dadaquant, feddq, replay
from fedquant.optimizer.schemes.dadaquant import client_levels
from fedquant.optimizer.schemes.level_rule import context_of

D = 1000


def problem(T=30, clients=4, ranges="exp:0.2,0.93", loss="exp_floor:2.0,0.93,0.3", bits=3.0, **kw):
    r = trajectory(ranges, T)
    f = trajectory(loss, T)
    budget = T * clients * (D * bits + 64)
    return ScheduleProblem.create(range_=r, loss=f, clients=clients, block_sizes=D, budget_bits=budget, **kw)


BASELINES = ["fixed", "adaquantfl", "dadaquant", "dadaquant-time", "dadaquant-clients", "feddq", "feddq-loss"]


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    T=st.integers(3, 25),
    clients=st.integers(1, 5),
    rho=st.floats(0.8, 1.0),
    bits=st.floats(1.2, 6.0),
    criterion=st.sampled_from(["nonconvex", "pl"]),
    hetero=st.booleans(),
    seed=st.integers(0, 1000),
)
def test_budget_never_exceeded_and_optimal_never_worse(T, clients, rho, bits, criterion, hetero, seed):
    rng = np.random.default_rng(seed)
    r = trajectory(f"exp:0.1,{rho}", T)[:, None] * (rng.uniform(0.5, 2.0, size=(1, clients)) if hetero else 1.0)
    f = trajectory(f"exp_floor:2.0,{rho},0.2", T)
    budget = T * clients * (D * bits + 64)
    pr = ScheduleProblem.create(range_=r, loss=f, clients=clients, block_sizes=D, budget_bits=budget,
                                criterion=criterion, rho=0.97 if criterion == "pl" else None)
    # the problem's budget is the given one snapped to whole bits when float arithmetic left it 1e-9 off
    assert abs(pr.budget_bits - budget) <= 1e-9 * budget
    best = schedule("optimal", pr)
    assert best.total_bits <= pr.budget_bits
    for name in [*BASELINES, "optimal-online"]:
        s = schedule(name, pr)
        assert s.total_bits <= pr.budget_bits, name
        # the exact optimum (per client when client ranges differ) is never worse at the same budget
        assert best.objective <= s.objective * (1 + 1e-9), (name, best.objective, s.objective)


def test_optimal_even_on_constant_range_and_descending_on_shrinking():
    flat = problem(ranges="const:0.1", bits=4.0)
    s = schedule("optimal", flat)
    b = s.mean_bits()
    assert b.max() - b.min() <= 1.0  # integer widths: an even split differs by at most one bit
    assert s.total_bits == pytest.approx(flat.budget_bits, rel=1e-3)
    shrink = problem(ranges="exp:0.2,0.85", bits=4.0)
    s2 = schedule("optimal", shrink)
    assert s2.trend() == "descending"
    assert np.all(np.diff(s2.mean_bits()) <= 0)


def test_pl_weights_make_optimum_ascend_when_ranges_are_flat():
    pr = problem(ranges="const:0.1", bits=4.0, criterion="pl", rho=0.8)
    s = schedule("optimal", pr)
    assert s.trend() == "ascending"
    assert np.all(np.diff(s.mean_bits()) >= 0)


def test_fixed_bits_and_costs_are_exact():
    pr = problem(T=10, clients=3)
    s = schedule("fixed:2", pr)
    assert s.total_bits == 10 * 3 * (D * 2 + 64)
    assert np.all(s.levels == 3)


def test_relaxed_optimal_meets_budget_exactly():
    pr = problem(cost="relaxed", bits=3.3)
    s = schedule("optimal", pr)
    assert s.total_bits == pytest.approx(pr.budget_bits, rel=1e-12)
    assert s.total_bits <= pr.budget_bits
    integer = schedule("optimal", problem(bits=3.3))
    assert s.objective <= integer.objective  # the relaxation can only do better


def test_zero_range_blocks_cost_side_information_only():
    r = trajectory("exp:0.2,0.9", 6)
    r[2] = 0.0
    pr = ScheduleProblem.create(range_=r, loss=trajectory("const:1", 6), clients=2, block_sizes=D,
                                budget_bits=6 * 2 * (D * 3 + 64))
    s = schedule("optimal", pr)
    assert np.all(s.levels[2] == 0)
    assert s.round_bits[2] == 2 * 64
    assert minimum_bits(pr) == 5 * 2 * (D + 64) + 2 * 64


def test_budget_too_small_names_the_minimum():
    small = problem(T=2, clients=2, bits=0.5)  # a problem is data: its budget's floor is checked where it is used
    for use in (check_budget_floor, lambda pr: schedule("feddq", pr), lambda pr: schedule("optimal", pr)):
        with pytest.raises(InvalidArgument, match="at least 4256 bits"):  # 2 rounds × 2 clients × (1000 + 64)
            use(small)
    enough = problem(T=2, clients=2, bits=1.0)
    assert check_budget_floor(enough) is enough


def test_rule_formulas():
    pr = problem(T=8, clients=3)
    s = replay(adaquantfl(2.0), pr)
    f0 = pr.loss[0]
    expected = np.ceil(2.0 * np.sqrt(f0 / pr.loss))
    assert np.allclose(s.levels[:, 0, 0], expected)
    d = replay(feddq(0.01), pr)
    b = np.clip(np.ceil(np.log2(pr.range_[:, 0, 0] / 0.01)), 1, 16)
    assert np.array_equal(d.levels[:, 0, 0], 2**b - 1)
    q = client_levels(8.0, np.array([0.5, 0.3, 0.2]))
    a, bb = np.sum(np.array([0.5, 0.3, 0.2]) ** (2 / 3)), np.sum(np.array([0.5, 0.3, 0.2]) ** 2) / 64
    assert np.array_equal(q, np.maximum(1, np.round(np.sqrt(a / bb) * np.array([0.5, 0.3, 0.2]) ** (2 / 3))))


def test_dadaquant_doubles_on_a_plateau():
    T = 40
    # falling for 10 rounds, then flat: the EMA keeps falling (no plateau) until the flat loss dominates it;
    # a loss that rises at round 20 makes the EMA rise, a plateau by DAdaQuant's test Ḡ_t ≥ Ḡ_{t−φ}
    loss = np.concatenate([np.linspace(2, 1, 10), np.full(10, 1.0), np.full(20, 1.5)])
    pr = ScheduleProblem.create(range_=np.full(T, 0.1), loss=loss, clients=1, block_sizes=D)
    s = replay(dadaquant(1.0, 16.0, phi=5, mode="time"), pr)
    levels = s.levels[:, 0, 0]
    ema = np.empty(T)
    ema[0] = loss[0]
    for t in range(1, T):
        ema[t] = 0.9 * ema[t - 1] + 0.1 * loss[t]
    first = next(t for t in range(5, T) if ema[t] >= ema[t - 5])
    assert first > 20  # no plateau while the loss falls or stays put below its EMA
    assert np.all(levels[:first] == 1) and levels[first] == 2
    assert levels[-1] == 16 and set(np.unique(levels)) == {1, 2, 4, 8, 16}
    assert np.all(np.diff(levels) >= 0)


@pytest.mark.parametrize("name", ["adaquantfl", "dadaquant", "feddq", "feddq-loss", "optimal-online"])
def test_online_rules_never_peek_ahead(name):
    pr = problem(T=20)
    rule, _ = build_scheme(name, pr)
    ctx = context_of(pr)
    cut = 9
    changed_r = pr.range_.copy()
    changed_r[cut + 1:] *= 7.0
    changed_f = pr.loss.copy()
    changed_f[cut + 1:] *= 0.1
    outs = []
    for r, f in ((pr.range_, pr.loss), (changed_r, changed_f)):
        state = rule.init(ctx)
        got = []
        for t in range(cut + 1):
            lv, state = rule.update(Observation(t, float(f[t]), r[t]), state)
            got.append(np.array(lv))
        outs.append(np.array(got))
    assert np.array_equal(outs[0], outs[1])


def test_budget_guard_caps_an_overspending_rule():
    pr = problem(T=12, bits=2.0)
    rich = replay(feddq(1e-7), pr)
    assert rich.total_bits > pr.budget_bits
    guarded = replay(budget_guard(feddq(1e-7), pr.budget_bits), pr)
    assert guarded.total_bits <= pr.budget_bits
    # every round can still afford bits_min: the last round is not starved below it
    assert np.all(guarded.levels >= 1)


def test_calibrated_baselines_use_the_budget():
    pr = problem(T=30, bits=3.5)
    for name in BASELINES:
        s = schedule(name, pr)
        assert s.total_bits <= pr.budget_bits
        # the knob is continuous for all but fixed: a calibration within one round's bit step of the budget
        assert s.total_bits >= pr.budget_bits - pr.clients * D * 17, name


def test_unknown_scheme_and_params_are_refused():
    pr = problem()
    with pytest.raises(InvalidArgument, match="one of"):
        schedule("fancy", pr)
    with pytest.raises(InvalidArgument, match="takes"):
        schedule("feddq:s0=3", pr)
    assert "optimal" in SCHEMES and "optimal-online" in SCHEMES


def test_objective_uses_theory_error_bound():
    pr = problem(T=3, clients=2)
    s = np.full(pr.range_.shape, 7.0)
    w = pr.weights
    expected = sum(np.sum(w**2 * D * pr.range_[t, :, 0] ** 2 / (4 * 49)) for t in range(3))
    assert objective(pr, s) == pytest.approx(expected, rel=1e-14)
