"""Agreements as examples: each claim of the theory, measured by the code and predicted by the formula.

Each example is a function ``run(...) -> Agreement`` in a file of its own, fast and deterministic with its
defaults; its docstring states the claim, the formula, the source and why its tolerance is what it is.
``tests/test_examples.py`` asserts every agreement at the tolerance the example states. To add one, start
from ``template.py``.

Catalogue (claim — file):

- the stochastic quantizer's mean squared error is the exact two-point variance Σ(x − ℓ)(u − x), equal
  within 4 standard errors — ``quantizer_variance.py``
- the block bound E‖Q(x) − x‖² ≤ d R²/(4s²), nearly attained on cell midpoints — ``quantizer_bound.py``
- the fixed codec writes exactly ⌈bits(d, s)/8⌉ + header bytes, the theory's bit formula, for all three
  quantizers — ``bits_on_the_wire.py``
- the quantization lemma E f(w_{t+1}) ≤ f(w̄_{t+1}) + (L/2)Σ p_i² E‖Q(Δ_i) − Δ_i‖² on a quadratic, a bound
  — ``one_step_lemma.py``
- the optimal schedule under the relaxed cost is the KKT point s³/(s + 1) = κ_t, solved independently, to
  float precision — ``kkt_closed_form.py``
- the large-s closed form (s_{t+1} − ½)/(s_t − ½) = √(α_{t+1}/α_t)·R_{t+1}/R_t of the optimal levels
  — ``level_asymptotic.py``
- the optimal levels descend exactly when √(α_{t+1}/α_t)·R_{t+1}/R_t < 1 (non-convex: when the ranges
  shrink) — ``descent_condition.py``

``python -m fedquant.examples`` prints every agreement.
"""

from __future__ import annotations

from collections.abc import Callable

from fedquant.examples import (
    bits_on_the_wire,
    descent_condition,
    kkt_closed_form,
    level_asymptotic,
    one_step_lemma,
    quantizer_bound,
    quantizer_variance,
)
from fedquant.examples.agreement import Agreement

#: every example, in the order of the catalogue
EXAMPLES: tuple[Callable[[], Agreement], ...] = (
    quantizer_variance.run,
    quantizer_bound.run,
    bits_on_the_wire.run,
    one_step_lemma.run,
    kkt_closed_form.run,
    level_asymptotic.run,
    descent_condition.run,
)

__all__ = [
    "EXAMPLES",
    "Agreement",
    "bits_on_the_wire",
    "descent_condition",
    "kkt_closed_form",
    "level_asymptotic",
    "one_step_lemma",
    "quantizer_bound",
    "quantizer_variance",
]
