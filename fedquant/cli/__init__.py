"""The ``fedquant`` command: ``bound``, ``schedule``, ``validate``, ``sweep``, ``study`` and ``bench``.

Each subcommand prints a readable summary, or one JSON object with ``--format json``. Bad input exits 2 with
one line on stderr naming the flag and what it accepts.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from fedquant.cli import bench, bound, schedule, study, sweep, validate
from fedquant.cli._common import Parser, UsageError, fail
from fedquant.errors import InvalidArgument

#: each module adds its subcommand (``add_parser``) and imports what it runs only when it runs
SUBCOMMANDS = (bound, schedule, validate, sweep, study, bench)


def build_parser() -> Parser:
    from fedquant import __version__

    parser = Parser(prog="fedquant", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"fedquant {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    for module in SUBCOMMANDS:
        module.add_parser(sub)
    return parser


def _check_flags(parser: Parser, argv: list[str]) -> None:
    """Unknown flags are named with the command they were given to and the closest flag it has."""
    sub = next((a for a in parser._actions if isinstance(a, argparse._SubParsersAction)), None)
    command = next((i for i, t in enumerate(argv) if not t.startswith("-")), None)
    if sub is None or command is None or argv[command] not in sub.choices:
        parser.check_unknown(argv if command is None else argv[:command])
        return
    parser.check_unknown(argv[:command])
    sub.choices[argv[command]].check_unknown(argv[command + 1:])


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    prog = "fedquant"
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        _check_flags(parser, argv)
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
    except OSError as err:  # the machine refused a read or a write that the checks at the door could not foresee
        where = f" {err.filename}" if err.filename else ""
        print(f"{prog}: error: could not read or write{where}: {err.strerror or err}", file=sys.stderr)
        return 2
