"""One look per scheme in every figure: its colour, line style and marker, from the scheme spec.

``style("feddq:delta=0.01")`` gives ``{"color": "#…", "ls": "-", "marker": "D"}``, keyword arguments that
matplotlib's ``plot``/``step`` take as they are. The base name (the part before ``:``) picks the colour family,
the line style and the marker, so a scheme looks the same in ``fedquant schedule --plot``, in every figure of
``fedquant validate`` and in the notebooks. Variants of one base get shades of its colour: ``fixed:B`` lighter
for fewer bits and darker for more (``fixed:4`` is the base colour), any other parameters a shade chosen by a
checksum of the spec (stable across runs, unlike Python's salted ``hash``). A name that is no scheme still gets
a stable colour from the spare ones, so a figure never fails on a label.

Plain strings only: nothing here imports matplotlib (or numpy), so ``fedquant.optimizer`` stays importable
without them.
"""

from __future__ import annotations

import math
import zlib

#: base name -> (colour, line style, marker); the ten colours of matplotlib's tab10 plus black for ``none``
BASE: dict[str, tuple[str, str, str]] = {
    "none": ("#000000", "-", "o"),
    "fixed": ("#8c564b", "-.", "s"),
    "adaquantfl": ("#ff7f0e", "--", "v"),
    "dadaquant": ("#1f77b4", "-.", "^"),
    "dadaquant-time": ("#17becf", ":", "<"),
    "dadaquant-clients": ("#9467bd", "--", ">"),
    "feddq": ("#d62728", "-", "D"),
    "feddq-loss": ("#e377c2", ":", "d"),
    "optimal": ("#2ca02c", "-", "*"),
    "optimal-online": ("#bcbd22", "--", "P"),
}

#: colours for names that are no scheme (chosen by checksum)
SPARE = ("#7f7f7f", "#393b79", "#637939", "#8c6d31", "#843c39", "#7b4173")

#: shades of a parametrised variant other than fixed:B (positive: darker, negative: lighter)
_SHADES = (0.35, -0.35, 0.55, -0.5)


def base_name(spec: str) -> str:
    """The scheme a spec names: ``feddq:delta=0.01`` → ``feddq``."""
    return spec.strip().partition(":")[0]


def _checksum(text: str) -> int:
    return zlib.crc32(text.encode("utf-8"))


def shade(color: str, amount: float) -> str:
    """``color`` (``#rrggbb``) mixed toward black by ``amount`` > 0 or toward white by −``amount``."""
    rgb = [int(color[i:i + 2], 16) for i in (1, 3, 5)]
    target = 0 if amount > 0 else 255
    a = min(abs(amount), 1.0)
    return "#" + "".join(f"{round(c + (target - c) * a):02x}" for c in rgb)


def _fixed_bits(rest: str) -> float | None:
    value = rest.split("=", 1)[1] if rest.startswith("bits=") else rest
    try:
        bits = float(value)
    except ValueError:
        return None
    return bits if math.isfinite(bits) and bits > 0 else None


def color(spec: str) -> str:
    """The colour of a scheme spec, as ``#rrggbb``."""
    name, _, rest = spec.strip().partition(":")
    rest = rest.replace(" ", "")
    if name not in BASE:
        return SPARE[_checksum(spec.strip()) % len(SPARE)]
    base = BASE[name][0]
    if not rest:
        return base
    if name == "fixed":
        bits = _fixed_bits(rest)
        if bits is not None:  # fixed:1 lightest … fixed:4 the base … fixed:16 darkest
            amount = 0.3 * math.log2(bits / 4.0)
            return shade(base, max(-0.5, min(0.6, amount))) if amount else base
    return shade(base, _SHADES[_checksum(rest) % len(_SHADES)])


def style(spec: str) -> dict[str, str]:
    """Keyword arguments for matplotlib: ``color``, ``ls`` (line style) and ``marker``."""
    name = base_name(spec)
    _, ls, marker = BASE.get(name, ("", "-", "o"))
    return {"color": color(spec), "ls": ls, "marker": marker}
