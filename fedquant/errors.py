"""The one error type for bad input, shared by every layer of fedquant.

It lives in theory/ because theory is the bottom layer: optimizer/, validation/ and the CLI import it from
here, so a bad argument reads the same wherever it is caught. The CLI turns it into one line and exit code 2.
"""

from __future__ import annotations


class InvalidArgument(ValueError):
    """A value outside what a function accepts.

    ``argument`` is the parameter's name as the caller wrote it (``lr``, ``budget_bits``, ``range_``); the CLI
    shows it as the matching flag. ``allowed`` says what is accepted, ``got`` what was passed.
    """

    def __init__(self, argument: str, allowed: str, got: object = None) -> None:
        self.argument = argument
        self.allowed = allowed
        self.got = got
        super().__init__(argument, allowed, got)  # args rebuild it: it crosses process pools intact

    def __str__(self) -> str:
        shown = "" if self.got is None else f", got {self.got!r}"
        return f"{self.argument}: {self.allowed}{shown}"

    def with_argument(self, name: str) -> InvalidArgument:
        """The same error reported under another name (a CLI flag for a library parameter)."""
        return InvalidArgument(name, self.allowed, self.got)
