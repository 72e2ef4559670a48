"""The assumptions of the bound, as printable steps (docs/design.md §3).

f = Σ_i p_i f_i over N clients. Each statement is what the derivation may use, nothing more.
"""

from __future__ import annotations

import sympy

from fedquant.theory import symbols as S
from fedquant.theory.step import Step

_grad_diff = S.label("grad_lip", "‖∇fᵢ(x) − ∇fᵢ(y)‖", r"\|\nabla f_i(x)-\nabla f_i(y)\|")
_xy = S.label("x_minus_y", "‖x − y‖", r"\|x-y\|")
_sgd_var = S.label("sgd_var", "E‖gᵢ(w) − ∇fᵢ(w)‖²", r"\mathbb{E}\|g_i(w)-\nabla f_i(w)\|^{2}")
_sgd_mean = S.label("sgd_mean", "E[gᵢ(w)]", r"\mathbb{E}[g_i(w)]")
_grad_i = S.label("grad_i", "∇fᵢ(w)", r"\nabla f_i(w)")
_hetero = S.label("hetero", "Σᵢ pᵢ‖∇fᵢ(w) − ∇f(w)‖²", r"\textstyle\sum_i p_i\|\nabla f_i(w)-\nabla f(w)\|^{2}")
_grad_sq = S.label("grad_sq", "‖∇f(w)‖²", r"\|\nabla f(w)\|^{2}")
_gap_w = S.label("gap_w", "f(w) − f*", r"f(w)-f^{*}")
_q_mean = S.label("q_mean", "E[Q(Δₜ,ᵢ) | Δₜ,₁, …, Δₜ,N]",
                  r"\mathbb{E}[Q(\Delta_{t,i})\mid\Delta_{t,1},\dots,\Delta_{t,N}]")
_q_cross = S.label("q_cross", "E[⟨εᵢ, εⱼ⟩ | Δₜ,₁, …, Δₜ,N] (i ≠ j)",
                   r"\mathbb{E}[\langle\varepsilon_i,\varepsilon_j\rangle\mid\Delta_{t,1},\dots,\Delta_{t,N}]"
                   r"\ (i\neq j)")
_dither_bias = S.label("dither_bias", "|E[Q(x) | x] − x|", r"|\mathbb{E}[Q(x)\mid x]-x|")
_pl_rhs = S.label("pl_rhs", "μ·(f(w) − f*)", r"\mu\,(f(w)-f^{*})")
_delta = S.label("delta_ti", "Δₜ,ᵢ", r"\Delta_{t,i}")
_fw = S.label("f_w", "f(w)", "f(w)")


def steps() -> list[Step]:
    return [
        Step(
            key="assume.smooth",
            kind="assumption",
            title="Every fᵢ is L-smooth",
            statement={"smoothness": sympy.Le(_grad_diff, S.L * _xy)},
        ),
        Step(
            key="assume.lower_bound",
            kind="assumption",
            title="f is bounded below by f* ≥ 0 (a loss); Δ₀ = f(w₀) − f*",
            statement={"lower bound": sympy.Ge(_fw, S.f_star)},
        ),
        Step(
            key="assume.sgd",
            kind="assumption",
            title="Unbiased stochastic gradients with variance σ², independent across clients and steps",
            statement={
                "unbiased": sympy.Eq(_sgd_mean, _grad_i),
                "variance": sympy.Le(_sgd_var, S.sigma2),
            },
        ),
        Step(
            key="assume.heterogeneity",
            kind="assumption",
            title="Client heterogeneity bounded by ζ² on average over the clients (weights pᵢ)",
            statement={"heterogeneity": sympy.Le(_hetero, S.zeta2)},
        ),
        Step(
            key="assume.quantizer",
            kind="assumption",
            title="Quantization is unbiased given all of the round's updates, and uncorrelated across clients",
            statement={
                "unbiased": sympy.Eq(_q_mean, _delta),
                "uncorrelated (εᵢ = Q(Δₜ,ᵢ) − Δₜ,ᵢ)": sympy.Eq(_q_cross, 0),
                "the toolkit's dither (a 2⁻²⁴-grid uniform, theory of validation/compression/dither.py)":
                    sympy.Le(_dither_bias, S.step * sympy.Rational(1, 2**17)),
            },
            uses=("quantizer.unbiased",),
            source="stated as the quantization lemma uses it: each client draws its own randomness, keyed by "
            "(seed, round, client), so the errors are conditionally independent given all updates. The dither "
            "is unbiased only to within 2⁻¹⁷ of a grid step δ per coordinate; the quantization checks "
            "(validation/report/checks.py) allow for that bias (its effect on ⟨∇f, e⟩ is at most "
            "‖∇f(w̄)‖·√d·δ·2⁻¹⁷ per client)",
        ),
        Step(
            key="assume.pl",
            kind="assumption",
            title="Polyak–Łojasiewicz inequality with constant μ ≤ L (only for the pl criterion)",
            statement={"PL": sympy.Ge(_grad_sq / 2, _pl_rhs)},
            source="Karimi, Nutini, Schmidt, ECML-PKDD 2016",
        ),
    ]
