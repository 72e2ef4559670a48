"""A sweep's grid: a TOML file whose ``[grid]`` table uses ``fedquant validate``'s option names.

A list is an axis, a scalar is fixed for every cell — except ``schemes`` and ``seeds``, which every cell
compares and repeats (a list of lists makes ``schemes`` an axis). ``preset`` (default ``demo``) is the
starting point every cell's options override, as with ``fedquant validate --preset``. Cells are the
product of the axes in the order the file lists them; each is checked exactly as ``fedquant validate``
checks its flags before anything runs, and a refusal names the cell.
"""

from __future__ import annotations

import itertools
import tomllib
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from fedquant.errors import InvalidArgument
from fedquant.validation.experiment.config import ExperimentConfig
from fedquant.validation.experiment.presets import preset

#: keys a grid may set: validate's options (dashes as underscores) and its preset
OPTIONS = (*tuple(f.name for f in fields(ExperimentConfig) if f.name != "dataset_options"), "preset")
#: keys whose list value is what every cell compares or repeats, not an axis
REPEATED = ("schemes", "seeds")


@dataclass(frozen=True)
class Cell:
    index: int
    values: dict[str, Any]  # the axis values of this cell, in axis order
    config: ExperimentConfig

    @property
    def name(self) -> str:
        return f"c{self.index:03d}"

    @property
    def label(self) -> str:
        return ", ".join(f"{k}={_show(v)}" for k, v in self.values.items()) or "the one cell"


@dataclass(frozen=True)
class Sweep:
    grid: dict[str, Any]  # the [grid] table as read
    axes: tuple[str, ...]
    cells: tuple[Cell, ...]


def _show(value: Any) -> str:
    return "+".join(map(str, value)) if isinstance(value, list | tuple) else str(value)


def _is_axis(key: str, value: Any) -> bool:
    if key == "schemes":
        return isinstance(value, list) and bool(value) and all(isinstance(v, list) for v in value)
    if key == "seeds":
        return False
    return isinstance(value, list)


def cell_config(values: dict[str, Any], cell: str) -> ExperimentConfig:
    """The checked configuration of a cell: ``values`` over their preset (default demo), as validate
    builds one from its flags; a refusal names ``cell``."""
    chosen = dict(values)
    base = preset(str(chosen.pop("preset", "demo")))
    if "local_steps" in chosen and "local_epochs" not in chosen:  # one of the two, as validate's flags
        base["local_epochs"] = None
    if "local_epochs" in chosen and "local_steps" not in chosen:
        base["local_steps"] = None
    base.update(chosen)
    for key in REPEATED:
        if key in base and isinstance(base[key], list):
            base[key] = tuple(base[key])
    try:
        return ExperimentConfig(**base).checked()
    except (TypeError, ValueError) as err:
        if isinstance(err, InvalidArgument):
            raise InvalidArgument(f"grid: cell {cell}: {err.argument}", err.allowed, err.got) from None
        raise InvalidArgument(f"grid: cell {cell}", "values of the types validate's options take", str(err)) from None


def parse(grid: dict[str, Any]) -> Sweep:
    """Axes, fixed values and the checked cells of a ``[grid]`` table."""
    unknown = [k for k in grid if k not in OPTIONS]
    if unknown:
        raise InvalidArgument(f"grid: {unknown[0]}", f"one of validate's options ({', '.join(OPTIONS)})",
                              unknown[0])
    axes = tuple(k for k, v in grid.items() if _is_axis(k, v))
    for key in axes:
        if not grid[key]:
            raise InvalidArgument(f"grid: {key}", "a non-empty list of values (an axis)", grid[key])
        if len({repr(v) for v in grid[key]}) != len(grid[key]):
            raise InvalidArgument(f"grid: {key}", "distinct values along an axis", grid[key])
    fixed = {k: v for k, v in grid.items() if k not in axes}
    cells = []
    for index, combo in enumerate(itertools.product(*(grid[a] for a in axes))):
        values = dict(zip(axes, combo, strict=True))
        label = ", ".join(f"{k}={_show(v)}" for k, v in values.items()) or "the one cell"
        cells.append(Cell(index, values, cell_config({**fixed, **values}, f"c{index:03d} ({label})")))
    return Sweep(grid=dict(grid), axes=axes, cells=tuple(cells))


def load(path: str | Path) -> Sweep:
    """Read and check a sweep file."""
    p = Path(path)
    try:
        with p.open("rb") as fh:
            data = tomllib.load(fh)
    except FileNotFoundError:
        raise InvalidArgument("FILE", "a readable TOML sweep file", str(path)) from None
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError) as err:
        raise InvalidArgument("FILE", f"a TOML file ({err})", str(path)) from None
    if set(data) - {"grid"}:
        raise InvalidArgument("FILE", "a [grid] table and nothing else", ", ".join(sorted(set(data) - {"grid"})))
    grid = data.get("grid")
    if not isinstance(grid, dict) or not grid:
        raise InvalidArgument("FILE", "a non-empty [grid] table of validate's options", str(path))
    return parse(grid)
