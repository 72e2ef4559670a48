"""The budget problem: which levels s_t minimise the bound's quantization term under a bit budget.

Problem (quantization term of bound.py, uniform levels across the N clients of a round):

    minimise   Σ_t α_t A_t / s_t²      A_t = Q·Σ_i p_i² d R_{t,i}²/4   (Q: the criterion's factor)
    subject to Σ_t c_t log2(s_t + 1) ≤ B,  s_t ≥ 1                        (c_t = n·d bits per unit of b)

In b = log2(s + 1) the objective is convex and the constraint linear, so the KKT conditions below are
necessary and sufficient. Its closed form b = log2(R/δ) + const is FedDQ's range rule when the round
weights are equal (docs/design.md §3).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import sympy
from sympy.codegen.cfunctions import log2

from fedquant.theory import symbols as S
from fedquant.theory.step import Step

_ratio_alpha = S.label("alpha_ratio", "αₜ₊₁/αₜ", r"\alpha_{t+1}/\alpha_t")
_s_next_over_s = S.label("level_ratio", "sₜ₊₁/sₜ", r"s_{t+1}/s_t")
_rho_loss = S.label("rho_loss", "ρ_F", r"\rho_F")
_mean_half_log = S.label("mean_half_log2", "m", "m")  # (1/T) Σ_j ½ log2(α_j A_j)


@dataclass(frozen=True)
class KKT:
    lagrangian: sympy.Expr
    stationarity: sympy.Eq  # s³/(s+1) = κ
    residual: sympy.Expr  # s³ − κ(s+1): zero at the optimum
    kappa: sympy.Expr  # κ in terms of α, A, λ, c
    second_derivative_b: sympy.Expr  # d²/db² of the objective in b, positive
    level_slope: sympy.Expr  # ds/dκ > 0
    asymptotic: sympy.Expr  # s = √κ + 1/2 + O(κ^{-1/2})
    closed_form: sympy.Expr  # s_t under the log2 s cost
    multiplier_log: sympy.Expr  # log2 λ that meets the budget under that cost


@cache
def kkt() -> KKT:
    s, a, A, lam, c = S.levels, S.alpha, S.weight_sum, S.lam, S.cost
    lagrangian = a * A / s**2 + lam * c * log2(s + 1)
    grad = sympy.diff(lagrangian, s)
    # solve ∂ℒ/∂s = 0 for the combination κ = s³/(s+1)
    lam_star = sympy.solve(sympy.Eq(grad, 0), lam)[0]
    kappa_expr = sympy.simplify(s**3 / (s + 1) * lam / lam_star)  # = 2 ln2 αA/(λc)·(λ/λ) rewritten
    kappa_expr = sympy.simplify(2 * sympy.log(2) * a * A / (lam * c))
    assert sympy.simplify(lam_star - 2 * sympy.log(2) * a * A * (s + 1) / (c * s**3)) == 0
    stationarity = sympy.Eq(s**3 / (s + 1), S.kappa)
    residual = sympy.expand(s**3 - S.kappa * (s + 1))
    # convexity in b (s = 2^b − 1)
    b = S.bits
    obj_b = a * A / (2**b - 1) ** 2
    second = sympy.simplify(sympy.diff(obj_b, b, 2))
    # the level grows with κ: implicit differentiation of s³/(s+1) = κ
    slope = sympy.factor(1 / sympy.diff(s**3 / (s + 1), s))
    # large-κ expansion: κ = 1/ε², s = (1 + a₁ε + a₂ε²)/ε
    eps, a1, a2 = sympy.symbols("epsilon a1 a2")
    trial = (1 + a1 * eps + a2 * eps**2) / eps
    series = sympy.expand(sympy.series((trial**3 - (trial + 1) / eps**2) * eps**3, eps, 0, 3).removeO())
    coeffs = sympy.solve([series.coeff(eps, 1), series.coeff(eps, 2)], [a1, a2], dict=True)[0]
    asymptotic = sympy.sqrt(S.kappa) + coeffs[a1]
    # closed form under the cost c·log2 s (large s): s_t = sqrt(κ'_t/λ), Σ_t c log2 s_t = B
    T = S.rounds
    log_lambda = sympy.Symbol("log2_lambda")
    # Σ_t log2 s_t = Σ_t [½ log2(2 ln2 α_t A_t / c) − ½ log2 λ] = B/c, written per round with the mean m of
    # ½ log2(α_t A_t): T·(m + ½ log2(2 ln2/c) − ½ log2 λ) = B/c
    eq = sympy.Eq(T * (_mean_half_log + log2(2 * sympy.log(2) / c) / 2 - log_lambda / 2), S.budget_bits / c)
    log_lam = sympy.solve(eq, log_lambda)[0]
    closed = 2 ** (log2(a * A) / 2 + log2(2 * sympy.log(2) / c) / 2 - log_lam / 2)
    closed = sympy.simplify(sympy.expand_log(closed, force=True))
    return KKT(
        lagrangian=lagrangian,
        stationarity=stationarity,
        residual=residual,
        kappa=kappa_expr,
        second_derivative_b=second,
        level_slope=slope,
        asymptotic=asymptotic,
        closed_form=closed,
        multiplier_log=log_lam,
    )


@cache
def direction() -> dict[str, sympy.Basic]:
    """Solve s_{t+1}/s_t < 1 for the range factor r under each criterion's round weights."""
    from fedquant.theory.bound import nonconvex, pl

    r = S.shrink
    out: dict[str, sympy.Basic] = {}
    for name, bound in (("nonconvex", nonconvex()), ("pl", pl())):
        w = bound.round_weight
        ratio = sympy.simplify(w.subs(S.t, S.t + 1) / w)
        solved = sympy.solve(sympy.sqrt(ratio) * r < 1, r)
        out[name] = solved
        out[f"{name}_alpha_ratio"] = ratio
    # loss-based ranges: R ∝ sqrt(F − f*) with F − f* shrinking by ρ_F per round gives r = sqrt(ρ_F)
    ratio_pl = out["pl_alpha_ratio"]
    out["pl_loss"] = sympy.solve(sympy.sqrt(ratio_pl) * sympy.sqrt(_rho_loss) < 1, _rho_loss)
    return out


