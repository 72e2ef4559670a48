"""Trajectory families for ranges and losses, fitted to a trace and chosen by held-out error.

Families (t = round index from 0):
    exp        y = a·ρ^t                (geometric convergence, e.g. under PL)
    power      y = a·(t + 1)^(−k)       (sublinear convergence)
    exp_floor  y = c + a·ρ^t            (geometric decay to a noise floor: the range of SGD updates at a
                                          constant step size stops shrinking)
    const      y = a
A fit uses the first 80 % of the points, the family with the smallest held-out RMSE on the rest wins, and
is refitted on every point. The same family functions generate trajectories from CLI models
(``--range-model exp:R0,RHO``), so a model and a fit mean the same thing.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy.optimize import OptimizeWarning, curve_fit

from fedquant.errors import InvalidArgument


def _exp(t: np.ndarray, a: float, rho: float) -> np.ndarray:
    return a * np.power(rho, t)


def _power(t: np.ndarray, a: float, k: float) -> np.ndarray:
    return a * np.power(t + 1.0, -k)


def _exp_floor(t: np.ndarray, a: float, rho: float, c: float) -> np.ndarray:
    return c + a * np.power(rho, t)


def _const(t: np.ndarray, a: float) -> np.ndarray:
    return np.full(np.shape(t), float(a))


FAMILIES: dict[str, tuple[Callable[..., np.ndarray], tuple[str, ...]]] = {
    "exp": (_exp, ("a", "rho")),
    "power": (_power, ("a", "k")),
    "exp_floor": (_exp_floor, ("a", "rho", "c")),
    "const": (_const, ("a",)),
}


@dataclass(frozen=True)
class Fit:
    family: str
    params: tuple[float, ...]
    heldout_rmse: float  # NaN when the trace was too short to hold points out

    def predict(self, t: np.ndarray | float) -> np.ndarray:
        fn, _ = FAMILIES[self.family]
        return np.maximum(fn(np.asarray(t, dtype=np.float64), *self.params), 0.0)

    def spec(self) -> str:
        """The fit in the spec language of ``trajectory`` ('exp_floor:A,RHO,C'), to pass back to the CLI."""
        return f"{self.family}:" + ",".join(f"{v:.6g}" for v in self.params)

    def describe(self) -> str:
        names = FAMILIES[self.family][1]
        ps = ", ".join(f"{n}={v:.4g}" for n, v in zip(names, self.params, strict=True))
        err = "" if not np.isfinite(self.heldout_rmse) else f", held-out RMSE {self.heldout_rmse:.3g}"
        return f"{self.family}({ps}){err}"


def trajectory(spec: str, rounds: int, name: str = "range_model") -> np.ndarray:
    """Values for rounds 0..T−1 from 'exp:A,RHO', 'power:A,K', 'exp_floor:A,RHO,C' or 'const:A'."""
    family, _, args = spec.partition(":")
    allowed = "exp:A,RHO | power:A,K | exp_floor:A,RHO,C | const:A (A > 0, 0 < RHO ≤ 1, K ≥ 0, C ≥ 0)"
    if family not in FAMILIES:
        raise InvalidArgument(name, allowed, spec)
    fn, names = FAMILIES[family]
    try:
        values = [float(v) for v in args.split(",")] if args else []
    except ValueError:
        raise InvalidArgument(name, allowed, spec) from None
    if len(values) != len(names) or not all(np.isfinite(values)):
        raise InvalidArgument(name, allowed, spec)
    params = dict(zip(names, values, strict=True))
    if params["a"] < 0 or params.get("c", 0.0) < 0 or params.get("k", 0.0) < 0 or not 0 < params.get("rho", 1) <= 1:
        raise InvalidArgument(name, allowed, spec)
    return fn(np.arange(rounds, dtype=np.float64), *values)


def _fit_family(family: str, t: np.ndarray, y: np.ndarray) -> tuple[float, ...] | None:
    if family == "const":
        return (float(np.mean(y)),)
    positive = y > 0
    if family in ("exp", "power"):
        if positive.sum() < 2:
            return None
        x = t[positive] if family == "exp" else np.log(t[positive] + 1.0)
        slope, intercept = np.polyfit(x, np.log(y[positive]), 1)
        if family == "exp":
            return (float(np.exp(intercept)), float(min(np.exp(slope), 1.0 + 1e-12)))
        return (float(np.exp(intercept)), float(max(-slope, 0.0)))
    if family == "exp_floor":
        if t.size < 4:
            return None
        c0 = float(max(y.min() * 0.9, 0.0))
        start = _fit_family("exp", t, np.maximum(y - c0, 1e-300))
        a0, r0 = start if start else (float(y[0] - c0), 0.9)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", OptimizeWarning)
            warnings.simplefilter("ignore", RuntimeWarning)
            try:
                popt, _ = curve_fit(_exp_floor, t, y, p0=(max(a0, 1e-12), min(max(r0, 1e-6), 1.0), c0),
                                    bounds=([0.0, 1e-9, 0.0], [np.inf, 1.0, np.inf]), maxfev=5000)
            except (RuntimeError, ValueError):
                return None
        return tuple(float(v) for v in popt)
    raise ValueError(family)


def fit(values: np.ndarray, families: tuple[str, ...] = ("exp", "power", "exp_floor"),
        holdout: float = 0.2, name: str = "trace") -> Fit:
    """Fit every family on the first (1 − holdout) of the points; keep the best on the held-out rest."""
    y = np.asarray(values, dtype=np.float64)
    if y.ndim != 1 or y.size < 1 or not np.all(np.isfinite(y)) or np.any(y < 0):
        raise InvalidArgument(name, "a non-empty 1-D sequence of finite non-negative values", "other")
    t = np.arange(y.size, dtype=np.float64)
    if y.size < 2:
        return Fit("const", (float(y[0]),), float("nan"))
    n_fit = y.size - max(1, round(holdout * y.size)) if y.size >= 5 else y.size
    best: tuple[float, str] | None = None
    for family in families:
        params = _fit_family(family, t[:n_fit], y[:n_fit])
        if params is None:
            continue
        if n_fit < y.size:
            pred = FAMILIES[family][0](t[n_fit:], *params)
            err = float(np.sqrt(np.mean((pred - y[n_fit:]) ** 2)))
        else:
            pred = FAMILIES[family][0](t, *params)
            err = float(np.sqrt(np.mean((pred - y) ** 2)))
        if np.isfinite(err) and (best is None or err < best[0]):
            best = (err, family)
    if best is None:
        return Fit("const", (float(np.mean(y)),), float("nan"))
    params = _fit_family(best[1], t, y) or _fit_family("const", t, y)
    family = best[1] if params is not None and len(params) == len(FAMILIES[best[1]][1]) else "const"
    return Fit(family, params, best[0] if n_fit < y.size else float("nan"))


def fit_contraction(loss: np.ndarray, f_star: float = 0.0) -> float:
    """ρ of the loss gap F_t − f* ≈ a·ρ^t (least squares in log space), clipped to (0, 1]."""
    gap = np.asarray(loss, dtype=np.float64) - f_star
    params = _fit_family("exp", np.arange(gap.size, dtype=np.float64), np.maximum(gap, 0.0))
    if params is None:
        raise InvalidArgument("loss", "at least two rounds with loss above f*", None)
    return float(min(max(params[1], 1e-12), 1.0))
