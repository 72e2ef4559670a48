"""Assemble every step, from the assumptions to the budget-optimal levels, into one Derivation."""

from __future__ import annotations

from functools import cache

import sympy

from fedquant.theory import assumptions, bound, budget, drift, fedavg, quantizer, rounding_bias
from fedquant.theory.step import Derivation

MODULES = (assumptions, quantizer, drift, fedavg, rounding_bias, bound, budget)


@cache
def derive() -> Derivation:
    """The whole derivation (computed by sympy on first call, about a second; cached in-process)."""
    steps = []
    for module in MODULES:
        steps.extend(module.steps())
    return Derivation(tuple(steps))


def exports() -> dict[str, tuple[tuple[sympy.Symbol, ...], sympy.Expr]]:
    """Every numeric function the derivation defines: name -> (arguments, expression)."""
    out: dict[str, tuple[tuple[sympy.Symbol, ...], sympy.Expr]] = {}
    for module in (quantizer, drift, fedavg, rounding_bias, bound, budget):
        for name, value in module.exports().items():
            if name in out:
                raise RuntimeError(f"numeric function {name} defined twice")
            out[name] = value
    return out
