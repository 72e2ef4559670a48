"""Local drift in root-mean-square form: how far τ local SGD steps take a client from w_t.

Client i starts at w⁰ = w_t and runs w^{k+1} = w^k − η g_i(w^k) with g_i = ∇f_i + noise of variance ≤ σ².
Write ‖X‖ for the root mean square sqrt(E‖X‖²) of a random vector; it obeys the triangle inequality
(Minkowski) and ‖Σ_j noise_j‖ ≤ √k·σ for k martingale steps. With u_k = ‖w^k − w_t‖ and G = ‖∇f(w_t)‖,
ζ_i = ‖∇f_i(w_t) − ∇f(w_t)‖:

    u_k ≤ η√k·σ + η Σ_{j<k} (L·u_j + G + ζ_i)                  (smoothness: ‖∇f_i(w^j) − ∇f_i(w_t)‖ ≤ L u_j)

a discrete Grönwall inequality. Its solution is linear and monotone in the forcing, so the forcing η k (G + ζ_i)
contributes exactly (G + ζ_i)·φ_k with φ_k = ((1 + ηL)^k − 1)/L (the recurrence U_{k+1} = (1 + ηL)U_k + η(G + ζ_i),
solved by sympy), and the forcing η√kσ, which is non-decreasing, at most σ·ψ_k with ψ_k = η√k(1 + ηL)^k
(induction: u_k ≤ a_k + ηL Σ_{j<k} a_j(1 + ηL)^j ≤ a_k(1 + ηL)^k for non-decreasing a). So

    u_k ≤ (G + ζ_i)·φ_k + σ·ψ_k.

Unlike the self-bounding shortcut Σ_{j<k} e_j ≤ D of earlier versions (which needs 3η²L²τ(τ − 1) < 1 and makes
the descent coefficient collapse near the limit), this holds for every η: nothing is solved for.

The drift reaches the one-round inequality through r_t = h_t − ∇f(w_t), the gap between the average gradient along
the local paths and the gradient at w_t. By Jensen over the p_i/τ-weighted (client, step) pairs and smoothness,
‖r_t‖ ≤ (L/√τ)·sqrt(Σ_i p_i Σ_k u_{i,k}²), and Minkowski in that weighted ℓ² gives

    ‖r_t‖ ≤ δ_G·G + δ_X,   δ_G = L‖φ‖/√τ,   δ_X = L(ζ‖φ‖ + σ‖ψ‖)/√τ,

‖φ‖² = Σ_{k<τ} φ_k², ‖ψ‖² = Σ_{k<τ} ψ_k² (closed forms by sympy) and ζ² ≥ Σ_i p_i ζ_i² (the weighted mean: no
client's maximum is needed). At τ = 1 both vanish: one local step has no drift.

Sources: the drift lemmas of local SGD (Stich, "Local SGD converges fast and communicates little", ICLR 2019;
Karimireddy et al., SCAFFOLD, ICML 2020, Lemma on client drift; Wang & Joshi, Cooperative SGD, JMLR 2021) bound
E‖w^k − w_t‖² by a recursion in k; the root-mean-square Grönwall form and its constants are derived here.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import sympy
from sympy.codegen.cfunctions import expm1, log1p

from fedquant.theory import symbols as S
from fedquant.theory.step import Step

SOURCE = ("discrete Grönwall in root-mean-square norms, in the spirit of the drift lemmas of Stich (ICLR 2019), "
          "SCAFFOLD (Karimireddy et al., ICML 2020) and Cooperative SGD (Wang & Joshi, JMLR 2021); constants "
          "derived here")

_u_k = S.label("u_k", "‖wᵏ − wₜ‖", r"\|w^{k}-w_t\|")
_phi_k = S.label("phi_k", "φₖ", r"\varphi_k")
_psi_k = S.label("psi_k", "ψₖ", r"\psi_k")
_r_t = S.label("r_t", "‖hₜ − ∇f(wₜ)‖", r"\|h_t-\nabla f(w_t)\|")


@dataclass(frozen=True)
class Drift:
    phi_k: sympy.Expr  # φ_k = ((1 + ηL)^k − 1)/L
    psi_k: sympy.Expr  # ψ_k = η√k(1 + ηL)^k
    phi_norm2: sympy.Expr  # ‖φ‖² = Σ_{k<τ} φ_k²
    psi_norm2: sympy.Expr  # ‖ψ‖² = Σ_{k<τ} ψ_k²
    delta_g: sympy.Expr  # δ_G
    delta_x: sympy.Expr  # δ_X
    recurrence: sympy.Expr  # the solved linear recurrence (the φ part)
    limit_at_step_limit: sympy.Expr  # sup over τ of δ_G² at ηLτ = 1: ∫₀¹ (eˣ − 1)² dx


def _geometric_branch(expr: sympy.Expr) -> sympy.Expr:
    """Drop sympy's ratio = 1 branch of a geometric sum (here 1 + ηL > 1, so the ratio differs from 1)."""
    return expr.replace(lambda e: isinstance(e, sympy.Piecewise), lambda e: e.args[-1][0])


