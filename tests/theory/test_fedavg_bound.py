"""The one-round inequality and the telescoped bounds (theory/fedavg.py, theory/bound.py, theory/evaluate.py).

Checked three ways: special cases with known answers (gradient descent, Karimi et al. 2016 under PL), symbolic
consistency of the drift lemma, and a Monte Carlo simulation of quantized FedAvg on quadratics whose
constants (L, μ, ζ², σ², f*) are known exactly. The simulation uses its own numpy quantizer, not the theory's.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cache

import numpy as np
import pytest
import sympy
from hypothesis import given, settings
from hypothesis import strategies as st

from fedquant.theory import CRITERIA, TERMS, InvalidArgument, evaluate_bound, fedavg, numeric
from fedquant.theory import bound as bound_mod
from fedquant.theory import symbols as S
from fedquant.theory.derivation import exports

# Monte Carlo checks allow the measured mean to exceed its true value by 5 standard errors (two-sided normal
# tail ~6e-7; the seeds are fixed, so a run is deterministic anyway).
Z = 5.0

# ------------------------------------------------------------------------------------------------------------
# (a) special cases with known answers
# ------------------------------------------------------------------------------------------------------------

GD = {S.p2: 1, S.local_steps: 1, S.sigma2: 0, S.zeta2: 0, S.quant_sum: 0}


def test_nonconvex_reduces_to_gradient_descent_symbolically():
    """N = 1, τ = 1, σ² = ζ² = 0, no quantization: (1/T)Σ‖∇f(w_t)‖² ≤ 2Δ₀/(ηT), GD's classical bound."""
    total = sum(bound_mod.nonconvex().substituted().values())
    assert sympy.simplify(total.subs(GD) - 2 * S.gap / (S.lr * S.rounds)) == 0


def test_pl_reduces_to_gradient_descent_symbolically():
    """Under PL, GD with ηL ≤ 1 has f(w_T) − f* ≤ (1 − μη)^T Δ₀ (Karimi, Nutini, Schmidt 2016, Thm 1 with
    η = 1/L there; f(w − η∇f) ≤ f − (η/2)‖∇f‖² and ‖∇f‖² ≥ 2μ(f − f*) give it for any η ≤ 1/L)."""
    total = sum(bound_mod.pl().substituted().values())
    assert sympy.simplify(total.subs(GD) - (1 - S.mu * S.lr) ** S.rounds * S.gap) == 0


@settings(max_examples=60, deadline=None)
@given(L=st.floats(0.1, 10), frac=st.floats(0.01, 1.0), gap=st.floats(0.0, 100), rounds=st.integers(1, 500),
       mu_frac=st.floats(0.01, 1.0))
def test_special_cases_numerically(L, frac, gap, rounds, mu_frac):
    lr = frac / (2 * L)  # τ = 1: the step-size limit is 1/(2L)
    common = dict(L=L, lr=lr, local_steps=1, clients=1, sigma2=0, zeta2=0, gap=gap, rounds=rounds,
                  quantized=False)
    nc = evaluate_bound("nonconvex", **common)
    assert nc.value == pytest.approx(2 * gap / (lr * rounds), rel=1e-12, abs=1e-300)
    mu = mu_frac * L
    pl = evaluate_bound("pl", mu=mu, **common)
    assert pl.value == pytest.approx((1 - mu * lr) ** rounds * gap, rel=1e-10, abs=1e-300)
    for result in (nc, pl):
        assert result.terms["sgd_noise"] == 0 and result.terms["drift"] == 0
        assert result.terms["quantization"] == 0


# ------------------------------------------------------------------------------------------------------------
# (b) the quantization term
# ------------------------------------------------------------------------------------------------------------

CONSTANTS = dict(L=1.3, lr=0.04, local_steps=4, clients=7, sigma2=0.2, zeta2=0.5, gap=3.0, rounds=40)


@pytest.mark.parametrize("criterion", CRITERIA)
def test_zero_range_gives_zero_quantization_term(criterion):
    extra = {"mu": 0.2} if criterion == "pl" else {}
    zero = evaluate_bound(criterion, d=1000, range_=0.0, levels=3, **CONSTANTS, **extra)
    plain = evaluate_bound(criterion, quantized=False, **CONSTANTS, **extra)
    assert zero.terms["quantization"] == 0.0
    assert zero.value == plain.value
    assert plain.terms["quantization"] == 0.0


