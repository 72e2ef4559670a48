"""Evaluate the bound for given constants: validation at the door, then the lambdified terms.

This is what ``fedquant bound`` and the notebooks call. Only the numeric functions of ``numeric`` are used,
so evaluating needs no sympy once the derivation cache exists. The quantization term assumes every client's
update has range R in every round and every round uses s levels (the CLI's constant case), so
V_t = Σ_{i∈S} p_i²·d R²/(4s²) = d R²/(4n s²) for n equal-weight clients per round; array-valued ranges and levels
go through ``optimizer`` instead. With ``participation`` F < 1, n = max(1, round(F·N)) of the N clients are
sampled per round and the sampling factor ω = (N − n)/(n(N − 1)) enters the one-round inequality.

The PL bound holds for every Young split ε ∈ (0, 1) of the coupling term; the value reported is the smallest over
ε (bounded Brent search on log ε, scipy), and ε → 0 exactly when the coupling b is 0.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy

from fedquant.errors import InvalidArgument
from fedquant.theory import numeric
from fedquant.theory.criteria import CRITERIA, TERMS
from fedquant.theory.wire import levels_for_width

CONSTANTS = ("L", "lr", "local_steps", "clients", "sigma2", "zeta2", "gap", "rounds")
QUANT_CONSTANTS = ("d", "range_", "levels")


@dataclass(frozen=True)
class BoundValue:
    criterion: str
    value: float
    terms: dict[str, float]
    conditions: dict[str, bool]
    step_size_limit: float
    inputs: dict[str, Any] = field(default_factory=dict)
    coefficients: dict[str, float] = field(default_factory=dict)  # c, b, v, ω (and ε for pl)

    def dominant(self) -> str:
        return max(self.terms, key=lambda k: self.terms[k])


def step_size_conditions(L: float, lr: float, local_steps: float) -> dict[str, bool]:
    """The one-round inequality's condition (theory/fedavg.py): ηLτ ≤ 1, True where it holds."""
    return {"step size": bool(numeric.step_size_condition_holds(L, lr, local_steps))}


def sampling_factor(clients: int, sampled: int) -> float:
    """ω = (N − n)/(n(N − 1)) for n of N clients drawn without replacement; 0 under full participation."""
    if sampled >= clients:
        return 0.0
    return float(numeric.sampling_factor(clients, sampled))


def step_size_limit(L: float, local_steps: float, omega: float = 0.0) -> float:
    """The largest η the one-round inequality allows: ηLτ ≤ 1 and c(η) > 0.

    Under full participation (ω = 0) c > 0 whenever ηLτ ≤ 1 (δ_G² ≤ ∫₀¹(eˣ − 1)²dx < 1, theory/drift.py), so the
    limit is 1/(Lτ). Client sampling subtracts (L/2)ωα² from c, which can reach 0 first; the limit is then the
    first root of c on (0, 1/(Lτ)], found on a grid of 512 points and refined by Brent's method (xtol 1e-15·η).
    """
    top = float(numeric.step_size_limit(L, local_steps))
    if omega == 0.0:
        return top

    def c(eta: float) -> float:
        return float(numeric.descent_coefficient(L, eta, local_steps, omega))

    grid = [top * (k + 1) / 512 for k in range(512)]
    values = [c(e) for e in grid]
    if all(v > 0 for v in values):
        return top
    first = next(k for k, v in enumerate(values) if v <= 0)
    if first == 0:
        from scipy.optimize import brentq

        return float(brentq(c, top * 1e-12, grid[0], xtol=grid[0] * 1e-15))
    from scipy.optimize import brentq

    return float(brentq(c, grid[first - 1], grid[first], xtol=grid[first] * 1e-15))


def sampled_clients(clients: int, participation: float) -> int:
    """n = max(1, round(F·N)): how many clients a round samples (as validation's RoundSpec.per_round)."""
    return max(1, round(participation * clients))