def _power_minus_one(n: sympy.Expr) -> sympy.Expr:
    """(1 + ηL)^n − 1 as expm1(n·log1p(ηL)): exact, and without cancellation when ηL is small."""
    return expm1(n * log1p(S.lr * S.L))


def _phi_norm2_stable() -> sympy.Expr:
    """Σ_{k<τ} ((1 + q)^k − 1)²/L² = [((1+q)^{2τ} − 1)/(q(2 + q)) − 2((1+q)^τ − 1)/q + τ]/L², q = ηL."""
    q, tau = S.lr * S.L, S.local_steps
    return (_power_minus_one(2 * tau) / (q * (2 + q)) - 2 * _power_minus_one(tau) / q + tau) / S.L**2


def _psi_norm2_stable() -> sympy.Expr:
    """η² Σ_{k<τ} k r^k with r = (1 + ηL)²: η² r(1 − τ r^{τ−1} + (τ − 1) r^τ)/(r − 1)², written with r − 1 = q(2 + q)
    and r^n − 1 through expm1, so that only the last subtraction cancels."""
    q, tau = S.lr * S.L, S.local_steps
    u = q * (2 + q)  # r − 1
    r = 1 + u
    # 1 − τ r^{τ−1} + (τ − 1) r^τ = (τ − 1)(r^τ − 1) − τ(r^{τ−1} − 1)
    inner = (tau - 1) * _power_minus_one(2 * tau) - tau * _power_minus_one(2 * tau - 2)
    return S.lr**2 * r * inner / u**2


def _stable(derived: sympy.Expr, stable: sympy.Expr) -> sympy.Expr:
    """``stable`` after checking it equals sympy's closed form at 40 digits on a grid of (η, L, τ); clamped at 0,
    where only rounding could take it (both are sums of squares)."""
    for lr, L_, tau in ((sympy.Rational(1, 7), sympy.Rational(3, 2), 1), (sympy.Rational(1, 100), 2, 5),
                        (sympy.Rational(3, 10), sympy.Rational(1, 3), 12), (sympy.Rational(1, 1000), 1, 64)):
        point = {S.lr: lr, S.L: L_, S.local_steps: tau}
        a, b = derived.subs(point).evalf(40), stable.subs(point).evalf(40)
        assert abs(a - b) <= sympy.Float("1e-30", 40) * (1 + abs(a)), (a, b)
    return sympy.Max(stable, 0)


