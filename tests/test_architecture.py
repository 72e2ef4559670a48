"""The house's rules, read from the source: no import cycles, rooms that depend one way, no torch below validation.

Every ``import`` and ``from … import`` of every module counts, including the ones inside functions (a cycle
hidden behind a function-level import is still a cycle). ``from package import name`` counts as an import of
``package.name`` when that is a module, else of ``package``.
"""

from __future__ import annotations

import ast
import graphlib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
#: source folder → import package (pyproject's package-dir)
PACKAGES = {"fedquant": "fedquant", "theory": "fedquant.theory", "optimizer": "fedquant.optimizer",
            "validation": "fedquant.validation"}

#: the rooms in dependency order: a room may import only rooms listed before it (and itself)
ROOMS = (
    "fedquant",
    "fedquant.errors", "fedquant.files", "fedquant.run_folder",
    "fedquant.theory",
    "fedquant.optimizer",
    "fedquant.validation.rng",
    "fedquant.validation.data", "fedquant.validation.compression", "fedquant.validation.training",
    "fedquant.validation.experiment", "fedquant.validation.report", "fedquant.validation.validate",
    "fedquant.validation",
    "fedquant.flower",
    "fedquant.benchmarks", "fedquant.examples", "fedquant.cli", "fedquant.__main__",
)


def modules() -> dict[str, Path]:
    out: dict[str, Path] = {}
    for folder, package in PACKAGES.items():
        for path in sorted((ROOT / folder).rglob("*.py")):
            rel = path.relative_to(ROOT / folder).with_suffix("")
            if folder == "fedquant" and rel.parts[0] in ("theory", "optimizer", "validation"):
                continue
            parts = [p for p in rel.parts if p != "__init__"]
            out[".".join([package, *parts])] = path
    return out


def imports_of(name: str, path: Path, known: set[str]) -> set[str]:
    """Every fedquant module ``name`` imports anywhere in its file (also inside functions)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            for alias in node.names:
                sub = f"{target}.{alias.name}"
                found.add(sub if sub in known else target)
    return {m for m in found if m in known and m != name}


def import_graph() -> dict[str, set[str]]:
    mods = modules()
    known = set(mods)
    return {name: imports_of(name, path, known) for name, path in mods.items()}


def find_cycle(graph: dict[str, set[str]]) -> tuple[str, ...] | None:
    try:
        tuple(graphlib.TopologicalSorter(graph).static_order())
    except graphlib.CycleError as err:
        return tuple(err.args[1])
    return None


def room_of(module: str) -> str:
    return max((r for r in ROOMS if module == r or module.startswith(r + ".")), key=len)


def test_no_import_cycles() -> None:
    assert find_cycle(import_graph()) is None


def test_the_cycle_finder_finds_a_planted_cycle() -> None:
    graph = {m: deps for m, deps in import_graph().items() if room_of(m) == "fedquant.theory"}
    assert find_cycle(graph) is None
    graph["fedquant.theory.step"] = graph["fedquant.theory.step"] | {"fedquant.theory.derivation"}
    cycle = find_cycle(graph)
    assert cycle is not None and "fedquant.theory.step" in cycle


def test_every_module_belongs_to_a_room() -> None:
    assert set(map(room_of, modules())) <= set(ROOMS)


def test_rooms_depend_one_way() -> None:
    order = {room: k for k, room in enumerate(ROOMS)}
    wrong = sorted(f"{m} → {d}" for m, deps in import_graph().items() for d in deps
                   if order[room_of(d)] > order[room_of(m)])
    assert wrong == []


@pytest.mark.parametrize("room", ["fedquant.theory", "fedquant.optimizer", "fedquant.errors", "fedquant.files"])
def test_no_torch_below_validation(room: str) -> None:
    for name, path in modules().items():
        if room_of(name) != room:
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            roots = ([a.name for a in node.names] if isinstance(node, ast.Import) else
                     [node.module or ""] if isinstance(node, ast.ImportFrom) and not node.level else [])
            assert not any(r.split(".")[0] == "torch" for r in roots), f"{name} imports torch"
