"""The one-round inequality and the telescoped bounds (theory/drift.py, theory/fedavg.py, theory/bound.py,
theory/evaluate.py), in the root-mean-square form

    E f(w_{t+1}) ≤ E f(w_t) − c·G² + b·G + v + (L/2)·V_t,    G = sqrt(E‖∇f(w_t)‖²),   valid for Lητ ≤ 1.

Checked against independent computations only: special cases with known answers (gradient descent and SGD,
Karimi, Nutini & Schmidt 2016 under PL), direct sums of the drift lemma's sequences, exact enumeration of client
subsets, and a Monte Carlo simulation of quantized FedAvg on quadratics whose constants (L, μ, σ², ζ², f*) are
known exactly. The simulation has its own numpy quantizer, not the theory's.

Monte Carlo comparisons allow the measured mean to exceed its true value by Z = 5 standard errors (one-sided
normal tail 2.9e-7 per comparison; a few hundred comparisons per run keep the family-wise false-alarm rate below
1e-4, and the seeds are fixed, so a run is deterministic anyway). Where a bound is evaluated at a measured V_t or
E'_t, the measured value is raised by Z standard errors first (the bounds increase in it).
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np
import pytest
import sympy
from hypothesis import Phase, assume, given, settings
from hypothesis import strategies as st
from sympy.codegen.cfunctions import expm1, log1p

from fedquant.theory import CRITERIA, TERMS, InvalidArgument, evaluate_bound, fedavg, numeric
from fedquant.theory import bound as bound_mod
from fedquant.theory import drift as drift_mod
from fedquant.theory import symbols as S
from fedquant.theory.derivation import exports

Z = 5.0
EPS = float(np.finfo(float).eps)

# At τ = 1 the sum ‖φ‖² is empty and the shipped function returns exactly 0 (a Piecewise in theory/drift.py; its
# stable closed form would cancel only to ~eps/L² there). The τ = 1 special cases are checked exactly (1e-10) and,
# as a second reading, between the exact formula and the formula with δ_G, δ_X/ζ moved by TAU1_ERR (tau1_bracket).
TAU1_ERR = 4 * math.sqrt(EPS)  # bound on δ_G and δ_X/ζ at τ = 1 in floats (L²‖φ‖² ≤ 16 eps; observed ≤ 2.3 eps)


def tau1_bracket(L: float, lr: float, clients: int, sigma2: float, zeta2: float, gap: float, rounds: int,
                 quant: float, mu: float | None = None) -> tuple[float, float]:
    """(exact, exact with the τ = 1 float error) for SGD with N clients: c = η(1 − Lη/2), b = 0,
    v = Lη²σ²/(2N) + (L/2)V. The float error lowers c by ≤ ηδ_G + (Lη²/2)δ_G², raises b to
    ≤ η δ_X + Lη²δ_G(δ_X + s_ξ) and v to (Lη²/2)(δ_X + s_ξ)² + (L/2)V, with δ_G, δ_X/ζ ≤ TAU1_ERR; each bound is
    monotone in c, b, v, so its value lies between the two (PL: the upper end minimised over a split grid)."""
    c = lr * (1 - L * lr / 2)
    v = L * lr**2 * sigma2 / (2 * clients) + L / 2 * quant
    sx, dx = math.sqrt(sigma2 / clients), TAU1_ERR * math.sqrt(zeta2)
    c_lo = c - lr * TAU1_ERR - L * lr**2 / 2 * TAU1_ERR**2
    b_hi = lr * dx + L * lr**2 * TAU1_ERR * (dx + sx)
    v_hi = L * lr**2 / 2 * (dx + sx) ** 2 + L / 2 * quant
    if mu is None:
        K_hi = gap / rounds + v_hi
        B = b_hi**2 / (4 * c_lo)
        return (gap / rounds + v) / c, (math.sqrt(B) + math.sqrt(B + K_hi)) ** 2 / c_lo
    j = np.arange(rounds)
    rho = 1 - 2 * mu * c
    exact = rho**rounds * gap + v * float(np.sum(rho**j))
    eps = np.concatenate([[1e-300], np.geomspace(1e-14, 0.5, 400)])
    rho_hi = 1 - 2 * mu * (1 - eps) * c_lo
    sums = np.sum(rho_hi[:, None] ** j[None, :], axis=1)
    return exact, float(np.min(rho_hi**rounds * gap + sums * (v_hi + b_hi**2 / (4 * eps * c_lo))))


def in_bracket(value: float, bracket: tuple[float, float]) -> bool:
    lo, hi = bracket
    return lo * (1 - 1e-12) - 1e-300 <= value <= hi * (1 + 1e-9) + 1e-300


# ------------------------------------------------------------------------------------------------------------
# independent evaluations of the drift lemma's sequences (direct sums, written from the lemma's statement)
# ------------------------------------------------------------------------------------------------------------


def phi_k(L: float, lr: float, k: np.ndarray) -> np.ndarray:
    """φ_k = ((1 + ηL)^k − 1)/L, through expm1/log1p (no cancellation)."""
    return np.expm1(np.asarray(k, dtype=float) * np.log1p(L * lr)) / L


def psi_k(L: float, lr: float, k: np.ndarray) -> np.ndarray:
    """ψ_k = η√k(1 + ηL)^k."""
    k = np.asarray(k, dtype=float)
    return lr * np.sqrt(k) * np.exp(k * np.log1p(L * lr))


def direct_norms(L: float, lr: float, tau: int) -> tuple[float, float]:
    """(Σ_{k<τ} φ_k², Σ_{k<τ} ψ_k²) by summing the terms."""
    k = np.arange(tau)
    return float(np.sum(phi_k(L, lr, k) ** 2)), float(np.sum(psi_k(L, lr, k) ** 2))


def descent_lemma_rhs(G: float, L: float, lr: float, tau: int, sigma2: float, zeta2: float, p2: float,
                      omega: float) -> float:
    """The right side of the one-round inequality minus f(w_t), assembled step by step from the descent lemma
    with the pieces computed by direct sums (not from the collected c, b, v):

    −ητ(G² + X) + (Lη²τ²/2)(G² + 2X + Y) + (L/2)Z with X = −G(δ_G G + δ_X) (the worst case, its coefficient
    −ητ(1 − Lητ) being ≤ 0), Y = (δ_G G + δ_X + s_ξ)², Z = ω(αG + β)²."""
    nphi2, npsi2 = direct_norms(L, lr, tau)
    dg = L * math.sqrt(nphi2 / tau)
    dx = L * (math.sqrt(zeta2 * nphi2) + math.sqrt(sigma2 * npsi2)) / math.sqrt(tau)
    sx = math.sqrt(sigma2 * p2 / tau)
    alpha = lr * L * float(np.sum(phi_k(L, lr, np.arange(tau))))
    beta = float(phi_k(L, lr, tau)) * math.sqrt(zeta2) + lr * math.sqrt(tau * sigma2) * (1 + L * math.sqrt(npsi2))
    X = -G * (dg * G + dx)
    Y = (dg * G + dx + sx) ** 2
    Zs = omega * (alpha * G + beta) ** 2
    return -lr * tau * (G**2 + X) + L * lr**2 * tau**2 / 2 * (G**2 + 2 * X + Y) + L / 2 * Zs


def own_descent(L: float, lr: float, tau: int, omega: float = 0.0) -> float:
    """c = minus the G² coefficient of descent_lemma_rhs (a quadratic in G: second difference at G = 0, 1, 2)."""
    r0, r1, r2 = (descent_lemma_rhs(g, L, lr, tau, 0.0, 0.0, 1.0, omega) for g in (0.0, 1.0, 2.0))
    return -(r2 - 2 * r1 + r0) / 2


def report(family: str, case: object, ratio: float) -> None:
    """bound/measured of a simulation (printed; collected with ``pytest -s | grep ratio``)."""
    print(f"ratio[{family}] {case}: {ratio:.4g}")


def change_ratio(bound_change: float, measured_change: float) -> float:
    """How much room a one-round bound on f(w_{t+1}) − f(w_t) leaves: bound/measured when both are increases,
    measured/bound when both are decreases (≥ 1 when the bound holds), inf when the bound allows an increase
    and the measurement decreases."""
    if measured_change > 0:
        return bound_change / measured_change
    if bound_change < 0:
        return measured_change / bound_change
    return math.inf


# ------------------------------------------------------------------------------------------------------------
# (a) special cases with known answers
# ------------------------------------------------------------------------------------------------------------

GD = {S.p2: 1, S.local_steps: 1, S.sigma2: 0, S.zeta2: 0, S.quant_sum: 0, S.sampling: 0}


def _exact(expr: sympy.Expr) -> sympy.Expr:
    """expm1/log1p (the float-stable spellings of the closed forms) as exp/log, so that sympy can simplify."""
    expr = expr.replace(lambda e: isinstance(e, expm1), lambda e: sympy.exp(e.args[0]) - 1)
    return expr.replace(lambda e: isinstance(e, log1p), lambda e: sympy.log(1 + e.args[0]))


def test_nonconvex_reduces_to_gradient_descent_symbolically():
    """N = 1, τ = 1, σ² = ζ² = 0, no quantization: f(w − η∇f) ≤ f − η(1 − Lη/2)‖∇f‖² (descent lemma, Nesterov
    2004, Lemma 1.2.3) telescopes to (1/T)Σ‖∇f(w_t)‖² ≤ Δ₀/(ηT(1 − Lη/2)) for every ηL ≤ 1."""
    total = sum(bound_mod.nonconvex().substituted().values())
    expected = S.gap / (S.lr * S.rounds * (1 - S.L * S.lr / 2))
    assert sympy.simplify(_exact(total.subs(GD)) - expected) == 0


def test_pl_reduces_to_gradient_descent_symbolically():
    """Under PL (‖∇f‖² ≥ 2μ(f − f*)) the descent lemma gives f(w_T) − f* ≤ (1 − 2μη(1 − Lη/2))^T Δ₀, which is
    Karimi, Nutini & Schmidt (2016), Thm 1, (1 − μ/L)^T, at η = 1/L. With b = 0 every split ε gives
    (1 − 2μ(1 − ε)η(1 − Lη/2))^T Δ₀; ε → 0 is the known rate."""
    total = sympy.simplify(_exact(sum(bound_mod.pl().substituted().values()).subs(GD)))
    rate = 1 - 2 * S.mu * S.lr * (1 - S.L * S.lr / 2)
    difference = total.subs(S.split, 0) - rate**S.rounds * S.gap
    # exp(T·log(ρ)) = ρ^T needs ρ > 0, which sympy cannot assume: compare at exact rational points, 40 digits
    for L, lr, mu, T, gap in ((1, sympy.Rational(1, 3), sympy.Rational(1, 5), 7, 2), (2, sympy.Rational(1, 4), 1, 1, 1),
                              (sympy.Rational(3, 2), sympy.Rational(1, 10), sympy.Rational(1, 100), 40, 5)):
        point = {S.L: L, S.lr: lr, S.mu: mu, S.rounds: T, S.gap: gap}
        assert abs(difference.subs(point).evalf(40)) < 1e-30
    assert S.split in total.free_symbols  # b = 0: ε enters only through ρ, and ε → 0 is best


def _gd_common(L: float, frac: float, gap: float, rounds: int) -> dict:
    return dict(L=L, lr=frac / L, local_steps=1, clients=1, sigma2=0, zeta2=0, gap=gap, rounds=rounds,
                quantized=False)


GD_CASES = dict(L=st.floats(0.1, 10), frac=st.floats(0.01, 1.0), gap=st.floats(0.0, 100),
                rounds=st.integers(1, 500), mu_frac=st.floats(0.01, 1.0))


def _check_gd(L, frac, gap, rounds, mu_frac, exactly):
    lr = frac / L
    mu = mu_frac * L
    nc = evaluate_bound("nonconvex", **_gd_common(L, frac, gap, rounds))
    pl = evaluate_bound("pl", mu=mu, **_gd_common(L, frac, gap, rounds))
    if exactly:
        assert nc.value == pytest.approx(gap / (lr * rounds * (1 - L * lr / 2)), rel=1e-10, abs=1e-300)
        assert pl.value == pytest.approx((1 - 2 * mu * lr * (1 - L * lr / 2)) ** rounds * gap, rel=1e-10, abs=1e-300)
    else:
        assert in_bracket(nc.value, tau1_bracket(L, lr, 1, 0.0, 0.0, gap, rounds, 0.0))
        assert in_bracket(pl.value, tau1_bracket(L, lr, 1, 0.0, 0.0, gap, rounds, 0.0, mu))
    for result in (nc, pl):
        assert result.terms["sgd_noise"] == 0 and result.terms["quantization"] == 0
        assert result.terms["drift"] == 0  # b = 0 exactly: no noise and no heterogeneity


@settings(max_examples=60, deadline=None, phases=(Phase.explicit, Phase.reuse, Phase.generate))  # no shrinking
@given(**GD_CASES)
def test_gradient_descent_special_case_exactly(L, frac, gap, rounds, mu_frac):
    """At 1e-10 relative (the bounds are closed forms here, nothing is iterated); fails on the τ = 1 float bug."""
    _check_gd(L, frac, gap, rounds, mu_frac, exactly=True)


@settings(max_examples=60, deadline=None)
@given(**GD_CASES)
def test_gradient_descent_special_case(L, frac, gap, rounds, mu_frac):
    """The same, bracketed by the τ = 1 float error (tau1_bracket): exact up to that error."""
    _check_gd(L, frac, gap, rounds, mu_frac, exactly=False)


@settings(max_examples=60, deadline=None)
@given(L=st.floats(0.1, 10), frac=st.floats(0.01, 1.0), gap=st.floats(0.0, 100), rounds=st.integers(1, 500),
       mu_frac=st.floats(0.01, 1.0), clients=st.integers(1, 50), sigma2=st.floats(0, 5), zeta2=st.floats(0, 5),
       d=st.integers(1, 1000), R=st.floats(0, 3), levels=st.integers(1, 255))
def test_minibatch_sgd_special_case(L, frac, gap, rounds, mu_frac, clients, sigma2, zeta2, d, R, levels):
    """τ = 1 with full participation is SGD on f with a batch of N clients: noise σ²/N, and ζ² does not enter
    (one local step has no drift). Quantization adds (L/2)V per round with V = d R²/(4Ns²) (a block's error is at
    most d cells × (R/s)²/4). The classical constant-step results (Ghadimi & Lan 2013; Bottou, Curtis & Nocedal
    2018, §4.3; Karimi et al. 2016, Thm 4 under PL) then read, with c = η(1 − Lη/2) and v = Lη²σ²/(2N) + (L/2)V,
    nonconvex (Δ₀/T + v)/c and PL ρ^T Δ₀ + v(1 − ρ^T)/(1 − ρ), ρ = 1 − 2μc; up to the τ = 1 float error."""
    lr = frac / L
    common = dict(L=L, lr=lr, local_steps=1, clients=clients, sigma2=sigma2, zeta2=zeta2, gap=gap, rounds=rounds,
                  d=d, range_=R, levels=levels)
    V = d * R**2 / (4 * clients * levels**2)
    nc = evaluate_bound("nonconvex", **common)
    assert in_bracket(nc.value, tau1_bracket(L, lr, clients, sigma2, zeta2, gap, rounds, V))
    c_lo = lr * (1 - L * lr / 2) - lr * TAU1_ERR - L * lr**2 / 2 * TAU1_ERR**2
    assert in_bracket(nc.terms["quantization"], (L / 2 * V / (lr * (1 - L * lr / 2)), L / 2 * V / c_lo))
    mu = mu_frac * L
    pl = evaluate_bound("pl", mu=mu, **common)
    assert in_bracket(pl.value, tau1_bracket(L, lr, clients, sigma2, zeta2, gap, rounds, V, mu))


def test_gradient_descent_bounds_are_attained_on_isotropic_quadratics():
    """Not only the formula but its tightness: on f = (L/2)‖w‖² the descent lemma is an equality, so GD with
    ηL = 1 reaches w* in one step and (1/T)Σ‖∇f(w_t)‖² = ‖∇f(w_0)‖²/T = 2LΔ₀/T = Δ₀/(cT), c = 1/(2L); and on
    f = (μ/2)‖w‖² (L = μ) the gap contracts by (1 − ημ)² = 1 − 2μη(1 − μη/2) exactly. Simulated (no formula
    shared with the theory): the measured value must be the bracket's exact end to 1e-12 and the bound inside it."""
    L, T = 1.7, 12
    w0 = np.array([0.3, -1.2, 2.0])
    w, grad2 = w0.copy(), []
    for _ in range(T):
        grad2.append(float(np.sum((L * w) ** 2)))
        w = w - (1 / L) * (L * w)
    gap0 = L / 2 * float(w0 @ w0)
    nc = evaluate_bound("nonconvex", **_gd_common(L, 1.0, gap0, T))
    bracket = tau1_bracket(L, 1 / L, 1, 0.0, 0.0, gap0, T, 0.0)
    assert bracket[0] == pytest.approx(np.mean(grad2), rel=1e-12)
    assert in_bracket(nc.value, bracket)
    report("GD nonconvex (attained)", "ηL=1", nc.value / np.mean(grad2))
    mu = 0.8
    for frac in (0.1, 0.5, 1.0):
        lr = frac / mu
        w = w0.copy()
        for _ in range(T):
            w = w - lr * (mu * w)
        measured = mu / 2 * float(w @ w)
        gap_mu = mu / 2 * float(w0 @ w0)
        bracket = tau1_bracket(mu, lr, 1, 0.0, 0.0, gap_mu, T, 0.0, mu)
        assert bracket[0] == pytest.approx(measured, rel=1e-12, abs=1e-300)
        assert in_bracket(evaluate_bound("pl", mu=mu, **_gd_common(mu, frac, gap_mu, T)).value, bracket)


