"""The telescoped bound of quantized FedAvg for the two criteria, as a sum of named terms.

From the one-round inequality (fedavg.py), with e_t = E f(w_t) − f* ≥ 0:

* non-convex: summing c·E‖∇f(w_t)‖² ≤ e_t − e_{t+1} + V_sgd + V_drift + (L/2)V_t over t < T telescopes;
  every round's quantization variance V_t enters with the same weight α_t = 1.
* PL (‖∇f‖² ≥ 2μ(f − f*)): e_{t+1} ≤ ρ e_t + V_sgd + V_drift + (L/2)V_t with ρ = 1 − 2μc; unrolled, round t
  enters the final gap with weight α_t = ρ^{T−1−t}, so late rounds weigh most.

The quantization term is Q·Σ_t α_t V_t with V_t = Σ_i p_i² E‖Q(Δ_{t,i}) − Δ_{t,i}‖² ≤ Σ_i p_i² d R_{t,i}²/(4s_t²)
and Q the criterion's factor (L/(2cT), resp. L/2): this is the term the optimizer minimises.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import sympy

from fedquant.theory import symbols as S
from fedquant.theory.criteria import CRITERIA, TERMS
from fedquant.theory.fedavg import C_DESCENT, V_DRIFT, V_SGD, one_round
from fedquant.theory.step import Step


@dataclass(frozen=True)
class Bound:
    """A telescoped bound: lhs ≤ Σ terms, with the round weight α_t of the quantization variance."""

    criterion: str
    lhs: sympy.Symbol
    terms: dict[str, sympy.Expr]  # written with c, V_sgd, V_drift, ρ as symbols
    round_weight: sympy.Expr  # α_t
    weight_total: sympy.Expr  # Σ_t α_t (the quant_sum of a constant V_t is V·weight_total)
    quant_factor: sympy.Expr  # the quantization term is quant_factor · Σ_t α_t V_t
    derivation: tuple[tuple[str, sympy.Basic], ...]
    conditions: dict[str, sympy.Basic]

    def substituted(self) -> dict[str, sympy.Expr]:
        """The terms in the problem constants only (c, V_sgd, V_drift and ρ replaced)."""
        r = one_round()
        subs = {S.rho: 1 - 2 * S.mu * C_DESCENT}
        subs2 = {C_DESCENT: r.descent, V_SGD: r.sgd_noise, V_DRIFT: r.drift}
        return {name: expr.subs(subs).subs(subs2) for name, expr in self.terms.items()}


@cache
def nonconvex() -> Bound:
    e, g, v = sympy.Function("e"), sympy.Function("G"), sympy.Function("V")
    t, T = S.t, S.rounds
    c, vs, vd = C_DESCENT, V_SGD, V_DRIFT
    telescoped = sympy.summation(e(t) - e(t + 1), (t, 0, T - 1))
    summed = sympy.Le(c * sympy.Sum(g(t), (t, 0, T - 1)),
                      telescoped + T * (vs + vd) + S.L / 2 * sympy.Sum(v(t), (t, 0, T - 1)))
    # e_T ≥ 0 is dropped and e_0 = Δ₀; divide by cT
    rhs = (summed.rhs.subs(e(T), 0).subs(e(0), S.gap)) / (c * T)
    rhs = sympy.expand(rhs)
    quant = sympy.Sum(v(t), (t, 0, T - 1))
    terms = {
        "initial_gap": rhs.coeff(S.gap) * S.gap,
        "sgd_noise": rhs.coeff(vs) * vs,
        "drift": rhs.coeff(vd) * vd,
        "quantization": sympy.expand(rhs.coeff(quant)) * S.quant_sum,
    }
    assert sympy.simplify(sum(terms.values()).subs(S.quant_sum, quant) - rhs) == 0
    return Bound(
        criterion="nonconvex",
        lhs=S.avg_grad2,
        terms=terms,
        round_weight=sympy.Integer(1),
        weight_total=sympy.summation(sympy.Integer(1), (t, 0, T - 1)),
        quant_factor=terms["quantization"] / S.quant_sum,
        derivation=(("Σₜ (eₜ − eₜ₊₁) telescopes to", telescoped), ("summed over t < T", summed)),
        conditions=dict(one_round().conditions),
    )


@cache
def pl() -> Bound:
    t, T, rho = S.t, S.rounds, S.rho
    c, vs, vd = C_DESCENT, V_SGD, V_DRIFT
    e_fn = sympy.Function("e")
    # PL turns −c·G² into −2μc·e_t: e_{t+1} ≤ ρ e_t + V + (L/2)V_t with ρ = 1 − 2μc
    contraction = 1 - 2 * S.mu * c
    noise = vs + vd
    # the constant part solves the linear recurrence (comparison principle: ρ ≥ 0)
    solved = sympy.rsolve(e_fn(t + 1) - rho * e_fn(t) - noise, e_fn(t), {e_fn(0): S.gap})
    at_T = sympy.expand(solved.subs(t, T))
    initial = sympy.simplify(at_T.coeff(S.gap)) * S.gap
    noise_factor = sympy.factor(sympy.simplify((at_T - initial) / noise))
    # the forcing (L/2)V_t enters with weight ρ^{T−1−t}: checked by unrolling the recurrence for T = 1..5
    v = sympy.IndexedBase("V")
    weight = rho ** (T - 1 - t)
    for n in range(1, 6):
        unrolled = sympy.Integer(0)
        for step in range(n):
            unrolled = rho * unrolled + v[step]
        closed = sum(weight.subs({T: n, t: step}) * v[step] for step in range(n))
        assert sympy.expand(unrolled - closed) == 0
    # Σ_t ρ^{T−1−t} = Σ_{j<T} ρ^j; the branch ρ ≠ 1 applies since ρ < 1 under the conditions
    geometric = sympy.summation(rho**S.j, (S.j, 0, T - 1))
    geometric_total = geometric.args[1][0] if isinstance(geometric, sympy.Piecewise) else geometric
    assert sympy.simplify(geometric_total - noise_factor) == 0
    terms = {
        "initial_gap": initial,
        "sgd_noise": noise_factor * vs,
        "drift": noise_factor * vd,
        "quantization": S.L / 2 * S.quant_sum,
    }
    conditions = dict(one_round().conditions)
    conditions["pl"] = sympy.Le(S.mu, S.L)
    return Bound(
        criterion="pl",
        lhs=S.final_gap,
        terms=terms,
        round_weight=weight,
        weight_total=geometric_total,
        quant_factor=S.L / 2,
        derivation=(
            ("contraction ρ", sympy.Eq(rho, contraction)),
            ("e_T of eₜ₊₁ = ρeₜ + V (rsolve)", solved.subs(t, T)),
            ("round weight αₜ of Vₜ (unrolled for T = 1..5)", weight),
        ),
        conditions=conditions,
    )


def bound(criterion: str) -> Bound:
    if criterion == "nonconvex":
        return nonconvex()
    if criterion == "pl":
        return pl()
    from fedquant.errors import InvalidArgument

    raise InvalidArgument("criterion", f"one of {', '.join(CRITERIA)}", criterion)


def steps() -> list[Step]:
    out = []
    for b in (nonconvex(), pl()):
        statement = {"bound": sympy.Le(b.lhs, sum(b.terms.values()))}
        statement.update({name: expr for name, expr in b.terms.items()})
        statement["round weight αₜ"] = b.round_weight
        out.append(
            Step(
                key=f"bound.{b.criterion}",
                kind="theorem",
                title=(
                    "Non-convex criterion: average squared gradient norm"
                    if b.criterion == "nonconvex"
                    else "PL criterion: final optimality gap"
                ),
                statement=statement,
                derivation=b.derivation,
                conditions=b.conditions,
                uses=("fedavg.one_round", "assume.lower_bound") + (("assume.pl",) if b.criterion == "pl" else ()),
                source="telescoping the one-round inequality (nonconvex); unrolling its PL recursion (pl)",
            )
        )
    return out


def exports() -> dict[str, tuple[tuple[sympy.Symbol, ...], sympy.Expr]]:
    r = one_round()
    constants = (S.L, S.lr, S.local_steps, S.p2, S.sigma2, S.zeta2, S.gap, S.rounds)
    out: dict[str, tuple[tuple[sympy.Symbol, ...], sympy.Expr]] = {}
    for crit, b in (("nonconvex", nonconvex()), ("pl", pl())):
        args = constants + ((S.mu,) if crit == "pl" else ()) + (S.quant_sum,)
        subbed = b.substituted()
        for name in TERMS:
            out[f"bound_{crit}_{name}"] = (args, subbed[name])
        out[f"bound_{crit}"] = (args, sum(subbed.values()))
    out["contraction"] = ((S.L, S.lr, S.local_steps, S.mu), 1 - 2 * S.mu * r.descent)
    out["round_weight_nonconvex"] = ((S.rounds, S.t), nonconvex().round_weight)
    out["round_weight_pl"] = ((S.rho, S.rounds, S.t), pl().round_weight)
    out["weight_total_nonconvex"] = ((S.rounds,), nonconvex().weight_total)
    out["weight_total_pl"] = ((S.rho, S.rounds), pl().weight_total)
    out["quant_factor_nonconvex"] = ((S.L, S.lr, S.local_steps, S.rounds), nonconvex().quant_factor.subs(
        C_DESCENT, r.descent))
    out["quant_factor_pl"] = ((S.L,), pl().quant_factor)
    return out
