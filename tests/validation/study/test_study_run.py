"""The study end to end on one small cell: tuned, predicted before training, trained, scored, written."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fedquant.cli import main
from fedquant.errors import InvalidArgument
from fedquant.validation.experiment.config import ExperimentConfig
from fedquant.validation.study.cells import StudyCell
from fedquant.validation.study.results import write_results
from fedquant.validation.study.run import run_study, study_file

CELL = StudyCell("tiny", "digits-logreg", "base", {
    "dataset": "digits", "model": "logreg", "clients": 10, "participation": 0.2, "partition": "dirichlet:0.3",
    "rounds": 8, "local_steps": 5, "lr": 0.2, "budget": "fixed:2", "calibration_runs": 3})
SCHEMES = ("none", "fixed:2", "adaquantfl", "feddq", "optimal")
SEEDS = (0, 1)


@pytest.fixture(scope="module")
def study(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("study") / "s"
    result = run_study(out, cells=[CELL], seeds=SEEDS, schemes=SCHEMES, progress=False)
    return out, result


def test_every_prediction_is_written_before_its_cell_trains(study: tuple[Path, dict]) -> None:
    out, result = study
    folder = out / "sweep" / "cells" / "c000"
    pred = json.loads((folder / "predictions.json").read_text())
    runs = [p for p in folder.glob("runs/seed*/*.json") if p.name != "plan.json"]
    assert len(runs) == len(SCHEMES) * len(SEEDS)
    assert all(p.stat().st_mtime >= pred["written_at"] for p in runs)
    assert pred["winner"] in ("adaquantfl", "feddq", "optimal")
    assert pred["optimal_direction"] in ("descending", "flat", "ascending")
    row = result["cells"][0]
    assert row["measured"]["best"] in ("adaquantfl", "feddq", "optimal")
    assert row["lr"]["lr"] in [t["lr"] for t in row["lr"]["trials"]] and len(row["lr"]["trials"]) >= 3
    assert result["score"]["cells"] == 1 and result["score"]["winner_hits"] in (0, 1)


def test_the_page_and_its_figures(study: tuple[Path, dict], tmp_path: Path) -> None:
    _, result = study
    paths = write_results(result, tmp_path / "docs" / "results.md", "fedquant study")
    text = paths["page"].read_text()
    for heading in ("## Headline", "## Where the FedDQ claim holds", "## Predicted, then measured",
                    "### Every miss", "## The paper's view", "## At equal budget", "## Tuned learning rates",
                    "## How it ran"):
        assert heading in text
    assert "](results/regime-map.png)" in text and paths["regime_map"].stat().st_size > 1000
    assert paths["savings"].exists()


def test_resume_runs_nothing_and_a_full_folder_is_refused(study: tuple[Path, dict]) -> None:
    out, result = study
    runs = sorted((out / "sweep" / "cells" / "c000").glob("runs/seed*/*.json"))
    before = {p: p.stat().st_mtime_ns for p in runs}
    again = run_study(out, cells=[CELL], seeds=SEEDS, schemes=SCHEMES, progress=False, resume=True)
    assert {p: p.stat().st_mtime_ns for p in runs} == before
    assert again["score"] == result["score"] and again["cells"][0]["measured"] == result["cells"][0]["measured"]
    with pytest.raises(InvalidArgument) as err:
        run_study(out, cells=[CELL], seeds=SEEDS, schemes=SCHEMES, progress=False)
    assert err.value.argument == "out"
    with pytest.raises(InvalidArgument) as err:
        run_study(out, cells=[CELL], seeds=(0,), schemes=SCHEMES, progress=False, resume=True)
    assert err.value.argument == "resume"
    assert json.loads(study_file(out).read_text())["seeds"] == list(SEEDS)


@pytest.mark.parametrize(("argv", "flag"), [(["--results", "page.txt"], "--results"),
                                             (["--address", "ray://x"], "--address"),
                                             (["--workers", "0"], "--workers")])
def test_bad_flags_get_one_line_and_write_nothing(argv: list[str], flag: str, tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "s"
    assert main(["study", "--quick", "--out", str(out), *argv]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and flag in err[0]
    assert not out.exists()


def test_a_scheme_diverging_at_the_tuned_rate_lowers_the_cell_and_redoes_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The first training unit diverges (as FedAvg reports it); the cell moves to the next lower rate of its
    trials, is predicted again before it trains again, and the record and the page say so."""
    from fedquant.validation.sweep import backends

    real = backends.run_unit
    calls: list[float] = []

    def diverge_once(config: ExperimentConfig, folder: str, seed: int) -> int:
        calls.append(config.lr)
        if len(calls) == 1:
            raise InvalidArgument("lr", "a step size at which training stays finite (the adaquantfl run of seed "
                                  f"{seed} diverged by round 3: non-finite loss or client updates)")
        return real(config, folder, seed)

    monkeypatch.setattr(backends, "run_unit", diverge_once)
    out = tmp_path / "s"
    result = run_study(out, cells=[CELL], seeds=SEEDS, schemes=SCHEMES, progress=False, workers=1)
    rate = result["cells"][0]["lr"]
    [step] = rate["lowered"]
    trials = [t["lr"] for t in rate["trials"]]
    assert step["from"] in trials and step["to"] == max(v for v in trials if v < step["from"])
    # the other seed finished at the old rate before the cell moved; then every seed trains at the new one
    assert rate["lr"] == step["to"] and calls == [step["from"]] * len(SEEDS) + [step["to"]] * len(SEEDS)
    assert "adaquantfl run of seed 0 diverged by round 3" in step["why"]
    folder = out / "sweep" / "cells" / "c000"
    assert json.loads((folder / "config.json").read_text())["config"]["lr"] == step["to"]
    pred = json.loads((folder / "predictions.json").read_text())
    assert all(p.stat().st_mtime >= pred["written_at"] for p in folder.glob("runs/seed*/*.json")
               if p.name != "plan.json")
    assert not (folder / "diverged.json").exists()
    assert json.loads((out / "lowered.json").read_text()) == {CELL.name: [step]}
    page = write_results(result, tmp_path / "results.md", "fedquant study")["page"].read_text()
    assert f"lowered to {step['to']:g}: the adaquantfl run of seed 0 diverged by round 3" in page
    again = run_study(out, cells=[CELL], seeds=SEEDS, schemes=SCHEMES, progress=False, resume=True, workers=1)
    assert again["cells"][0]["lr"] == rate and len(calls) == 2 * len(SEEDS)  # nothing reran
