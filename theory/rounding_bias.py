"""Biased quantizers and error feedback: how a quantizer that is not unbiased enters the one-round inequality.

Deterministic rounding to the nearest grid point (FedDQ's released code; ``--quantizer deterministic``) is biased:
the error m_i = Q(Δ_i) − Δ_i is a function of Δ_i, so the cross term ⟨∇f(w̄), e⟩ of the quantization lemma no
longer vanishes, and the errors of different clients can point the same way. Write the error of client i as
m_i + z_i, m_i = E[Q(Δ_i) | all Δ_j] − Δ_i its conditional bias and z_i the zero-mean rest (uncorrelated across
clients); with m = Σ_i p_i m_i, z = Σ_i p_i z_i, L-smoothness at w̄ and E⟨∇f(w̄), z⟩ = 0, E⟨m, z⟩ = 0 give

    E f(w_{t+1}) ≤ E f(w̄) + ‖∇f(w̄)‖·M + (L/2)(M² + V_t),     M = ‖m‖ ≤ Σ_i p_i ‖m_i‖   (no 1/N reduction)

with ‖·‖ the root mean square. The bias enters at first order in the error, O(1/s), where the unbiased lemma has
(L/2)V_t = O(1/s²). With ‖∇f(w̄)‖ ≤ ‖∇f(w_t)‖ + L‖w̄ − w_t‖ ≤ κ_G·G + κ_0 (drift lemma) it adds M·κ_G to the
coupling b and M·κ_0 + (L/2)M² to v. Deterministic rounding has m_i = Q(Δ_i) − Δ_i, ‖m_i‖² ≤ Σ_blocks d_k R_k²/(4s_k²)
per draw, and V_t = 0; the toolkit's stochastic rounding has a dither bias of at most (2⁻¹⁷ + ulp32(s + 1))·δ per
coordinate (validation/compression/stochastic.py), which this lemma accounts for in the checks.

Error feedback (EF-SGD: Karimireddy, Rebjock, Stich, Jaggi, ICML 2019; Stich & Karimireddy, JMLR 2020): client i
keeps e_{t,i}, sends Q(Δ_{t,i} + e_{t,i}) and keeps e_{t+1,i} = Δ_{t,i} + e_{t,i} − Q(Δ_{t,i} + e_{t,i}). Under full
participation with fixed weights the virtual iterate ŵ_t = w_t + Σ_i p_i e_{t,i} moves by the unquantized
aggregate exactly, ŵ_{t+1} = ŵ_t + Σ_i p_i Δ_{t,i}. The descent lemma at ŵ_t then differs from the unquantized one
only by −ητ⟨∇f(ŵ_t) − ∇f(w_t), h_t⟩ ≤ Lητ·E'_t·‖h_t‖, E'_t = ‖Σ_i p_i e_{t,i}‖, and ‖h_t‖ ≤ (1 + δ_G)G + δ_X:

    E f(ŵ_{t+1}) ≤ E f(ŵ_t) − c·G² + (b + Lητ(1 + δ_G)E'_t)·G + v + Lητ·δ_X·E'_t

— no V_t term at all, and the error enters multiplied by Lητ: second order in the step. Telescoping uses
ŵ_0 = w_0 and f(ŵ_T) ≥ f*. With client sampling the virtual iterate does not move by the aggregate (absent
clients' residuals are not sent), and this lemma does not cover it.
"""

from __future__ import annotations

import sympy

from fedquant.theory import symbols as S
from fedquant.theory.fedavg import in_constants, one_round
from fedquant.theory.step import Step

SOURCE_EF = ("error feedback: Karimireddy, Rebjock, Stich, Jaggi, 'Error Feedback Fixes SignSGD and other Gradient "
             "Compression Schemes', ICML 2019; Stich & Karimireddy, 'The Error-Feedback Framework', JMLR 2020 "
             "(the virtual-iterate argument); constants derived here")

_bias = S.label("bias_rms", "M", "M")
_resid = S.label("resid_rms", "E'ₜ", "E'_t")
_grad_bar = S.label("grad_bar", "‖∇f(w̄ₜ₊₁)‖", r"\|\nabla f(\bar w_{t+1})\|")
_f_virtual_next = S.label("f_hat_next", "E f(ŵₜ₊₁)", r"\mathbb{E} f(\hat w_{t+1})")
_f_virtual = S.label("f_hat", "E f(ŵₜ)", r"\mathbb{E} f(\hat w_t)")