@pytest.mark.parametrize("criterion", CRITERIA)
def test_quantization_term_assembles_per_round_variance(criterion):
    """V_t = ‖p‖² d R²/(4s²) with ‖p‖² = 1/N, summed with the round weights, times the criterion's factor."""
    d, R, s = 1000, 0.3, 15
    extra = {"mu": 0.2} if criterion == "pl" else {}
    got = evaluate_bound(criterion, d=d, range_=R, levels=s, **CONSTANTS, **extra)
    L, lr, tau, T = CONSTANTS["L"], CONSTANTS["lr"], CONSTANTS["local_steps"], CONSTANTS["rounds"]
    v = d * R**2 / (4 * s**2) / CONSTANTS["clients"]
    c = float(numeric.descent_coefficient(L, lr, tau))
    if criterion == "nonconvex":
        expected = L / (2 * c * T) * (T * v)
    else:
        rho = 1 - 2 * extra["mu"] * c
        expected = L / 2 * sum(rho ** (T - 1 - t) * v for t in range(T))
    assert got.terms["quantization"] == pytest.approx(expected, rel=1e-12)
    by_bits = evaluate_bound(criterion, d=d, range_=R, bits=4, **CONSTANTS, **extra)
    assert by_bits.terms == got.terms


# ------------------------------------------------------------------------------------------------------------
# (c) the drift lemma
# ------------------------------------------------------------------------------------------------------------


def test_drift_bound_solves_the_self_bounding_inequality():
    _, summed, solved = fedavg.drift_lemma()
    # at equality D = a₀ + a₁D, the solved D makes the residual vanish identically
    assert sympy.simplify(summed.subs(S.drift, solved) - solved) == 0
    # the summed right side is linear in D (so "solving" is legitimate) with coefficient 3η²L²τ(τ−1) < 1
    assert sympy.degree(sympy.expand(summed), S.drift) == 1
    a1 = sympy.expand(summed).coeff(S.drift)
    assert sympy.simplify(a1 - 3 * S.lr**2 * S.L**2 * S.local_steps * (S.local_steps - 1)) == 0


def test_drift_sum_matches_explicit_loop(rng):
    """Σ_{k=0}^{τ−1} of the per-step bound, summed by hand for τ = 1..8, equals sympy's closed sum."""
    per_step, summed, _ = fedavg.drift_lemma()
    syms = (S.lr, S.L, S.sigma2, S.zeta2, S.G2, S.drift)
    step_fn = sympy.lambdify((S.k, *syms), per_step)
    sum_fn = sympy.lambdify((S.local_steps, *syms), summed)
    for tau in range(1, 9):
        values = rng.uniform(0.01, 2.0, size=len(syms))
        by_hand = sum(step_fn(k, *values) for k in range(tau))
        assert sum_fn(tau, *values) == pytest.approx(by_hand, rel=1e-12, abs=1e-15)


def test_drift_vanishes_for_one_local_step():
    _, _, solved = fedavg.drift_lemma()
    assert solved.subs(S.local_steps, 1) == 0
    assert fedavg.one_round().drift.subs(S.local_steps, 1) == 0
    assert numeric.drift_per_round(1.7, 0.2, 1, 0.5, 0.9) == 0


