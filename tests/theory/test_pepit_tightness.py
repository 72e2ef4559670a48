"""The bound against PEPit's exact worst case (fedquant/benchmarks/tightness.py): valid everywhere, and as tight
as the issue's goals ask where it is.

The SDPs are solved by CLARABEL (or SCS) to a relative duality gap that ``Row.precision`` reports; measured
≤ 1e-7 on this grid (asserted < 1e-6). Validity is asserted as bound ≥ PEPit·(1 − 1e-5): ten times the gap
allowed, far below any slack a wrong bound would show. The whole table takes about 15 s.
"""

from __future__ import annotations

import pytest

pytest.importorskip("PEPit")

from fedquant.benchmarks import worst_case
from fedquant.benchmarks.tightness import format_table, row, tightness_table

PRECISION = 1e-6  # the SDPs' relative duality gap allowed (measured ≤ 1e-7)
VALID = 10 * PRECISION


@pytest.fixture(scope="module")
def table():
    return tightness_table()


def test_every_row_is_valid_and_solved_precisely(table):
    assert len(table) == 34  # 12 GD, 12 local GD, 6 PL GD, 4 PL local GD
    for r in table:
        assert r.precision < PRECISION, r
        assert r.ratio >= 1 - VALID, f"the bound is below PEPit's worst case: {r}"


def test_gradient_descent_is_exact_at_every_step_up_to_one_over_L(table):
    """Goal: ratio ≤ 1.05 for GD at ηL ∈ {0.1, 0.25, 0.5, 1}, T ∈ {1, 4, 16}. The bound is Δ/(ηT(1 − Lη/2)),
    PEPit's exact worst case: the ratio is 1 to the SDP's precision."""
    gd = [r for r in table if r.criterion == "nonconvex" and r.local_steps == 1]
    assert {(r.fraction, r.rounds) for r in gd} == {(f, T) for f in (0.1, 0.25, 0.5, 1.0) for T in (1, 4, 16)}
    for r in gd:
        assert r.ratio == pytest.approx(1.0, abs=VALID)


def test_local_steps_within_a_factor_two_up_to_the_limit(table):
    """Goal: ratio ≤ 2 for τ ≤ 8 up to 0.99 of the step limit (the old bound: 26.1 at τ = 8). Measured 1.05–1.71;
    the ratio grows with τ and with the step fraction (the drift lemma's Grönwall factor (1 + ηL)^k is reached
    only by a function whose gradient grows along the whole local path)."""
    local = [r for r in table if r.criterion == "nonconvex" and r.local_steps > 1]
    assert {r.local_steps for r in local} == {2, 4, 8}
    for r in local:
        assert r.ratio <= 2.0, r
    # at half the limit the loss is small: within 12 %
    assert max(r.ratio for r in local if r.fraction == 0.5) <= 1.12


def test_pl_goal_met_for_short_horizons_and_the_miss_is_the_one_step_rate(table):
    """Goal: ≤ 1.2 under PL for T ≤ 16. Met for T ≤ 4 at ηL ∈ {0.25, 0.5} and for T = 16 at ηL = 0.25; missed at
    ηL = 0.5, T = 16 (1.73). The miss is the one-step rate: the bound contracts by ρ = 1 − 2μη(1 − Lη/2) = 0.85 per
    round, PEPit's worst case by 0.8214 (descent lemma and PL cannot be tight together), and (0.85/0.8214)^16 is
    the ratio at T = 16 to within 5 %."""
    gd_pl = {(r.fraction, r.rounds): r for r in table if r.criterion == "pl" and r.local_steps == 1}
    for (fraction, rounds), r in gd_pl.items():
        if rounds <= 4 or fraction == 0.25:
            assert r.ratio <= 1.2, r
    one_step = gd_pl[(0.5, 1)]
    rate_bound = one_step.bound  # Δ = 1, T = 1: the bound's one-round rate
    rate_exact = one_step.exact
    assert rate_bound == pytest.approx(0.85, rel=1e-12)
    assert gd_pl[(0.5, 16)].ratio == pytest.approx((rate_bound / rate_exact) ** 16, rel=0.05)


def test_pl_with_local_steps_is_valid_and_within_a_third(table):
    """PL with τ ∈ {2, 4} at half the limit: valid; 1.06–1.33 at T ≤ 4 (the same one-step rate gap compounding)."""
    local = [r for r in table if r.criterion == "pl" and r.local_steps > 1]
    assert len(local) == 4
    assert all(1 - VALID <= r.ratio <= 1.4 for r in local)


def test_no_rate_exists_for_the_last_iterate():
    """PEPit's worst case of ‖∇f(x_T)‖² for gradient descent with f(x_0) − f(x_T) ≤ 1 does not go to 0 with T:
    2.00 at T = 16 for ηL = 0.25 and 0.5, while the average over the iterates falls as 1/T (the bound's form)."""
    for lr in (0.25, 0.5):
        last = worst_case.gd_last_iterate(1.0, lr, 16)
        assert last == pytest.approx(2.0, abs=0.01)
        assert row("nonconvex", 1, lr, 16).exact < last / 4


def test_the_table_prints_every_row(table):
    text = format_table(table)
    assert text.count("\n") == len(table) + 2
    assert "largest ratio 1.7" in text
