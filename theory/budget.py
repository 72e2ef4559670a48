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
_update2 = S.label("update2", "E‖Δₜ,ᵢ‖²", r"\mathbb{E}\|\Delta_{t,i}\|^{2}")
_cbv = S.label("cbv", "(cₜ, bₜ, vₜ)", "(c_t, b_t, v_t)")
_level_map = S.label("level_map", "S(κ)", r"S(\kappa)")
_s_ti = S.label("s_ti", "sₜ,ᵢ", "s_{t,i}")
_a_ti = S.label("A_ti", "Aₜ,ᵢ", "A_{t,i}")


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


@cache
def range_coupling() -> dict[str, sympy.Expr]:
    """The closed form of the quantization variance through the update norm (equal weights p_i = 1/N).

    Per client V_i ≤ d R_i²/(4s²) ≤ d‖Δ_i‖²/s², ‖Δ_i‖ ≤ (G + ζ_i)φ_τ + σψ_τ (drift lemma at k = τ), so with Minkowski
    over equally weighted clients V_t ≤ (d‖p‖²/s²)(φ_τ G + β_Δ)², β_Δ = φ_τζ + σψ_τ. In the one-round inequality
    (L/2)V_t then moves (L/2)q‖p‖²φ_τ² out of c, L q‖p‖²φ_τβ_Δ into b and (L/2)q‖p‖²β_Δ² into v, q = d/s².
    """
    from fedquant.theory.drift import drift
    from fedquant.theory.fedavg import one_round

    dr = drift()
    phi_tau, psi_tau = dr.phi_k.subs(S.k, S.local_steps), dr.psi_k.subs(S.k, S.local_steps)
    G = S.grad_rms
    beta = phi_tau * sympy.sqrt(S.zeta2) + sympy.sqrt(S.sigma2) * psi_tau
    q = S.d / S.levels**2
    qvar = q * S.p2 * (phi_tau * G + beta) ** 2
    r = one_round()
    rhs = -S.label("c", "c", "c") * G**2 + S.coupling * G + S.noise_const + S.L / 2 * qvar
    poly = sympy.Poly(sympy.expand(rhs), G)
    cbv = sympy.Matrix([-poly.coeff_monomial(G**2), poly.coeff_monomial(G), poly.coeff_monomial(1)])
    s_min2 = sympy.solve(sympy.Eq(S.label("c", "c", "c") - S.L / 2 * S.d * S.p2 * phi_tau**2 / S.levels**2, 0),
                         S.levels**2)
    grad_loss = sympy.sqrt(2 * S.L * (S.loss - S.f_star))
    range_loss = 2 * (phi_tau * grad_loss + beta)
    del r
    return {"update": (G + S.zeta_i) * phi_tau + sympy.sqrt(S.sigma2) * psi_tau, "qvar": qvar, "cbv": cbv.T,
            "s_min2": s_min2[0] if s_min2 else S.L * S.d * S.p2 * phi_tau**2 / (2 * S.label("c", "c", "c")),
            "range_loss": range_loss, "level_loss": phi_tau * grad_loss + beta,
            "grad_loss": sympy.Le(S.grad_rms**2, grad_loss**2), "floor": range_loss.subs(S.loss, S.f_star),
            "beta": beta, "phi_tau": phi_tau}


def exact_ratio_example(kappa: float = 1, shrink: float = 0.9) -> sympy.Float:
    """The exact s_{t+1}/s_t for κ_t = ``kappa`` and κ_{t+1} = κ_t r² (α constant): roots of s³ = κ(s + 1)."""
    def level(k: sympy.Expr) -> sympy.Float:
        return sympy.nsolve(S.levels**3 - k * (S.levels + 1), S.levels, 2)

    k0 = sympy.nsimplify(kappa)
    r = sympy.nsimplify(shrink)
    return sympy.Float(level(k0 * r**2) / level(k0), 6)


