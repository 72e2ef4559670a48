"""What every subcommand shares: one-line errors, JSON output, budgets with unit suffixes."""

from __future__ import annotations

import argparse
import json
import math
import re
import sys
from typing import Any, NoReturn

from fedquant.theory.errors import InvalidArgument

#: library parameter names whose flag is not simply --name-with-dashes
FLAG_OVERRIDES = {"range_": "--range", "budget_bits": "--budget", "bits_min": "--bits-min", "bits_max": "--bits-max"}


class UsageError(Exception):
    """A command line argparse rejected; carries the one line to print."""


class Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line and an exception instead of usage text and exit."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{self.prog}: error: {message}")


def flag(name: str) -> str:
    """The CLI flag that sets the library parameter ``name``."""
    if name.startswith("-"):
        return name
    return FLAG_OVERRIDES.get(name, "--" + name.replace("_", "-"))


def fail(prog: str, err: InvalidArgument) -> int:
    got = "" if err.got is None else f", got {err.got!r}"
    print(f"{prog}: error: {flag(err.argument)}: {err.allowed}{got}", file=sys.stderr)
    return 2


def clean(value: Any) -> Any:
    """Make a result JSON-safe: numpy scalars to Python, NaN/inf to None."""
    if isinstance(value, dict):
        return {str(k): clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [clean(v) for v in value]
    if hasattr(value, "tolist"):
        return clean(value.tolist())
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def emit_json(obj: Any) -> None:
    sys.stdout.write(json.dumps(clean(obj), allow_nan=False) + "\n")


_PREFIX = {"": 1.0, "k": 1e3, "K": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "Ki": 1024.0, "Mi": 1024.0**2,
           "Gi": 1024.0**3}


def parse_bits(text: str, name: str = "budget_bits") -> float:
    """Bits from '4096', '1.5e6', '12Mb' (megabits), '3MB' (megabytes) or '2KiB' (kibibytes).

    A lower-case ``b`` means bits, an upper-case ``B`` bytes; k/M/G/T are powers of 1000, Ki/Mi/Gi of 1024.
    """
    allowed = "a positive number of bits such as 4096, 1.5e6, 12Mb (megabits) or 3MB (megabytes)"
    m = re.fullmatch(r"\s*([0-9]*\.?[0-9]+(?:[eE][+-]?[0-9]+)?)\s*(k|K|M|G|T|Ki|Mi|Gi)?([bB]?)\s*", text)
    if not m or (m.group(2) and not m.group(3)):
        raise InvalidArgument(name, allowed, text)
    bits = float(m.group(1)) * _PREFIX[m.group(2) or ""] * (8 if m.group(3) == "B" else 1)
    if not math.isfinite(bits) or bits <= 0:
        raise InvalidArgument(name, allowed, text)
    return bits


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def finite_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
    return value