# ------------------------------------------------------------------------------------------------------------
# (b) the quantization term
# ------------------------------------------------------------------------------------------------------------

CONSTANTS = dict(L=1.3, lr=0.1, local_steps=4, clients=7, sigma2=0.2, zeta2=0.5, gap=3.0, rounds=40)


@pytest.mark.parametrize("criterion", CRITERIA)
def test_zero_range_gives_zero_quantization_term(criterion):
    extra = {"mu": 0.2} if criterion == "pl" else {}
    zero = evaluate_bound(criterion, d=1000, range_=0.0, levels=3, **CONSTANTS, **extra)
    plain = evaluate_bound(criterion, quantized=False, **CONSTANTS, **extra)
    assert zero.terms["quantization"] == 0.0
    assert zero.value == plain.value
    assert plain.terms["quantization"] == 0.0


@pytest.mark.parametrize("participation", [1.0, 3 / 7])
@pytest.mark.parametrize("criterion", CRITERIA)
def test_quantization_term_assembles_per_round_variance(criterion, participation):
    """V_t = Σ_{i∈S} (1/n)² d R²/(4s²) = d R²/(4ns²) for n equal-weight clients (the block bound: d cells,
    each at most (R/s)²/4), times the criterion's factor: nonconvex (L/(2cT))·T·V (the coefficient of ΣV_t in
    K/c), PL (L/2)·V·Σ_t ρ^{T−1−t} with ρ = 1 − 2μ(1 − ε)c at the reported split ε. c from descent_lemma_rhs
    (direct sums); 1e-9 relative covers the float error of the closed forms at ηL = 0.1 (≤ 1e-13)."""
    d, R, s = 1000, 0.3, 15
    n = max(1, round(participation * CONSTANTS["clients"]))
    extra = {"mu": 0.2} if criterion == "pl" else {}
    got = evaluate_bound(criterion, d=d, range_=R, levels=s, participation=participation, **CONSTANTS, **extra)
    assert got.coefficients["sampled"] == n
    L, lr, tau, T = CONSTANTS["L"], CONSTANTS["lr"], CONSTANTS["local_steps"], CONSTANTS["rounds"]
    N = CONSTANTS["clients"]
    omega = 0.0 if n == N else (N - n) / (n * (N - 1))
    V = d * R**2 / (4 * s**2) / n
    c = own_descent(L, lr, tau, omega)
    if criterion == "nonconvex":
        expected = L / (2 * c * T) * (T * V)
    else:
        rho = 1 - 2 * extra["mu"] * (1 - got.coefficients["split"]) * c
        expected = L / 2 * sum(rho ** (T - 1 - t) * V for t in range(T))
    assert got.terms["quantization"] == pytest.approx(expected, rel=1e-9)
    by_bits = evaluate_bound(criterion, d=d, range_=R, bits=4, participation=participation, **CONSTANTS, **extra)
    assert by_bits.terms == got.terms  # 4 bits are s = 2⁴ − 1 = 15 intervals


