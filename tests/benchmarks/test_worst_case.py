"""The exact worst cases of fedquant.benchmarks.worst_case, against facts that must hold.

Tolerances. With CLARABEL at its tightened tolerances (1e-10) the τ = 1 closed form is met to ≤ 4e-10 relative
(measured over lr·L ∈ {0.1, 0.25, 0.5, 1}, T ∈ {1, 4}, L ∈ {1, 2}), and the PL values agree with SCS at 1e-9 to
≤ 4e-8. ``RTOL`` = 1e-6 leaves a margin of 25× over the worst solver error seen while staying far below the
smallest modelling error it must catch (a metric off by one round changes the value by ≥ 1/T ≥ 6 %, a step
too many in PL by a factor ≤ 0.95). The problem sizes here are small (τ·T ≤ 16): the file runs in a few seconds.
"""

from __future__ import annotations

import importlib
import sys
import warnings

import pytest

pytest.importorskip("PEPit")

from fedquant.benchmarks import worst_case as wc
from fedquant.errors import InvalidArgument

RTOL = 1e-6


def descent_rate(L: float, mu: float, lr: float) -> float:
    """Per-step contraction of f − f* from the descent lemma and PL: 1 − 2μ·lr·(1 − L·lr/2), for lr ≤ 2/L."""
    return 1 - 2 * mu * lr * (1 - L * lr / 2)


def quadratic_average(L: float, lr: float, local_steps: int, rounds: int, gap: float) -> float:
    """(1/T)·Σ‖∇f(x_t)‖² of local GD on f = (L/2)·x² with f(x_0) − f(x_T) = gap: a member of the L-smooth class,
    so a lower bound of the worst case. With q = (1 − lr·L)^{2τ}: 2L·gap / (T·(1 − q))."""
    q = (1 - lr * L) ** (2 * local_steps)
    return 2 * L * gap / (rounds * (1 - q))


def concave_quadratic_last(L: float, lr: float, rounds: int, gap: float) -> float:
    """‖∇f(x_T)‖² of GD on f = −(L/2)·x² with f(x_0) − f(x_T) = gap (also L-smooth): 2L·gap·r/(r − 1),
    r = (1 + lr·L)^{2T}; it tends to 2L·gap, so no rate in T is possible for the last iterate."""
    r = (1 + lr * L) ** (2 * rounds)
    return 2 * L * gap * r / (r - 1)


# ---------------------------------------------------------------------------------------------- non-convex


@pytest.mark.parametrize("rounds", [1, 4])
@pytest.mark.parametrize("lr_L", [0.1, 0.25, 0.5, 1.0])
def test_one_local_step_meets_the_closed_form(lr_L: float, rounds: int) -> None:
    L = 2.0
    lr = lr_L / L
    exact = 1.0 / (lr * rounds * (1 - L * lr / 2))
    assert wc.local_gd_nonconvex(L, lr, 1, rounds) == pytest.approx(exact, rel=RTOL)


@pytest.mark.parametrize(("local_steps", "rounds", "lr"), [(2, 1, 0.5), (2, 4, 0.5), (4, 2, 0.25), (8, 1, 1.5)])
def test_the_worst_case_is_at_least_a_quadratic_s(local_steps: int, rounds: int, lr: float) -> None:
    value = wc.local_gd_nonconvex(1.0, lr, local_steps, rounds)
    assert value >= quadratic_average(1.0, lr, local_steps, rounds, 1.0) * (1 - RTOL)


def test_the_nonconvex_worst_case_is_linear_in_the_gap() -> None:
    one = wc.local_gd_nonconvex(1.0, 0.5, 2, 2)
    assert wc.local_gd_nonconvex(1.0, 0.5, 2, 2, gap=3.0) == pytest.approx(3.0 * one, rel=RTOL)


def test_the_nonconvex_worst_case_depends_on_lr_through_lr_L() -> None:
    """f(x) ↦ f(√λ·x) maps L-smooth to λL-smooth, GD with lr to GD with lr/λ, keeps f values, scales ‖∇f‖² by λ."""
    assert wc.local_gd_nonconvex(2.0, 0.25, 2, 2) == pytest.approx(2.0 * wc.local_gd_nonconvex(1.0, 0.5, 2, 2),
                                                                   rel=RTOL)


# ---------------------------------------------------------------------------------------------- PL


@pytest.mark.parametrize("lr_L", [0.25, 0.5, 1.0, 1.5])
@pytest.mark.parametrize("rounds", [1, 3])
def test_pl_is_no_worse_than_the_descent_lemma_rate(lr_L: float, rounds: int) -> None:
    L, mu, gap = 1.0, 0.2, 2.0
    value = wc.local_gd_pl(L, mu, lr_L / L, 1, rounds, gap=gap)
    assert 0 < value <= gap * descent_rate(L, mu, lr_L / L) ** rounds * (1 + RTOL)


