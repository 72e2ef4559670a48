"""The README's tour shows what the commands print: docs/tour.py regenerates it; here the blocks whose numbers
are the same on every machine (``fedquant bound`` and ``fedquant schedule``: float64 numpy, printed to at most
seven significant digits) are compared exactly with a fresh run."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

TOUR = Path(__file__).resolve().parent.parent / "docs" / "tour.py"


@pytest.fixture(scope="module")
def tour():
    spec = importlib.util.spec_from_file_location("fedquant_docs_tour", TOUR)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_readme_has_a_tour_of_every_command(tour) -> None:
    segs = tour.segments(tour.README.read_text().splitlines())
    commands = {s.command.split()[1] for s in segs}
    assert {"bound", "schedule", "validate", "bench"} <= commands
    assert sum(not s.machine_dependent for s in segs) >= 4


def test_machine_independent_blocks_match_a_fresh_run(tour, capsys: pytest.CaptureFixture[str]) -> None:
    code = tour.main(["--check"])
    assert code == 0, capsys.readouterr().out


def test_a_cut_keeps_head_and_tail(tour) -> None:
    seg = tour.Segment("fedquant bound", 0, 4, ["a", "  ...", "z"])
    assert tour.expected(seg, ["a", "b", "c", "z"]) == ["a", "  ...", "z"]
    assert tour.expected(seg, ["A", "b", "c", "z"]) != seg.shown  # a changed first line is caught
    whole = tour.Segment("fedquant bound", 0, 3, ["a", "b"])
    assert tour.expected(whole, ["a", "b", "c"]) == ["a", "b", "c"]  # an added line is caught


def test_segments_split_commands_and_skip_other_blocks(tour) -> None:
    text = ["```", "make test", "```", "```", "$ fedquant bound", "out 1", "$ fedquant bench engine", "out 2",
            "```"]
    segs = tour.segments(text)
    assert [(s.command, s.shown, s.start, s.end) for s in segs] == [
        ("fedquant bound", ["out 1"], 4, 6), ("fedquant bench engine", ["out 2"], 6, 8)]
    assert [s.machine_dependent for s in segs] == [False, True]


def test_python_block_runs_as_a_doctest(tour) -> None:
    """The README's ``pycon`` block is executed: every output it shows is what the code prints."""
    import doctest

    text = tour.README.read_text()
    start = text.index("```pycon\n") + len("```pycon\n")
    block = text[start:text.index("```", start)]
    test = doctest.DocTestParser().get_doctest(block, {}, "README.md", "README.md", 0)
    assert len(test.examples) >= 8
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    result = runner.run(test, out=lambda s: print(s, end=""))
    assert result.failed == 0 and result.attempted == len(test.examples)
