"""How tight the bound is: fedquant's bound over PEPit's exact worst case, on the special cases PEPit can solve.

The cases are federated averaging with one client and no noise (N = 1, σ² = ζ² = 0, unquantized), where the bound
of theory/bound.py and the exact worst case of the method (fedquant/benchmarks/worst_case.py, a PEPit SDP) bound
the same quantity over the same function class:

* **non-convex**: (1/T)Σ_{t<T} ‖∇f(x_t)‖² over L-smooth f with f(x_0) − f(x_T) ≤ Δ (the bound only uses
  f(x_0) − f(x_T) ≤ Δ₀ after telescoping, so the two are comparable), for τ local gradient steps per round;
* **PL**: f(x_T) − f* over L-smooth μ-PL f with f(x_0) − f* ≤ Δ.

A ratio ≥ 1 (up to the SDP's precision) says the bound is valid there; its size says how loose. The step sizes
are fractions of the bound's own step-size limit 1/(Lτ). ``tightness_table()`` returns the rows,
``format_table()`` prints them (``fedquant bench theory``); the tests assert validity and the tightness goals.
"""

from __future__ import annotations

from dataclasses import dataclass

from fedquant.benchmarks import worst_case
from fedquant.theory.evaluate import evaluate_bound

#: the grid of the default table: (criterion, τ, fraction of the step limit 1/(Lτ), T)
GD_FRACTIONS = (0.1, 0.25, 0.5, 1.0)
LOCAL_FRACTIONS = (0.5, 0.99)
ROUNDS = (1, 4, 16)
PL_MU = 0.2


@dataclass(frozen=True)
class Row:
    criterion: str
    local_steps: int
    fraction: float  # η as a fraction of the step-size limit 1/(Lτ)
    rounds: int
    bound: float
    exact: float  # PEPit's worst case (the SDP's dual value, a certified upper bound of the exact one)
    precision: float  # |dual − primal|/dual of the SDP

    @property
    def ratio(self) -> float:
        return self.bound / self.exact


def row(criterion: str, local_steps: int, fraction: float, rounds: int, *, L: float = 1.0, mu: float = PL_MU,
        gap: float = 1.0) -> Row:
    """One comparison: the bound and PEPit's worst case at η = fraction/(Lτ)."""
    lr = fraction / (L * local_steps)
    common = dict(L=L, lr=lr, local_steps=local_steps, clients=1, sigma2=0.0, zeta2=0.0, gap=gap, rounds=rounds,
                  quantized=False)
    if criterion == "pl":
        bound = evaluate_bound("pl", mu=mu, **common).value
        exact = worst_case.local_gd_pl_detail(L, mu, lr, local_steps, rounds, gap)
    else:
        bound = evaluate_bound("nonconvex", **common).value
        exact = worst_case.local_gd_nonconvex_detail(L, lr, local_steps, rounds, gap)
    return Row(criterion, local_steps, fraction, rounds, bound, exact.value, exact.gap)


def tightness_table(rounds: tuple[int, ...] = ROUNDS) -> list[Row]:
    """Gradient descent at every fraction of 1/L, local steps τ ∈ {2, 4, 8} at half and 0.99 of 1/(Lτ), and
    PL gradient descent at η ∈ {0.25, 0.5}/L and PL local GD (τ ∈ {2, 4}) at half the limit, each for every T in
    ``rounds`` (local steps: T ≤ 4, the SDP grows with τ·T)."""
    out = [row("nonconvex", 1, f, T) for f in GD_FRACTIONS for T in rounds]
    out += [row("nonconvex", tau, f, T) for tau in (2, 4, 8) for f in LOCAL_FRACTIONS for T in rounds if T <= 4]
    out += [row("pl", 1, f, T) for f in (0.25, 0.5) for T in rounds]
    out += [row("pl", tau, 0.5, T) for tau in (2, 4) for T in rounds if T <= 4]
    return out


def format_table(rows: list[Row]) -> str:
    lines = ["bound / PEPit exact worst case (N = 1, σ² = ζ² = 0, unquantized; L = 1, Δ = 1; "
             f"PL with μ = {PL_MU:g})",
             f"  {'criterion':<10}{'τ':>3}{'η·Lτ':>7}{'T':>4}{'bound':>12}{'PEPit':>12}{'ratio':>8}{'SDP prec.':>11}"]
    for r in rows:
        lines.append(f"  {r.criterion:<10}{r.local_steps:>3}{r.fraction:>7.2f}{r.rounds:>4}{r.bound:>12.6g}"
                     f"{r.exact:>12.6g}{r.ratio:>8.4f}{r.precision:>11.1e}")
    worst = max(rows, key=lambda r: r.ratio)
    lines.append(f"  largest ratio {worst.ratio:.3f} ({worst.criterion}, τ = {worst.local_steps}, "
                 f"η·Lτ = {worst.fraction:g}, T = {worst.rounds}); smallest {min(r.ratio for r in rows):.4f}")
    return "\n".join(lines)


if __name__ == "__main__":
    print(format_table(tightness_table()))