def gradient_after_round() -> tuple[sympy.Expr, sympy.Expr]:
    """(κ_G, κ_0) with ‖∇f(w̄)‖ ≤ κ_G·G + κ_0: ‖w̄ − w_t‖ ≤ ητ(‖∇f‖ + ‖r‖ + ‖ξ‖) + √ω(αG + β)."""
    eta, tau, L = S.lr, S.local_steps, S.L
    a_s, b_s = sympy.Symbol("alpha_s"), sympy.Symbol("beta_s")
    move = eta * tau * ((1 + S.delta_g) * S.grad_rms + S.delta_x + S.noise_rms) + sympy.sqrt(S.sampling) * (
        a_s * S.grad_rms + b_s)
    grad_bar = sympy.expand(S.grad_rms + L * move)
    poly = sympy.Poly(grad_bar, S.grad_rms)
    return poly.coeff_monomial(S.grad_rms), poly.coeff_monomial(1)


def error_feedback_terms() -> tuple[sympy.Expr, sympy.Expr]:
    """(added to b per unit E', added to v per unit E'): Lητ(1 + δ_G) and Lητ·δ_X."""
    x = S.L * S.lr * S.local_steps
    return x * (1 + S.delta_g), x * S.delta_x


def steps() -> list[Step]:
    kg, k0 = gradient_after_round()
    ef_b, ef_v = error_feedback_terms()
    c = sympy.Symbol("c")
    return [
        Step(
            key="quantizer.biased_lemma",
            kind="lemma",
            title="A biased quantizer (deterministic rounding, or the dither's residual bias) in the one-round step",
            statement={
                "quantized vs unquantized iterate": sympy.Le(
                    S.f_next, S.f_bar + _grad_bar * _bias + S.L / 2 * (_bias**2 + S.qvar)),
                "bias": sympy.Le(_bias, S.label("bias_sum", "Σᵢ pᵢ‖mᵢ‖", r"\textstyle\sum_i p_i\|m_i\|")),
                "gradient after the round": sympy.Le(_grad_bar, S.label("kG", "κ_G", r"\kappa_G") * S.grad_rms
                                                     + S.label("k0", "κ_0", r"\kappa_0")),
                "κ_G": kg,
                "κ_0": k0,
                "added to b": _bias * S.label("kG", "κ_G", r"\kappa_G"),
                "added to v": _bias * S.label("k0", "κ_0", r"\kappa_0") + S.L / 2 * _bias**2,
            },
            uses=("assume.smooth", "fedavg.drift", "fedavg.one_round", "quantizer.deterministic"),
            source="L-smoothness at w̄ with the error split into its conditional bias and a zero-mean part; "
            "Cauchy–Schwarz on E⟨∇f(w̄), m⟩. The bias is O(1/s) and does not average out over clients",
        ),
        Step(
            key="quantizer.error_feedback",
            kind="lemma",
            title="Error feedback: the residual enters at second order, with no variance term",
            statement={
                "virtual iterate": sympy.Eq(S.label("w_hat", "ŵₜ", r"\hat w_t"), S.label(
                    "w_plus_resid", "wₜ + Σᵢ pᵢ eₜ,ᵢ", r"w_t+\textstyle\sum_i p_i e_{t,i}")),
                "one round": sympy.Le(_f_virtual_next, _f_virtual - c * S.grad_rms**2
                                      + (S.coupling + ef_b * _resid) * S.grad_rms + S.noise_const + ef_v * _resid),
            },
            conditions={"full participation": sympy.Eq(S.sampling, 0)},
            uses=("assume.smooth", "fedavg.drift", "fedavg.one_round"),
            source=SOURCE_EF,
        ),
    ]


def exports() -> dict[str, tuple[tuple[sympy.Symbol, ...], sympy.Expr]]:
    kg, k0 = gradient_after_round()
    ef_b, ef_v = error_feedback_terms()
    a_s, b_s = sympy.Symbol("alpha_s"), sympy.Symbol("beta_s")
    alpha, beta = one_round().sampling
    subs = {a_s: alpha, b_s: beta}
    noisy = (S.L, S.lr, S.local_steps, S.sigma2, S.zeta2, S.p2, S.sampling)
    core = (S.L, S.lr, S.local_steps)
    return {
        "biased_gradient_factor": ((*core, S.sampling), in_constants(kg.subs(subs))),
        "biased_gradient_offset": (noisy, in_constants(k0.subs(subs))),
        "error_feedback_factor": (core, in_constants(ef_b)),
        "error_feedback_offset": ((*core, S.sigma2, S.zeta2), in_constants(ef_v)),
    }