def steps() -> list[Step]:
    k = kkt()
    way = direction()
    s, a, A, c, T = S.levels, S.alpha, S.weight_sum, S.cost, S.rounds
    objective = sympy.Sum(a * A / s**2, (S.t, 0, T - 1))
    constraint = sympy.Le(sympy.Sum(c * log2(s + 1), (S.t, 0, T - 1)), S.budget_bits)
    r = S.shrink
    return [
        Step(
            key="budget.problem",
            kind="problem",
            title="Minimise the bound's quantization term under a bit budget",
            statement={"minimise": objective, "subject to": constraint,
                       "weight": sympy.Eq(A, sympy.Symbol("Q") * S.p2 * S.d * S.range_**2 / 4)},
            conditions={"levels": sympy.Ge(s, 1)},
            derivation=(("objective in b = log2(s+1): d²/db² (positive)", k.second_derivative_b),),
            uses=("bound.nonconvex", "bound.pl", "quantizer.block", "quantizer.bits"),
            source="the quantization term of either bound with V_t ≤ ‖p‖² d R_t²/(4s_t²), "
            "R_t the p²-weighted RMS range",
        ),
        Step(
            key="budget.kkt",
            kind="solution",
            title="KKT stationarity with the log2(s+1) cost",
            statement={
                "Lagrangian (per round)": k.lagrangian,
                "stationarity": k.stationarity,
                "κₜ": sympy.Eq(S.kappa, k.kappa),
                "ds/dκ": k.level_slope,
            },
            derivation=(("∂ℒ/∂s = 0 solved for λ", sympy.diff(k.lagrangian, s)),),
            uses=("budget.problem",),
        ),
        Step(
            key="budget.closed_form",
            kind="solution",
            title="Large-s closed form: the optimal level tracks √αₜ·Rₜ",
            statement={
                "asymptotic level": sympy.Eq(s, k.asymptotic),
                "proportionality": sympy.Eq(s, sympy.Symbol("const") * sympy.sqrt(a) * S.range_),
                "log2 s cost": sympy.Eq(s, k.closed_form),
            },
            derivation=(("log2 λ meeting the budget (m = mean of ½log2(αⱼAⱼ))", k.multiplier_log),),
            uses=("budget.kkt",),
            source="with αₜ = 1 this is FedDQ's range rule b = ⌈log2(R/δ)⌉ (constant resolution δ; "
            "docs/design.md §3, §4)",
        ),
        Step(
            key="budget.loss_based",
            kind="solution",
            title="Loss-based form through Rₜ ≤ c·sqrt(Fₜ − f*)",
            statement={"loss-based level": sympy.Eq(
                s, sympy.Symbol("const") * sympy.sqrt(a) * S.c_range * sympy.sqrt(S.loss - S.f_star))},
            uses=("budget.closed_form",),
        ),
        Step(
            key="budget.direction",
            kind="solution",
            title="When the optimal levels descend",
            statement={
                "level ratio": sympy.Eq(_s_next_over_s, sympy.sqrt(_ratio_alpha) * r),
                "nonconvex (αₜ = 1): descends iff": way["nonconvex"],
                "pl (αₜ = ρ^{T−1−t}): descends iff": way["pl"],
                "pl, loss-based (R ∝ sqrt(F − f*), F − f* shrinking by ρ_F): descends iff": way["pl_loss"],
            },
            derivation=(
                ("ds/dκ > 0, so sₜ moves with κₜ ∝ αₜRₜ² exactly (not only for large s)", k.level_slope),
                ("αₜ₊₁/αₜ, nonconvex", way["nonconvex_alpha_ratio"]),
                ("αₜ₊₁/αₜ, pl", way["pl_alpha_ratio"]),
            ),
            uses=("budget.kkt", "bound.pl"),
            source="r = Rₜ₊₁/Rₜ; under PL with R ∝ sqrt(F − f*) and F − f* ∝ ρᵗ the optimum is flat",
        ),
    ]


def exports() -> dict[str, tuple[tuple[sympy.Symbol, ...], sympy.Expr]]:
    k = kkt()
    return {
        "kkt_kappa": ((S.alpha, S.weight_sum, S.lam, S.cost), k.kappa),
        "stationarity_residual": ((S.levels, S.kappa), k.residual),
        "stationarity_slope": ((S.levels, S.kappa), sympy.diff(k.residual, S.levels)),
        "level_asymptotic": ((S.kappa,), k.asymptotic),
        "level_closed_form": (
            (S.alpha, S.weight_sum, _mean_half_log, S.budget_bits, S.cost, S.rounds), k.closed_form),
        "direction_ratio": ((_ratio_alpha, S.shrink), sympy.sqrt(_ratio_alpha) * S.shrink),
    }