def test_pl_one_step_matches_the_earlier_audit() -> None:
    """The audit's per-step rate at L = 1, μ = 0.2, lr = 0.5 was ≈ 0.821 (three digits)."""
    assert wc.local_gd_pl(1.0, 0.2, 0.5, 1, 1) == pytest.approx(0.821, abs=1e-3)


def test_pl_is_submultiplicative_in_rounds() -> None:
    """The 4-round relaxation restricted to rounds 2..4 is the 3-round one, and PEPs are homogeneous in the gap,
    so value(4) ≤ value(1)·value(3)."""
    one, three, four = (wc.local_gd_pl(1.0, 0.2, 0.5, 1, t) for t in (1, 3, 4))
    assert four <= one * three * (1 + RTOL)


def test_pl_local_steps_are_gradient_steps() -> None:
    """One client, no noise: τ = 2 local steps for 2 rounds is 4 gradient steps."""
    assert wc.local_gd_pl(1.0, 0.2, 0.5, 2, 2) == pytest.approx(wc.local_gd_pl(1.0, 0.2, 0.5, 1, 4), rel=RTOL)


def test_pl_is_linear_in_the_gap_and_invariant_under_rescaling() -> None:
    base = wc.local_gd_pl(1.0, 0.2, 0.5, 1, 2)
    assert wc.local_gd_pl(1.0, 0.2, 0.5, 1, 2, gap=0.5) == pytest.approx(0.5 * base, rel=RTOL)
    assert wc.local_gd_pl(4.0, 0.8, 0.125, 1, 2) == pytest.approx(base, rel=RTOL)


# ---------------------------------------------------------------------------------------------- last iterate


@pytest.mark.parametrize(("lr", "rounds"), [(0.5, 1), (1.0, 4), (0.25, 16), (0.5, 16)])
def test_the_last_gradient_has_no_rate(lr: float, rounds: int) -> None:
    value = wc.gd_last_iterate(1.0, lr, rounds)
    assert value >= concave_quadratic_last(1.0, lr, rounds, 1.0) * (1 - RTOL)
    assert value >= 2.0 * (1 - RTOL)  # 2L·gap, whatever T


# ---------------------------------------------------------------------------------------------- solving


def test_detail_reports_both_values_and_the_solver() -> None:
    result = wc.local_gd_nonconvex_detail(1.0, 0.5, 1, 4)
    assert isinstance(result, wc.WorstCase)
    assert result.solver == wc.sdp_solver()
    assert result.status in ("optimal", "optimal_inaccurate")
    assert result.gap < 1e-7
    assert result.primal == pytest.approx(result.value, rel=1e-7)


def test_solving_is_quiet_and_repeatable(capfd: pytest.CaptureFixture[str]) -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        first = wc.local_gd_nonconvex_detail(1.0, 0.5, 2, 4)  # CLARABEL reports this one optimal_inaccurate
        second = wc.local_gd_nonconvex_detail(1.0, 0.5, 2, 4)
    assert [str(w.message) for w in caught] == []
    assert capfd.readouterr() == ("", "")
    assert first == second


def test_an_unsolved_pep_raises() -> None:
    pepit = wc._pepit()
    problem = pepit.PEP()
    f = problem.declare_function(pepit.functions.SmoothFunction, L=1.0)
    problem.set_performance_metric(f.gradient(problem.set_initial_point()) ** 2)  # no initial condition: unbounded
    with pytest.raises(RuntimeError, match="not solved"):
        wc._solve(problem, None)


@pytest.mark.parametrize(("call", "argument"), [
    (lambda: wc.local_gd_nonconvex(0.0, 0.5, 1, 1), "L"),
    (lambda: wc.local_gd_nonconvex(1.0, 0.5, 0, 1), "local_steps"),
    (lambda: wc.gd_last_iterate(1.0, 0.5, 1, gap=-1.0), "gap"),
    (lambda: wc.local_gd_pl(1.0, 2.0, 0.5, 1, 1), "mu"),
    (lambda: wc.local_gd_pl(1.0, 0.2, 0.5, 1, 1.5), "rounds"),
])
def test_bad_arguments_are_named(call, argument: str) -> None:
    with pytest.raises(InvalidArgument) as err:
        call()
    assert err.value.argument == argument


def test_a_missing_pepit_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "PEPit", None)  # makes `import PEPit` raise ModuleNotFoundError
    with pytest.raises(ModuleNotFoundError, match=r"pip install -e '\.\[dev\]'"):
        wc.local_gd_nonconvex(1.0, 0.5, 1, 1)


def test_the_module_imports_without_pepit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys.modules["fedquant.benchmarks"], "worst_case", wc)  # restored after the fresh import
    monkeypatch.setitem(sys.modules, "PEPit", None)
    monkeypatch.setitem(sys.modules, "cvxpy", None)
    monkeypatch.delitem(sys.modules, wc.__name__)
    fresh = importlib.import_module(wc.__name__)
    assert fresh is not wc and callable(fresh.local_gd_pl)