def steps() -> list[Step]:
    rc = range_coupling()
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
            key="budget.range_coupling",
            kind="lemma",
            title="The range is bounded by the update, and the update by the loss: the bound closes",
            statement={
                "range of a block": sympy.Le(S.range_**2, 4 * _update2),
                "update (drift lemma at k = τ)": sympy.Le(sympy.sqrt(_update2), rc["update"]),
                "quantization variance, multiplicative form": sympy.Le(S.qvar, rc["qvar"]),
                "one round with it: c, b, v become": sympy.Eq(_cbv, rc["cbv"]),
                "levels needed for a positive descent coefficient": sympy.Gt(S.levels**2, rc["s_min2"]),
                "range versus loss (with its floor)": sympy.Le(S.range_, rc["range_loss"]),
                "loss-based optimal level (large s)": sympy.Eq(S.levels, sympy.Symbol("const") * sympy.sqrt(a)
                                                                * rc["level_loss"]),
            },
            derivation=(
                ("‖∇f(w)‖² ≤ 2L(f(w) − f*) (smoothness and the lower bound)", rc["grad_loss"]),
                ("floor of the range at the optimum (G = 0)", rc["floor"]),
            ),
            conditions={"equal weights": sympy.Eq(S.p2, 1 / S.clients)},
            uses=("fedavg.drift", "fedavg.one_round", "quantizer.block", "budget.closed_form",
                  "assume.lower_bound"),
            source="R = max − min ≤ 2‖x‖_∞ ≤ 2‖x‖₂ per block; the multiplicative form q‖x‖² of FedPAQ "
            "(Reisizadeh et al., AISTATS 2020) and Haddadpour et al. (AISTATS 2021) with q = d/s². FedDQ's "
            "(Qu, Song, Tsui, arXiv 2110.02291) and AdaQuantFL's √F factor is the σ² = ζ² = 0 case; with noise "
            "or heterogeneity the range keeps the floor 2(φ_τζ + σψ_τ) at w* and the optimal level flattens",
        ),
        Step(
            key="budget.per_client",
            kind="solution",
            title="Per-client levels: one level per (round, client), each client's bits counted",
            statement={
                "minimise": sympy.Sum(a * _a_ti / _s_ti**2, (S.t, 0, T - 1),
                                      (S.label("i_idx", "i", "i"), 1, S.clients)),
                "subject to": sympy.Le(sympy.Sum(S.d * log2(_s_ti + 1), (S.t, 0, T - 1),
                                                 (S.label("i_idx", "i", "i"), 1, S.clients)), S.budget_bits),
                "stationarity": sympy.Eq(_s_ti**3 / (_s_ti + 1), k.kappa.subs({A: _a_ti, c: S.d})),
                "large-s level": sympy.Eq(_s_ti, sympy.Symbol("const") * sympy.sqrt(a) * S.label("p_i", "pᵢ", "p_i")
                                          * S.label("R_ti", "Rₜ,ᵢ", "R_{t,i}")),
            },
            derivation=(("the per-item problem is the round problem's KKT with A → Aₜ,ᵢ = Q pᵢ² d Rₜ,ᵢ²/4, c → d",
                         k.kappa.subs({A: _a_ti, c: S.d})),),
            uses=("budget.kkt",),
            source="the optimizer's granularity=client solves exactly this problem (optimizer/decision_items.py: "
            "one item per (round, client, block), weight αₜQpᵢ²dRₜ,ᵢ²/4 and cost d; tests/optimizer check the "
            "stationarity)",
        ),
        Step(
            key="budget.direction",
            kind="solution",
            title="When the optimal levels descend",
            statement={
                "level ratio (exact)": sympy.Eq(_s_next_over_s, S.label(
                    "exact_ratio", "S(κₜ·(αₜ₊₁/αₜ)·r²)/S(κₜ), S the positive root of s³ = κ(s + 1)",
                    r"S(\kappa_t\,\alpha_{t+1}r^{2}/\alpha_t)/S(\kappa_t)")),
                "level ratio (large s)": sympy.Eq(_s_next_over_s, sympy.sqrt(_ratio_alpha) * r),
                "nonconvex (αₜ = 1): descends iff": way["nonconvex"],
                "pl (αₜ = ρ^{T−1−t}): descends iff": way["pl"],
                "pl, loss-based (R ∝ sqrt(F − f*), F − f* shrinking by ρ_F): descends iff": way["pl_loss"],
            },
            derivation=(
                ("ds/dκ > 0, so the direction of sₜ follows κₜ ∝ αₜRₜ² exactly (its ratio only for large s)",
                 k.level_slope),
                ("exact ratio at κ = 1, r = 0.9 (large-s value 0.9)", exact_ratio_example()),
                ("αₜ₊₁/αₜ, nonconvex", way["nonconvex_alpha_ratio"]),
                ("αₜ₊₁/αₜ, pl", way["pl_alpha_ratio"]),
            ),
            uses=("budget.kkt", "bound.pl"),
            source="r = Rₜ₊₁/Rₜ; under PL with R ∝ sqrt(F − f*) and F − f* ∝ ρᵗ the optimum is flat. This assumes a "
            "constant cost cₜ per round and no box: the optimizer's levels are clip(S(κₜ), s_min, s_max) at integer "
            "code widths, so 'descends' reads 'is non-increasing, with plateaus'",
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
        # the range's bound through the loss, R ≤ 2(φ_τ sqrt(2L(F − f*)) + φ_τζ + σψ_τ), and its floor at F = f*
        "range_loss_bound": ((S.L, S.lr, S.local_steps, S.sigma2, S.zeta2, S.loss, S.f_star),
                             range_coupling()["range_loss"]),
        "range_floor": ((S.L, S.lr, S.local_steps, S.sigma2, S.zeta2), range_coupling()["floor"]),
    }