# ------------------------------------------------------------------------------------------------------------
# (d) simulation on quadratics
# ------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Quadratic:
    """f_i(w) = ½ wᵀAw − b_iᵀw with one Hessian A for every client, so ∇f_i − ∇f = −(b_i − b̄) is constant and
    ζ² = max_i ‖b_i − b̄‖² is the exact heterogeneity constant; L = λ_max(A), μ = λ_min(A) (PL for f)."""

    A: np.ndarray
    b: np.ndarray  # (N, dim)
    p: np.ndarray  # (N,)
    sigma2: float

    @property
    def dim(self) -> int:
        return self.A.shape[0]

    @property
    def L(self) -> float:
        return float(np.linalg.eigvalsh(self.A).max())

    @property
    def mu(self) -> float:
        return float(np.linalg.eigvalsh(self.A).min())

    @property
    def bbar(self) -> np.ndarray:
        return self.p @ self.b

    @property
    def zeta2(self) -> float:
        return float(np.max(np.sum((self.b - self.bbar) ** 2, axis=1)))

    @property
    def p2(self) -> float:
        return float(self.p @ self.p)

    @property
    def w_star(self) -> np.ndarray:
        return np.linalg.solve(self.A, self.bbar)

    def f(self, w: np.ndarray) -> np.ndarray:
        return 0.5 * np.einsum("...i,ij,...j->...", w, self.A, w) - w @ self.bbar

    def gap(self, w: np.ndarray) -> np.ndarray:
        return self.f(w) - float(self.f(self.w_star))

    def grad(self, w: np.ndarray) -> np.ndarray:
        return w @ self.A - self.bbar


@cache
def quadratic() -> Quadratic:
    gen = np.random.default_rng(20241125)
    rot, _ = np.linalg.qr(gen.normal(size=(4, 4)))
    A = rot @ np.diag([0.5, 0.8, 1.3, 2.0]) @ rot.T
    b = 1.5 * gen.normal(size=(3, 4))
    return Quadratic(A=(A + A.T) / 2, b=b, p=np.array([0.5, 0.3, 0.2]), sigma2=0.3)


