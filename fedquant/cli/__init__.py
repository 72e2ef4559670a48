"""The ``fedquant`` command: ``bound``, ``schedule``, ``validate`` and ``bench``.

Each subcommand prints a readable summary, or one JSON object with ``--format json``. Bad input exits 2 with
one line on stderr naming the flag and what it accepts.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from fedquant.theory.errors import InvalidArgument

from . import bound as _bound
from ._common import Parser, UsageError, fail

SUBCOMMANDS = [_bound]


def _optional_subcommands() -> list:
    mods = []
    for name in ("schedule", "validate", "bench"):
        try:
            mods.append(__import__(f"fedquant.cli.{name}", fromlist=["add_parser"]))
        except ModuleNotFoundError as err:  # a subcommand module that does not exist yet
            if err.name != f"fedquant.cli.{name}":
                raise
    return mods


def build_parser() -> Parser:
    from fedquant import __version__

    parser = Parser(prog="fedquant", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"fedquant {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    for module in SUBCOMMANDS + _optional_subcommands():
        module.add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    prog = "fedquant"
    try:
        args = parser.parse_args(argv)
        if args.command is None:
            parser.print_help()
            return 2
        prog = f"fedquant {args.command}"
        return int(args.run(args) or 0)
    except UsageError as err:
        print(str(err), file=sys.stderr)
        return 2
    except InvalidArgument as err:
        return fail(prog, err)
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
