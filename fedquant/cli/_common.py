"""What every subcommand shares: one-line errors, JSON output, budgets with unit suffixes."""

from __future__ import annotations

import argparse
import difflib
import json
import math
import re
import sys
from pathlib import Path
from typing import Any, NoReturn

from fedquant.errors import InvalidArgument
from fedquant.files import probe_writable

#: library parameter names whose flag is not simply --name-with-dashes
FLAG_OVERRIDES = {"range_": "--range", "budget_bits": "--budget", "bits_min": "--bits-min", "bits_max": "--bits-max"}


class UsageError(Exception):
    """A command line argparse rejected; carries the one line to print."""


class Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line and an exception instead of usage text and exit."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("allow_abbrev", False)  # --sigma must not silently mean --sigma2
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{self.prog}: error: {message}")

    def options(self) -> list[str]:
        """Every long option this parser accepts."""
        return sorted(o for a in self._actions for o in a.option_strings if o.startswith("--"))

    def check_unknown(self, argv: list[str]) -> None:
        """Refuse a flag this (sub)command does not have, naming the command and the closest flag it has.

        Runs before parsing, so ``--budgte 1`` is reported as a typo rather than as a missing ``--budget``.
        Flags are never abbreviated (``--sigma`` is not ``--sigma2``): a prefix is refused with the suggestion.
        """
        known = self.options()
        for token in argv:
            if token == "--":
                return
            if not token.startswith("--"):
                continue
            name = token.split("=", 1)[0]
            if name in known:
                continue
            close = difflib.get_close_matches(name, known, n=1, cutoff=0.75)
            hint = f" (did you mean {close[0]}?)" if close else f"; see {self.prog} --help"
            raise UsageError(f"{self.prog}: error: unknown flag {name}{hint}")


def flag(name: str) -> str:
    """The CLI flag that sets the library parameter ``name``."""
    if name.startswith("-"):
        return name
    return FLAG_OVERRIDES.get(name, "--" + name.replace("_", "-"))


def check_output_file(path: str, name: str, suffixes: tuple[str, ...] = (".png", ".pdf", ".svg")) -> Path:
    """A file the command will write: its folder exists and is writable, its suffix names a format.

    Checked before any work, with a probe file made and removed at once, so nothing is left behind.
    """
    allowed = f"a file name ending in {', '.join(suffixes)} inside an existing, writable folder"
    if not path.strip():
        raise InvalidArgument(name, allowed, path)
    p = Path(path)
    if p.is_dir():
        raise InvalidArgument(name, allowed + " (this is a folder)", path)
    if p.suffix.lower() not in suffixes:
        raise InvalidArgument(name, allowed, path)
    folder = p.parent
    if not folder.is_dir():
        raise InvalidArgument(name, allowed + f" (no folder {folder})", path)
    reason = probe_writable(folder)
    if reason is not None:
        raise InvalidArgument(name, allowed + f" (cannot write in {folder}: {reason})", path)
    return p


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


def int_in(low: int, high: int) -> Any:
    """An argparse type: an integer from ``low`` to ``high`` (a cap that keeps a typo from running for days)."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer from {low:,} to {high:,}, got {text!r}") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"expected an integer from {low:,} to {high:,}, got {text!r}")
        return value

    return parse


def finite_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
    return value
