"""Regenerate (or check) the command outputs shown in README.md, so the tour never drifts from the code.

A tour block is a fenced block whose first line starts with ``$ fedquant``. Each ``$ fedquant ...`` line is
run (in one scratch folder, in README order, with the installed package) and the lines after it, up to the
next ``$`` line or the fence, are its output. A block may show part of an output: a line ``...`` keeps as
many lines of the output's head as the README shows before it and as many of its tail as after it.

    python docs/tour.py --write     # run every command, rewrite README.md (make readme)
    python docs/tour.py --check     # exit 1 if a machine-independent block differs from a fresh run

Outputs of ``fedquant bound`` and ``fedquant schedule`` are float64 numpy/scipy arithmetic printed to at most
seven significant digits: the same on every machine, so ``--check`` (and tests/test_readme.py) compares
them exactly. ``fedquant validate`` trains float32 torch models, whose last digits follow the CPU's kernels,
and ``fedquant bench`` prints times: ``--write`` refreshes them on the machine it runs on, which the README
names, and ``--check`` leaves them alone.

The study's headline, between the lines ``<!-- study headline -->`` and ``<!-- end study headline -->``, is
not run: it is rebuilt from the committed study record docs/results/study.json (what ``fedquant study``
wrote, the same record as docs/results.md) by :func:`fedquant.validation.study.results.headline`, so both
modes compare or rewrite it on any machine.
"""

from __future__ import annotations

import argparse
import os
import shlex
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

README = Path(__file__).resolve().parent.parent / "README.md"
STUDY = README.parent / "docs" / "results" / "study.json"
HEADLINE_MARKS = ("<!-- study headline -->", "<!-- end study headline -->")
CUT = "..."
#: subcommands whose printed numbers depend on the machine (float32 kernels, wall-clock times)
MACHINE_DEPENDENT = ("validate", "bench")


@dataclass
class Segment:
    """One ``$ fedquant ...`` line of the README and the output lines shown under it."""

    command: str
    start: int  # index of the command line in the README's lines
    end: int  # index one past its last output line
    shown: list[str]

    @property
    def cut(self) -> tuple[int, int, str] | None:
        """(head, tail, cut line) when the README shows part of the output, else None."""
        for i, line in enumerate(self.shown):
            if line.strip() == CUT:
                return i, len(self.shown) - i - 1, line
        return None

    @property
    def machine_dependent(self) -> bool:
        return shlex.split(self.command)[1] in MACHINE_DEPENDENT


def segments(lines: list[str]) -> list[Segment]:
    out: list[Segment] = []
    fence = False
    in_tour = False
    for i, line in enumerate(lines):
        if line.startswith("```"):
            if not fence:
                fence = True
                in_tour = i + 1 < len(lines) and lines[i + 1].startswith("$ fedquant")
            else:
                fence = in_tour = False
                if out and out[-1].end == -1:
                    out[-1].end = i
            continue
        if not in_tour:
            continue
        if line.startswith("$ "):
            if out and out[-1].end == -1:
                out[-1].end = i
            out.append(Segment(line[2:], i, -1, []))
        else:
            out[-1].shown.append(line)
    return out


def run(command: str, cwd: Path) -> list[str]:
    """The command's stdout and stderr lines, run with this interpreter's fedquant."""
    argv = shlex.split(command)
    assert argv[0] == "fedquant", command
    env = dict(os.environ, COLUMNS="120")  # thread counts as the user has them: bench reports what it used
    done = subprocess.run([sys.executable, "-m", "fedquant", *argv[1:]], cwd=cwd, capture_output=True, text=True,
                          env=env, check=False)
    return [line.rstrip() for line in (done.stdout + done.stderr).splitlines()]


def expected(segment: Segment, output: list[str]) -> list[str]:
    """What the README should show for ``output``: all of it, or its head and tail around the cut line."""
    cut = segment.cut
    if cut is None or cut[0] + cut[1] >= len(output):
        return output
    head, tail, line = cut
    return [*output[:head], line, *(output[len(output) - tail:] if tail else [])]


def study_headline(lines: list[str]) -> tuple[int, int, list[str]] | None:
    """(first, end, wanted): the README's lines[first:end] between the headline marks and what the committed
    study record says they should be; None when the README has no such block."""
    import json

    from fedquant.validation.study.results import headline

    if HEADLINE_MARKS[0] not in lines:
        return None
    first = lines.index(HEADLINE_MARKS[0]) + 1
    end = lines.index(HEADLINE_MARKS[1], first)
    return first, end, ["", *headline(json.loads(STUDY.read_text())), ""]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--write", action="store_true", help="run every command and rewrite README.md")
    mode.add_argument("--check", action="store_true", help="compare the machine-independent blocks")
    args = parser.parse_args(argv)
    lines = README.read_text().splitlines()
    segs = segments(lines)
    stale: list[str] = []
    wanted: dict[int, list[str]] = {}
    with tempfile.TemporaryDirectory(prefix="fedquant-tour-") as scratch:
        for k, seg in enumerate(segs):  # in README order: a later command may read an earlier one's files
            if args.check and seg.machine_dependent:
                continue
            wanted[k] = expected(seg, run(seg.command, Path(scratch)))
            if wanted[k] != seg.shown:
                stale.append(seg.command)
    block = study_headline(lines)
    changes = [(seg.start + 1, seg.end, wanted[k]) for k, seg in enumerate(segs) if k in wanted]
    if block is not None:
        changes.append(block)
        if lines[block[0]:block[1]] != block[2]:
            stale.append(f"the study headline (from {STUDY.relative_to(README.parent)})")
    for first, end, new in sorted(changes, reverse=True):  # from the end, so earlier line indices stay valid
        lines[first:end] = new
    if args.write:
        README.write_text("\n".join(lines) + "\n")
        print(f"README.md: {len(segs)} commands run, {len(stale)} blocks rewritten")
        return 0
    for what in stale:
        print(f"README.md is stale for: {what if what.startswith('the study') else '$ ' + what}  (run: make readme)")
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main())
