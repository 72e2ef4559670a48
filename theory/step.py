"""A step of the derivation: an assumption, lemma, theorem or solution that a reader can print.

Every step holds its statement as sympy objects, what sympy computed on the way (``derivation``), the
conditions it needs, the keys of the steps it uses, and where the argument comes from. ``text()`` and
``latex()`` render it; nothing here knows any particular formula.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

import sympy
from sympy.printing.pretty.pretty import PrettyPrinter
from sympy.printing.pretty.stringpict import prettyForm

KINDS = ("assumption", "definition", "lemma", "theorem", "problem", "solution")


class _Printer(PrettyPrinter):
    """sympy's pretty printer, with min/max written as functions of pretty arguments."""

    def _print_MinMax(self, expr: sympy.Basic, name: str) -> prettyForm:
        args = [self._print(a) for a in expr.args]
        body = prettyForm(*args[0].right(*[prettyForm(*prettyForm(", ").right(a)) for a in args[1:]]))
        return prettyForm(*prettyForm(*body.parens()).left(name))

    def _print_Min(self, expr: sympy.Min) -> prettyForm:
        return self._print_MinMax(expr, "min")

    def _print_Max(self, expr: sympy.Max) -> prettyForm:
        return self._print_MinMax(expr, "max")


def pretty(expr: object) -> str:
    """Unicode rendering of a sympy object (strings pass through)."""
    if isinstance(expr, str):
        return expr
    return _Printer({"use_unicode": True, "wrap_line": False}).doprint(expr)


_pretty = pretty


def _tex_text(text: str) -> str:
    """Escape the characters of running text that LaTeX treats specially."""
    for char in "_&%#$":
        text = text.replace(char, "\\" + char)
    return text


def _latex(expr: object) -> str:
    if isinstance(expr, str):
        return r"\text{" + _tex_text(expr) + "}"
    return sympy.latex(expr)


@dataclass(frozen=True)
class Step:
    """One printable step.

    ``statement`` maps a name to a sympy relation or expression (several for a lemma with parts);
    ``derivation`` lists (label, expression) pairs sympy produced while proving it.
    """

    key: str
    kind: str
    title: str
    statement: Mapping[str, sympy.Basic]
    derivation: tuple[tuple[str, sympy.Basic], ...] = ()
    conditions: Mapping[str, sympy.Basic] = field(default_factory=dict)
    uses: tuple[str, ...] = ()
    source: str = ""

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"kind: one of {KINDS}, got {self.kind!r}")

    def text(self) -> str:
        lines = [f"[{self.kind}] {self.title}  ({self.key})"]
        for name, expr in self.statement.items():
            lines.append(f"  {name}:")
            lines.extend("    " + row for row in _pretty(expr).splitlines())
        if self.conditions:
            lines.append("  conditions:")
            for name, cond in self.conditions.items():
                rendered = _pretty(cond).splitlines()
                if len(rendered) == 1:
                    lines.append(f"    {name}: {rendered[0]}")
                else:
                    lines.append(f"    {name}:")
                    lines.extend("      " + row for row in rendered)
        if self.derivation:
            lines.append("  derived by sympy:")
            for label, expr in self.derivation:
                rendered = _pretty(expr).splitlines()
                lines.append(f"    {label}:")
                lines.extend("      " + row for row in rendered)
        if self.uses:
            lines.append("  uses: " + ", ".join(self.uses))
        if self.source:
            lines.append("  source: " + self.source)
        return "\n".join(lines)

    def latex(self) -> str:
        """A LaTeX fragment (paragraphs and display math) for this step."""
        out = [rf"\paragraph{{{self.kind.capitalize()}: {_tex_text(self.title)}}} \texttt{{{_tex_text(self.key)}}}"]
        for name, expr in self.statement.items():
            out.append(rf"{_tex_text(name)}: \[ {_latex(expr)} \]")
        if self.conditions:
            conds = r",\quad ".join(_latex(c) for c in self.conditions.values())
            out.append(rf"Conditions: \( {conds} \).")
        for label, expr in self.derivation:
            out.append(rf"{_tex_text(label)}: \[ {_latex(expr)} \]")
        if self.source:
            out.append(r"Source: " + _tex_text(self.source))
        return "\n\n".join(out)

    def parts_text(self) -> dict[str, str]:
        """Each statement part rendered as unicode text."""
        return {name: _pretty(expr) for name, expr in self.statement.items()}

    def conditions_text(self) -> dict[str, str]:
        return {name: _pretty(cond) for name, cond in self.conditions.items()}

    def conditions_latex(self) -> dict[str, str]:
        return {name: _latex(cond) for name, cond in self.conditions.items()}

    def latex_math(self) -> dict[str, str]:
        """Each statement part as a bare LaTeX math string (no delimiters)."""
        return {name: _latex(expr) for name, expr in self.statement.items()}


@dataclass(frozen=True)
class Derivation:
    """The ordered steps from assumptions to the optimal levels."""

    steps: tuple[Step, ...]

    def __iter__(self) -> Iterator[Step]:
        return iter(self.steps)

    def __len__(self) -> int:
        return len(self.steps)

    def __getitem__(self, key: str) -> Step:
        for step in self.steps:
            if step.key == key:
                return step
        raise KeyError(key)

    def keys(self) -> list[str]:
        return [s.key for s in self.steps]

    def text(self) -> str:
        return "\n\n".join(s.text() for s in self.steps)

    def latex(self) -> str:
        """A complete LaTeX document of the derivation."""
        body = "\n\n".join(s.latex() for s in self.steps)
        return (
            "\\documentclass{article}\n\\usepackage{amsmath,amssymb}\n\\begin{document}\n"
            "\\section*{Convergence bound of quantized FedAvg and budget-optimal levels}\n"
            f"{body}\n\\end{{document}}\n"
        )
