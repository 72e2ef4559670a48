"""Scheme names → rules and schedules, calibrated to the problem's budget where the spec leaves a knob free.

Specs: ``fixed:B`` (or ``fixed``, calibrated), ``adaquantfl[:s0=X]``, ``dadaquant[:q_min=X,q_max=Y,psi=Z,phi=N]``
and its halves ``dadaquant-time`` / ``dadaquant-clients``, ``feddq[:delta=X,floor=B]``, ``feddq-loss[:s0=X]``,
``optimal[:granularity=round|block|client]``, ``optimal-online[:granularity=...]``. With a budget in the
problem, a knob not given in the spec is calibrated so the scheme spends as much as it can without exceeding
it; a knob given explicitly is used as is, and a schedule over budget is an error.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from fedquant.errors import InvalidArgument
from fedquant.optimizer.bit_cost import check_budget_floor
from fedquant.optimizer.calibrate import calibrate
from fedquant.optimizer.problem import ScheduleProblem
from fedquant.optimizer.schedule_record import Schedule
from fedquant.optimizer.scheme_names_old import KNOBS, PARAMS, SCHEMES
from fedquant.optimizer.schemes.adaquantfl import DEFAULT_S0, adaquantfl
from fedquant.optimizer.schemes.dadaquant import dadaquant
from fedquant.optimizer.schemes.feddq import feddq
from fedquant.optimizer.schemes.feddq_loss import feddq_loss
from fedquant.optimizer.schemes.fixed import calibrate_fixed, fixed
from fedquant.optimizer.schemes.level_rule import LevelRule, plan_rule, replay
from fedquant.optimizer.schemes.optimal import solve
from fedquant.optimizer.schemes.optimal_online import optimal_online

_PARAMS = PARAMS


@dataclass(frozen=True)
class SchemeSpec:
    name: str
    params: dict[str, float | str] = field(default_factory=dict)

    def __str__(self) -> str:
        if not self.params:
            return self.name
        if self.name == "fixed":
            return f"fixed:{int(self.params['bits'])}"
        return self.name + ":" + ",".join(f"{k}={v}" for k, v in self.params.items())


def parse_scheme(text: str, argument: str = "scheme") -> SchemeSpec:
    name, _, rest = text.strip().partition(":")
    if name not in SCHEMES:
        raise InvalidArgument(argument, f"one of {', '.join(SCHEMES)} (e.g. fixed:4, feddq:delta=0.005)", text)
    params: dict[str, float | str] = {}
    if rest:
        if name == "fixed" and "=" not in rest:
            rest = f"bits={rest}"
        for item in rest.split(","):
            key, eq, value = item.partition("=")
            if not eq or key not in _PARAMS[name]:
                raise InvalidArgument(argument, f"{name} takes {', '.join(_PARAMS[name])} as key=value", text)
            if key == "granularity":
                params[key] = value
                continue
            try:
                num = float(value)
            except ValueError:
                raise InvalidArgument(argument, f"a number for {key}", text) from None
            if not math.isfinite(num):
                raise InvalidArgument(argument, f"a finite number for {key}", text)
            params[key] = num
    spec = SchemeSpec(name, params)
    try:
        _check_values(spec)
    except InvalidArgument as err:
        raise InvalidArgument(argument, f"{name}: {err.argument} must be {err.allowed}", text) from None
    return spec


def split_specs(text: str) -> list[str]:
    """A comma list of specs, where a spec's own key=value pairs also use commas: ``fixed:4,dadaquant:q_min=2,
    q_max=8,feddq`` is three specs (an item with ``=`` but no scheme name continues the spec before it)."""
    specs: list[str] = []
    for item in (x.strip() for x in text.split(",")):
        if not item:
            continue
        if specs and "=" in item and ":" not in item and ":" in specs[-1]:
            specs[-1] += "," + item
        else:
            specs.append(item)
    return specs


#: a value for each knob a spec may leave free, only to build the rule once and so check the values it sets
_PROBE = {"bits": 4.0, "s0": 1.0, "delta": 1.0, "q_min": 1.0}


def _check_values(spec: SchemeSpec) -> None:
    """Build the spec's rule once, so a value no rule accepts fails when it is parsed, before anything runs."""
    p = spec.params
    if spec.name in ("optimal", "optimal-online"):
        from fedquant.optimizer.decision_items import GRANULARITIES

        if "granularity" in p and p["granularity"] not in GRANULARITIES:
            raise InvalidArgument("granularity", f"one of {', '.join(GRANULARITIES)}", p["granularity"])
        return
    if spec.name == "fixed" and "bits" in p and float(p["bits"]) != int(float(p["bits"])):
        raise InvalidArgument("bits", "whole bits per coordinate (a fractional width is a budget: fixed:1.5 "
                              "there)", p["bits"])
    for key in ("floor", "phi"):
        if key in p and (float(p[key]) != int(float(p[key])) or float(p[key]) < 1):
            raise InvalidArgument(key, "an integer ≥ 1", p[key])
    knob = KNOBS.get(spec.name)
    probe = SchemeSpec(spec.name, {knob: _PROBE[knob], **p} if knob is not None else dict(p))
    _make(probe, None, None)  # type: ignore[arg-type]


def _int(v: float | str | None) -> int | None:
    return None if v is None else int(float(v))


def _knob_range(problem: ScheduleProblem) -> tuple[float, float]:
    r = problem.range_[problem.range_ > 0]
    r_max = float(r.max()) if r.size else 1.0
    r_min = float(r.min()) if r.size else 1.0
    return r_min / 2.0 ** (problem.bits_max + 2), r_max * 4.0