def stochastic_quantize(x: np.ndarray, levels: int,
                        rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """The stochastic uniform quantizer of docs/design.md §2 on every block x[..., :] (own implementation).

    Returns Q(x) and the exact conditional error E[‖Q(x) − x‖² | x] = Σ_j (x_j − ℓ_j)(u_j − x_j)."""
    m = x.min(axis=-1, keepdims=True)
    step = (x.max(axis=-1, keepdims=True) - m) / levels
    safe = np.where(step > 0, step, 1.0)
    j = np.clip(np.floor((x - m) / safe), 0, levels - 1)
    lower = m + j * step
    upper = lower + step
    p_up = np.where(step > 0, (x - lower) / safe, 0.0)
    q = np.where(rng.random(x.shape) < p_up, upper, lower)
    return q, np.sum((x - lower) * (upper - x), axis=-1)


@dataclass
class RoundResult:
    w_next: np.ndarray  # (reps, dim) quantized FedAvg iterate
    w_bar: np.ndarray  # (reps, dim) the unquantized iterate on the same sample path
    qvar: np.ndarray  # (reps,) Σ_i p_i² E[‖Q(Δ_i) − Δ_i‖² | Δ_i]
    agg_err: np.ndarray  # (reps,) ‖Σ_i p_i (Q(Δ_i) − Δ_i)‖²
    drift: np.ndarray  # (reps, N) Σ_{k<τ} ‖w_i^k − w_t‖²


def fedavg_round(prob: Quadratic, w: np.ndarray, lr: float, tau: int, levels: int | None,
                 rng: np.random.Generator) -> RoundResult:
    """One round of FedAvg from the global models w (reps, dim): τ local SGD steps per client with additive
    Gaussian gradient noise of covariance (σ²/dim)·I (so E‖g − ∇f_i‖² = σ²), then quantized uplink."""
    n = prob.p.size
    start = np.repeat(w[:, None, :], n, axis=1)
    local = start.copy()
    drift = np.zeros(local.shape[:2])
    for _ in range(tau):
        drift += np.sum((local - start) ** 2, axis=-1)
        noise = rng.normal(scale=math.sqrt(prob.sigma2 / prob.dim), size=local.shape)
        local = local - lr * (local @ prob.A - prob.b + noise)
    delta = local - start
    if levels is None:
        q, cond = delta, np.zeros(delta.shape[:2])
    else:
        q, cond = stochastic_quantize(delta, levels, rng)
    err = np.einsum("i,rij->rj", prob.p, q - delta)
    return RoundResult(
        w_next=w + np.einsum("i,rij->rj", prob.p, q),
        w_bar=w + np.einsum("i,rij->rj", prob.p, delta),
        qvar=cond @ prob.p**2,
        agg_err=np.sum(err**2, axis=-1),
        drift=drift,
    )


def se(x: np.ndarray) -> float:
    return float(np.std(x, ddof=1) / math.sqrt(x.shape[0]))


def test_simulation_quantizer_is_the_lemma_quantizer(rng):
    """The test's own quantizer: unbiased, with E‖Q(x) − x‖² = Σ (x−ℓ)(u−x) ≤ d R²/(4s²) (5-SE tolerance)."""
    x = np.array([0.13, -0.7, 0.42, 0.9, -0.05, 0.61])
    reps, levels = 200_000, 3
    q, cond = stochastic_quantize(np.broadcast_to(x, (reps, x.size)), levels, rng)
    # 5 standard errors, plus n·eps·|x| for summing 2·10⁵ doubles along a strided axis (the range endpoints
    # round deterministically, sd = 0, so only that summation error is left for them)
    slack = reps * np.finfo(float).eps * np.abs(x)
    tolerance = Z * q.std(axis=0, ddof=1) / math.sqrt(reps) + slack
    np.testing.assert_array_less(np.abs(q.mean(axis=0) - x), tolerance)
    err2 = np.sum((q - x) ** 2, axis=1)
    assert abs(err2.mean() - cond[0]) <= Z * se(err2)
    assert cond[0] <= numeric.quantization_error_bound(x.size, np.ptp(x), levels)


def test_quantization_lemma_on_quadratic(rng):
    """E‖Σp_i ε_i‖² = Σp_i² E‖ε_i‖² (independent unbiased errors); E f(w_{t+1}) ≤ E f(w̄_{t+1}) + (L/2)V_t."""
    prob = quadratic()
    reps, tau = 100_000, 3
    lr = 0.9 * float(numeric.step_size_limit(prob.L, tau))
    w0 = np.repeat((prob.w_star + np.array([1.5, -1.0, 0.5, 2.0]))[None], reps, axis=0)
    r = fedavg_round(prob, w0, lr, tau, levels=2, rng=rng)
    # per sample path the cross terms 2p_ip_j⟨ε_i, ε_j⟩ have mean zero; the difference's SE covers them
    diff = r.agg_err - r.qvar
    assert abs(diff.mean()) <= Z * se(diff)
    # for a quadratic E f(w̄ + e) − f(w̄) = ½E eᵀAe ≤ (L/2)E‖e‖² (E[e | w̄] = 0 kills the linear term)
    excess = prob.f(r.w_next) - prob.f(r.w_bar)
    assert excess.mean() <= prob.L / 2 * r.qvar.mean() + Z * se(excess - prob.L / 2 * r.qvar)
    assert excess.mean() > 0  # the quantization noise is visible in the measurement


def test_drift_lemma_against_simulation(rng):
    """Σ_{k<τ} E‖w_i^k − w_t‖² of every client is below the solved drift bound with G² = ‖∇f(w_t)‖²."""
    prob = quadratic()
    reps = 50_000
    _, _, d_bound = fedavg.drift_lemma()
    bound_fn = sympy.lambdify((S.L, S.lr, S.local_steps, S.sigma2, S.zeta2, S.G2), d_bound)
    for tau in (2, 4, 8):
        lr = 0.95 * float(numeric.step_size_limit(prob.L, tau))
        for offset in (0.0, 1.0):
            w = prob.w_star + offset * np.array([1.5, -1.0, 0.5, 2.0])
            g2 = float(prob.grad(w) @ prob.grad(w))
            r = fedavg_round(prob, np.repeat(w[None], reps, axis=0), lr, tau, levels=None, rng=rng)
            bound = bound_fn(prob.L, lr, tau, prob.sigma2, prob.zeta2, g2)
            for i in range(prob.p.size):
                assert r.drift[:, i].mean() <= bound + Z * se(r.drift[:, i]), (tau, offset, i)


ROUND_CASES = [  # (τ, η as a fraction of the step-size limit, start offset from w*, levels)
    (1, 1.0, 1.0, 1),
    (3, 0.9, 1.0, 3),
    (3, 0.9, 0.0, 3),
    (2, 0.99, 1.0, 1),
    (8, 0.95, 0.0, 2),  # τ = 8: the drift condition sets the step-size limit
    (8, 0.95, 1.0, 2),
]


@pytest.mark.parametrize(("tau", "frac", "offset", "levels"), ROUND_CASES)
def test_one_round_inequality_against_simulation(tau, frac, offset, levels, rng):
    """E f(w_{t+1}) ≤ E f(w_t) − c‖∇f(w_t)‖² + V_sgd + V_drift + (L/2)V_t, from a fixed w_t."""
    prob = quadratic()
    reps = 40_000
    lr = frac * float(numeric.step_size_limit(prob.L, tau))
    w = prob.w_star + offset * np.array([1.5, -1.0, 0.5, 2.0])
    r = fedavg_round(prob, np.repeat(w[None], reps, axis=0), lr, tau, levels, rng)
    pieces = fedavg.one_round()
    args = (S.L, S.lr, S.local_steps, S.sigma2, S.zeta2, S.p2)
    vals = (prob.L, lr, tau, prob.sigma2, prob.zeta2, prob.p2)
    c, v_sgd, v_drift = (float(sympy.lambdify(args, e)(*vals))
                         for e in (pieces.descent, pieces.sgd_noise, pieces.drift))
    # the cached numeric functions are the same pieces
    assert c == pytest.approx(float(numeric.descent_coefficient(prob.L, lr, tau)), rel=1e-12)
    sgd_numeric = float(numeric.sgd_noise_per_round(prob.L, lr, tau, prob.sigma2, prob.p2))
    assert v_sgd == pytest.approx(sgd_numeric, rel=1e-12)
    assert v_drift == pytest.approx(float(numeric.drift_per_round(prob.L, lr, tau, prob.sigma2, prob.zeta2)),
                                    rel=1e-12, abs=1e-300)
    assert float(pieces.quantization.subs({S.L: prob.L, S.qvar: 1.0})) == pytest.approx(prob.L / 2)
    g2 = float(prob.grad(w) @ prob.grad(w))
    # the right side holds V_t = E[Σp_i²‖Q(Δ_i) − Δ_i‖²], measured from the same runs (its own MC error)
    lhs = prob.gap(r.w_next)
    rhs = float(prob.gap(w)) - c * g2 + v_sgd + v_drift + prob.L / 2 * r.qvar.mean()
    assert lhs.mean() <= rhs + Z * se(lhs - prob.L / 2 * r.qvar)


def run_fedavg(prob: Quadratic, w0: np.ndarray, lr: float, tau: int, levels: int, rounds: int, reps: int,
               rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """T rounds from w0; per rep the squared gradient norms (reps, T), V_t means (T,) and final models."""
    w = np.repeat(w0[None], reps, axis=0)
    grad2 = np.empty((reps, rounds))
    qvar = np.empty(rounds)
    for t in range(rounds):
        g = prob.grad(w)
        grad2[:, t] = np.sum(g**2, axis=-1)
        r = fedavg_round(prob, w, lr, tau, levels, rng)
        qvar[t] = r.qvar.mean()
        w = r.w_next
    return grad2, qvar, w


@pytest.mark.parametrize(("tau", "levels"), [(1, 1), (3, 3), (6, 2)])
def test_telescoped_bounds_against_simulation(tau, levels, rng):
    prob = quadratic()
    rounds, reps = 30, 4000
    lr = 0.9 * float(numeric.step_size_limit(prob.L, tau))
    w0 = prob.w_star + np.array([1.5, -1.0, 0.5, 2.0])
    gap0 = float(prob.gap(w0))
    grad2, qvar, w_final = run_fedavg(prob, w0, lr, tau, levels, rounds, reps, rng)
    common = (prob.L, lr, tau, prob.p2, prob.sigma2, prob.zeta2, gap0, rounds)
    # non-convex: (1/T)Σ_t E‖∇f(w_t)‖² ≤ bound with Σ_t α_t V_t = Σ_t V_t (α_t = 1)
    avg = grad2.mean(axis=1)  # independent across reps
    nonconvex = float(numeric.bound_nonconvex(*common, qvar.sum()))
    assert avg.mean() <= nonconvex + Z * se(avg)
    # PL: E f(w_T) − f* ≤ bound with Σ_t ρ^{T−1−t} V_t, μ = λ_min(A)
    rho = float(numeric.contraction(prob.L, lr, tau, prob.mu))
    weights = rho ** (rounds - 1 - np.arange(rounds))
    np.testing.assert_allclose(numeric.round_weight_pl(rho, rounds, np.arange(rounds)), weights, rtol=1e-12)
    final = prob.gap(w_final)
    pl = float(numeric.bound_pl(*common, prob.mu, weights @ qvar))
    assert final.mean() <= pl + Z * se(final)


# ------------------------------------------------------------------------------------------------------------
# the telescoping itself, by direct recursion
# ------------------------------------------------------------------------------------------------------------


@settings(max_examples=50, deadline=None)
@given(tau=st.integers(1, 20), frac=st.floats(0.05, 0.99), rounds=st.integers(1, 60),
       seed=st.integers(0, 2**32 - 1))
def test_bounds_equal_their_recursions(tau, frac, rounds, seed):
    """PL: e_{t+1} = ρe_t + V_sgd + V_drift + (L/2)V_t unrolled T times; nonconvex: (Δ₀ + T(V_sgd+V_drift)
    + (L/2)Σ_t V_t)/(cT). Both against the exported bound functions."""
    gen = np.random.default_rng(seed)
    L, p2, gap = gen.uniform(0.2, 5), 1 / gen.integers(1, 50), gen.uniform(0, 10)
    sigma2, zeta2 = gen.uniform(0, 2, size=2)
    lr = frac * float(numeric.step_size_limit(L, tau))
    mu = gen.uniform(0.01, 1) * L
    v = gen.uniform(0, 1, size=rounds)
    c = float(numeric.descent_coefficient(L, lr, tau))
    vs = float(numeric.sgd_noise_per_round(L, lr, tau, sigma2, p2))
    vd = float(numeric.drift_per_round(L, lr, tau, sigma2, zeta2))
    common = (L, lr, tau, p2, sigma2, zeta2, gap, rounds)
    expected_nc = (gap + rounds * (vs + vd) + L / 2 * v.sum()) / (c * rounds)
    assert float(numeric.bound_nonconvex(*common, v.sum())) == pytest.approx(expected_nc, rel=1e-10)
    rho = 1 - 2 * mu * c
    assert float(numeric.contraction(L, lr, tau, mu)) == pytest.approx(rho, rel=1e-12)
    assert 0.5 <= rho < 1  # 2μc ≤ μητ ≤ Lητ ≤ 1/2 under the conditions
    e = gap
    for t in range(rounds):
        e = rho * e + vs + vd + L / 2 * v[t]
    weights = rho ** (rounds - 1 - np.arange(rounds))
    assert float(numeric.bound_pl(*common, mu, weights @ v)) == pytest.approx(e, rel=1e-9)
    assert float(numeric.weight_total_pl(rho, rounds)) == pytest.approx(weights.sum(), rel=1e-9)
    assert float(numeric.weight_total_nonconvex(rounds)) == rounds


# ------------------------------------------------------------------------------------------------------------
# (e) the step-size conditions
# ------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("L", [0.01, 0.5, 1.0, 3.7, 250.0])
def test_step_size_limit_is_min_of_both_conditions(L):
    for tau in range(1, 51):
        descent = 1 / (2 * L * tau)
        drift = math.inf if tau == 1 else 1 / (L * math.sqrt((tau - 1) * (5 * tau - 1)))
        assert float(numeric.step_size_limit(L, tau)) == pytest.approx(min(descent, drift), rel=1e-14)
    # the drift condition takes over exactly when τ² − 6τ + 1 > 0, i.e. from τ = 6 (3 + 2√2 ≈ 5.83)
    for tau in range(1, 51):
        binding = (tau - 1) * (5 * tau - 1) > 4 * tau**2
        assert binding == (tau >= 6)


@pytest.mark.parametrize("L", [0.05, 1.0, 7.5])
def test_evaluate_rejects_lr_above_the_limit(L):
    base = dict(clients=4, sigma2=0.1, zeta2=0.1, gap=1.0, rounds=10, quantized=False)
    for tau in range(1, 51):
        limit = float(numeric.step_size_limit(L, tau))
        with pytest.raises(InvalidArgument) as info:
            evaluate_bound(L=L, lr=limit * (1 + 1e-6), local_steps=tau, **base)
        assert info.value.argument == "lr"
        assert "lr" in str(info.value)
        ok = evaluate_bound(L=L, lr=limit * (1 - 1e-9), local_steps=tau, **base)
        assert ok.conditions == {"descent": True, "drift": True}
        assert ok.step_size_limit == limit


# ------------------------------------------------------------------------------------------------------------
# (f) term names
# ------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("criterion", CRITERIA)
def test_term_names(criterion):
    b = bound_mod.bound(criterion)
    assert tuple(b.terms) == TERMS
    assert tuple(b.substituted()) == TERMS
    names = set(numeric.names())
    assert {f"bound_{criterion}_{t}" for t in TERMS} | {f"bound_{criterion}"} <= names
    ex = exports()
    total = ex[f"bound_{criterion}"][1]
    assert sympy.simplify(total - sum(ex[f"bound_{criterion}_{t}"][1] for t in TERMS)) == 0
    expected_args = ["L", "lr", "local_steps", "p2", "sigma2", "zeta2", "gap", "rounds"]
    expected_args += ["mu"] * (criterion == "pl") + ["quant_sum"]
    assert numeric.arguments(f"bound_{criterion}") == expected_args


def test_unknown_criterion_is_rejected():
    with pytest.raises(InvalidArgument) as info:
        evaluate_bound("convex", L=1)
    assert info.value.argument == "criterion"


@settings(max_examples=80, deadline=None)
@given(criterion=st.sampled_from(CRITERIA), tau=st.integers(1, 30), frac=st.floats(0.01, 0.999),
       L=st.floats(0.05, 20), clients=st.integers(1, 1000), sigma2=st.floats(0, 10), zeta2=st.floats(0, 10),
       gap=st.floats(0, 100), rounds=st.integers(1, 10_000), mu_frac=st.floats(0.001, 1.0),
       d=st.integers(1, 10**6), R=st.floats(0, 10), bits=st.integers(1, 32))
def test_terms_sum_to_value(criterion, tau, frac, L, clients, sigma2, zeta2, gap, rounds, mu_frac, d, R,
                            bits):
    lr = frac * float(numeric.step_size_limit(L, tau))
    extra = {"mu": mu_frac * L} if criterion == "pl" else {}
    result = evaluate_bound(criterion, L=L, lr=lr, local_steps=tau, clients=clients, sigma2=sigma2,
                            zeta2=zeta2, gap=gap, rounds=rounds, d=d, range_=R, bits=bits, **extra)
    assert tuple(result.terms) == TERMS
    assert all(v >= 0 for v in result.terms.values())
    assert sum(result.terms.values()) == pytest.approx(result.value, rel=1e-12, abs=1e-300)
    assert result.dominant() in TERMS


def test_one_round_noise_term_on_isotropic_quadratic(rng):
    """Where the inequality is nearly tight: A = L·I, identical clients (ζ² = 0), τ = 1, from w* and without
    quantization. Then E f(w_{t+1}) − f* = (η²/2)·L·σ²‖p‖² exactly, half of V_sgd = Lη²σ²‖p‖²; a V_sgd more
    than 2× too small would fail here."""
    L, n, dim = 2.0, 4, 5
    prob = Quadratic(A=L * np.eye(dim), b=np.tile(np.arange(1.0, dim + 1), (n, 1)), p=np.full(n, 1 / n),
                     sigma2=0.8)
    assert prob.zeta2 == 0
    lr = float(numeric.step_size_limit(L, 1))
    reps = 200_000
    r = fedavg_round(prob, np.repeat(prob.w_star[None], reps, axis=0), lr, 1, levels=None, rng=rng)
    measured = prob.gap(r.w_next)
    v_sgd = float(numeric.sgd_noise_per_round(L, lr, 1, prob.sigma2, prob.p2))
    assert measured.mean() <= v_sgd + Z * se(measured)
    assert measured.mean() == pytest.approx(lr**2 / 2 * L * prob.sigma2 * prob.p2, abs=Z * se(measured))
