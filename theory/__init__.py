"""fedquant.theory — the convergence bound of quantized FedAvg, derived with sympy, and its optimal levels.

* ``derive()`` returns the whole derivation (assumptions → quantizer lemmas → one-round inequality →
  telescoped bounds → KKT and closed-form levels); every step prints as text (``.text()``) and LaTeX.
* ``numeric`` holds the lambdified numpy functions (bound terms, quantizer variance and bit costs, KKT
  stationarity); optimizer/ and validation/ evaluate every formula through it.
* ``evaluate_bound(criterion, **constants)`` checks constants against the bound's conditions and evaluates it.

Importing this package is cheap: sympy loads only when a derivation is needed and the numeric functions
come from the generated module shipped with it (see ``numeric``). Imports nothing else of fedquant.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from fedquant.errors import InvalidArgument
from fedquant.theory.criteria import CRITERIA, TERMS

if TYPE_CHECKING:
    from fedquant.theory.evaluate import BoundValue
    from fedquant.theory.step import Derivation

__all__ = ["CRITERIA", "TERMS", "BoundValue", "InvalidArgument", "derive", "evaluate_bound", "numeric"]


def derive() -> Derivation:
    """The whole derivation as printable steps (imports sympy; about a second the first time)."""
    from fedquant.theory.derivation import derive as _derive

    return _derive()


def evaluate_bound(criterion: str = "nonconvex", **kwargs: Any) -> BoundValue:
    from fedquant.theory.evaluate import evaluate_bound as _evaluate

    return _evaluate(criterion, **kwargs)


def __getattr__(name: str) -> Any:
    if name == "numeric":
        return importlib.import_module(f"{__name__}.numeric")
    if name == "BoundValue":
        from fedquant.theory.evaluate import BoundValue

        return BoundValue
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