# ------------------------------------------------------------------------------------------------------------
# the simulation: quantized FedAvg on quadratics
# ------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Quadratic:
    """f_i(w) = ½wᵀA_iw − b_iᵀw and f = Σ_i p_i f_i. Every f_i is L-smooth with L = max_i ‖A_i‖₂ (so is f);
    ζ_i(w) = ‖∇f_i(w) − ∇f(w)‖ is computed exactly at any w, and with one shared Hessian it is the constant
    ‖b_i − b̄‖, so ζ² = Σ_i p_i‖b_i − b̄‖² (the weighted mean the drift lemma needs) is exact for every iterate.
    μ = λ_min(Σ p_i A_i) is the PL constant of f when positive (f − f* = ½(w − w*)ᵀĀ(w − w*))."""

    A: np.ndarray  # (N, dim, dim), symmetric
    b: np.ndarray  # (N, dim)
    p: np.ndarray  # (N,)
    sigma2: float

    @property
    def dim(self) -> int:
        return self.b.shape[1]

    @property
    def clients(self) -> int:
        return self.b.shape[0]

    @property
    def A_bar(self) -> np.ndarray:
        return np.einsum("i,ijk->jk", self.p, self.A)

    @property
    def b_bar(self) -> np.ndarray:
        return self.p @ self.b

    @property
    def L(self) -> float:
        return float(max(np.abs(np.linalg.eigvalsh(a)).max() for a in self.A))

    @property
    def mu(self) -> float:
        return float(np.linalg.eigvalsh(self.A_bar).min())

    @property
    def shared_hessian(self) -> bool:
        return bool(np.all(self.A[0] == self.A))

    @property
    def p2(self) -> float:
        return float(self.p @ self.p)

    def zeta_i(self, w: np.ndarray) -> np.ndarray:
        g = np.einsum("ijk,k->ij", self.A, w) - self.b
        return np.linalg.norm(g - self.p @ g, axis=1)

    def zeta2(self, w: np.ndarray) -> float:
        return float(self.p @ self.zeta_i(w) ** 2)

    @property
    def w_star(self) -> np.ndarray:
        return np.linalg.solve(self.A_bar, self.b_bar)

    def f(self, w: np.ndarray) -> np.ndarray:
        return 0.5 * np.einsum("...i,ij,...j->...", w, self.A_bar, w) - w @ self.b_bar

    def gap(self, w: np.ndarray) -> np.ndarray:
        return self.f(w) - float(self.f(self.w_star))

    def grad(self, w: np.ndarray) -> np.ndarray:
        return w @ self.A_bar - self.b_bar


def make_quadratic(seed: int, *, clients: int = 3, eigs: tuple[float, ...] = (0.5, 0.8, 1.3, 2.0),
                   spread: float = 0.5, sigma2: float = 0.3, equal: bool = False,
                   hessian_spread: float = 0.0) -> Quadratic:
    """A random quadratic: Hessian Q diag(eigs) Qᵀ (Q a random rotation; eigs may be negative: one round and the
    drift lemma need only smoothness), per-client Hessian perturbations of size hessian_spread, client offsets
    b_i of size spread, and weights p (equal, or Dirichlet)."""
    gen = np.random.default_rng(seed)
    dim = len(eigs)
    rot, _ = np.linalg.qr(gen.normal(size=(dim, dim)))
    base = rot @ np.diag(eigs) @ rot.T
    pert = gen.normal(size=(clients, dim, dim))
    A = base[None] + hessian_spread * (pert + pert.transpose(0, 2, 1)) / 2
    b = spread * gen.normal(size=(clients, dim))
    p = np.full(clients, 1 / clients) if equal else gen.dirichlet(np.full(clients, 3.0))
    return Quadratic(A=(A + A.transpose(0, 2, 1)) / 2, b=b, p=p, sigma2=sigma2)


