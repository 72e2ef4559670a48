"""One round of quantized FedAvg: the quantization lemma, a local-drift lemma and the one-round inequality.

Setting (docs/design.md §1): client i starts from w_t, runs τ local SGD steps w^{k+1} = w^k − η g_i(w^k) and sends
Q(Δ_{t,i}) with Δ_{t,i} = w^τ − w_t; the server sets w_{t+1} = w_t + Σ_i p_i Q(Δ_{t,i}). The unquantized
iterate is w̄_{t+1} = w_t − ητ(h_t + ξ_t) with

    h_t = (1/τ) Σ_i p_i Σ_k ∇f_i(w^k_{t,i}),   ξ_t = (1/τ) Σ_i p_i Σ_k (g_i(w^k_{t,i}) − ∇f_i(w^k_{t,i})).

The argument is the standard one for local SGD / FedAvg on non-convex objectives (descent lemma at w_t,
polarisation of the inner product, a drift lemma bounding Σ_k E‖w^k − w_t‖²), in the form of Wang & Joshi,
"Cooperative SGD", JMLR 22 (2021), and Reddi et al., "Adaptive Federated Optimization", ICLR 2021 (Lemma 3).
The constants here are our own, computed below by sympy; they reduce exactly to gradient descent when
N = 1, τ = 1, σ² = ζ² = 0 and nothing is quantized. Quantization enters only through the quantization lemma.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import sympy

from fedquant.theory import symbols as S
from fedquant.theory.step import Step

SOURCE = (
    "descent lemma + polarisation + local-drift lemma as in Wang & Joshi, Cooperative SGD, JMLR 2021, and "
    "Reddi et al., Adaptive Federated Optimization, ICLR 2021 (Lemma 3); constants derived here"
)

_a = S.lr**2 * S.L**2  # η²L², the quantity both step-size conditions are about

C_DESCENT = S.label("c_descent", "c", "c")
V_SGD = S.label("v_sgd", "V_sgd", r"V_{\mathrm{sgd}}")
V_DRIFT = S.label("v_drift", "V_drift", r"V_{\mathrm{drift}}")


@dataclass(frozen=True)
class OneRound:
    """The pieces of the one-round inequality E f(w_{t+1}) ≤ E f(w_t) − c·G² + V_sgd + V_drift + (L/2)·V_t."""

    descent: sympy.Expr  # c, the coefficient of E‖∇f(w_t)‖²
    sgd_noise: sympy.Expr  # V_sgd
    drift: sympy.Expr  # V_drift
    quantization: sympy.Expr  # (L/2)·V_t
    drift_bound: sympy.Expr  # the bound on D_t = Σ_k E‖w^k − w_t‖²
    conditions: dict[str, sympy.Basic]


def tidy(expr: sympy.Expr, *syms: sympy.Symbol) -> sympy.Expr:
    """Collect ``expr`` in ``syms`` and factor every coefficient: the readable form of a bound."""
    num, den = sympy.fraction(sympy.together(expr))
    num = sympy.collect(sympy.expand(num), syms, func=sympy.factor)
    return num / sympy.factor(den)


def present(derived: sympy.Expr, readable: sympy.Expr) -> sympy.Expr:
    """Return ``readable`` after sympy has checked that it equals ``derived`` identically.

    sympy's own normal forms scatter signs and expand products; the readable form groups them the way a
    paper would. The check makes it a rewriting, not a second formula.
    """
    if sympy.simplify(derived - readable) != 0:
        raise AssertionError(f"readable form differs from the derivation: {derived} vs {readable}")
    return readable


def _one_minus(*factors: sympy.Expr) -> sympy.Expr:
    return 1 - sympy.Mul(*factors, evaluate=False)


def quantization_lemma() -> tuple[sympy.Expr, sympy.Expr]:
    """E‖Σ_i p_i ε_i‖² = Σ_i p_i² E‖ε_i‖² for independent zero-mean ε_i; returns (double sum, its value)."""
    i, jj, n = sympy.symbols("i j N", integer=True, positive=True)
    p = sympy.IndexedBase("p")
    v = sympy.IndexedBase("V")
    # E<ε_i, ε_j> = δ_ij E‖ε_i‖²: independent across clients and unbiased
    summand = p[i] * p[jj] * sympy.KroneckerDelta(i, jj) * v[i]
    inner = sympy.Sum(summand, (jj, 1, n)).doit()
    if isinstance(inner, sympy.Piecewise):  # the branch 1 ≤ i ≤ N holds over the outer range
        inner = inner.args[0][0]
    return sympy.Sum(summand, (jj, 1, n), (i, 1, n)), sympy.Sum(inner, (i, 1, n))


def drift_lemma() -> tuple[sympy.Expr, sympy.Expr, sympy.Expr]:
    """Solve the self-bounding inequality for D = Σ_{k<τ} E‖w^k − w_t‖².

    Per step: e_k ≤ 2η²kσ² + 2η²k Σ_{j<k} E‖∇f_i(w^j)‖² (martingale noise + Cauchy–Schwarz), and
    ‖∇f_i(w^j)‖² ≤ 3L²e_j + 3ζ² + 3G² (smoothness, heterogeneity). Summing over k and bounding Σ_{j<k} e_j ≤ D
    gives D ≤ a₀ + a₁ D; returns (per-step bound, summed right side, solved bound on D).
    """
    k = S.k
    per_step = 2 * S.lr**2 * k * S.sigma2 + 6 * S.lr**2 * k * S.L**2 * S.drift + 6 * S.lr**2 * k**2 * (
        S.zeta2 + S.G2
    )
    summed = sympy.summation(sympy.expand(per_step), (k, 0, S.local_steps - 1))
    solved = sympy.solve(sympy.Eq(S.drift, summed), S.drift)[0]
    summed = tidy(summed, S.drift, S.sigma2, S.zeta2, S.G2)
    tau = S.local_steps
    readable = (
        S.lr**2 * tau * (tau - 1) * (S.sigma2 + (2 * tau - 1) * (S.zeta2 + S.G2))
        / _one_minus(3, _a, tau, tau - 1)
    )
    return per_step, summed, present(solved, readable)


@cache
def one_round() -> OneRound:
    """Assemble the one-round inequality by substituting each lemma into the descent lemma.

    Descent lemma at w_t with w̄ − w_t = −ητ(h + ξ) and E⟨∇f(w_t), ξ⟩ = 0, polarisation
    −⟨∇f, h⟩ = ½(‖∇f − h‖² − ‖∇f‖² − ‖h‖²), and (L/2)E‖w̄ − w_t‖² ≤ Lη²τ²(E‖h‖² + E‖ξ‖²). Then
    E‖ξ‖² ≤ σ²Σp²/τ (independent clients, martingale steps) and E‖∇f − h‖² ≤ (L²/τ)·D (Jensen, smoothness).
    """
    eta, tau, L = S.lr, S.local_steps, S.L
    coeff = {  # the right side is f_t + Σ coeff[X]·X over these per-round expectations
        S.dev2: eta * tau / 2,
        S.G2: -eta * tau / 2,
        S.H2: -eta * tau / 2 + L * eta**2 * tau**2,
        S.xi2: L * eta**2 * tau**2,
    }
    _, _, d_bound = drift_lemma()
    dev_bound = L**2 / tau * d_bound
    # E‖h‖² carries ητ(Lητ − 1/2) ≤ 0 under the descent condition and is dropped
    h_coeff = sympy.factor(coeff[S.H2])
    sgd = sympy.factor(coeff[S.xi2] * S.sigma2 * S.p2 / tau)
    drift_part = present(
        coeff[S.dev2] * dev_bound.subs(S.G2, 0),
        S.lr**3 * L**2 * tau * (tau - 1) * (S.sigma2 + (2 * tau - 1) * S.zeta2) / (2 * _one_minus(3, _a, tau, tau - 1)),
    )
    g_total = coeff[S.G2] + coeff[S.dev2] * sympy.diff(dev_bound, S.G2)
    descent = present(
        -g_total, eta * tau * _one_minus(_a, tau - 1, 5 * tau - 1) / (2 * _one_minus(3, _a, tau, tau - 1))
    )
    positive = sympy.factor(sympy.numer(sympy.together(descent * 2 / (eta * tau))))
    conditions = {
        "descent": sympy.Le(L * eta * tau, sympy.Rational(1, 2)),
        "drift": sympy.StrictLessThan(_a * (tau - 1) * (5 * tau - 1), 1),
    }
    # the conditions are what the derivation needs: h's coefficient ≤ 0 and the descent coefficient > 0
    assert sympy.simplify(h_coeff - eta * tau * (L * eta * tau - sympy.Rational(1, 2))) == 0
    assert sympy.simplify(sympy.Abs(positive) - sympy.Abs(1 - _a * (tau - 1) * (5 * tau - 1))) == 0
    return OneRound(
        descent=descent,
        sgd_noise=sgd,
        drift=drift_part,
        quantization=L / 2 * S.qvar,
        drift_bound=d_bound,
        conditions=conditions,
    )


def step_size_limit() -> sympy.Expr:
    """The largest η the two conditions allow: 1/(L·max(2τ, sqrt((τ−1)(5τ−1)))).

    The first condition gives η ≤ 1/(2Lτ); the second (strict) η < 1/(L·sqrt((τ−1)(5τ−1))), void at τ = 1.
    """
    tau = S.local_steps
    eta_1 = sympy.solve(sympy.Eq(S.L * S.lr * tau, sympy.Rational(1, 2)), S.lr)[0]
    roots = sympy.solve(sympy.Eq(_a * (tau - 1) * (5 * tau - 1), 1), S.lr)
    eta_2 = [e for e in roots if e.could_extract_minus_sign() is False]
    limit = 1 / (S.L * sympy.Max(2 * tau, sympy.sqrt((tau - 1) * (5 * tau - 1))))
    assert sympy.simplify(eta_1 - 1 / (2 * S.L * tau)) == 0
    assert any(sympy.simplify(e - 1 / (S.L * sympy.sqrt((tau - 1) * (5 * tau - 1)))) == 0 for e in eta_2)
    return limit


def steps() -> list[Step]:
    double, value = quantization_lemma()
    per_step, summed, d_bound = drift_lemma()
    r = one_round()
    lhs_q = S.label("agg_err", "E‖Σᵢpᵢ(Q(Δᵢ) − Δᵢ)‖²", r"\mathbb{E}\|\textstyle\sum_i p_i(Q(\Delta_i)-\Delta_i)\|^{2}")
    e_k = S.label("e_k", "E‖wᵏ − wₜ‖²", r"\mathbb{E}\|w^{k}-w_t\|^{2}")
    c, v_sgd, v_drift = C_DESCENT, V_SGD, V_DRIFT
    one_round_rhs = S.f_t - c * S.G2 + v_sgd + v_drift + r.quantization
    return [
        Step(
            key="fedavg.quantization_lemma",
            kind="lemma",
            title="Quantization adds a separable variance term to the unquantized FedAvg iterate",
            statement={
                "aggregate error": sympy.Eq(lhs_q, S.qvar),
                "quantized vs unquantized iterate": sympy.Le(S.f_next, S.f_bar + S.L / 2 * S.qvar),
            },
            derivation=(("Σᵢ Σⱼ pᵢpⱼ E⟨εᵢ, εⱼ⟩ with E⟨εᵢ, εⱼ⟩ = δᵢⱼVᵢ", double), ("summed", value)),
            uses=("assume.smooth", "assume.quantizer"),
            source="L-smoothness at w̄ₜ₊₁ with the zero-mean error e = Σᵢ pᵢ(Q(Δᵢ) − Δᵢ) (docs/design.md §3)",
        ),
        Step(
            key="fedavg.drift",
            kind="lemma",
            title="Local drift: D = Σ_{k<τ} E‖wᵏ − wₜ‖² of any client",
            statement={"drift": sympy.Le(S.drift, d_bound)},
            derivation=(
                ("per local step k (uses Σ_{j<k} eⱼ ≤ D)", sympy.Le(e_k, per_step)),
                ("summed over k = 0..τ−1", sympy.Le(S.drift, summed)),
                ("solved for D", d_bound),
            ),
            conditions={"drift": r.conditions["drift"]},
            uses=("assume.smooth", "assume.sgd", "assume.heterogeneity"),
            source=SOURCE,
        ),
        Step(
            key="fedavg.one_round",
            kind="theorem",
            title="One round of quantized FedAvg",
            statement={
                "one round": sympy.Le(S.f_next, one_round_rhs),
                "descent coefficient": sympy.Eq(c, r.descent),
                "SGD noise": sympy.Eq(v_sgd, r.sgd_noise),
                "drift": sympy.Eq(v_drift, r.drift),
            },
            derivation=(("largest step size η", step_size_limit()),),
            conditions=r.conditions,
            uses=("fedavg.quantization_lemma", "fedavg.drift", "assume.smooth", "assume.sgd"),
            source=SOURCE,
        ),
    ]


def exports() -> dict[str, tuple[tuple[sympy.Symbol, ...], sympy.Expr]]:
    r = one_round()
    tau = S.local_steps
    return {
        "descent_coefficient": ((S.L, S.lr, S.local_steps), r.descent),
        "sgd_noise_per_round": ((S.L, S.lr, S.local_steps, S.sigma2, S.p2), r.sgd_noise),
        "drift_per_round": ((S.L, S.lr, S.local_steps, S.sigma2, S.zeta2), r.drift),
        "step_size_limit": ((S.L, S.local_steps), step_size_limit()),
        "condition_descent": ((S.L, S.lr, S.local_steps), S.L * S.lr * tau),
        "condition_drift": ((S.L, S.lr, S.local_steps), _a * (tau - 1) * (5 * tau - 1)),
        # the conditions themselves (True where the bound applies), so no caller retypes ≤ 1/2 or < 1
        "descent_condition_holds": ((S.L, S.lr, S.local_steps), r.conditions["descent"]),
        "drift_condition_holds": ((S.L, S.lr, S.local_steps), r.conditions["drift"]),
        # the quantization lemma's one-step term: E f(w_{t+1}) ≤ f(w̄_{t+1}) + (L/2)·V_t
        "one_step_quantization": ((S.L, S.qvar), r.quantization),
    }
