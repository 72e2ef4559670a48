"""The telescoped bound of quantized FedAvg for the two criteria, as a sum of named terms.

From the one-round inequality (fedavg.py) E f(w_{t+1}) ≤ E f(w_t) − c·G_t² + b·G_t + v + (L/2)V_t, with
e_t = E f(w_t) − f* ≥ 0 and G_t = sqrt(E‖∇f(w_t)‖²):

* non-convex: summing over t < T telescopes to c·Σ G_t² − b·Σ G_t ≤ Δ₀ + T·v + (L/2)Σ_t V_t. With
  A² = (1/T)Σ_t G_t² and (1/T)Σ_t G_t ≤ A (Cauchy–Schwarz), A solves c·A² − b·A ≤ K, K = Δ₀/T + v + (L/2T)Σ_t V_t,
  so A² ≤ (√B + √(B + K))²/c with B = b²/(4c): the exact consequence of the quadratic inequality (Young's
  inequality with its best split gives the same value). At b = 0 it is K/c.
* PL (‖∇f‖² ≥ 2μ(f − f*)): Young's split b·G ≤ εc·G² + b²/(4εc), ε ∈ (0, 1), turns the round into
  e_{t+1} ≤ ρ e_t + v + b²/(4εc) + (L/2)V_t with ρ = 1 − 2μ(1 − ε)c ∈ [0, 1) (2μc ≤ μ/L ≤ 1 since c ≤ 1/(2L));
  unrolled, round t enters the final gap with weight α_t = ρ^{T−1−t}, so late rounds weigh most. The bound
  holds for every ε; theory/evaluate.py reports the smallest over ε.

The quantization term is Q·Σ_t α_t V_t with V_t = Σ_i p_i² E‖Q(Δ_{t,i}) − Δ_{t,i}‖² ≤ Σ_i p_i² d R_{t,i}²/(4s_t²)
and Q the criterion's factor (L/(2cT), resp. L/2): this is the term the optimizer minimises. (In the non-convex
bound the coupling term also grows with K, so Q is the bound's slope in Σ_t V_t at b = 0; the bound is increasing
in Σ_t V_t for every b, so the minimiser is the same.)
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import sympy
from sympy.codegen.cfunctions import expm1, log1p

from fedquant.theory import symbols as S
from fedquant.theory.criteria import CRITERIA, TERMS
from fedquant.theory.fedavg import C_DESCENT, in_constants, one_round
from fedquant.theory.step import Step

V_SGD = S.label("v_sgd", "V_sgd", r"V_{\mathrm{sgd}}")
V_DRIFT = S.label("v_drift", "V_drift", r"V_{\mathrm{drift}}")
_K = S.label("K_total", "K", "K")
_B = S.label("B_coupling", "B", "B")
_A = S.label("A_rms", "A", "A")


@dataclass(frozen=True)
class Bound:
    """A telescoped bound: lhs ≤ Σ terms, with the round weight α_t of the quantization variance."""

    criterion: str
    lhs: sympy.Symbol
    terms: dict[str, sympy.Expr]  # written with c, b, V_sgd, V_drift (and ε, ρ) as symbols
    round_weight: sympy.Expr  # α_t
    weight_total: sympy.Expr  # Σ_t α_t (the quant_sum of a constant V_t is V·weight_total)
    quant_factor: sympy.Expr  # the quantization term is quant_factor · Σ_t α_t V_t (at b = 0)
    derivation: tuple[tuple[str, sympy.Basic], ...]
    conditions: dict[str, sympy.Basic]
    closed_form: sympy.Expr | None = None  # the bound in one expression, when it is not the plain sum
    definitions: dict[sympy.Symbol, sympy.Expr] | None = None  # K and B (non-convex)

    def substituted(self) -> dict[str, sympy.Expr]:
        """The terms in the problem constants only (K, B, c, b, V_sgd, V_drift and ρ replaced)."""
        r = one_round()
        subs = dict(self.definitions or {})
        subs[S.rho] = 1 - 2 * S.mu * (1 - S.split) * C_DESCENT
        subs2 = {C_DESCENT: r.descent, S.coupling: r.coupling, V_SGD: r.sgd_noise, V_DRIFT: r.drift}
        return {name: in_constants(expr.subs(subs).subs(subs).subs(subs2)) for name, expr in self.terms.items()}


def quadratic_solution() -> tuple[sympy.Expr, sympy.Expr]:
    """The largest A with c·A² − b·A ≤ K, and (√B + √(B + K))²/c that equals its square (B = b²/(4c))."""
    c, b, K = sympy.symbols("c b K", positive=True)
    roots = sympy.solve(sympy.Eq(c * _A**2 - b * _A - K, 0), _A)
    largest = next(r for r in roots if r.subs({c: 1, b: 1, K: 1}) > 0)
    B = b**2 / (4 * c)
    readable = (sympy.sqrt(B) + sympy.sqrt(B + K)) ** 2 / c
    assert sympy.simplify(sympy.expand(largest**2 - readable)) == 0
    return largest, readable.subs({c: C_DESCENT, b: S.coupling, K: _K})


@cache
def nonconvex() -> Bound:
    e, g, v = sympy.Function("e"), sympy.Function("G"), sympy.Function("V")
    t, T = S.t, S.rounds
    c, b, vs, vd = C_DESCENT, S.coupling, V_SGD, V_DRIFT
    telescoped = sympy.summation(e(t) - e(t + 1), (t, 0, T - 1))
    summed = sympy.Le(c * sympy.Sum(g(t) ** 2, (t, 0, T - 1)) - b * sympy.Sum(g(t), (t, 0, T - 1)),
                      telescoped + T * (vs + vd) + S.L / 2 * sympy.Sum(v(t), (t, 0, T - 1)))
    # e_T ≥ 0 is dropped and e_0 = Δ₀; divide by T
    quant = sympy.Sum(v(t), (t, 0, T - 1))
    K = sympy.expand(summed.rhs.subs(e(T), 0).subs(e(0), S.gap) / T).subs(quant, S.quant_sum)
    largest, solved = quadratic_solution()
    # the terms, written with K and B = b²/(4c): K/c splits by K's parts, the rest is the coupling
    coupling = (2 * _B + 2 * sympy.sqrt(_B * (_B + _K))) / c
    terms = {
        "initial_gap": K.coeff(S.gap) * S.gap / c,
        "sgd_noise": K.coeff(vs) * vs / c,
        "drift": K.coeff(vd) * vd / c + coupling,
        "quantization": K.coeff(S.quant_sum) * S.quant_sum / c,
    }
    definitions = {_K: K, _B: b**2 / (4 * c)}
    total = sum(terms.values()).subs(definitions)
    point = {c: sympy.Rational(3, 7), b: sympy.Rational(2, 5), S.gap: 3, T: 11, vs: sympy.Rational(1, 9),
             vd: sympy.Rational(1, 13), S.L: 2, S.quant_sum: sympy.Rational(5, 3)}
    assert abs((total - solved.subs(_K, K)).subs(point).evalf(40)) < 1e-35  # √(B(B+K)) = √B·√(B+K) for B, K > 0
    return Bound(
        criterion="nonconvex",
        lhs=S.avg_grad2,
        terms=terms,
        round_weight=sympy.Integer(1),
        weight_total=sympy.summation(sympy.Integer(1), (t, 0, T - 1)),
        quant_factor=K.coeff(S.quant_sum) / c,
        derivation=(("Σₜ (eₜ − eₜ₊₁) telescopes to", telescoped), ("summed over t < T", summed),
                    ("largest root A of c·A² − b·A = K", largest)),
        conditions=dict(one_round().conditions),
        closed_form=solved,
        definitions=definitions,
    )


@cache
def pl() -> Bound:
    t, T, rho = S.t, S.rounds, S.rho
    c, b, vs, vd, eps = C_DESCENT, S.coupling, V_SGD, V_DRIFT, S.split
    e_fn = sympy.Function("e")
    # Young: b·G ≤ εc·G² + b²/(4εc); PL turns −(1 − ε)c·G² into −2μ(1 − ε)c·e_t
    young = b**2 / (4 * eps * c)
    g = sympy.Symbol("g", nonnegative=True)
    square = (2 * eps * c * g - b) ** 2 / (4 * eps * c)
    assert sympy.simplify(sympy.factor(eps * c * g**2 + young - b * g) - square) == 0
    contraction = 1 - 2 * S.mu * (1 - eps) * c
    noise = vs + vd + young
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
    # written through expm1/log1p of ρ − 1 = −2μ(1 − ε)c, so that ρ near 1 (small μc) loses no digits
    power = sympy.exp(T * log1p(rho - 1))
    stable_factor = -expm1(T * log1p(rho - 1)) / (1 - rho)
    for point in ({rho: sympy.Rational(9, 10), T: 7}, {rho: sympy.Rational(1, 3), T: 1}):
        assert abs((power - initial / S.gap).subs(point).evalf(30)) < 1e-25
        assert abs((stable_factor - noise_factor).subs(point).evalf(30)) < 1e-25
    terms = {
        "initial_gap": power * S.gap,
        "sgd_noise": stable_factor * vs,
        "drift": stable_factor * (vd + young),
        "quantization": S.L / 2 * S.quant_sum,
    }
    conditions = dict(one_round().conditions)
    conditions["pl"] = sympy.Le(S.mu, S.L)
    conditions["split"] = sympy.And(sympy.Gt(eps, 0), sympy.Lt(eps, 1))
    return Bound(
        criterion="pl",
        lhs=S.final_gap,
        terms=terms,
        round_weight=weight,
        weight_total=geometric_total,
        quant_factor=S.L / 2,
        derivation=(
            ("contraction ρ", sympy.Eq(rho, contraction)),
            ("Young: ε c G² + b²/(4εc) − bG", (2 * eps * c * g - b) ** 2 / (4 * eps * c)),
            ("e_T of eₜ₊₁ = ρeₜ + V (rsolve)", solved.subs(t, T)),
            ("round weight αₜ of Vₜ (unrolled for T = 1..5)", weight),
        ),
        conditions=conditions,
    )


def last_iterates() -> sympy.Expr:
    """The average over the last K round starts, (1/K)Σ_{t=T−K}^{T−1} E‖∇f(w_t)‖² ≤ (√B + √(B + K'))²/c.

    Summing the one-round inequality over the last K rounds gives c·Σ G_t² − b·Σ G_t ≤ e_{T−K} + K·v + (L/2)Σ V_t,
    and the first T − K rounds give e_{T−K} ≤ Δ₀ + (T − K)(v + B) + (L/2)Σ V_t, since −cG² + bG ≤ B = b²/(4c). So
    K' = Δ₀/K + v + (T − K)(v + B)/K + (L/2K)Σ_{t<T} V_t: the Δ₀/(cK) form. For K = T it is the non-convex bound.
    No bound of this kind exists for the last iterate alone: PEPit's worst case of ‖∇f(x_T)‖² for gradient
    descent does not decrease with T (tests/theory/test_pepit_tightness.py)."""
    _, solved = quadratic_solution()
    B = S.coupling**2 / (4 * C_DESCENT)
    v = V_SGD + V_DRIFT
    K = S.gap / S.last_k + v + (S.rounds - S.last_k) * (v + B) / S.last_k + S.L / (2 * S.last_k) * S.quant_sum
    return solved.subs(_K, K)


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
        statement = {"bound": sympy.Le(b.lhs, b.closed_form if b.closed_form is not None else sum(b.terms.values()))}
        statement.update({name: expr for name, expr in b.terms.items()})
        for symbol, expr in (b.definitions or {}).items():
            statement[S.text_name(symbol)] = sympy.Eq(symbol, expr)
        statement["round weight αₜ"] = b.round_weight
        out.append(
            Step(
                key=f"bound.{b.criterion}",
                kind="theorem",
                title=(
                    "Non-convex criterion: average squared gradient norm"
                    if b.criterion == "nonconvex"
                    else "PL criterion: final optimality gap (for every split ε ∈ (0, 1))"
                ),
                statement=statement,
                derivation=b.derivation,
                conditions=b.conditions,
                uses=("fedavg.one_round", "assume.lower_bound") + (("assume.pl",) if b.criterion == "pl" else ()),
                source="telescoping the one-round inequality and solving its quadratic (nonconvex); unrolling its "
                "PL recursion after Young's split (pl)",
            )
        )
    return out


def exports() -> dict[str, tuple[tuple[sympy.Symbol, ...], sympy.Expr]]:
    r = one_round()
    constants = (S.L, S.lr, S.local_steps, S.p2, S.sigma2, S.zeta2, S.gap, S.rounds, S.sampling)
    out: dict[str, tuple[tuple[sympy.Symbol, ...], sympy.Expr]] = {}
    for crit, b in (("nonconvex", nonconvex()), ("pl", pl())):
        args = constants + ((S.mu, S.split) if crit == "pl" else ()) + (S.quant_sum,)
        subbed = b.substituted()
        for name in TERMS:
            out[f"bound_{crit}_{name}"] = (args, subbed[name])
        out[f"bound_{crit}"] = (args, sum(subbed.values()))
    _, solved = quadratic_solution()
    # the non-convex bound from the round's coefficients: (√B + √(B + K))²/c, B = b²/(4c) (per-round b_t: b² is
    # their mean square); one home for the quadratic's solution, used by the validation's checks
    out["nonconvex_from_coefficients"] = ((C_DESCENT, S.coupling, _K), solved)
    out["bound_last_iterates"] = ((*constants, S.last_k, S.quant_sum), in_constants(
        last_iterates().subs({C_DESCENT: r.descent, S.coupling: r.coupling, V_SGD: r.sgd_noise, V_DRIFT: r.drift})))
    # the round weights use the contraction at ε → 0 (b = 0: the deterministic homogeneous rate)
    out["contraction"] = ((S.L, S.lr, S.local_steps, S.mu), in_constants(
        1 - 2 * S.mu * r.descent).subs(S.sampling, 0))
    out["contraction_split"] = ((S.L, S.lr, S.local_steps, S.mu, S.split, S.sampling), in_constants(
        1 - 2 * S.mu * (1 - S.split) * r.descent))
    out["round_weight_nonconvex"] = ((S.rounds, S.t), nonconvex().round_weight)
    out["round_weight_pl"] = ((S.rho, S.rounds, S.t), pl().round_weight)
    out["weight_total_nonconvex"] = ((S.rounds,), nonconvex().weight_total)
    out["weight_total_pl"] = ((S.rho, S.rounds), pl().weight_total)
    out["quant_factor_nonconvex"] = ((S.L, S.lr, S.local_steps, S.rounds), in_constants(
        nonconvex().quant_factor.subs(C_DESCENT, r.descent)).subs(S.sampling, 0))
    out["quant_factor_pl"] = ((S.L,), pl().quant_factor)
    return out