def best_split(objective: Any, coupling: float) -> float:
    """The Young split ε ∈ (0, 1) minimising ``objective(ε)``; ε → 0 (1e-300) when the coupling b is 0."""
    if coupling == 0.0:
        return 1e-300
    from scipy.optimize import minimize_scalar

    found = minimize_scalar(lambda x: objective(math.exp(x)), bounds=(math.log(1e-15), math.log(1 - 1e-9)),
                            method="bounded", options={"xatol": 1e-10})
    return float(math.exp(found.x))


def _check_number(name: str, value: Any, *, integer: bool = False, minimum: float | None = None,
                  strict: bool = False, maximum: float | None = None) -> float:
    kind = "an integer" if integer else "a number"
    lower = "" if minimum is None else (f" > {minimum:g}" if strict else f" ≥ {minimum:g}")
    upper = "" if maximum is None else f" ≤ {maximum:g}"
    allowed = f"{kind}{lower}{' and' if lower and upper else ''}{upper}"
    try:
        x = float(value)
    except (TypeError, ValueError):
        raise InvalidArgument(name, allowed, value) from None
    if not math.isfinite(x):
        raise InvalidArgument(name, f"a finite {kind[2:] if integer else 'number'}{lower}", value)
    if integer and x != int(x):
        raise InvalidArgument(name, allowed, value)
    if minimum is not None and (x <= minimum if strict else x < minimum):
        raise InvalidArgument(name, allowed, value)
    if maximum is not None and x > maximum:
        raise InvalidArgument(name, allowed, value)
    return x


def validate_constants(criterion: str, values: dict[str, Any]) -> dict[str, float]:
    """Check every given constant; returns them as floats. Missing ones (None) are skipped."""
    if criterion not in CRITERIA:
        raise InvalidArgument("criterion", f"one of {', '.join(CRITERIA)}", criterion)
    rules: dict[str, dict[str, Any]] = {
        "L": {"minimum": 0, "strict": True},
        "lr": {"minimum": 0, "strict": True},
        "local_steps": {"integer": True, "minimum": 1},
        "clients": {"integer": True, "minimum": 1},
        "sigma2": {"minimum": 0},
        "zeta2": {"minimum": 0},
        "gap": {"minimum": 0},
        "rounds": {"integer": True, "minimum": 1},
        "mu": {"minimum": 0, "strict": True},
        "d": {"integer": True, "minimum": 1},
        "range_": {"minimum": 0},
        "levels": {"minimum": 1},
        "bits": {"integer": True, "minimum": 1, "maximum": 32},
        "participation": {"minimum": 0, "strict": True, "maximum": 1},
    }
    out: dict[str, float] = {}
    for name, value in values.items():
        if value is None:
            continue
        if name not in rules:
            raise InvalidArgument(name, f"one of {', '.join(rules)}", value)
        out[name] = _check_number(name, value, **rules[name])
    if "mu" in out and "L" in out and out["mu"] > out["L"]:
        raise InvalidArgument("mu", f"at most L = {out['L']:g} (a PL constant cannot exceed smoothness)", out["mu"])
    if {"L", "lr", "local_steps"} <= out.keys():
        limit = float(numeric.step_size_limit(out["L"], out["local_steps"]))
        if not all(step_size_conditions(out["L"], out["lr"], out["local_steps"]).values()):
            raise InvalidArgument(
                "lr", f"at most the step-size limit {limit:.6g} for L = {out['L']:g} and τ = {out['local_steps']:g} "
                "(condition ηLτ ≤ 1)", out["lr"])
        if "clients" in out and out.get("participation", 1.0) < 1.0:
            N = int(out["clients"])
            n = sampled_clients(N, out["participation"])
            omega = sampling_factor(N, n)
            if float(numeric.descent_coefficient(out["L"], out["lr"], out["local_steps"], omega)) <= 0:
                sampled_limit = step_size_limit(out["L"], out["local_steps"], omega)
                raise InvalidArgument(
                    "lr", f"below the step-size limit {sampled_limit:.6g} for L = {out['L']:g}, τ = "
                    f"{out['local_steps']:g} and {n} of {N} clients per round (conditions ηLτ ≤ 1 and a positive "
                    "descent coefficient c, which client sampling lowers)", out["lr"])
    return out


