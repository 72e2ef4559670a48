"""Verdicts a user can trust: every scheme against the best, and quantization against ``none``, paired by seed.

A seed fixes the split, the initial model and the minibatches, so runs of two schemes on one seed differ only by
the schedule: the comparison is paired. For a scheme A against a reference B, with per-seed differences
d_k = m_A(k) − m_B(k) of a metric where lower is better (final training loss; 1 − accuracy for accuracy), the
mean difference d̄ has the 95 % confidence interval

    d̄ ± t_{0.975, n−1} · s_d / √n          (paired t, n seeds, s_d the sample standard deviation of the d_k)

and the verdict is *better* (the interval lies below 0), *worse* (above 0) or *tied* (it contains 0: the data
cannot tell the two apart). With one seed, or identical runs, there is no spread to judge by: *tied* when the
difference is exactly 0, else *one seed* (no verdict).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from scipy.special import stdtrit  # the Student-t quantile, without importing scipy.stats

#: the confidence level of every interval
LEVEL = 0.95


@dataclass(frozen=True)
class Paired:
    """Scheme vs reference on one metric (lower is better), paired over seeds."""

    scheme: str
    reference: str
    mean_difference: float  # d̄ = mean_k (m_scheme(k) − m_reference(k))
    ci_low: float | None
    ci_high: float | None
    wins: int  # seeds where the scheme is strictly better
    seeds: int
    verdict: str  # better | tied | worse | one seed | best (the reference itself)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def paired(scheme: str, reference: str, values: np.ndarray, reference_values: np.ndarray) -> Paired:
    """The paired comparison of ``values`` (one per seed) against ``reference_values`` (same seeds)."""
    d = np.asarray(values, dtype=np.float64) - np.asarray(reference_values, dtype=np.float64)
    n = d.size
    mean = float(d.mean())
    wins = int(np.sum(d < 0))
    if n < 2 or float(np.std(d, ddof=1)) == 0.0:
        verdict = "tied" if np.all(d == 0) else ("better" if mean < 0 else "worse") if n >= 2 else "one seed"
        low = high = mean if n >= 2 else None
        return Paired(scheme, reference, mean, low, high, wins, n, verdict)
    half = float(stdtrit(n - 1, 0.5 + LEVEL / 2)) * float(np.std(d, ddof=1)) / math.sqrt(n)
    low, high = mean - half, mean + half
    verdict = "better" if high < 0 else "worse" if low > 0 else "tied"
    return Paired(scheme, reference, mean, low, high, wins, n, verdict)


def against_best(final_loss: dict[str, np.ndarray], among: list[str] | None = None) -> list[Paired]:
    """Every scheme against the one with the lowest mean final loss among ``among`` (default: all), marked
    ``best``. Pass the schemes calibrated to one budget as ``among``, so the best is chosen at equal bits."""
    pool = [s for s in (among or list(final_loss)) if s in final_loss] or list(final_loss)
    best = min(pool, key=lambda s: float(np.mean(final_loss[s])))
    out = []
    for s in final_loss:
        v = paired(s, best, final_loss[s], final_loss[best])
        out.append(v if s != best else Paired(s, best, 0.0, None, None, 0, v.seeds, "best"))
    return out


def quantization_cost(final_loss: dict[str, np.ndarray], reference: np.ndarray) -> dict[str, Any]:
    """What quantization cost against the unquantized run, and whether it limits the schedules at all.

    ``limiting`` is False when no scheme is measurably worse than ``none`` (every interval reaches 0 or
    below): then schedules cannot differ through their quantization noise, and a ranking of them is noise.
    """
    costs = [paired(s, "none", v, reference) for s, v in final_loss.items()]
    worse = [c.scheme for c in costs if c.verdict == "worse"]
    better = [c.scheme for c in costs if c.verdict == "better"]
    if worse:
        line = f"quantization costs training loss in {len(worse)} of {len(costs)} schemes ({', '.join(worse)})"
    elif better:
        line = ("quantization noise lowered the training loss (" + ", ".join(better) + " below none within the "
                "95% interval): outside the theory's scope, which only bounds a cost")
    else:
        line = "quantization is not limiting here: no scheme is measurably worse than none, so schedules cannot differ"
    return {"limiting": bool(worse), "line": line, "against_none": [c.to_json() for c in costs]}
