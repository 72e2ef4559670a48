"""``fedquant bound``: the convergence bound of quantized FedAvg, symbolic or evaluated."""

from __future__ import annotations

import argparse
from typing import Any

from fedquant.cli._common import emit_json, finite_float, flag
from fedquant.errors import InvalidArgument
from fedquant.theory import CRITERIA, TERMS, numeric
from fedquant.theory.evaluate import CONSTANTS, evaluate_bound, missing_constants, validate_constants

HELP = "the convergence bound of quantized FedAvg: symbolic, or evaluated for given constants"

_LHS = {"nonconvex": "(1/T) Σₜ E‖∇f(wₜ)‖²", "pl": "E f(w_T) − f*"}


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("bound", help=HELP, description=HELP + ". With no constants it prints the derived "
                       "bound term by term; with all of them it evaluates it.")
    p.add_argument("--criterion", choices=CRITERIA, default="nonconvex",
                   help="nonconvex: average squared gradient norm; pl: final optimality gap (needs --mu)")
    p.add_argument("--format", choices=("text", "latex", "json"), default="text")
    p.add_argument("--L", type=finite_float, help="smoothness constant L > 0")
    p.add_argument("--lr", type=finite_float, help="local step size η > 0, within the step-size limit")
    p.add_argument("--local-steps", type=finite_float, help="local SGD steps τ per round (integer ≥ 1)")
    p.add_argument("--clients", type=finite_float, help="clients N (equal weights pᵢ = 1/N)")
    p.add_argument("--sigma2", type=finite_float, help="stochastic-gradient variance σ² ≥ 0")
    p.add_argument("--zeta2", type=finite_float, help="client heterogeneity ζ² ≥ 0")
    p.add_argument("--gap", type=finite_float, help="initial gap Δ₀ = f(w₀) − f* ≥ 0")
    p.add_argument("--rounds", type=finite_float, help="rounds T (integer ≥ 1)")
    p.add_argument("--d", type=finite_float, help="elements per quantized block d (integer ≥ 1)")
    p.add_argument("--mu", type=finite_float, help="PL constant μ, 0 < μ ≤ L (criterion pl)")
    q = p.add_mutually_exclusive_group()
    q.add_argument("--levels", type=finite_float, help="quantization intervals s ≥ 1")
    q.add_argument("--bits", type=finite_float, help="bits b per coordinate (s = 2^b − 1)")
    q.add_argument("--no-quantization", action="store_true", help="drop the quantization term")
    p.add_argument("--range", dest="range_", type=finite_float, help="range R ≥ 0 of every client update")
    p.add_argument("--participation", type=finite_float,
                   help="fraction F of the clients sampled per round, 0 < F ≤ 1 (n = round(F·N) drawn uniformly "
                   "without replacement; default 1)")
    p.set_defaults(run=run)


def _given(args: argparse.Namespace) -> dict[str, Any]:
    names = (*CONSTANTS, "mu", "d", "range_", "levels", "bits", "participation")
    return {name: getattr(args, name) for name in names if getattr(args, name) is not None}


def _symbolic_parts(criterion: str) -> tuple[dict[str, str], dict[str, str], dict[str, str]]:
    bound = numeric.rendered(f"bound.{criterion}")
    one_round = numeric.rendered("fedavg.one_round")
    return bound["parts_text"], one_round["parts_text"], bound["conditions_text"]


def _indent(block: str, pad: str) -> str:
    return "\n".join(pad + row for row in block.splitlines())


def _text_symbolic(criterion: str, given: dict[str, Any], quantized: bool) -> str:
    if given or not quantized:
        return _text_partial(criterion, given, quantized)
    parts, defs, conditions = _symbolic_parts(criterion)
    out = [f"Convergence bound of quantized FedAvg — criterion: {criterion}", ""]
    out.append(_indent(parts["bound"], "  "))
    out.append("")
    for name in TERMS:
        out.append(f"  {name}:")
        out.append(_indent(parts[name], "    "))
    out.append("  where")
    for name in ("K", "B"):
        if name in parts:
            out.append(_indent(parts[name], "    "))
    for name in ("descent coefficient", "coupling", "noise", "SGD noise"):
        out.append(_indent(defs[name], "    "))
    out.append("    Vₜ = Σᵢ pᵢ² E‖Q(Δₜ,ᵢ) − Δₜ,ᵢ‖² ≤ Σᵢ pᵢ² d Rₜ,ᵢ²/(4 sₜ²),   round weight αₜ = "
               + parts["round weight αₜ"].replace("\n", " ").strip())
    out.append("    δ_G, δ_X: the drift lemma (fedquant derive, step fedavg.drift); ω = (N − n)/(n(N − 1)) for n of N "
               "clients sampled per round (0 under full participation)")
    if criterion == "pl":
        out.append("    ρ = 1 − 2μ(1 − ε)c, for any split ε ∈ (0, 1) (the evaluated bound uses the best)")
    out.append("  conditions:")
    for name, cond in conditions.items():
        if "\n" not in cond:
            out.append(f"    {name}: " + " ".join(cond.split()))
        else:
            out.append(f"    {name}:\n" + _indent(cond, "      "))
    out.append("")
    out.append("Evaluate it by giving the constants, e.g. fedquant bound --L 1 --lr 0.05 --local-steps 5 "
               "--clients 10 --sigma2 0.1 --zeta2 0.1 --gap 2 --rounds 100 --d 1000 --range 0.1 --bits 4")
    return "\n".join(out)


