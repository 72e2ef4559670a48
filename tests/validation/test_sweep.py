"""fedquant sweep: the grid's axes and refusals, resume, and byte-identical tables whatever the backend and the
number of workers."""

from __future__ import annotations

import csv
import importlib.util
from pathlib import Path

import pytest

from fedquant.cli import main
from fedquant.errors import InvalidArgument
from fedquant.validation.sweep import load, parse, run_sweep

GRID = """[grid]
dataset = "digits"
model = "logreg"
clients = 4
rounds = 4
local_steps = 2
participation = 1.0
partition = ["iid", "dirichlet:0.5"]
budget = ["fixed:1.5", "fixed:3"]
schemes = ["none", "fixed:2", "feddq"]
seeds = [0, 1]
calibration_runs = 0
"""


@pytest.fixture(scope="module")
def grid_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    p = tmp_path_factory.mktemp("grid") / "sweep.toml"
    p.write_text(GRID)
    return p


@pytest.fixture(scope="module")
def serial(grid_file: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("serial") / "out"
    run_sweep(load(grid_file), out, workers=1, progress=False)
    return out


def test_lists_are_axes_and_schemes_and_seeds_repeat(grid_file: Path) -> None:
    sweep = load(grid_file)
    assert sweep.axes == ("partition", "budget")
    assert [c.values for c in sweep.cells] == [{"partition": p, "budget": b} for p in ("iid", "dirichlet:0.5")
                                               for b in ("fixed:1.5", "fixed:3")]
    assert all(c.config.schemes == ("none", "fixed:2", "feddq") and c.config.seeds == (0, 1) for c in sweep.cells)
    # a list of lists makes schemes an axis; the preset (default demo) is what every cell starts from
    axis = parse({"schemes": [["none", "feddq"], ["none", "optimal"]], "rounds": 5, "preset": "tie"})
    assert axis.axes == ("schemes",) and axis.cells[1].config.schemes == ("none", "optimal")
    assert axis.cells[0].config.model == "mlp" and parse({"rounds": 5}).cells[0].config.model == "logreg"


@pytest.mark.parametrize(("grid", "named"), [
    ({"datset": "digits"}, "grid: datset"),
    ({"partition": []}, "grid: partition"),
    ({"lr": [0.1, 0.1]}, "grid: lr"),
    ({"lr": [0.1, -1.0]}, "grid: cell c001 (lr=-1.0): lr"),
    ({"rounds": "many"}, "grid: cell c000"),
])
def test_bad_grids_are_refused_naming_the_key_or_the_cell(grid: dict, named: str) -> None:
    with pytest.raises(InvalidArgument) as err:
        parse(grid)
    assert err.value.argument.startswith(named)


def test_tables_hold_every_cell_scheme_seed_and_round(serial: Path) -> None:
    with (serial / "cells.csv").open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 4 * 3 * 2 * 4  # cells × schemes × seeds × rounds
    assert rows[0]["cell"] == "c000" and rows[0]["partition"] == "iid" and rows[0]["budget"] == "fixed:1.5"
    with (serial / "summary.csv").open(newline="") as fh:
        summary = list(csv.DictReader(fh))
    assert [(r["cell"], r["scheme"]) for r in summary] == [(f"c00{i}", s) for i in range(4)
                                                            for s in ("none", "fixed:2", "feddq")]
    assert {r["verdict"] for r in summary if r["scheme"] == "feddq"} == {"best"}  # the one calibrated scheme
    assert (serial / "winners.png").stat().st_size > 0
    assert (serial / "cells" / "c003" / "report.md").exists()


def test_two_workers_give_the_same_bytes(grid_file: Path, serial: Path, tmp_path: Path) -> None:
    out = tmp_path / "two"
    result = run_sweep(load(grid_file), out, workers=2, progress=False)
    assert result == {"cells": 4, "units": 8, "ran": 8}
    for name in ("cells.csv", "summary.csv"):
        assert (out / name).read_bytes() == (serial / name).read_bytes(), name


@pytest.mark.skipif(importlib.util.find_spec("ray") is None, reason="the ray extra is not installed")
def test_ray_gives_the_same_bytes(grid_file: Path, serial: Path, tmp_path: Path) -> None:
    out = tmp_path / "ray"
    run_sweep(load(grid_file), out, backend="ray", workers=2, progress=False)
    for name in ("cells.csv", "summary.csv"):
        assert (out / name).read_bytes() == (serial / name).read_bytes(), name


def test_resume_runs_only_what_is_missing(grid_file: Path, serial: Path, tmp_path: Path) -> None:
    import shutil

    out = tmp_path / "resumed"
    shutil.copytree(serial, out)
    (out / "cells" / "c002" / "runs" / "seed1" / "feddq.json").unlink()  # as if killed before that run ended
    (out / "summary.csv").unlink()
    result = run_sweep(load(grid_file), out, workers=1, resume=True, progress=False)
    assert result["ran"] == 1
    assert (out / "summary.csv").read_bytes() == (serial / "summary.csv").read_bytes()
    with pytest.raises(InvalidArgument, match="resume"):
        run_sweep(load(grid_file), out, workers=1, progress=False)  # a finished sweep without --resume


def test_cli_refusals_are_one_line_and_write_nothing(grid_file: Path, tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('[grid]\nlr = [0.1, "fast"]\nrounds = 3\n')
    for argv, flag in (([str(bad)], "grid: cell c001"), ([str(tmp_path / "none.toml")], "FILE"),
                       ([str(grid_file), "--address", "x:1"], "--address")):
        out = tmp_path / "o"
        assert main(["sweep", *argv, "--out", str(out)]) == 2
        err = capsys.readouterr().err
        assert len(err.strip().splitlines()) == 1 and flag in err, err
        assert not out.exists()
