"""Every document the repository cites is in the repository, and every section it cites exists.

(a) every path-like reference to a ``*.md`` file in a ``*.md``, ``*.py`` or ``*.ipynb`` file resolves to a file
    of the repository, relative to the repository root or to the citing file's folder;
(b) every ``docs/design.md §N`` names a ``## N.`` section of docs/design.md (inside docs/design.md a bare
    ``§N`` is a section of the page itself);
(c) no file mentions a note from outside the repository (the old design page or the research notes);
(d) every step ``source`` of ``fedquant.theory.derive()`` (printed by ``fedquant bound``) resolves the same way,
    and a ``§`` in it always belongs to a document of the repository (a paper's section is written "Sec. N").

Files are those git knows (tracked, or new and not ignored), so a page added but not yet committed counts.
The checker is a set of small functions on text; the first tests show that each kind of bad reference is caught.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from collections.abc import Callable, Iterable
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DESIGN = "docs/design.md"
THIS = Path(__file__).resolve().relative_to(ROOT).as_posix()
SCANNED = (".md", ".py", ".ipynb")
#: *.md names that a run writes (not repository files), with the module that writes them
GENERATED = {"report.md": "validation/report/summary.py", "results.md": "validation/study/results.py"}
#: folders outside the repository that must never be cited (joined at run time, so this file does not cite
#: them itself); a *.md note out there is caught by the resolution check like any other missing file
FORBIDDEN = ("/".join(("..", "shared")), "/".join(("", "work", "shared")))

_URL = re.compile(r"\b[a-zA-Z][a-zA-Z0-9+.-]*://\S+")
_MD_REF = re.compile(r"(?<![\w./-])((?:\.{1,2}/|[\w.-]+/)*[\w.-]*\w\.md)(?![\w/])")
_CITATION = re.compile(r"((?:\.{1,2}/|[\w.-]+/)*[\w.-]*\w\.md)`?((?:\s*(?:,|and|&)?\s*§\s*\d+)+)")
_SECTION = re.compile(r"§\s*(\d+)")
_HEADING = re.compile(r"^#{1,6}\s+(\d+)\.\s", re.MULTILINE)


# ---------------------------------------------------------------------------------------------------------
# The checker


def repo_files() -> frozenset[str]:
    """Every file git knows in the checkout (tracked, or untracked and not ignored) that exists on disk."""
    out = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT, check=True, capture_output=True,
    ).stdout.decode()
    return frozenset(p for p in out.split("\0") if p and (ROOT / p).is_file())


def strip_urls(text: str) -> str:
    return _URL.sub(" ", text)


def md_references(text: str) -> list[str]:
    """Every path-like reference to a *.md file (URLs excluded)."""
    return _MD_REF.findall(strip_urls(text))


def resolve(ref: str, citing: str, files: Iterable[str]) -> str | None:
    """The repository file ``ref`` names, from the root or from the citing file's folder; None if neither."""
    known = set(files)
    for base in ("", os.path.dirname(citing)):
        path = os.path.normpath(os.path.join(base, ref)).replace(os.sep, "/")
        if not path.startswith("../") and path in known:
            return path
    return None


def sections(text: str) -> set[int]:
    """The numbers N of the headings ``## N. Title`` (any heading level)."""
    return {int(n) for n in _HEADING.findall(text)}


def citations(text: str) -> tuple[list[tuple[str, int]], list[int]]:
    """(document, section) for every ``x.md §N`` (also ``x.md §N, §M``), and the §N that follow no document."""
    text = strip_urls(text)
    cited: list[tuple[str, int]] = []
    covered: list[tuple[int, int]] = []
    for m in _CITATION.finditer(text):
        cited.extend((m.group(1), int(n)) for n in _SECTION.findall(m.group(2)))
        covered.append(m.span(2))
    bare = [int(m.group(1)) for m in _SECTION.finditer(text)
            if not any(a <= m.start() < b for a, b in covered)]
    return cited, bare


def check_text(text: str, citing: str, files: Iterable[str], sections_of: Callable[[str], set[int]],
               bare_sections: str = "ignore") -> list[str]:
    """Problems with the references of ``text``, as cited from the repository file ``citing``.

    ``bare_sections``: what a §N without a document means, "ignore" (a paper's section, in code),
    "own" (a section of ``citing`` itself) or "error" (not allowed: derivation sources).
    """
    files = frozenset(files)
    problems = [f"{citing}: mentions {name!r}, a note outside the repository" for name in FORBIDDEN if name in text]
    for ref in md_references(text):
        if resolve(ref, citing, files) is not None:
            continue
        writer = GENERATED.get(ref)
        if writer is not None and writer in files and ref in (ROOT / writer).read_text(encoding="utf-8"):
            continue
        problems.append(f"{citing}: {ref} is not a file of the repository")
    cited, bare = citations(text)
    for ref, n in cited:
        target = resolve(ref, citing, files)
        if target is not None and n not in sections_of(target):
            problems.append(f"{citing}: {ref} §{n} — {target} has no section {n}")
    if bare_sections == "own":
        problems += [f"{citing}: §{n} — no section {n} here" for n in bare if n not in sections_of(citing)]
    elif bare_sections == "error":
        problems += [f"{citing}: §{n} names no document (cite a paper's section as 'Sec. {n}')" for n in bare]
    return problems


def texts_of(path: Path) -> str:
    """The text a reader sees: a notebook's cell sources and text outputs, any other file as it is."""
    raw = path.read_text(encoding="utf-8")
    if path.suffix != ".ipynb":
        return raw
    parts: list[str] = []
    for cell in json.loads(raw).get("cells", []):
        parts.append("".join(cell.get("source", [])))
        for output in cell.get("outputs", []):
            parts.append("".join(output.get("text", [])))
            parts.append("".join(output.get("data", {}).get("text/plain", [])))
    return "\n".join(parts)


