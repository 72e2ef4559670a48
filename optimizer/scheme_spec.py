"""Scheme specs as the user types them: ``fixed:4``, ``feddq:delta=0.005,floor=2``, ``optimal:granularity=client``.

``parse_scheme`` checks the name and the parameters against the scheme's record (``schemes/``), then builds
the rule once, so a value no rule accepts fails when it is parsed, before anything runs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from fedquant.errors import InvalidArgument
from fedquant.optimizer.schemes import SCHEMES


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
            if not eq or key not in SCHEMES[name].params:
                raise InvalidArgument(argument, f"{name} takes {', '.join(SCHEMES[name].params)} as key=value", text)
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
        check_values(spec)
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


def check_values(spec: SchemeSpec) -> None:
    """Check the values a spec sets: the record's own checks, then the rule built once (with the knob at the
    record's probe value when the spec leaves it free)."""
    record = SCHEMES[spec.name]
    if record.check is not None:
        record.check(spec.params)
    if record.rule is not None:
        probe = dict(spec.params)
        if record.knob is not None:
            probe.setdefault(record.knob, record.probe)  # type: ignore[arg-type]
        record.rule(probe)


def pinned(spec: SchemeSpec | str) -> bool:
    """True when the spec fixes its knob itself (no calibration to a budget): fixed:4, feddq:delta=0.01, ..."""
    if isinstance(spec, str):
        spec = parse_scheme(spec)
    knob = SCHEMES[spec.name].knob
    return knob is not None and knob in spec.params
