"""Evaluate the bound for given constants: validation at the door, then the lambdified terms.

This is what ``fedquant bound`` and the notebooks call. Only the numeric functions of ``numeric`` are used,
so evaluating needs no sympy once the derivation cache exists. The quantization term assumes every client's
update has range R in every round and every round uses s levels (the CLI's constant case), so
V_t = ‖p‖²·d R²/(4s²) with ‖p‖² = 1/N for equal weights; array-valued ranges and levels go through
``optimizer`` instead.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

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

    def dominant(self) -> str:
        return max(self.terms, key=lambda k: self.terms[k])


def step_size_conditions(L: float, lr: float, local_steps: float) -> dict[str, bool]:
    """The one-round inequality's conditions (theory/fedavg.py): descent ηLτ ≤ 1/2 and drift
    η²L²(τ−1)(5τ−1) < 1, each True where it holds; the bound applies when both do."""
    return {"descent": bool(numeric.descent_condition_holds(L, lr, local_steps)),
            "drift": bool(numeric.drift_condition_holds(L, lr, local_steps))}


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
            tau = out["local_steps"]
            strict = (tau - 1) * (5 * tau - 1) > (2 * tau) ** 2  # the drift condition (strict) binds
            raise InvalidArgument(
                "lr",
                f"{'below' if strict else 'at most'} the step-size limit {limit:.6g} for L = {out['L']:g} and "
                f"τ = {tau:g} (conditions ηLτ ≤ 1/2 and η²L²(τ−1)(5τ−1) < 1)",
                out["lr"],
            )
    return out


def missing_constants(criterion: str, values: dict[str, Any], quantized: bool) -> list[str]:
    need = list(CONSTANTS) + (["mu"] if criterion == "pl" else []) + (list(QUANT_CONSTANTS) if quantized else [])
    have = {k for k, v in values.items() if v is not None}
    if "bits" in have:
        have.add("levels")
    return [name for name in need if name not in have]


def evaluate_bound(criterion: str = "nonconvex", *, quantized: bool = True, **values: Any) -> BoundValue:
    """The bound's value and terms for constant range and levels.

    Keywords: L, lr, local_steps, clients, sigma2, zeta2, gap, rounds, mu (pl), and for the quantization
    term d, range_ and levels (or bits, s = 2^b − 1). Raises InvalidArgument for values outside the bound's
    conditions and for missing constants.
    """
    if "levels" in values and "bits" in values and values["levels"] is not None and values["bits"] is not None:
        raise InvalidArgument("levels", "either levels or bits, not both", values["levels"])
    c = validate_constants(criterion, values)
    missing = missing_constants(criterion, values, quantized)
    if missing:
        raise InvalidArgument(missing[0], "required to evaluate the bound", None)
    if "bits" in c:
        c["levels"] = levels_for_width(c["bits"])
    p2 = 1.0 / c["clients"]
    args = [c["L"], c["lr"], c["local_steps"], p2, c["sigma2"], c["zeta2"], c["gap"], c["rounds"]]
    if criterion == "pl":
        args.append(c["mu"])
        rho = float(numeric.contraction(c["L"], c["lr"], c["local_steps"], c["mu"]))
        total_weight = float(numeric.weight_total_pl(rho, c["rounds"]))
    else:
        total_weight = float(numeric.weight_total_nonconvex(c["rounds"]))
    if quantized:
        per_round = p2 * float(numeric.quantization_error_bound(c["d"], c["range_"], c["levels"]))
        quant_sum = per_round * total_weight
    else:
        quant_sum = 0.0
    args.append(quant_sum)
    fns = numeric.functions()
    terms = {name: float(fns[f"bound_{criterion}_{name}"](*args)) for name in TERMS}
    value = float(fns[f"bound_{criterion}"](*args))
    conditions = step_size_conditions(c["L"], c["lr"], c["local_steps"])
    if criterion == "pl":
        conditions["pl"] = c["mu"] <= c["L"]
    return BoundValue(
        criterion=criterion,
        value=value,
        terms=terms,
        conditions=conditions,
        step_size_limit=float(numeric.step_size_limit(c["L"], c["local_steps"])),
        inputs=dict(c, quantized=quantized),
    )
