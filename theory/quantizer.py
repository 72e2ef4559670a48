"""Lemmas of the stochastic uniform quantizer, derived with sympy, and its bit costs.

Quantizer (docs/design.md §2): on a block x ∈ R^d with range [m, M], R = M − m, and s intervals, the grid is
m + jR/s, j = 0..s. A coordinate between neighbours ℓ ≤ x ≤ u rounds to u with probability (x − ℓ)/(u − ℓ)
and to ℓ otherwise. The lemmas below are computed, not typed: the mean and variance come from sympy.stats on
that two-point law, the cell maximum from calculus, and the block bound by summing the cell maximum.
"""

from __future__ import annotations

import sympy
from sympy.codegen.cfunctions import log2
from sympy.stats import Bernoulli, E, variance

from fedquant.theory import symbols as S
from fedquant.theory.step import Step
from fedquant.theory.wire import QSGD_SIDE_INFO_BITS, SIDE_INFO_BITS

_QSGD_ERR = S.label("EQs_err", "E‖Q_s(x) − x‖²", r"\mathbb{E}\|Q_s(x)-x\|^{2}")
_BITS_FIXED = S.label("bits_fixed", "bits_fixed", r"\mathrm{bits}_{\mathrm{fixed}}")
_BITS_RELAXED = S.label("bits_relaxed", "bits_relaxed", r"\mathrm{bits}_{\mathrm{relaxed}}")
_BITS_QSGD = S.label("bits_qsgd", "bits_qsgd", r"\mathrm{bits}_{\mathrm{QSGD}}")

QSGD_SOURCE = "Alistarh, Grubic, Li, Tomioka, Vojnovic, QSGD, NeurIPS 2017, Lemma 3.1"


def rounding_law() -> tuple[sympy.Expr, sympy.Expr]:
    """Q(x) = ℓ + (u − ℓ)·ξ with ξ ~ Bernoulli((x − ℓ)/(u − ℓ)); returns (Q, p)."""
    p = (S.x - S.lower) / (S.upper - S.lower)
    xi = Bernoulli("xi", p)
    return S.lower + (S.upper - S.lower) * xi, p


def rounding_mean() -> sympy.Expr:
    q, _ = rounding_law()
    return sympy.simplify(E(q))


def rounding_variance() -> sympy.Expr:
    """Per-coordinate variance (x − ℓ)(u − x), computed from the two-point law."""
    q, _ = rounding_law()
    return sympy.factor(sympy.simplify(variance(q)), deep=True)


def cell_maximum() -> tuple[sympy.Expr, sympy.Expr]:
    """max over x ∈ [ℓ, ℓ+δ] of (x − ℓ)(u − x): the maximiser and the value δ²/4."""
    var = rounding_variance().subs({S.x: S.lower + S.theta * S.step, S.upper: S.lower + S.step})
    var = sympy.expand(var)
    crit = sympy.solve(sympy.diff(var, S.theta), S.theta)
    candidates = [sympy.Integer(0), sympy.Integer(1), *crit]
    values = [sympy.simplify(var.subs(S.theta, c)) for c in candidates]
    best = max(range(len(values)), key=lambda i: sympy.Poly(values[i], S.step).LC())
    return candidates[best], values[best]


def block_bound() -> sympy.Expr:
    """d·(R/s)²/4: d coordinates, each at most the cell maximum with δ = R/s."""
    _, vmax = cell_maximum()
    return sympy.simplify(S.d * vmax.subs(S.step, S.range_ / S.levels))


def qsgd_bound() -> sympy.Expr:
    """E‖Q_s(x) − x‖² ≤ min(d/s², √d/s)·‖x‖² (stated, not derived here)."""
    return sympy.Min(S.d / S.levels**2, sympy.sqrt(S.d) / S.levels) * S.norm2


def bits_fixed() -> sympy.Expr:
    """Fixed-length code: d·⌈log2(s+1)⌉ bits of indices plus two float32 for the range."""
    return S.d * sympy.ceiling(log2(S.levels + 1)) + SIDE_INFO_BITS


def bits_relaxed() -> sympy.Expr:
    """Relaxed cost with continuous s: d·log2(s+1) + side information."""
    return S.d * log2(S.levels + 1) + SIDE_INFO_BITS


def bits_qsgd() -> sympy.Expr:
    """QSGD with a fixed-length code: a sign bit and ⌈log2(s+1)⌉ bits per coordinate plus a float32 norm."""
    return S.d * (sympy.ceiling(log2(S.levels + 1)) + 1) + QSGD_SIDE_INFO_BITS