@cache
def drift() -> Drift:
    eta, L, tau, k = S.lr, S.L, S.local_steps, S.k
    a = 1 + eta * L
    forcing = sympy.Symbol("g", nonnegative=True)  # G + ζ_i
    u = sympy.Function("U")
    solved = sympy.rsolve(u(k + 1) - a * u(k) - eta * forcing, u(k), {u(0): 0})
    phi_k = (a**k - 1) / L
    assert sympy.simplify(solved - forcing * phi_k) == 0
    psi_k = eta * sympy.sqrt(k) * a**k
    phi_norm2 = _geometric_branch(sympy.summation(sympy.expand(phi_k**2), (k, 0, tau - 1)))
    psi_norm2 = _geometric_branch(sympy.summation(sympy.expand(psi_k**2), (k, 0, tau - 1)))
    for n in range(1, 6):  # the closed forms agree with the finite sums
        for expr, term in ((phi_norm2, phi_k**2), (psi_norm2, psi_k**2)):
            direct = sum(term.subs(k, j) for j in range(n))
            assert sympy.simplify(expr.subs(tau, n) - direct) == 0
    # at τ = 1 the three O(1) terms of the stable form cancel only to rounding (≈ eps/L²): the sum is empty, so 0
    phi_norm2 = sympy.Piecewise((0, sympy.Eq(tau, 1)), (_stable(phi_norm2, _phi_norm2_stable()), True))
    psi_norm2 = _stable(psi_norm2, _psi_norm2_stable())
    delta_g = L * sympy.sqrt(phi_norm2 / tau)
    delta_x = L * (sympy.sqrt(S.zeta2) * sympy.sqrt(phi_norm2)
                   + sympy.sqrt(S.sigma2) * sympy.sqrt(psi_norm2)) / sympy.sqrt(tau)
    x = sympy.Symbol("x", positive=True)
    limit = sympy.integrate((sympy.exp(x) - 1) ** 2, (x, 0, 1))
    return Drift(phi_k=phi_k, psi_k=psi_k, phi_norm2=phi_norm2, psi_norm2=psi_norm2, delta_g=delta_g,
                 delta_x=delta_x, recurrence=solved, limit_at_step_limit=sympy.nsimplify(limit))


def steps() -> list[Step]:
    dr = drift()
    tau = S.local_steps
    per_step = S.lr * sympy.sqrt(S.k) * sympy.sqrt(S.sigma2) + S.lr * sympy.Sum(
        S.L * sympy.Symbol("u_j") + S.grad_rms + S.zeta_i, (S.j, 0, S.k - 1))
    return [
        Step(
            key="fedavg.drift",
            kind="lemma",
            title="Local drift in root-mean-square norms (a discrete Grönwall inequality)",
            statement={
                "drift": sympy.Le(_u_k, (S.grad_rms + S.zeta_i) * _phi_k + sympy.sqrt(S.sigma2) * _psi_k),
                "φₖ": sympy.Eq(_phi_k, dr.phi_k),
                "ψₖ": sympy.Eq(_psi_k, dr.psi_k),
                "gradient mismatch": sympy.Le(_r_t, S.delta_g * S.grad_rms + S.delta_x),
                "δ_G": sympy.Eq(S.delta_g, S.L * sympy.sqrt(S.phi_norm2 / tau)),
                "δ_X": sympy.Eq(S.delta_x, S.L * (sympy.sqrt(S.zeta2 * S.phi_norm2)
                                                  + sympy.sqrt(S.sigma2 * S.psi_norm2)) / sympy.sqrt(tau)),
                "‖φ‖²": sympy.Eq(S.phi_norm2, dr.phi_norm2),
                "‖ψ‖²": sympy.Eq(S.psi_norm2, dr.psi_norm2),
            },
            derivation=(
                ("per local step (Minkowski, martingale noise, smoothness)", sympy.Le(_u_k, per_step)),
                ("Uₖ₊₁ = (1 + ηL)Uₖ + η(G + ζᵢ), U₀ = 0, solved by rsolve", dr.recurrence),
                ("closed forms of Σ_{k<τ} φₖ² and Σ_{k<τ} ψₖ² (checked against the sums for τ = 1..5)",
                 dr.phi_norm2),
                ("at ηLτ = 1, δ_G² ≤ ∫₀¹ (eˣ − 1)² dx (left Riemann sum of an increasing function, (1+q)ᵏ ≤ e^{qk})",
                 dr.limit_at_step_limit),
            ),
            uses=("assume.smooth", "assume.sgd", "assume.heterogeneity"),
            source=SOURCE,
        ),
    ]


def exports() -> dict[str, tuple[tuple[sympy.Symbol, ...], sympy.Expr]]:
    dr = drift()
    return {
        "drift_phi_norm2": ((S.L, S.lr, S.local_steps), dr.phi_norm2),
        "drift_psi_norm2": ((S.L, S.lr, S.local_steps), dr.psi_norm2),
    }
