"""dadaquant — DAdaQuant's time- and client-adaptive levels (Hönig, Zhao, Mullins, ICML 2022).

Time-adaptive (docs/design.md §4): an EMA of the loss Ḡ_t = ψ Ḡ_{t−1} + (1 − ψ) F_t; start at q_min;
when at least φ rounds passed since the last increase and Ḡ_t ≥ Ḡ_{t−φ} (a plateau), double q (at most
q_max). Client-adaptive (their Theorem 1): at the round's level q, client i gets
q_i = max(1, round(sqrt(a/b) · p_i^{2/3})) with a = Σ_j p_j^{2/3}, b = Σ_j p_j²/q², which keeps the
aggregate variance of q with fewer total levels. ``mode`` "both" (DAdaQuant), "time" or "clients".
Levels are the QSGD level counts q (s = q intervals); bits ⌈log2(q + 1)⌉. Defaults: ψ = 0.9, φ = T/10.
Calibration chooses q_min.
"""

from __future__ import annotations

import math

import numpy as np

from fedquant.errors import InvalidArgument
from fedquant.optimizer.problem import ScheduleProblem
from fedquant.optimizer.schemes.level_rule import Context, LevelRule, Observation, clip_levels
from fedquant.optimizer.schemes.record import Knob, Params, Scheme, check_whole, whole
from fedquant.theory.wire import levels_for_width

MODES = ("both", "time", "clients")


def client_levels(q: float, weights: np.ndarray) -> np.ndarray:
    """DAdaQuant's client-adaptive levels for aggregation weights p and round level q."""
    p = np.asarray(weights, dtype=np.float64)
    a = float(np.sum(p ** (2.0 / 3.0)))
    b = float(np.sum(p**2) / q**2)
    return np.maximum(1.0, np.round(math.sqrt(a / b) * p ** (2.0 / 3.0)))


def dadaquant(q_min: float = 1.0, q_max: float | None = None, psi: float = 0.9, phi: int | None = None,
              mode: str = "both") -> LevelRule:
    if mode not in MODES:
        raise InvalidArgument("mode", f"one of {', '.join(MODES)}", mode)
    if not math.isfinite(q_min) or q_min < 1:
        raise InvalidArgument("q_min", "a level ≥ 1", q_min)
    if not 0 <= psi < 1:
        raise InvalidArgument("psi", "an EMA factor 0 ≤ ψ < 1", psi)
    if phi is not None and (int(phi) != phi or phi < 1):
        raise InvalidArgument("phi", "a window of at least 1 round", phi)

    def init(ctx: Context) -> dict:
        top = q_max if q_max is not None else levels_for_width(ctx.bits_max)
        window = phi if phi is not None else max(1, ctx.rounds // 10)
        return {"ctx": ctx, "q": float(q_min), "ema": [], "last_increase": 0, "q_max": top, "phi": window}

    def update(obs: Observation, state: dict) -> tuple[np.ndarray, dict]:
        ctx: Context = state["ctx"]
        if not np.isfinite(obs.loss):
            raise InvalidArgument("loss", "a finite training loss every round (dadaquant tracks it)", obs.loss)
        ema = list(state["ema"])
        ema.append(obs.loss if not ema else psi * ema[-1] + (1 - psi) * obs.loss)
        q, last = state["q"], state["last_increase"]
        window = state["phi"]
        if mode != "clients" and obs.round - last >= window and len(ema) > window and ema[-1] >= ema[-1 - window]:
            q, last = min(2 * q, state["q_max"]), obs.round
        if mode == "time":
            levels = np.full(obs.range_.shape, q)
        else:
            weights = ctx.weights if obs.weights is None else obs.weights
            per_client = client_levels(q, weights)
            levels = np.broadcast_to(per_client[:, None], obs.range_.shape)
        new = dict(state, q=q, ema=ema, last_increase=last)
        return clip_levels(ctx, levels), new

    name = {"both": "dadaquant", "time": "dadaquant-time", "clients": "dadaquant-clients"}[mode]
    return LevelRule(name, init, update, {"q_min": float(q_min), "q_max": q_max, "psi": psi, "phi": phi,
                                          "mode": mode})


NAMES = {"both": "dadaquant", "time": "dadaquant-time", "clients": "dadaquant-clients"}


def _rule(mode: str, params: Params) -> LevelRule:
    q_max = params.get("q_max")
    return dadaquant(float(params.get("q_min", 1.0)), None if q_max is None else float(q_max),
                     float(params.get("psi", 0.9)), whole(params.get("phi")), mode)


def _knob(mode: str, params: Params, problem: ScheduleProblem) -> Knob:
    """q_min from 1 to 2^bits_max (more bits as it grows); when even q_min = 1 overspends (doubling on loss
    plateaus), cap the doubling instead: q_max from 1 (never doubles, so always feasible) up."""
    q_max = params.get("q_max")
    psi, phi = float(params.get("psi", 0.9)), whole(params.get("phi"))
    s_top = levels_for_width(problem.bits_max) + 1.0
    cap = None if q_max is not None else Knob(
        "q_max", lambda x: dadaquant(1.0, x, psi, phi, mode), 1.0, s_top, increasing=True)
    return Knob("q_min", lambda x: dadaquant(x, None if q_max is None else float(q_max), psi, phi, mode),
                1.0, s_top, increasing=True, fallback=cap)


def _scheme(mode: str, params: tuple[str, ...], summary: str) -> Scheme:
    return Scheme(name=NAMES[mode], summary=summary, params=params, knob="q_min", probe=1.0,
                  rule=lambda p: _rule(mode, p), knob_of=lambda p, problem: _knob(mode, p, problem),
                  check=lambda p: check_whole(p, "phi"))


SCHEMES = (
    _scheme("both", ("q_min", "q_max", "psi", "phi"), "DAdaQuant: doubling on loss plateaus, per-client levels"),
    _scheme("time", ("q_min", "q_max", "psi", "phi"), "DAdaQuant's time-adaptive half: doubling on plateaus"),
    _scheme("clients", ("q_min",), "DAdaQuant's client-adaptive half: levels by aggregation weight"),
)