def steps() -> list[Step]:
    q, p = rounding_law()
    mean = rounding_mean()
    var = rounding_variance()
    argmax, vmax = cell_maximum()
    block = block_bound()
    b_at_full_grid = sympy.simplify(bits_fixed().subs(S.levels, 2**S.bits - 1))
    return [
        Step(
            key="quantizer.law",
            kind="definition",
            title="Stochastic uniform quantizer (two-point law in one cell)",
            statement={
                "Q(x)": sympy.Eq(S.label("Qx", "Q(x)", "Q(x)"), q),
                "P(Q(x) = u)": sympy.Eq(S.label("p_up", "p", "p"), p),
            },
            conditions={"cell": sympy.And(sympy.Le(S.lower, S.x), sympy.Le(S.x, S.upper))},
            source="docs/design.md §2; the unbiased stochastic rounding of QSGD (Alistarh et al., NeurIPS 2017)",
        ),
        Step(
            key="quantizer.unbiased",
            kind="lemma",
            title="Stochastic rounding is unbiased",
            statement={"mean": sympy.Eq(S.label("EQx", "E[Q(x)]", r"\mathbb{E}[Q(x)]"), mean)},
            derivation=(("E[Q(x)] by sympy.stats", mean),),
            uses=("quantizer.law",),
        ),
        Step(
            key="quantizer.variance",
            kind="lemma",
            title="Per-coordinate variance of stochastic rounding",
            statement={"variance": sympy.Eq(S.label("EQx_var", "E(Q(x) − x)²", r"\mathbb{E}(Q(x)-x)^{2}"), var)},
            derivation=(("Var[Q(x)] by sympy.stats", var),),
            uses=("quantizer.law",),
        ),
        Step(
            key="quantizer.cell_max",
            kind="lemma",
            title="The variance is largest at the middle of a cell",
            statement={"max over the cell": sympy.Le(var, vmax)},
            derivation=(
                ("x = ℓ + θδ, u = ℓ + δ", sympy.expand(var.subs({S.x: S.lower + S.theta * S.step,
                                                                   S.upper: S.lower + S.step}))),
                ("maximiser θ", argmax),
                ("maximum", vmax),
            ),
            uses=("quantizer.variance",),
        ),
        Step(
            key="quantizer.block",
            kind="lemma",
            title="Error bound on a block of d coordinates with s intervals over range R",
            statement={"block bound": sympy.Le(S.label("EQ_err", "E‖Q(x) − x‖²", r"\mathbb{E}\|Q(x)-x\|^{2}"), block)},
            derivation=(("d × cell maximum with δ = R/s", block),),
            uses=("quantizer.cell_max",),
            source="docs/design.md §2",
        ),
        Step(
            key="quantizer.deterministic",
            kind="lemma",
            title="Deterministic rounding to the nearest grid point (biased), as in FedDQ's code",
            statement={"worst case": sympy.Le(S.label("Q_err", "‖Q(x) − x‖²", r"\|Q(x)-x\|^{2}"), block)},
            derivation=(("d × (δ/2)² with δ = R/s", sympy.simplify(S.d * (S.range_ / S.levels / 2) ** 2)),),
            source="every coordinate moves at most half a cell (docs/design.md §2); FedDQ's released code, "
            "github lqu-001/FedDQ (Qu, Song, Tsui, arXiv 2110.02291)",
        ),
        Step(
            key="quantizer.qsgd",
            kind="lemma",
            title="QSGD variance bound (ℓ2-norm scaling, s levels)",
            statement={"QSGD": sympy.Le(_QSGD_ERR, qsgd_bound())},
            source=QSGD_SOURCE,
        ),
        Step(
            key="quantizer.bits",
            kind="definition",
            title="Bit cost of one block",
            statement={
                "fixed-length": sympy.Eq(_BITS_FIXED, bits_fixed()),
                "relaxed": sympy.Eq(_BITS_RELAXED, bits_relaxed()),
                "QSGD fixed-length": sympy.Eq(_BITS_QSGD, bits_qsgd()),
            },
            derivation=(("fixed-length at s = 2^b − 1", b_at_full_grid),),
            source="docs/design.md §2 (two float32 of side information per block); the sign bit as in QSGD "
            "(Alistarh et al., NeurIPS 2017, Sec. 3)",
        ),
    ]


def exports() -> dict[str, tuple[tuple[sympy.Symbol, ...], sympy.Expr]]:
    """Numeric functions this module defines: name -> (arguments, expression)."""
    return {
        "rounding_variance": ((S.x, S.lower, S.upper), rounding_variance()),
        "quantization_error_bound": ((S.d, S.range_, S.levels), block_bound()),
        "qsgd_error_bound": ((S.d, S.levels, S.norm2), qsgd_bound()),
        "bits_fixed": ((S.d, S.levels), bits_fixed()),
        "bits_relaxed": ((S.d, S.levels), bits_relaxed()),
        "bits_qsgd": ((S.d, S.levels), bits_qsgd()),
    }