@cache
def _sections_of_repo_file(path: str) -> frozenset[int]:
    return frozenset(sections((ROOT / path).read_text(encoding="utf-8")))


def sections_of(path: str) -> set[int]:
    return set(_sections_of_repo_file(path))


def scanned_files() -> list[str]:
    return sorted(p for p in repo_files() if p.endswith(SCANNED) and p != THIS)


# ---------------------------------------------------------------------------------------------------------
# The checker catches what it should (fake references)

FILES = frozenset({"README.md", DESIGN, "theory/quantizer.py", "tests/x.py", "validation/report/summary.py"})


def _fake_sections(path: str) -> set[int]:
    return {1, 2, 3} if path == DESIGN else set()


@pytest.mark.parametrize(
    ("text", "citing", "expected"),
    [
        ("cites the old page, OLD_PAGE.md §1", "theory/quantizer.py", ["not a file"]),
        (f"see `{FORBIDDEN[0]}/OLD_PAGE.md`", "README.md", ["outside", "not a file"]),
        ("from research/papers.md §3", "theory/quantizer.py", ["not a file"]),
        ("see docs/notes.md", "theory/quantizer.py", ["not a file"]),
        ("docs/design.md §9", "theory/quantizer.py", ["no section 9"]),
        ("docs/design.md §2, §8", "theory/quantizer.py", ["no section 8"]),
        ("(see [the map](docs/design.md#2) and docs/desing.md §2)", "README.md", ["not a file"]),
    ],
)
def test_checker_catches_bad_references(text: str, citing: str, expected: list[str]) -> None:
    problems = check_text(text, citing, FILES, _fake_sections)
    assert len(problems) == len(expected), problems
    for problem, what in zip(problems, expected, strict=True):
        assert what in problem


@pytest.mark.parametrize(
    ("text", "citing"),
    [
        ("docs/design.md §2", "theory/quantizer.py"),
        ("`docs/design.md` §1, §3 and the paper (Alistarh et al., NeurIPS 2017, §3.1)", "theory/quantizer.py"),
        ("../docs/design.md §3 from a test", "tests/x.py"),
        ("readme = README.md; writes report.md", "tests/x.py"),
        ("https://example.org/notes/DESIGN-NOTES.md is a URL", "README.md"),
        ("[the map](docs/design.md)", "README.md"),
    ],
)
def test_checker_accepts_good_references(text: str, citing: str) -> None:
    assert check_text(text, citing, FILES, _fake_sections) == []


def test_checker_section_modes() -> None:
    text = "QSGD §3 for the sign bit; docs/design.md §2"
    assert check_text(text, "theory/quantizer.py", FILES, _fake_sections) == []
    [problem] = check_text(text, "theory/quantizer.py", FILES, _fake_sections, bare_sections="error")
    assert "§3 names no document" in problem
    assert check_text("as in §3", DESIGN, FILES, _fake_sections, bare_sections="own") == []
    [problem] = check_text("as in §5", DESIGN, FILES, _fake_sections, bare_sections="own")
    assert "no section 5" in problem


def test_notebook_text_includes_sources_and_outputs(tmp_path: Path) -> None:
    nb = {"cells": [{"cell_type": "markdown", "source": ["see docs/design.md §", "9\n"]},
                    {"cell_type": "code", "source": [], "outputs": [{"output_type": "stream",
                                                                      "text": ["source: OLD_PAGE.md §1\n"]}]}],
          "nbformat": 4, "nbformat_minor": 5, "metadata": {}}
    path = tmp_path / "fake.ipynb"
    path.write_text(json.dumps(nb))
    problems = check_text(texts_of(path), "notebooks/fake.ipynb", FILES, _fake_sections)
    assert any("no section 9" in p for p in problems)
    assert any("OLD_PAGE.md is not a file" in p for p in problems)


# ---------------------------------------------------------------------------------------------------------
# The repository


def test_design_page_exists_with_numbered_sections() -> None:
    text = (ROOT / DESIGN).read_text(encoding="utf-8")
    numbers = [int(n) for n in re.findall(r"^## (\d+)\.\s", text, re.MULTILINE)]
    assert numbers == list(range(1, len(numbers) + 1)) and len(numbers) >= 7, numbers


@pytest.mark.parametrize("path", scanned_files())
def test_references_resolve(path: str) -> None:
    mode = "own" if path == DESIGN else "ignore"
    problems = check_text(texts_of(ROOT / path), path, repo_files(), sections_of, bare_sections=mode)
    assert problems == []


def test_design_page_names_only_repository_paths() -> None:
    """Every `folder/` or `folder/file.ext` the page names is a folder or file of the repository."""
    files = repo_files()
    folders = {parent.as_posix() for f in files for parent in Path(f).parents}
    text = (ROOT / DESIGN).read_text(encoding="utf-8")
    paths = re.findall(r"`([\w.-]+/[\w./-]*)`", text)
    named = [m.rstrip("/") for m in paths if m.endswith("/") or re.search(r"\.\w+$", m)]
    missing = [p for p in named if p not in files and p not in folders]
    assert named and missing == []


def test_derivation_sources_resolve() -> None:
    from fedquant.theory.derivation import derive

    files = repo_files()
    problems: list[str] = []
    for step in derive():
        for problem in check_text(step.source, "", files, sections_of, bare_sections="error"):
            problems.append(f"{step.key}{problem}")
    assert problems == []