def stochastic_quantize(x: np.ndarray, levels: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
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


def round_weights(prob: Quadratic, reps: int, sampled: int | None, rng: np.random.Generator) -> np.ndarray:
    """(reps, N) aggregation weights: p under full participation, else 1/n on n clients drawn uniformly without
    replacement (independently per rep) and 0 elsewhere."""
    N = prob.clients
    if sampled is None or sampled >= N:
        return np.broadcast_to(prob.p, (reps, N))
    order = np.argsort(rng.random((reps, N)), axis=1)
    weights = np.zeros((reps, N))
    np.put_along_axis(weights, order[:, :sampled], 1.0 / sampled, axis=1)
    return weights


@dataclass
class RoundResult:
    w_next: np.ndarray  # (reps, dim) quantized FedAvg iterate
    w_bar: np.ndarray  # (reps, dim) the unquantized iterate of the same clients on the same sample path
    qvar: np.ndarray  # (reps,) Σ_{i∈S} p_i² E[‖Q(Δ_i) − Δ_i‖² | Δ_i]
    agg_err: np.ndarray  # (reps,) ‖Σ_{i∈S} p_i (Q(Δ_i) − Δ_i)‖²
    u2: np.ndarray  # (τ + 1, reps, N) ‖w_i^k − w_t‖², k = 0..τ
    h: np.ndarray  # (reps, dim) h_t = (1/τ) Σ_i p_i Σ_{k<τ} ∇f_i(w_i^k) (full-participation weights)


def fedavg_round(prob: Quadratic, w: np.ndarray, lr: float, tau: int, levels: int | None, rng: np.random.Generator,
                 sampled: int | None = None) -> RoundResult:
    """One round of FedAvg from the global models w (reps, dim): τ local SGD steps per client with additive
    Gaussian gradient noise of covariance (σ²/dim)·I (E‖g − ∇f_i‖² = σ², independent across steps), the
    stochastic quantizer on each client's update (one block), then the weighted average of the round's clients."""
    reps, N = w.shape[0], prob.clients
    start = np.repeat(w[:, None, :], N, axis=1)
    local = start.copy()
    u2 = np.zeros((tau + 1, reps, N))
    grad_sum = np.zeros_like(local)
    for k in range(tau):
        g = np.einsum("rij,ijk->rik", local, prob.A) - prob.b
        grad_sum += g
        noise = rng.normal(scale=math.sqrt(prob.sigma2 / prob.dim), size=local.shape)
        local = local - lr * (g + noise)
        u2[k + 1] = np.sum((local - start) ** 2, axis=-1)
    delta = local - start
    if levels is None:
        q, cond = delta, np.zeros((reps, N))
    else:
        q, cond = stochastic_quantize(delta, levels, rng)
    P = round_weights(prob, reps, sampled, rng)
    err = np.einsum("ri,rij->rj", P, q - delta)
    return RoundResult(
        w_next=w + np.einsum("ri,rij->rj", P, q),
        w_bar=w + np.einsum("ri,rij->rj", P, delta),
        qvar=np.sum(P**2 * cond, axis=1),
        agg_err=np.sum(err**2, axis=-1),
        u2=u2,
        h=np.einsum("i,rij->rj", prob.p, grad_sum) / tau,
    )


def se(x: np.ndarray) -> float:
    return float(np.std(x, ddof=1) / math.sqrt(x.shape[0]))


def upper(x: np.ndarray) -> float:
    """The mean raised by Z standard errors (for quantities the bounds increase in)."""
    return float(np.mean(x)) + Z * se(x)


def test_simulation_quantizer_is_the_lemma_quantizer(rng):
    """The test's own quantizer: unbiased, with E‖Q(x) − x‖² = Σ (x−ℓ)(u−x) ≤ d R²/(4s²) (5-SE tolerance)."""
    x = np.array([0.13, -0.7, 0.42, 0.9, -0.05, 0.61])
    reps, levels = 200_000, 3
    q, cond = stochastic_quantize(np.broadcast_to(x, (reps, x.size)), levels, rng)
    # 5 standard errors, plus n·eps·|x| for summing 2·10⁵ doubles along a strided axis (the range endpoints
    # round deterministically, sd = 0, so only that summation error is left for them)
    slack = reps * EPS * np.abs(x)
    tolerance = Z * q.std(axis=0, ddof=1) / math.sqrt(reps) + slack
    np.testing.assert_array_less(np.abs(q.mean(axis=0) - x), tolerance)
    err2 = np.sum((q - x) ** 2, axis=1)
    assert abs(err2.mean() - cond[0]) <= Z * se(err2)
    assert cond[0] <= numeric.quantization_error_bound(x.size, np.ptp(x), levels)


def test_quantization_lemma_on_quadratic(rng):
    """E‖Σp_i ε_i‖² = Σp_i² E‖ε_i‖² (independent unbiased errors); E f(w_{t+1}) ≤ E f(w̄_{t+1}) + (L/2)V_t."""
    prob = make_quadratic(20241125)
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
    assert excess.mean() > Z * se(excess)  # the quantization noise is visible in the measurement
    assert float(numeric.one_step_quantization(prob.L, 1.0)) == pytest.approx(prob.L / 2, rel=1e-15)


# ------------------------------------------------------------------------------------------------------------
# (c) the drift lemma
# ------------------------------------------------------------------------------------------------------------

DRIFT_GRID = [(q, tau) for q in (1.0, 0.3, 0.1, 1e-2, 1e-3, 1e-4, 1e-5, 1e-6, 1e-8)
              for tau in (1, 2, 3, 5, 8, 20, 64, 200, 1000) if q * tau <= 1]


@pytest.mark.parametrize("L", [0.01, 0.7, 3.0, 250.0])
def test_drift_closed_forms_match_direct_sums(L):
    """‖φ‖² = Σ_{k<τ} φ_k² and ‖ψ‖² = Σ_{k<τ} ψ_k² against the sums, over ηL from 1 down to 1e-8 (ηLτ ≤ 1).

    Float precision of the closed forms: ‖ψ‖² keeps ≤ 1e-9 relative down to ηL = 1e-6 (observed ≤ 3e-10). ‖φ‖²
    subtracts terms of size ~τ/L² to leave ~τ³(ηL)²/(3L²), so its relative error grows like eps/(ηLτ)² (observed
    3e-10 at ηL = 1e-3, 8e-9 at ηL = 1e-4 for τ = 2..4, 100% at ηL = 1e-8): relative 1e-9 is asserted for ηL ≥
    1e-3 only. Everywhere the error is absolute and small in the units of the bound, L²·|error|/τ ≤ 16 eps
    (observed ≤ 2.3 eps), i.e. δ_G² = L²‖φ‖²/τ is off by at most 16 eps."""
    for q, tau in DRIFT_GRID:
        lr = q / L
        phi2, psi2 = direct_norms(L, lr, tau)
        got_phi = float(numeric.drift_phi_norm2(L, lr, tau))
        got_psi = float(numeric.drift_psi_norm2(L, lr, tau))
        assert L**2 * abs(got_phi - phi2) / tau <= 16 * EPS, (q, tau)
        assert L**2 * abs(got_psi - psi2) / tau <= 16 * EPS, (q, tau)
        if q >= 1e-3:
            assert got_phi == pytest.approx(phi2, rel=1e-9, abs=0 if tau > 1 else 16 * EPS / L**2), (q, tau)
        if q >= 1e-6:
            assert got_psi == pytest.approx(psi2, rel=1e-9, abs=0), (q, tau)
        # φ_τ and ψ_τ (the update's root-mean-square factors); (1 + q)^τ − 1 there loses eps/(qτ) ≤ 1e-11 at
        # ηL ≥ 1e-4, so 1e-9 relative
        if q >= 1e-4:
            assert float(numeric.update_rms_factor(L, lr, tau)) == pytest.approx(float(phi_k(L, lr, tau)), rel=1e-9)
            assert float(numeric.update_rms_noise(L, lr, tau)) == pytest.approx(float(psi_k(L, lr, tau)), rel=1e-9)
        # δ_G = L‖φ‖/√τ and δ_X = L(ζ‖φ‖ + σ‖ψ‖)/√τ from the sums (absolute, in δ units: √(16 eps) = 6e-8)
        dg = L * math.sqrt(phi2 / tau)
        assert abs(float(numeric.delta_g(L, lr, tau)) - dg) <= 4 * math.sqrt(EPS) + 1e-9 * dg
        dx = L * (math.sqrt(0.7 * phi2) + math.sqrt(0.2 * psi2)) / math.sqrt(tau)
        assert abs(float(numeric.delta_x(L, lr, tau, 0.2, 0.7)) - dx) <= 8 * math.sqrt(EPS) + 1e-9 * dx


def test_drift_vanishes_for_one_local_step():
    """One local step has no drift: φ_0 = ψ_0 = 0, so ‖φ‖² = ‖ψ‖² = 0 at τ = 1 (exact arithmetic), and the
    drift part of v vanishes at τ = 1 under full participation."""
    dr = drift_mod.drift()
    for expr in (dr.phi_norm2, dr.psi_norm2):
        at_one = _exact(expr.subs(S.local_steps, 1))
        for lr, L in ((sympy.Rational(1, 7), sympy.Rational(3, 2)), (sympy.Rational(1, 1000), 5)):
            assert abs(at_one.subs({S.lr: lr, S.L: L}).evalf(50)) < sympy.Float("1e-45", 50)
    v_drift = fedavg.in_constants(fedavg.one_round().drift).subs({S.local_steps: 1, S.sampling: 0})
    assert abs(_exact(v_drift).subs({S.lr: sympy.Rational(1, 3), S.L: 2, S.sigma2: 1, S.zeta2: 2, S.p2: 1})
               .evalf(50)) < sympy.Float("1e-40", 50)
    # in floats: ψ's closed form is exactly 0 at τ = 1, and φ's is within the 16-eps envelope
    L, q = np.geomspace(0.1, 10, 50), np.geomspace(0.01, 1, 50)
    assert np.all(numeric.drift_psi_norm2(L, q / L, 1) == 0)
    assert np.all(L**2 * numeric.drift_phi_norm2(L, q / L, 1) <= 16 * EPS)


def test_drift_closed_forms_vanish_in_floats_at_one_step():
    """Minimal reproduction of the τ = 1 float bug: δ_G(L, η, 1) should be 0 (no drift after one step)."""
    L = np.geomspace(0.1, 10, 200)
    lr = 0.37 / L
    assert np.all(numeric.drift_phi_norm2(L, lr, 1) == 0)
    assert np.all(numeric.delta_g(L, lr, 1) == 0)


def test_drift_lemma_is_attained_by_a_concave_quadratic():
    """The φ part of the lemma is the exact worst case: with f_i = −(L/2)‖w‖² − b_iᵀw (L-smooth, not convex), no
    noise, and ∇f_i(w_t) = (G + ζ_i)·e aligned with ∇f(w_t) = G·e, the local iterates run w^{k+1} − w_t =
    (1 + ηL)(w^k − w_t) − η∇f_i(w_t), so ‖w^k − w_t‖ = (G + ζ_i)φ_k exactly. A φ_k too small by any factor
    fails here (tolerance: 1e-12 relative, a handful of float operations per step)."""
    L, G, zeta, dim = 1.3, 0.7, 0.4, 3
    e = np.array([0.6, 0.0, 0.8])
    b_bar = np.array([0.2, -0.1, 0.5])
    prob = Quadratic(A=np.tile(-L * np.eye(dim), (2, 1, 1)), b=np.stack([b_bar - zeta * e, b_bar + zeta * e]),
                     p=np.array([0.5, 0.5]), sigma2=0.0)
    w = -(G * e + b_bar) / L
    np.testing.assert_allclose(prob.grad(w), G * e, atol=1e-15)
    assert prob.zeta_i(w) == pytest.approx([zeta, zeta], rel=1e-14)
    for tau in (1, 2, 5, 8):
        lr = 1 / (L * tau)
        r = fedavg_round(prob, w[None], lr, tau, None, np.random.default_rng(0))
        for k in range(1, tau + 1):
            expected = (G + zeta) * float(numeric.update_rms_factor(L, lr, k))
            assert math.sqrt(r.u2[k, 0, 0]) == pytest.approx(expected, rel=1e-12), (tau, k)
            assert math.sqrt(r.u2[k, 0, 1]) < expected  # the other client's gradient is G − ζ


DRIFT_SEEDS = [(seed, tau) for seed in (1, 2, 3) for tau in (2, 4, 8)]


@pytest.mark.parametrize(("seed", "tau"), DRIFT_SEEDS)
def test_drift_lemma_against_simulation(seed, tau, rng):
    """sqrt(E‖w_i^k − w_t‖²) ≤ (G + ζ_i)φ_k + σψ_k for every client and every k ≤ τ, at η = 0.99/(Lτ), on random
    indefinite quadratics with client-specific Hessians (L = max_i ‖A_i‖₂), gradient noise and heterogeneity;
    G and ζ_i = ‖∇f_i(w_t) − ∇f(w_t)‖ exact at the fixed w_t. The bound through the shipped φ_τ, ψ_τ functions."""
    prob = make_quadratic(seed, clients=4, eigs=(-2.0, -0.7, 0.4, 1.5), spread=1.0, sigma2=0.5,
                          hessian_spread=0.3)
    L = prob.L
    lr = 0.99 * float(numeric.step_size_limit(L, tau))
    w = np.random.default_rng(seed).normal(size=prob.dim)
    G = float(np.linalg.norm(prob.grad(w)))
    zeta = prob.zeta_i(w)
    reps = 20_000
    r = fedavg_round(prob, np.repeat(w[None], reps, axis=0), lr, tau, None, rng)
    worst = math.inf
    for k in range(1, tau + 1):
        phi, psi = float(numeric.update_rms_factor(L, lr, k)), float(numeric.update_rms_noise(L, lr, k))
        for i in range(prob.clients):
            bound = (G + zeta[i]) * phi + math.sqrt(prob.sigma2) * psi
            measured = r.u2[k, :, i]
            assert measured.mean() - Z * se(measured) <= bound**2, (k, i)
            worst = min(worst, bound / math.sqrt(measured.mean()))
    report("drift lemma", (seed, tau), worst)


@pytest.mark.parametrize(("seed", "tau"), DRIFT_SEEDS)
def test_gradient_mismatch_against_simulation(seed, tau, rng):
    """sqrt(E‖h_t − ∇f(w_t)‖²) ≤ δ_G G + δ_X with ζ² = Σ_i p_i ζ_i² (the weighted mean, not the maximum):
    the step that carries the drift into the one-round inequality."""
    prob = make_quadratic(seed, clients=4, eigs=(-2.0, -0.7, 0.4, 1.5), spread=1.0, sigma2=0.5,
                          hessian_spread=0.3)
    L = prob.L
    lr = 0.99 * float(numeric.step_size_limit(L, tau))
    w = np.random.default_rng(seed + 100).normal(size=prob.dim)
    G = float(np.linalg.norm(prob.grad(w)))
    reps = 20_000
    r = fedavg_round(prob, np.repeat(w[None], reps, axis=0), lr, tau, None, rng)
    mismatch2 = np.sum((r.h - prob.grad(w)) ** 2, axis=-1)
    bound = float(numeric.delta_g(L, lr, tau)) * G + float(numeric.delta_x(L, lr, tau, prob.sigma2, prob.zeta2(w)))
    assert mismatch2.mean() - Z * se(mismatch2) <= bound**2
    report("gradient mismatch", (seed, tau), bound / math.sqrt(mismatch2.mean()))


# ------------------------------------------------------------------------------------------------------------
# (d) the one-round inequality and the telescoped bounds against the simulation
# ------------------------------------------------------------------------------------------------------------


def coefficients(prob: Quadratic, lr: float, tau: int, w: np.ndarray, sampled: int | None) -> tuple[float, ...]:
    """(c, b, v, ω) of the one-round inequality through the shipped functions, ζ² at w."""
    L, N = prob.L, prob.clients
    omega = 0.0 if sampled is None or sampled >= N else float(numeric.sampling_factor(N, sampled))
    args = (L, lr, tau, prob.sigma2, prob.zeta2(w), prob.p2, omega)
    return (float(numeric.descent_coefficient(L, lr, tau, omega)), float(numeric.coupling_coefficient(*args)),
            float(numeric.noise_per_round(*args)), omega)


@settings(max_examples=80, deadline=None)
@given(tau=st.integers(2, 40), frac=st.floats(0.01, 1.0), L=st.floats(0.1, 10), sigma2=st.floats(0, 3),
       zeta2=st.floats(0, 3), clients=st.integers(2, 50), sampled_frac=st.floats(0, 1), G=st.floats(0, 10))
def test_coefficients_match_the_descent_lemma(tau, frac, L, sigma2, zeta2, clients, sampled_frac, G):
    """−cG² + bG + v equals the descent lemma's right side assembled from its pieces (δ_G, δ_X, s_ξ, α, β by
    direct sums; descent_lemma_rhs). A wrong factor in any piece, or a lost cross term, fails. Tolerance 1e-11 of
    the sum of the absolute contributions (observed ≤ 6e-14 over 3000 random draws down to ηL = 2.5e-4, where the
    closed form of ‖φ‖² has lost digits but enters only through the small δ_G)."""
    lr = frac / (L * tau)
    n = max(1, min(clients, round(sampled_frac * clients)))
    omega = 0.0 if n == clients else (clients - n) / (n * (clients - 1))
    p2 = 1 / clients
    args = (L, lr, tau, sigma2, zeta2, p2, omega)
    c = float(numeric.descent_coefficient(L, lr, tau, omega))
    b = float(numeric.coupling_coefficient(*args))
    v = float(numeric.noise_per_round(*args))
    ours = descent_lemma_rhs(G, L, lr, tau, sigma2, zeta2, p2, omega)
    scale = lr * tau * G**2 + abs(b) * G + abs(v) + abs(ours)
    assert -c * G**2 + b * G + v == pytest.approx(ours, abs=1e-11 * scale + 1e-300)
    # the split into SGD noise and drift: V_sgd = (Lη²τ²/2)s_ξ² with s_ξ² = σ²‖p‖²/τ
    v_sgd = float(numeric.sgd_noise_per_round(L, lr, tau, sigma2, p2))
    assert v_sgd == pytest.approx(L * lr**2 * tau * sigma2 * p2 / 2, rel=1e-12, abs=1e-300)
    assert float(numeric.drift_per_round(*args)) == pytest.approx(v - v_sgd, abs=1e-12 * v + 1e-300)


# (τ, η as a fraction of 1/(Lτ), start offset, levels, σ², N, sampled n, Hessians): "shared" (one Hessian),
# "hetero" (client Hessians differ), "indefinite" (f not convex), "strong" (hetero with 2.7× the heterogeneity)
ROUND_CASES = [
    (1, 0.99, 2.0, None, 0.0, 3, None, "shared"),
    (1, 0.99, 2.0, 2, 0.3, 3, None, "shared"),
    (2, 0.99, 2.0, 1, 0.3, 3, None, "hetero"),
    (4, 0.97, 0.0, 3, 0.3, 3, None, "shared"),
    (4, 0.97, 2.0, None, 0.0, 3, None, "hetero"),
    (8, 0.95, 2.0, 2, 0.3, 3, None, "hetero"),
    (8, 0.95, 0.0, 2, 0.3, 3, None, "shared"),
    (8, 0.99, 2.0, None, 0.0, 3, None, "shared"),
    (8, 0.95, 2.0, None, 0.3, 3, None, "strong"),
    (8, 0.95, 2.0, 2, 0.3, 6, 3, "shared"),
    (4, 0.97, 2.0, None, 0.3, 6, 2, "hetero"),
    (8, 0.95, 0.0, None, 0.0, 6, 3, "shared"),
    (8, 0.99, 2.0, 1, 0.3, 6, 4, "hetero"),
    (4, 0.97, 2.0, 2, 0.3, 3, None, "indefinite"),
    (8, 0.95, 2.0, None, 0.0, 3, None, "indefinite"),
]


def round_problem(n_clients: int, sampled: int | None, sigma2: float, hessians: str) -> Quadratic:
    eigs = (-2.0, -0.7, 0.4, 1.5) if hessians == "indefinite" else (0.5, 0.8, 1.3, 2.0)
    strong = hessians == "strong"
    return make_quadratic(7, clients=n_clients, eigs=eigs, sigma2=sigma2, spread=0.8 if strong else 0.3,
                          equal=sampled is not None, hessian_spread=0.0 if hessians == "shared" else 0.1 + strong / 4)


@pytest.mark.parametrize(("tau", "frac", "offset", "levels", "sigma2", "N", "sampled", "hessians"), ROUND_CASES)
def test_one_round_inequality_against_simulation(tau, frac, offset, levels, sigma2, N, sampled, hessians, rng):
    """E f(w_{t+1}) − f(w_t) ≤ −cG² + bG + v + (L/2)V_t from a fixed w_t (so G = ‖∇f(w_t)‖ is exact), with
    V_t = E[Σ_{i∈S} p_i² E‖Q(Δ_i) − Δ_i‖²] measured on the same runs (its Monte Carlo error is inside the
    standard error of the difference)."""
    prob = round_problem(N, sampled, sigma2, hessians)
    L = prob.L
    lr = frac * float(numeric.step_size_limit(L, tau))
    w = (np.zeros(prob.dim) if hessians == "indefinite" else prob.w_star) + offset * np.array([1.5, -1.0, 0.5, 2.0])
    c, b, v, _ = coefficients(prob, lr, tau, w, sampled)
    assert c > 0
    G = float(np.linalg.norm(prob.grad(w)))
    reps = 40_000
    r = fedavg_round(prob, np.repeat(w[None], reps, axis=0), lr, tau, levels, rng, sampled)
    change = prob.f(r.w_next) - prob.f(w)
    rhs = -c * G**2 + b * G + v
    stat = change - L / 2 * r.qvar
    assert stat.mean() <= rhs + Z * se(stat)
    report("one round", (tau, frac, offset, levels, sigma2, N, sampled, hessians),
           change_ratio(rhs + L / 2 * r.qvar.mean(), float(change.mean())))


def test_one_round_sgd_noise_is_exact_on_isotropic_quadratic(rng):
    """Where the inequality is an equality: A = L·I, identical clients (ζ² = 0), τ = 1, from w* and without
    quantization. Then E f(w_{t+1}) − f* = (L/2)η²σ²‖p‖² exactly, which is v = (Lη²τ²/2)s_ξ²; a v too small
    by any factor beyond the 5-SE resolution (here ~1%) fails."""
    L, n, dim = 2.0, 4, 5
    prob = Quadratic(A=np.tile(L * np.eye(dim), (n, 1, 1)), b=np.tile(np.arange(1.0, dim + 1), (n, 1)),
                     p=np.full(n, 1 / n), sigma2=0.8)
    assert prob.zeta2(prob.w_star) == 0
    lr = float(numeric.step_size_limit(L, 1))
    reps = 200_000
    r = fedavg_round(prob, np.repeat(prob.w_star[None], reps, axis=0), lr, 1, None, rng)
    measured = prob.gap(r.w_next)
    v = float(numeric.noise_per_round(L, lr, 1, prob.sigma2, 0.0, prob.p2, 0.0))
    assert measured.mean() == pytest.approx(v, abs=Z * se(measured))
    assert measured.mean() == pytest.approx(lr**2 / 2 * L * prob.sigma2 * prob.p2, abs=Z * se(measured))


@pytest.mark.parametrize(("N", "n"), [(3, 1), (4, 2), (6, 3), (7, 5)])
def test_one_round_sampling_term_is_exact_by_enumeration(N, n):
    """The sampling lemma is an equality for one noise-free step on A = L·I: w̄ = w_t − η∇f(w_t) + dev with
    dev = η(mean_S b_i − b̄), so E f(w̄) = f(w_t) − η(1 − Lη/2)G² + (L/2)ω η²ζ² exactly, which is the one-round
    right side at τ = 1 (α = 0, β = ηζ). The expectation over S is an exact average over all C(N, n) subsets;
    the bound at G = 0 must equal it (1e-12 relative), and at G > 0 up to the τ = 1 float error of c and b
    (≤ ηTAU1_ERR·G² + ηTAU1_ERR·ζ·G, header)."""
    L, dim = 1.5, 3
    gen = np.random.default_rng(N * 10 + n)
    b = gen.normal(size=(N, dim))
    prob = Quadratic(A=np.tile(L * np.eye(dim), (N, 1, 1)), b=b, p=np.full(N, 1 / N), sigma2=0.0)
    lr = 0.8 / L
    for w in (prob.w_star, prob.w_star + np.array([0.4, -1.0, 0.3])):
        f_next = []
        for subset in itertools.combinations(range(N), n):
            idx = list(subset)
            delta = -lr * (L * w - b[idx])  # one local step of each sampled client
            f_next.append(float(prob.f(w + delta.mean(axis=0))))
        measured = float(np.mean(f_next)) - float(prob.f(w))
        c, b_coef, v, omega = coefficients(prob, lr, 1, w, n)
        G = float(np.linalg.norm(prob.grad(w)))
        bound = -c * G**2 + b_coef * G + v
        assert omega == pytest.approx((N - n) / (n * (N - 1)), rel=1e-15)
        if G == 0:
            assert bound == pytest.approx(measured, rel=1e-12)
            assert measured == pytest.approx(L / 2 * omega * lr**2 * prob.zeta2(w), rel=1e-12)
        else:
            slack = lr * TAU1_ERR * G * (G + 2 * math.sqrt(prob.zeta2(w)))
            assert measured <= bound + 1e-12 * abs(measured) <= measured + slack + 2e-12 * abs(measured)


def run_fedavg(prob: Quadratic, w0: np.ndarray, lr: float, tau: int, levels: int | None, rounds: int, reps: int,
               rng: np.random.Generator, sampled: int | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """T rounds from w0; per rep the squared gradient norms (reps, T), V_t samples (reps, T) and final models."""
    w = np.repeat(w0[None], reps, axis=0)
    grad2 = np.empty((reps, rounds))
    qvar = np.empty((reps, rounds))
    for t in range(rounds):
        g = prob.grad(w)
        grad2[:, t] = np.sum(g**2, axis=-1)
        r = fedavg_round(prob, w, lr, tau, levels, rng, sampled)
        qvar[:, t] = r.qvar
        w = r.w_next
    return grad2, qvar, w


SPLITS = np.geomspace(1e-8, 1 - 1e-6, 400)

# (τ, η as a fraction of 1/(Lτ), levels, σ², N, sampled n)
TELESCOPE_CASES = [
    (1, 0.99, 1, 0.3, 3, None),
    (3, 0.97, 3, 0.3, 3, None),
    (8, 0.95, 2, 0.3, 3, None),
    (8, 0.99, None, 0.0, 3, None),
    (6, 0.97, None, 0.3, 6, 3),
    (4, 0.97, 2, 0.3, 6, 3),
    (8, 0.95, None, 0.3, 6, 2),
]


@pytest.mark.parametrize(("tau", "frac", "levels", "sigma2", "N", "sampled"), TELESCOPE_CASES)
def test_telescoped_bounds_against_simulation(tau, frac, levels, sigma2, N, sampled, rng):
    """Non-convex: (1/T)Σ_t E‖∇f(w_t)‖² ≤ bound with ΣV_t measured; PL: E f(w_T) − f* ≤ bound with μ = λ_min(A)
    and Σ_t ρ^{T−1−t}V_t measured, for every split ε (the grid's best is checked; unquantized cases also at
    evaluate_bound's own split). Shared Hessian, so ζ² is exact along the whole trajectory; equal weights."""
    prob = make_quadratic(11, clients=N, sigma2=sigma2, equal=True)
    assert prob.shared_hessian
    L, rounds, reps = prob.L, 30, 4000
    lr = frac * float(numeric.step_size_limit(L, tau))
    w0 = prob.w_star + np.array([1.5, -1.0, 0.5, 2.0])
    gap0 = float(prob.gap(w0))
    zeta2 = prob.zeta2(w0)
    omega = 0.0 if sampled is None else float(numeric.sampling_factor(N, sampled))
    grad2, qvar, w_final = run_fedavg(prob, w0, lr, tau, levels, rounds, reps, rng, sampled)
    common = (L, lr, tau, prob.p2, prob.sigma2, zeta2, gap0, rounds, omega)
    avg = grad2.mean(axis=1)  # independent across reps
    nonconvex = float(numeric.bound_nonconvex(*common, upper(qvar.sum(axis=1))))
    assert avg.mean() <= nonconvex + Z * se(avg)
    report("telescoped nonconvex", (tau, frac, levels, sigma2, N, sampled), nonconvex / avg.mean())
    rho = numeric.contraction_split(L, lr, tau, prob.mu, SPLITS, omega)
    weighted = qvar @ (rho[:, None] ** (rounds - 1 - np.arange(rounds))).T  # (reps, splits)
    quant = weighted.mean(axis=0) + Z * weighted.std(axis=0, ddof=1) / math.sqrt(reps)
    pl = float(np.min(numeric.bound_pl(*common, prob.mu, SPLITS, quant)))
    final = prob.gap(w_final)
    assert final.mean() <= pl + Z * se(final)
    report("telescoped PL", (tau, frac, levels, sigma2, N, sampled), pl / final.mean())
    if levels is None:
        kwargs = dict(L=L, lr=lr, local_steps=tau, clients=N, sigma2=prob.sigma2, zeta2=zeta2, gap=gap0,
                      rounds=rounds, participation=(sampled or N) / N, quantized=False)
        nc = evaluate_bound("nonconvex", **kwargs)
        assert nc.value == pytest.approx(float(numeric.bound_nonconvex(*common, 0.0)), rel=1e-12)
        assert nc.coefficients["omega"] == pytest.approx(omega, rel=1e-15)
        assert evaluate_bound("pl", mu=prob.mu, **kwargs).value <= pl * (1 + 1e-9)
        assert final.mean() <= evaluate_bound("pl", mu=prob.mu, **kwargs).value + Z * se(final)


@settings(max_examples=50, deadline=None)
@given(tau=st.integers(1, 20), frac=st.floats(0.05, 1.0), rounds=st.integers(1, 60), clients=st.integers(1, 20),
       participation=st.floats(0.05, 1.0), seed=st.integers(0, 2**32 - 1))
def test_bounds_equal_their_recursions(tau, frac, rounds, clients, participation, seed):
    """From evaluate_bound's own c, b, v (and split): the non-convex value is the square of the largest root of
    c·A² − b·A = K (numpy's polynomial roots), K = Δ₀/T + v + (L/2)V; the PL value is the recursion
    e_{t+1} = ρe_t + v + b²/(4εc) + (L/2)V unrolled T times, ρ = 1 − 2μ(1 − ε)c."""
    gen = np.random.default_rng(seed)
    L, gap = gen.uniform(0.2, 5), gen.uniform(0, 10)
    sigma2, zeta2 = gen.uniform(0, 2, size=2)
    lr = frac * float(numeric.step_size_limit(L, tau))
    mu = gen.uniform(0.01, 1) * L
    d, R, s = int(gen.integers(1, 500)), gen.uniform(0, 1), int(gen.integers(1, 16))
    kwargs = dict(L=L, lr=lr, local_steps=tau, clients=clients, sigma2=sigma2, zeta2=zeta2, gap=gap, rounds=rounds,
                  participation=participation, d=d, range_=R, levels=s)
    nc = evaluate_bound("nonconvex", **kwargs)
    c, b, v, n = (nc.coefficients[k] for k in ("c", "b", "v", "sampled"))
    assume(c > 0)  # see test_descent_coefficient_is_positive_whenever_evaluate_accepts
    V = d * R**2 / (4 * n * s**2)
    K = gap / rounds + v + L / 2 * V
    root = max(np.roots([c, -b, -K]).real)
    assert nc.value == pytest.approx(root**2, rel=1e-9, abs=1e-300)
    pl = evaluate_bound("pl", mu=mu, **kwargs)
    eps = pl.coefficients["split"]
    rho = 1 - 2 * mu * (1 - eps) * c
    assert pl.coefficients["rho"] == pytest.approx(rho, rel=1e-12)
    assert 0 <= rho < 1
    e = gap
    for _ in range(rounds):
        e = rho * e + v + b**2 / (4 * eps * c) + L / 2 * V
    # the shipped Σ_j ρ^j = (1 − ρ^T)/(2μ(1 − ε)c) takes ρ^T from the rounded ρ: eps/(1 − ρ) relative as ρ → 1
    # (ε → 1 for T = 1)
    assert pl.value == pytest.approx(e, rel=1e-9 + EPS / (1 - rho), abs=1e-300)
    # contraction(L, η, τ, μ) is the ε → 0 rate 1 − 2μc of full participation
    c_full = float(numeric.descent_coefficient(L, lr, tau, 0.0))
    assert float(numeric.contraction(L, lr, tau, mu)) == pytest.approx(1 - 2 * mu * c_full, rel=1e-12)


# ------------------------------------------------------------------------------------------------------------
# (e) the PL split
# ------------------------------------------------------------------------------------------------------------

GRID = np.concatenate([np.geomspace(1e-15, 1e-3, 300), np.linspace(1e-3, 1 - 1e-9, 3000)])


@settings(max_examples=40, deadline=None)
@given(tau=st.integers(1, 30), frac=st.floats(0.05, 1.0), L=st.floats(0.1, 10), sigma2=st.floats(0, 3),
       zeta2=st.floats(0, 3), clients=st.integers(1, 50), participation=st.floats(0.05, 1.0),
       rounds=st.integers(1, 2000), mu_frac=st.floats(0.001, 1.0), gap=st.floats(0, 100), R=st.floats(0, 2),
       quantized=st.booleans())
def test_pl_split_is_no_worse_than_a_grid(tau, frac, L, sigma2, zeta2, clients, participation, rounds, mu_frac,
                                          gap, R, quantized):
    """The PL bound holds for every ε ∈ (0, 1); evaluate_bound's value must be no larger than the best of 3300
    splits (1e-9 relative: Brent's xatol of 1e-10 in log ε). The grid values are computed from the exported
    bound_pl with the quantization sum V·Σ_j ρ(ε)^j summed here."""
    lr = frac * float(numeric.step_size_limit(L, tau))
    mu = mu_frac * L
    d, s = 200, 3
    kwargs = dict(L=L, lr=lr, local_steps=tau, clients=clients, sigma2=sigma2, zeta2=zeta2, gap=gap, rounds=rounds,
                  participation=participation, d=d, range_=R, levels=s, quantized=quantized)
    got = evaluate_bound("pl", mu=mu, **kwargs)
    omega, n = got.coefficients["omega"], got.coefficients["sampled"]
    assume(got.coefficients["c"] > 0)  # see test_descent_coefficient_is_positive_whenever_evaluate_accepts
    V = d * R**2 / (4 * n * s**2) if quantized else 0.0
    rho = numeric.contraction_split(L, lr, tau, mu, GRID, omega)
    quant = V * (1 - rho**rounds) / (1 - rho)
    grid = numeric.bound_pl(L, lr, tau, 1 / clients, sigma2, zeta2, gap, rounds, omega, mu, GRID, quant)
    assert got.value <= float(np.min(grid)) * (1 + 1e-9) + 1e-300


# ------------------------------------------------------------------------------------------------------------
# (f) the step-size condition
# ------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("L", [0.05, 1.0, 7.5, 250.0])
def test_step_size_limit_is_one_over_L_tau(L):
    """Lητ ≤ 1 is the only step-size condition: the limit is 1/(Lτ) for every τ (no drift condition any more),
    lr above it is rejected with InvalidArgument naming lr, and lr at or just below it is accepted."""
    base = dict(clients=4, sigma2=0.1, zeta2=0.1, gap=1.0, rounds=10, quantized=False)
    for tau in (*range(1, 51), 64, 1000):
        limit = float(numeric.step_size_limit(L, tau))
        assert limit == pytest.approx(1 / (L * tau), rel=1e-15)
        with pytest.raises(InvalidArgument) as info:
            evaluate_bound(L=L, lr=limit * (1 + 1e-9), local_steps=tau, **base)
        assert info.value.argument == "lr"
        assert "lr" in str(info.value)
        for lr in (limit, limit * (1 - 1e-9), 0.95 * limit):
            ok = evaluate_bound(L=L, lr=lr, local_steps=tau, **base)
            assert ok.conditions == {"step size": True, "descent": True}
            assert ok.step_size_limit == limit
            assert ok.coefficients["c"] > 0


def test_descent_coefficient_is_positive_up_to_the_limit_without_sampling():
    """Under full participation c > 0 for every ηLτ ≤ 1 (at ηLτ = 1, Lc = (1 − δ_G²)/2 with δ_G² below
    ∫₀¹(eˣ − 1)²dx ≈ 0.758), and c ≤ ητ(1 − Lητ/2) ≤ 1/(2L), which makes ρ = 1 − 2μc ∈ [0, 1). c from the
    direct-sum assembly (descent_lemma_rhs), against the shipped function to 1e-9."""
    integral = (math.e**2 - 1) / 2 - 2 * (math.e - 1) + 1
    L = 1.0
    for tau in (1, 2, 3, 5, 10, 50, 200):
        for frac in (0.01, 0.3, 0.7, 0.9, 0.99, 1.0):
            lr = frac / (L * tau)
            c = own_descent(L, lr, tau)
            shipped = float(numeric.descent_coefficient(L, lr, tau, 0.0))
            if tau > 1:
                assert shipped == pytest.approx(c, rel=1e-9)
            else:  # δ_G = 0 exactly at τ = 1: the same formula up to the rounding of its few operations
                assert shipped == pytest.approx(c, rel=4 * EPS)
            assert 0 < c <= lr * tau * (1 - L * lr * tau / 2) <= 1 / (2 * L)
        nphi2, _ = direct_norms(L, 1 / (L * tau), tau)
        assert L**2 * nphi2 / tau < integral
    assert L * own_descent(L, 1 / 1000, 1000) == pytest.approx((1 - integral) / 2, abs=2e-3)


def test_sampling_that_makes_c_nonpositive_is_refused():
    """Client sampling lowers c by (L/2)ωα², which can reach 0 inside ηLτ ≤ 1 (n = 1 of N = 2, τ = 20 at ηLτ = 1):
    evaluate_bound refuses such an lr naming it, and just below the reported limit c is positive and the
    noise-free PL bound stays at most the initial gap."""
    kw = dict(mu=1.0, L=1.0, local_steps=20, clients=2, participation=0.5, sigma2=0.0, zeta2=0.0, gap=1.0, rounds=3,
              quantized=False)
    with pytest.raises(InvalidArgument) as info:
        evaluate_bound("pl", lr=1 / 20, **kw)
    assert info.value.argument == "lr" and "1 of 2 clients per round" in str(info.value)
    limit = float(str(info.value).split("step-size limit ")[1].split()[0])
    assert 0 < limit < 1 / 20
    # c changes sign at the limit: positive a little below it, not positive a little above it
    omega = 1.0  # (N − n)/(n(N − 1)) for n = 1, N = 2
    assert float(numeric.descent_coefficient(1.0, limit * (1 - 1e-4), 20, omega)) > 0
    assert float(numeric.descent_coefficient(1.0, limit * (1 + 1e-4), 20, omega)) <= 0
    got = evaluate_bound("pl", lr=limit * 0.9, **kw)
    assert got.coefficients["c"] > 0 and got.coefficients["rho"] < 1 and got.value <= 1.0
    assert got.conditions["descent"] and got.step_size_limit == pytest.approx(limit, rel=1e-4)


# ------------------------------------------------------------------------------------------------------------
# (g) term names
# ------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("criterion", CRITERIA)
def test_term_names(criterion):
    b = bound_mod.bound(criterion)
    assert tuple(b.terms) == TERMS == ("initial_gap", "sgd_noise", "drift", "quantization")
    assert tuple(b.substituted()) == TERMS
    names = set(numeric.names())
    assert {f"bound_{criterion}_{t}" for t in TERMS} | {f"bound_{criterion}"} <= names
    ex = exports()
    total = ex[f"bound_{criterion}"][1]
    assert sympy.simplify(total - sum(ex[f"bound_{criterion}_{t}"][1] for t in TERMS)) == 0
    expected_args = ["L", "lr", "local_steps", "p2", "sigma2", "zeta2", "gap", "rounds", "sampling"]
    expected_args += ["mu", "split"] * (criterion == "pl") + ["quant_sum"]
    assert numeric.arguments(f"bound_{criterion}") == expected_args


def test_unknown_criterion_is_rejected():
    with pytest.raises(InvalidArgument) as info:
        evaluate_bound("convex", L=1)
    assert info.value.argument == "criterion"


@settings(max_examples=80, deadline=None)
@given(criterion=st.sampled_from(CRITERIA), tau=st.integers(1, 30), frac=st.floats(0.01, 1.0),
       L=st.floats(0.05, 20), clients=st.integers(1, 1000), participation=st.floats(0.01, 1.0),
       sigma2=st.floats(0, 10), zeta2=st.floats(0, 10), gap=st.floats(0, 100), rounds=st.integers(1, 10_000),
       mu_frac=st.floats(0.001, 1.0), d=st.integers(1, 10**6), R=st.floats(0, 10), bits=st.integers(1, 32))
def test_terms_sum_to_value(criterion, tau, frac, L, clients, participation, sigma2, zeta2, gap, rounds, mu_frac,
                            d, R, bits):
    lr = frac * float(numeric.step_size_limit(L, tau))
    extra = {"mu": mu_frac * L} if criterion == "pl" else {}
    result = evaluate_bound(criterion, L=L, lr=lr, local_steps=tau, clients=clients, participation=participation,
                            sigma2=sigma2, zeta2=zeta2, gap=gap, rounds=rounds, d=d, range_=R, bits=bits, **extra)
    assume(result.coefficients["c"] > 0)  # see test_descent_coefficient_is_positive_whenever_evaluate_accepts
    assert tuple(result.terms) == TERMS
    assert all(v >= 0 for v in result.terms.values())
    assert sum(result.terms.values()) == pytest.approx(result.value, rel=1e-12, abs=1e-300)
    assert result.dominant() in TERMS


# ------------------------------------------------------------------------------------------------------------
# (h) the sampling factor
# ------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("N", [2, 3, 4, 5, 7])
def test_sampling_factor_by_exact_enumeration(N):
    """E‖(1/n)Σ_{i∈S} x_i − x̄‖² = ω·(1/N)Σ_i‖x_i − x̄‖² over all C(N, n) subsets (uniform without replacement),
    ω = (N − n)/(n(N − 1)): 0 at n = N, 1 at n = 1. Exact averages; 1e-12 relative."""
    gen = np.random.default_rng(N)
    x = gen.normal(size=(N, 3))
    xbar = x.mean(axis=0)
    spread = float(np.mean(np.sum((x - xbar) ** 2, axis=1)))
    for n in range(1, N + 1):
        devs = [float(np.sum((x[list(s)].mean(axis=0) - xbar) ** 2)) for s in itertools.combinations(range(N), n)]
        omega = float(numeric.sampling_factor(N, n))
        assert np.mean(devs) == pytest.approx(omega * spread, rel=1e-12, abs=1e-15)
        result = evaluate_bound(L=1.0, lr=0.1, local_steps=2, clients=N, participation=n / N, sigma2=0.1, zeta2=0.1,
                                gap=1.0, rounds=5, quantized=False)
        assert result.coefficients["sampled"] == n
        assert result.coefficients["omega"] == pytest.approx(np.mean(devs) / spread, rel=1e-12, abs=1e-15)


def test_sampling_factor_edge_cases():
    """One client (n = max(1, round(F·N)) = 1 = N) and full participation have ω = 0; n = 1 of N has ω = 1."""
    one = evaluate_bound(L=1.0, lr=0.1, local_steps=2, clients=1, participation=0.3, sigma2=0.1, zeta2=0.1,
                         gap=1.0, rounds=5, quantized=False)
    assert one.coefficients["sampled"] == 1 and one.coefficients["omega"] == 0.0
    full = evaluate_bound(L=1.0, lr=0.1, local_steps=2, clients=9, sigma2=0.1, zeta2=0.1, gap=1.0, rounds=5,
                          quantized=False)
    assert full.coefficients["sampled"] == 9 and full.coefficients["omega"] == 0.0
    assert float(numeric.sampling_factor(9, 1)) == 1.0
