"""One round of quantized FedAvg: the quantization lemma and the one-round inequality in root-mean-square form.

Setting (docs/design.md §1): client i starts from w_t, runs τ local SGD steps w^{k+1} = w^k − η g_i(w^k) and sends
Q(Δ_{t,i}) with Δ_{t,i} = w^τ − w_t; the server sets w_{t+1} = w_t + Σ_i p_i Q(Δ_{t,i}) over the round's clients.
The unquantized full-participation iterate is w̄_{t+1} = w_t − ητ(h_t + ξ_t) with

    h_t = (1/τ) Σ_i p_i Σ_k ∇f_i(w^k_{t,i}),   ξ_t = (1/τ) Σ_i p_i Σ_k (g_i(w^k_{t,i}) − ∇f_i(w^k_{t,i})).

With G_t = sqrt(E‖∇f(w_t)‖²) the theorem reads

    E f(w_{t+1}) ≤ E f(w_t) − c·G_t² + b·G_t + v + (L/2)·V_t        (Lητ ≤ 1)

where c, b, v are computed below from the descent lemma, the drift lemma (theory/drift.py) and, when n of N
clients are sampled per round, the sampling deviation (factor ω = (N − n)/(n(N − 1)), 0 under full
participation). The linear term b·G_t is the honest price of drift, noise and heterogeneity: keeping it (rather
than splitting it by Young's inequality into the descent coefficient) is what makes the bound exact for gradient
descent (N = 1, τ = 1, σ² = ζ² = 0: c = η(1 − Lη/2), b = v = 0) and within a small factor of PEPit's exact worst case
for local gradient descent (docs/design.md §3, tests/theory/test_pepit_tightness.py).
Quantization enters only through the quantization lemma (unbiased quantizers; the biased and error-feedback
forms are in theory/rounding_bias.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import sympy

from fedquant.theory import symbols as S
from fedquant.theory.drift import _geometric_branch, drift
from fedquant.theory.step import Step

SOURCE = (
    "descent lemma at w_t (Wang & Joshi, Cooperative SGD, JMLR 2021; Reddi et al., Adaptive Federated "
    "Optimization, ICLR 2021), the root-mean-square drift lemma of theory/drift.py, and the sampling variance of "
    "n of N clients drawn without replacement; constants derived here"
)

C_DESCENT = S.label("c_descent", "c", "c")


@dataclass(frozen=True)
class OneRound:
    """The pieces of E f(w_{t+1}) ≤ E f(w_t) − c·G² + b·G + v + (L/2)·V_t, written with δ_G, δ_X, s_ξ, ω, α, β."""

    descent: sympy.Expr  # c
    coupling: sympy.Expr  # b
    noise: sympy.Expr  # v = V_sgd + V_drift
    sgd_noise: sympy.Expr  # V_sgd = (Lη²τ²/2)·s_ξ²
    drift: sympy.Expr  # V_drift = v − V_sgd
    quantization: sympy.Expr  # (L/2)·V_t
    sampling: tuple[sympy.Expr, sympy.Expr]  # (α, β): the sampling deviation is ≤ √ω(αG + β)
    substitutions: dict[sympy.Symbol, sympy.Expr]  # δ_G, δ_X, s_ξ, α, β, ‖φ‖², ‖ψ‖² in the problem constants
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


def _sampling_pieces() -> tuple[sympy.Expr, sympy.Expr]:
    """(α, β) with sqrt((1/N)Σ_i E‖Δ_i + ητ∇f(w_t)‖²) ≤ α·G + β (equal weights p_i = 1/N).

    Δ_i + ητ∇f(w_t) = −η Σ_k (noise_k + ∇f_i(w^k) − ∇f_i(w_t) + ∇f_i(w_t) − ∇f(w_t)), so by Minkowski its
    root mean square is at most η√τσ + ηL Σ_k u_k + ητζ_i, with Σ_k u_k ≤ (G + ζ_i)Σ_k φ_k + σ√τ‖ψ‖ (drift lemma,
    Cauchy–Schwarz on Σ_k ψ_k) and ητ + ηL Σ_k φ_k = φ_τ.
    """
    dr = drift()
    eta, L, tau = S.lr, S.L, S.local_steps
    phi_sum = _geometric_branch(sympy.summation(dr.phi_k, (S.k, 0, tau - 1)))
    phi_tau = dr.phi_k.subs(S.k, tau)
    assert sympy.simplify(eta * tau + eta * L * phi_sum - phi_tau) == 0
    alpha = sympy.simplify(eta * L * phi_sum)
    beta = phi_tau * sympy.sqrt(S.zeta2) + eta * sympy.sqrt(tau) * sympy.sqrt(S.sigma2) * (
        1 + L * sympy.sqrt(S.psi_norm2))
    return alpha, beta


@cache
def one_round() -> OneRound:
    """Assemble the one-round inequality from the descent lemma, the drift lemma and client sampling.

    Descent lemma at w_t for the sampled unquantized aggregate w̄ = w_t − ητ(h + ξ) + (sampling deviation):
    E f(w̄) ≤ f_t − ητE⟨∇f, h⟩ + (L/2)η²τ²E‖h + ξ‖² + (L/2)E‖sampling deviation‖², using E⟨∇f(w_t), ξ⟩ = 0 and
    that uniform sampling is unbiased. Write h = ∇f + r: E⟨∇f, h⟩ = G² + E⟨∇f, r⟩ and
    E‖h + ξ‖² = G² + 2E⟨∇f, r⟩ + E‖r + ξ‖², so the inner products enter with −ητ(1 − Lητ) ≤ 0 (the step-size
    condition Lητ ≤ 1) and Cauchy–Schwarz bounds them by G‖r‖. Then ‖r‖ ≤ δ_G G + δ_X (drift lemma),
    ‖r + ξ‖ ≤ δ_G G + δ_X + s_ξ (Minkowski) with s_ξ² = σ²‖p‖²/τ (independent clients, martingale steps), and the
    sampling deviation has root mean square ≤ √ω(αG + β). Collected in G, the right side is
    f_t − c·G² + b·G + v.
    """
    eta, tau, L = S.lr, S.local_steps, S.L
    G, dg, dx, sx, om = S.grad_rms, S.delta_g, S.delta_x, S.noise_rms, S.sampling
    inner = sympy.Symbol("X")  # E⟨∇f(w_t), r_t⟩
    rest = sympy.Symbol("Y")  # E‖r_t + ξ_t‖²
    dev = sympy.Symbol("Z")  # E‖sampling deviation‖²
    descent = S.f_t - eta * tau * (G**2 + inner) + L * eta**2 * tau**2 / 2 * (G**2 + 2 * inner + rest) + L / 2 * dev
    inner_coeff = sympy.factor(sympy.expand(descent).coeff(inner))
    assert sympy.simplify(inner_coeff + eta * tau * (1 - L * eta * tau)) == 0
    alpha, beta = _sampling_pieces()
    a_s, b_s = sympy.Symbol("alpha_s"), sympy.Symbol("beta_s")
    bounded = descent.subs({inner: -G * (dg * G + dx), rest: (dg * G + dx + sx) ** 2,
                            dev: om * (a_s * G + b_s) ** 2})
    poly = sympy.Poly(sympy.expand(bounded - S.f_t), G)
    c_derived, b_derived, v_derived = -poly.coeff_monomial(G**2), poly.coeff_monomial(G), poly.coeff_monomial(1)
    x = L * eta * tau
    c_read = present(c_derived, eta * tau * (1 - x / 2) - eta * tau * (1 - x) * dg - x**2 / (2 * L) * dg**2
                     - L / 2 * om * a_s**2)
    b_read = present(b_derived, eta * tau * (1 - x) * dx + x**2 / L * dg * (dx + sx) + L * om * a_s * b_s)
    v_read = present(v_derived, x**2 / (2 * L) * (dx + sx) ** 2 + L / 2 * om * b_s**2)
    dr = drift()
    subs = {dg: dr.delta_g, dx: dr.delta_x, sx: sympy.sqrt(S.sigma2 * S.p2 / tau), a_s: alpha, b_s: beta,
            S.phi_norm2: dr.phi_norm2, S.psi_norm2: dr.psi_norm2}
    v_sgd = x**2 / (2 * L) * S.noise_rms**2
    return OneRound(
        descent=c_read, coupling=b_read, noise=v_read, sgd_noise=v_sgd, drift=sympy.expand(v_read - v_sgd),
        quantization=L / 2 * S.qvar, sampling=(alpha, beta), substitutions=subs,
        conditions={"step size": sympy.Le(L * eta * tau, 1), "descent": sympy.Gt(C_DESCENT, 0)},
    )


def in_constants(expr: sympy.Expr) -> sympy.Expr:
    """``expr`` with δ_G, δ_X, s_ξ, ‖φ‖², ‖ψ‖² and the sampling pieces replaced by the problem constants."""
    subs = one_round().substitutions
    out = expr
    for _ in range(3):  # the substituted pieces contain ‖φ‖², ‖ψ‖² themselves
        out = out.subs(subs)
    return out


def sampling_factor() -> sympy.Expr:
    """ω = (N − n)/(n(N − 1)): E‖(1/n)Σ_{i∈S} x_i − x̄‖² = ω·(1/N)Σ_i ‖x_i − x̄‖² for n of N drawn uniformly
    without replacement (the finite-population correction; Cochran, Sampling Techniques, 1977, Thm 2.2)."""
    N, n = S.clients, S.sampled
    return (N - n) / (n * (N - 1))


def step_size_limit() -> sympy.Expr:
    """The largest η the step-size condition Lητ ≤ 1 allows: 1/(Lτ) (1/L for gradient descent)."""
    return sympy.solve(sympy.Eq(S.L * S.lr * S.local_steps, 1), S.lr)[0]


def steps() -> list[Step]:
    double, value = quantization_lemma()
    r = one_round()
    alpha, beta = r.sampling
    lhs_q = S.label("agg_err", "E‖Σᵢpᵢ(Q(Δᵢ) − Δᵢ)‖²", r"\mathbb{E}\|\textstyle\sum_i p_i(Q(\Delta_i)-\Delta_i)\|^{2}")
    dev = S.label("sampling_dev", "E‖(1/n)Σ_{i∈S}xᵢ − x̄‖²", r"\mathbb{E}\|\tfrac1n\sum_{i\in S}x_i-\bar x\|^{2}")
    spread = S.label("spread", "(1/N)Σᵢ‖xᵢ − x̄‖²", r"\tfrac1N\sum_i\|x_i-\bar x\|^{2}")
    c = C_DESCENT
    one_round_rhs = S.f_t - c * S.grad_rms**2 + S.coupling * S.grad_rms + S.noise_const + r.quantization
    return [
        Step(
            key="fedavg.quantization_lemma",
            kind="lemma",
            title="Unbiased quantization adds a separable variance term to the unquantized FedAvg iterate",
            statement={
                "aggregate error": sympy.Eq(lhs_q, S.qvar),
                "quantized vs unquantized iterate": sympy.Le(S.f_next, S.f_bar + S.L / 2 * S.qvar),
            },
            derivation=(("Σᵢ Σⱼ pᵢpⱼ E⟨εᵢ, εⱼ⟩ with E⟨εᵢ, εⱼ⟩ = δᵢⱼVᵢ", double), ("summed", value)),
            uses=("assume.smooth", "assume.quantizer"),
            source="L-smoothness at w̄ₜ₊₁ with e = Σᵢ pᵢ(Q(Δᵢ) − Δᵢ): E⟨∇f(w̄ₜ₊₁), e⟩ = 0 needs E[e | all Δⱼ] = 0, "
            "and E‖e‖² = Σᵢ pᵢ² E‖εᵢ‖² needs the errors uncorrelated across clients given all Δⱼ (assume.quantizer)",
        ),
        Step(
            key="fedavg.sampling",
            kind="lemma",
            title="Client sampling: n of N clients uniformly without replacement, equal weights",
            statement={
                "sampling variance": sympy.Eq(dev, S.sampling * spread),
                "ω": sympy.Eq(S.sampling, sampling_factor()),
                "spread of the updates": sympy.Le(sympy.sqrt(spread), S.label("alpha_s", "α", r"\alpha") * S.grad_rms
                                                  + S.label("beta_s", "β", r"\beta")),
                "α": sympy.Eq(S.label("alpha_s", "α", r"\alpha"), alpha),
                "β": sympy.Eq(S.label("beta_s", "β", r"\beta"), beta),
            },
            derivation=(("ω at full participation n = N", sympy.Integer(0)),),
            uses=("fedavg.drift", "assume.sgd", "assume.heterogeneity"),
            source="finite-population correction (Cochran, Sampling Techniques, 1977, Thm 2.2); the spread about "
            "the mean is at most the second moment about −ητ∇f(wₜ), bounded by the drift lemma. The server's "
            "weights pᵢ = nᵢ/Σ_{j∈S} nⱼ are equal (1/n) only for equal client sizes; with unequal sizes the "
            "ratio estimator is biased and this lemma does not cover it",
        ),
        Step(
            key="fedavg.one_round",
            kind="theorem",
            title="One round of quantized FedAvg (root-mean-square form)",
            statement={
                "one round": sympy.Le(S.f_next, one_round_rhs),
                "descent coefficient": sympy.Eq(c, r.descent),
                "coupling": sympy.Eq(S.coupling, r.coupling),
                "noise": sympy.Eq(S.noise_const, r.noise),
                "SGD noise": sympy.Eq(S.noise_rms, sympy.sqrt(S.sigma2 * S.p2 / S.local_steps)),
            },
            derivation=(
                ("largest step size η", step_size_limit()),
                ("gradient descent (τ = 1, σ² = ζ² = 0, N = 1): c", sympy.factor(in_constants(r.descent).subs(
                    {S.local_steps: 1, S.sampling: 0}))),
            ),
            conditions=r.conditions,
            uses=("fedavg.quantization_lemma", "fedavg.drift", "fedavg.sampling", "assume.smooth", "assume.sgd"),
            source=SOURCE,
        ),
    ]


def exports() -> dict[str, tuple[tuple[sympy.Symbol, ...], sympy.Expr]]:
    r = one_round()
    tau = S.local_steps
    core = (S.L, S.lr, S.local_steps)
    noisy = (*core, S.sigma2, S.zeta2, S.p2, S.sampling)
    return {
        "descent_coefficient": ((*core, S.sampling), in_constants(r.descent)),
        "coupling_coefficient": (noisy, in_constants(r.coupling)),
        "noise_per_round": (noisy, in_constants(r.noise)),
        "sgd_noise_per_round": ((*core, S.sigma2, S.p2), in_constants(r.sgd_noise)),
        "drift_per_round": (noisy, in_constants(r.drift)),
        "delta_g": (core, in_constants(S.delta_g)),
        "delta_x": ((*core, S.sigma2, S.zeta2), in_constants(S.delta_x)),
        "update_rms_factor": (core, drift().phi_k.subs(S.k, tau)),  # φ_τ: ‖Δᵢ‖ ≤ (G + ζᵢ)φ_τ + σψ_τ
        "update_rms_noise": (core, drift().psi_k.subs(S.k, tau)),  # ψ_τ
        "sampling_factor": ((S.clients, S.sampled), sampling_factor()),
        "step_size_limit": ((S.L, S.local_steps), step_size_limit()),
        "condition_step_size": (core, S.L * S.lr * tau),
        # the condition itself (True where the bound applies), so no caller retypes ≤ 1
        "step_size_condition_holds": (core, r.conditions["step size"]),
        # the quantization lemma's one-step term: E f(w_{t+1}) ≤ f(w̄_{t+1}) + (L/2)·V_t
        "one_step_quantization": ((S.L, S.qvar), r.quantization),
    }
