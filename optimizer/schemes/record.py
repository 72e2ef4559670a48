"""What a scheme declares about itself, in one record: its name, its parameters, its calibration knob and how
to build it. The planner (``optimizer/planner.py``) reads nothing else, so a new scheme is one new file
(``template.py`` shows how) plus one line in ``schemes/__init__.py``.

A scheme is made in one of three ways, tried in this order:

* ``plan(params, problem)`` — the scheme meets a budget its own way (``optimal`` solves the problem exactly;
  ``fixed`` without ``bits`` takes the widest code that fits); used unless the spec sets the knob;
* a knob — with a budget and the knob left free, ``knob_of(params, problem)`` says how to move it, and the
  planner calibrates it (``optimizer/calibrate.py``) so the scheme spends as much as it can within the budget;
* ``rule(params)`` — the level rule as given (the knob set in the spec, or no budget to calibrate to).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from fedquant.errors import InvalidArgument
from fedquant.optimizer.problem import ScheduleProblem
from fedquant.optimizer.schedule_record import Schedule
from fedquant.optimizer.schemes.level_rule import LevelRule
from fedquant.theory.wire import levels_for_width

#: a spec's key=value parameters, numbers except ``granularity``
Params = Mapping[str, float | str]


@dataclass(frozen=True)
class Knob:
    """The one parameter a baseline is calibrated by: how to build the rule, its range, its direction."""

    name: str
    make: Callable[[float], LevelRule]
    lo: float
    hi: float
    increasing: bool  # True when more of the knob spends more bits
    fallback: Knob | None = None  # tried when even the frugal end of this knob overspends


@dataclass(frozen=True)
class Scheme:
    """One scheme: everything the planner, the spec parser and the CLI know about it."""

    name: str
    summary: str  # one line: what the rule does and whose it is
    params: tuple[str, ...]  # the key=value parameters a spec accepts
    knob: str | None = None  # the parameter a budget calibrates (a spec that sets it runs as given)
    probe: float | None = None  # a knob value at which the rule can be built, to check a spec's other values
    rule: Callable[[Params], LevelRule] | None = None
    knob_of: Callable[[Params, ScheduleProblem], Knob] | None = None
    plan: Callable[[Params, ScheduleProblem], tuple[LevelRule, Schedule]] | None = None
    check: Callable[[Params], None] | None = None  # value checks no rule makes (whole numbers, names)
    needs: str | None = None  # what to give when the knob has no default and there is no budget


def whole(value: float | str | None) -> int | None:
    """A spec's whole-number parameter (``floor``, ``phi``) as an int; None when not given."""
    return None if value is None else int(float(value))


def check_whole(params: Params, *keys: str) -> None:
    """Each of ``keys`` that the spec sets is an integer ≥ 1."""
    for key in keys:
        if key in params and (float(params[key]) != int(float(params[key])) or float(params[key]) < 1):
            raise InvalidArgument(key, "an integer ≥ 1", params[key])


def initial_level_knob(make: Callable[[float], LevelRule], problem: ScheduleProblem) -> Knob:
    """An initial level s_0 from 10⁻⁶ to 1000 × 2^bits_max: more s_0, more bits (AdaQuantFL, the loss rule)."""
    return Knob("s0", make, 1e-6, (levels_for_width(problem.bits_max) + 1.0) * 1e3, increasing=True)