def missing_constants(criterion: str, values: dict[str, Any], quantized: bool) -> list[str]:
    need = list(CONSTANTS) + (["mu"] if criterion == "pl" else []) + (list(QUANT_CONSTANTS) if quantized else [])
    have = {k for k, v in values.items() if v is not None}
    if "bits" in have:
        have.add("levels")
    return [name for name in need if name not in have]


def evaluate_bound(criterion: str = "nonconvex", *, quantized: bool = True, **values: Any) -> BoundValue:
    """The bound's value and terms for constant range and levels.

    Keywords: L, lr, local_steps, clients, sigma2, zeta2, gap, rounds, mu (pl), participation (default 1), and
    for the quantization term d, range_ and levels (or bits, s = 2^b − 1). Raises InvalidArgument for values
    outside the bound's conditions and for missing constants.
    """
    if "levels" in values and "bits" in values and values["levels"] is not None and values["bits"] is not None:
        raise InvalidArgument("levels", "either levels or bits, not both", values["levels"])
    c = validate_constants(criterion, values)
    missing = missing_constants(criterion, values, quantized)
    if missing:
        raise InvalidArgument(missing[0], "required to evaluate the bound", None)
    if "bits" in c:
        c["levels"] = levels_for_width(c["bits"])
    N = int(c["clients"])
    n = sampled_clients(N, c.get("participation", 1.0))
    omega = sampling_factor(N, n)
    p2 = 1.0 / N  # the SGD noise of the full-participation average
    L, lr, tau = c["L"], c["lr"], c["local_steps"]
    base = [L, lr, tau, p2, c["sigma2"], c["zeta2"], c["gap"], c["rounds"], omega]
    noisy = (L, lr, tau, c["sigma2"], c["zeta2"], p2, omega)
    coefficients = {"c": float(numeric.descent_coefficient(L, lr, tau, omega)),
                    "b": float(numeric.coupling_coefficient(*noisy)), "v": float(numeric.noise_per_round(*noisy)),
                    "omega": omega, "sampled": n}
    per_round = float(numeric.quantization_error_bound(c["d"], c["range_"], c["levels"])) / n if quantized else 0.0
    fns = numeric.functions()

    def quant_sum(weight_total: float) -> float:
        return per_round * weight_total

    if criterion == "pl":
        mu = c["mu"]

        def args_at(eps: float) -> list[float]:
            rho = float(numeric.contraction_split(L, lr, tau, mu, eps, omega))
            return [*base, mu, eps, quant_sum(float(numeric.weight_total_pl(rho, c["rounds"])))]

        eps = best_split(lambda e: float(fns["bound_pl"](*args_at(e))), coefficients["b"])
        args = args_at(eps)
        coefficients["split"] = eps
        coefficients["rho"] = float(numeric.contraction_split(L, lr, tau, mu, eps, omega))
    else:
        args = [*base, quant_sum(float(numeric.weight_total_nonconvex(c["rounds"])))]
    with numpy.errstate(divide="ignore"):  # ρ = 0 (μ = L, ηL = 1): log1p(−1) = −inf is the exact limit, ρ^T = 0
        terms = {name: float(fns[f"bound_{criterion}_{name}"](*args)) for name in TERMS}
        value = float(fns[f"bound_{criterion}"](*args))
    conditions = step_size_conditions(L, lr, tau)
    conditions["descent"] = coefficients["c"] > 0
    if criterion == "pl":
        conditions["pl"] = c["mu"] <= c["L"]
    return BoundValue(
        criterion=criterion,
        value=value,
        terms=terms,
        conditions=conditions,
        step_size_limit=step_size_limit(L, tau, omega),
        inputs=dict(c, quantized=quantized),
        coefficients=coefficients,
    )
