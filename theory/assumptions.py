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
_hetero = S.label("hetero", "‖∇fᵢ(w) − ∇f(w)‖²", r"\|\nabla f_i(w)-\nabla f(w)\|^{2}")
_grad_sq = S.label("grad_sq", "‖∇f(w)‖²", r"\|\nabla f(w)\|^{2}")
_gap_w = S.label("gap_w", "f(w) − f*", r"f(w)-f^{*}")
_q_mean = S.label("q_mean", "E[Q(Δₜ,ᵢ) | Δₜ,ᵢ]", r"\mathbb{E}[Q(\Delta_{t,i})\mid\Delta_{t,i}]")
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
            title="Client heterogeneity bounded by ζ²",
            statement={"heterogeneity": sympy.Le(_hetero, S.zeta2)},
        ),
        Step(
            key="assume.quantizer",
            kind="assumption",
            title="Quantization is unbiased and independent across clients",
            statement={"unbiased": sympy.Eq(_q_mean, _delta)},
            uses=("quantizer.unbiased",),
        ),
        Step(
            key="assume.pl",
            kind="assumption",
            title="Polyak–Łojasiewicz inequality with constant μ ≤ L (only for the pl criterion)",
            statement={"PL": sympy.Ge(_grad_sq / 2, S.mu * _gap_w)},
            source="Karimi, Nutini, Schmidt, ECML-PKDD 2016",
        ),
    ]