def build_scheme(spec: SchemeSpec | str, problem: ScheduleProblem) -> tuple[LevelRule, Schedule]:
    """The rule for a spec (calibrated to the problem's budget when a knob is free) and its replay."""
    if isinstance(spec, str):
        spec = parse_scheme(spec)
    check_budget_floor(problem)
    p = spec.params
    name = spec.name
    budget = problem.budget_bits
    if name == "optimal":
        sched = solve(problem, p.get("granularity"))  # type: ignore[arg-type]
        return plan_rule("optimal", sched.levels, sched.params), sched
    if name == "optimal-online":
        rule = optimal_online(str(p.get("granularity", "round")))
        return rule, replay(rule, problem, "optimal-online")
    if name == "fixed" and "bits" not in p:
        if budget is None:
            raise InvalidArgument("scheme", "fixed:B (bits per coordinate) without a budget", str(spec))
        rule = calibrate_fixed(problem)
        return rule, replay(rule, problem, "fixed")
    if budget is None or pinned(spec):
        rule = _make(spec, problem, None)
        sched = replay(rule, problem, str(spec))
        if budget is not None and sched.total_bits > budget:
            raise InvalidArgument("budget_bits", f"at least {sched.total_bits:.0f} bits, what {spec} spends",
                                  budget)
        return rule, sched
    knob = knob_of(spec, problem)
    try:
        rule, sched = calibrate(knob.make, problem, knob.lo, knob.hi, increasing=knob.increasing, knob=knob.name)
    except InvalidArgument:
        if knob.fallback is None:
            raise
        knob = knob.fallback
        rule, sched = calibrate(knob.make, problem, knob.lo, knob.hi, increasing=knob.increasing, knob=knob.name)
    return rule, sched


@dataclass(frozen=True)
class Knob:
    """The one parameter a baseline is calibrated by: how to build_scheme the rule, its range, its direction."""

    name: str
    make: Callable[[float], LevelRule]
    lo: float
    hi: float
    increasing: bool  # True when more of the knob spends more bits
    fallback: Knob | None = None  # tried when even the frugal end of this knob overspends


def knob_of(spec: SchemeSpec | str, problem: ScheduleProblem) -> Knob:
    """The calibration knob of a baseline spec (fixed, optimal and optimal-online have none)."""
    if isinstance(spec, str):
        spec = parse_scheme(spec)
    p, name = spec.params, spec.name
    s_top = 2.0**problem.bits_max
    if name == "feddq":
        lo, hi = _knob_range(problem)
        floor = _int(p.get("floor"))
        return Knob("delta", lambda x: feddq(x, floor), lo, hi, increasing=False)
    if name in ("adaquantfl", "feddq-loss"):
        return Knob("s0", adaquantfl if name == "adaquantfl" else feddq_loss, 1e-6, s_top * 1e3, increasing=True)
    if name in ("dadaquant", "dadaquant-time", "dadaquant-clients"):
        mode = {"dadaquant": "both", "dadaquant-time": "time", "dadaquant-clients": "clients"}[name]
        q_max = p.get("q_max")
        psi, phi = float(p.get("psi", 0.9)), _int(p.get("phi"))
        # doubling on loss plateaus can overspend even from q_min = 1: then cap the doubling instead (q_max = 1
        # never doubles, so that knob always has a feasible end)
        cap = None if q_max is not None else Knob(
            "q_max", lambda x: dadaquant(1.0, x, psi, phi, mode), 1.0, s_top, increasing=True)
        return Knob("q_min", lambda x: dadaquant(x, None if q_max is None else float(q_max), psi, phi, mode),
                    1.0, s_top, increasing=True, fallback=cap)
    raise InvalidArgument("scheme", "a baseline with a calibration knob (adaquantfl, dadaquant*, feddq, feddq-loss)",
                          str(spec))


def pinned(spec: SchemeSpec | str) -> bool:
    """True when the spec fixes its knob itself (no calibration to a budget): fixed:4, feddq:delta=0.01, ..."""
    if isinstance(spec, str):
        spec = parse_scheme(spec)
    knob = KNOBS.get(spec.name)
    return knob is not None and knob in spec.params


def _make(spec: SchemeSpec, problem: ScheduleProblem, _: object) -> LevelRule:
    p, name = spec.params, spec.name
    if name == "fixed":
        return fixed(int(float(p["bits"])))
    if name == "adaquantfl":
        return adaquantfl(float(p.get("s0", DEFAULT_S0)))
    if name == "feddq":
        if "delta" not in p:
            raise InvalidArgument("scheme", "feddq:delta=X (the resolution) or a budget to calibrate δ to", str(spec))
        return feddq(float(p["delta"]), _int(p.get("floor")))
    if name == "feddq-loss":
        if "s0" not in p:
            raise InvalidArgument("scheme", "feddq-loss:s0=X or a budget to calibrate s0 to", str(spec))
        return feddq_loss(float(p["s0"]))
    mode = {"dadaquant": "both", "dadaquant-time": "time", "dadaquant-clients": "clients"}[name]
    q_max = p.get("q_max")
    return dadaquant(float(p.get("q_min", 1.0)), None if q_max is None else float(q_max), float(p.get("psi", 0.9)),
                     _int(p.get("phi")), mode)


def schedule(spec: SchemeSpec | str, problem: ScheduleProblem) -> Schedule:
    return build_scheme(spec, problem)[1]


def compare(specs: list[str], problem: ScheduleProblem) -> list[Schedule]:
    """Every scheme on one problem at its budget, scored on the same objective."""
    return [schedule(s, problem) for s in specs]


def objective_table(schedules: list[Schedule]) -> np.ndarray:
    return np.array([[s.objective, s.total_bits] for s in schedules])
