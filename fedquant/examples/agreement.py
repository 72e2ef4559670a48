"""An agreement between a measured number and the number a claim of the theory predicts for it.

Every example of ``fedquant.examples`` returns one :class:`Agreement`. Two kinds, both with a *relative*
tolerance τ stated by the example (and justified in its docstring):

- ``"equal"``: the claim is an identity, |measured − predicted| ≤ τ·|predicted|;
- ``"bound"``: the claim is an upper bound, measured ≤ predicted·(1 + τ).

``ratio`` = measured / predicted says how close an equality came, or how much slack a bound leaves.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

KINDS = ("equal", "bound")


@dataclass(frozen=True)
class Agreement:
    """One measured number against the claim's prediction, with the relative tolerance the example states.

    ``note`` is free text for what the two numbers alone do not say (e.g. the per-block check behind a
    total, or a diagnostic ratio); it plays no part in :attr:`holds`.
    """

    claim: str
    measured: float
    predicted: float
    tolerance: float
    kind: str
    note: str = ""

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"kind: one of {', '.join(KINDS)}, got {self.kind!r}")
        if not (math.isfinite(self.tolerance) and self.tolerance >= 0):
            raise ValueError(f"tolerance: a finite relative tolerance ≥ 0, got {self.tolerance!r}")
        for name in ("measured", "predicted"):
            if not math.isfinite(getattr(self, name)):
                raise ValueError(f"{name}: a finite number, got {getattr(self, name)!r}")

    @property
    def holds(self) -> bool:
        """equal: |measured − predicted| ≤ tolerance·|predicted|; bound: measured ≤ predicted·(1 + tolerance)."""
        if self.kind == "equal":
            return abs(self.measured - self.predicted) <= self.tolerance * abs(self.predicted)
        return self.measured <= self.predicted * (1.0 + self.tolerance)

    @property
    def ratio(self) -> float:
        """measured / predicted (nan when the prediction is 0)."""
        return self.measured / self.predicted if self.predicted != 0 else math.nan

    def line(self) -> str:
        """One printable line: kind, measured, predicted, ratio, tolerance, verdict."""
        verdict = "holds" if self.holds else "FAILS"
        return (f"{self.kind:5s}  measured {self.measured:.10g}  predicted {self.predicted:.10g}  "
                f"ratio {self.ratio:.10g}  tol {self.tolerance:.3g}  {verdict}  — {self.claim}")