def _text_partial(criterion: str, given: dict[str, Any], quantized: bool) -> str:
    """Substitute the constants that were given into the symbolic terms (needs sympy)."""
    import sympy

    from fedquant.theory import symbols as S
    from fedquant.theory.bound import bound
    from fedquant.theory.step import pretty

    values = dict(given)
    participation = values.pop("participation", 1.0)
    if "clients" in values:
        N = int(values.pop("clients"))
        values["p2"] = 1.0 / N
        from fedquant.theory.evaluate import sampled_clients, sampling_factor

        values["sampling"] = sampling_factor(N, sampled_clients(N, participation))
    terms = bound(criterion).substituted()
    subs = {getattr(S, name): sympy.nsimplify(v) if float(v).is_integer() else v for name, v in values.items()
            if hasattr(S, name) and name not in ("levels", "bits", "d", "range_")}
    if not quantized:
        subs[S.quant_sum] = 0
    missing = missing_constants(criterion, given, quantized=quantized)
    out = [f"Convergence bound of quantized FedAvg — criterion: {criterion}, with the constants given",
           f"  {_LHS[criterion]} ≤ initial_gap + sgd_noise + drift + quantization", ""]
    for name in TERMS:
        out.append(f"  {name}:")
        # plain substitution: sympy.simplify on the PL terms with a symbolic T can run for minutes
        out.append(_indent(pretty(terms[name].subs(subs).evalf(6)), "    "))
    out.append("")
    out.append("  still symbolic: " + ", ".join(flag(m) for m in missing))
    return "\n".join(out)


def _latex(criterion: str) -> str:
    bound = numeric.rendered(f"bound.{criterion}")
    one_round = numeric.rendered("fedavg.one_round")
    rows = [bound["latex_math"]["bound"]]
    rows += [one_round["latex_math"][k] for k in ("one round", "descent coefficient", "coupling", "noise")]
    return "\\begin{aligned}\n" + " \\\\\n".join("& " + r for r in rows) + "\n\\end{aligned}"


def _text_value(result: Any) -> str:
    total = result.value
    out = [f"Convergence bound of quantized FedAvg — criterion: {result.criterion}",
           f"  {_LHS[result.criterion]} ≤ {total:.6g}", "",
           f"  {'term':<14}{'value':>14}{'share':>9}"]
    for name in TERMS:
        v = result.terms[name]
        share = f"{100 * v / total:8.1f}%" if total > 0 else "       -"
        out.append(f"  {name:<14}{v:>14.6g}{share}")
    out.append("")
    out.append(f"  dominant term: {result.dominant()}")
    co = result.coefficients
    line = f"  one round: c = {co['c']:.6g}, b = {co['b']:.6g}, v = {co['v']:.6g}"
    if co["omega"] > 0:
        line += f"; {co['sampled']} of {result.inputs['clients']:g} clients per round, ω = {co['omega']:.6g}"
    if "split" in co:
        line += f"; ρ = {co['rho']:.6g} at split ε = {co['split']:.3g}"
    out.append(line)
    conds = ", ".join(f"{k} {'holds' if ok else 'FAILS'}" for k, ok in result.conditions.items())
    out.append(f"  conditions: {conds}; step-size limit η ≤ {result.step_size_limit:.6g}")
    return "\n".join(out)


def run(args: argparse.Namespace) -> int:
    criterion = args.criterion
    given = _given(args)
    quantized = not args.no_quantization
    if args.no_quantization:
        for name in ("range_", "d"):
            if given.get(name) is not None:
                raise InvalidArgument(name, "not used with --no-quantization", given[name])
    validate_constants(criterion, given)
    complete = not missing_constants(criterion, given, quantized)
    result = evaluate_bound(criterion, quantized=quantized, **given) if complete else None
    if args.format == "json":
        payload: dict[str, Any] = {
            "criterion": criterion,
            "value": result.value if result else None,
            "terms": result.terms if result else {name: None for name in TERMS},
            "conditions": result.conditions if result else {},
            "latex": _latex(criterion),
        }
        if result:
            payload["step_size_limit"] = result.step_size_limit
            payload["coefficients"] = result.coefficients
        else:
            payload["missing"] = [flag(m) for m in missing_constants(criterion, given, quantized)]
        emit_json(payload)
    elif args.format == "latex":
        print(_latex(criterion))
    elif result is not None:
        print(_text_value(result))
    else:
        print(_text_symbolic(criterion, given, quantized))
    return 0
