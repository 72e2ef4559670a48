"""A whole experiment: its files, their determinism, resume, the door checks, parallel seeds, and a regime
where quantization measurably costs accuracy."""

from __future__ import annotations

import csv
import json
import os
import shutil
import stat
from pathlib import Path

import numpy as np
import pytest

from fedquant.errors import InvalidArgument
from fedquant.optimizer import read_trace
from fedquant.run_folder import run_file
from fedquant.theory import numeric
from fedquant.validation.experiment.config import ExperimentConfig
from fedquant.validation.validate import run_experiment

SCHEMES = ("none", "fixed:4", "feddq", "adaquantfl", "optimal-online")
TINY = ExperimentConfig(dataset="digits", model="logreg", clients=4, rounds=6, seeds=(0, 1), schemes=SCHEMES)
PNGS = ("accuracy_vs_bits.png", "levels.png", "range.png", "predicted_vs_measured.png")
OUTPUTS = ("rounds.csv", "clients.csv", "summary.json", "report.md", *PNGS)


@pytest.fixture(scope="module")
def baseline(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("baseline") / "exp"
    summary = run_experiment(TINY, out, progress=False)
    return out, summary


def read_csv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


# ------------------------------------------------------------------------------------------ files


def test_files_exist(baseline: tuple[Path, dict]) -> None:
    out, _ = baseline
    for name in (*OUTPUTS, "config.json"):
        assert (out / name).is_file() and (out / name).stat().st_size > 0, name
    for seed in TINY.seeds:
        assert (out / "runs" / f"seed{seed}" / "plan.json").is_file()
        for scheme in SCHEMES:
            assert run_file(out, seed, scheme).is_file()
    assert not [p for p in out.rglob("*.tmp")], "a temporary file was left behind"
    for name in PNGS:
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_files_are_readable_like_any_new_file(baseline: tuple[Path, dict]) -> None:
    """Atomic writes go through mkstemp (mode 0600); the outputs must get the mode open() would give."""
    out, _ = baseline
    mask = os.umask(0o022)
    os.umask(mask)
    for name in (*OUTPUTS, "config.json", "runs/seed0/plan.json"):
        assert stat.S_IMODE((out / name).stat().st_mode) == 0o666 & ~mask, name


def test_rounds_csv_columns_and_rows(baseline: tuple[Path, dict]) -> None:
    out, _ = baseline
    rows = read_csv(out / "rounds.csv")
    required = ["scheme", "seed", "round", "loss", "accuracy", "grad_norm2", "range", "levels", "bits", "bytes",
                "quant_error", "quant_error_bound"]
    assert all(c in rows[0] for c in required), list(rows[0])
    assert len(rows) == len(SCHEMES) * len(TINY.seeds) * TINY.rounds
    assert {(r["scheme"], r["seed"]) for r in rows} == {(s, str(k)) for s in SCHEMES for k in TINY.seeds}
    d = 8 * 8 * 10 + 10
    for r in rows:
        if r["scheme"] == "fixed:4":
            assert float(r["bits"]) == 4 * numeric.bits_fixed(d, 15)  # 4 clients (participation 1)
            assert float(r["quant_error"]) > 0
        if r["scheme"] == "none":
            assert float(r["bits"]) == 4 * 32 * d and float(r["quant_error_bound"]) == 0.0
    clients = read_csv(out / "clients.csv")
    assert len(clients) == len(rows) * 4


def test_rounds_csv_is_a_trace(baseline: tuple[Path, dict]) -> None:
    out, _ = baseline
    trace = read_trace(out / "rounds.csv")
    none0 = [r for r in read_csv(out / "rounds.csv") if r["scheme"] == "none" and r["seed"] == "0"]
    assert trace.rounds.tolist() == list(range(TINY.rounds))
    assert trace.loss.tolist() == [float(r["loss"]) for r in none0]
    assert trace.range_.tolist() == [float(r["range"]) for r in none0]
    other = read_trace(out / "rounds.csv", scheme="fixed:4", seed=1)
    assert other.loss.tolist() != trace.loss.tolist()


def test_summary(baseline: tuple[Path, dict]) -> None:
    out, returned = baseline
    summary = json.loads((out / "summary.json").read_text())
    assert summary == json.loads(json.dumps(returned))
    assert {"config", "schemes", "checks"} <= set(summary)
    assert summary["config"] == TINY.to_json()
    assert set(summary["checks"]) == {"quant_error", "one_step", "bound", "ranking", "prediction"}
    for name, check in summary["checks"].items():
        assert {"predicted", "measured", "tolerance", "holds"} <= set(check), name
        assert check["holds"] in (True, False, None)
    assert summary["checks"]["quant_error"]["holds"] is True  # stochastic rounding obeys its bound
    assert list(summary["schemes"]) == list(SCHEMES)
    keys = ("total_bits", "total_bytes", "final_loss", "final_accuracy", "rounds_to_target", "bits_to_target",
            "predicted_objective")
    for name, s in summary["schemes"].items():
        assert set(keys) <= set(s), name
    d = 650
    per_round_none = 4 * 32 * d
    none = summary["schemes"]["none"]
    assert none["total_bits"] == TINY.rounds * per_round_none and none["predicted_objective"] is None
    assert none["bits_to_target"] == none["rounds_to_target"] * per_round_none  # same round in both seeds
    budget = TINY.rounds * 4 * numeric.bits_fixed(d, 15)  # auto: what fixed:4 spends
    assert summary["budget_bits"] == {"0": budget, "1": budget}
    assert summary["schemes"]["fixed:4"]["total_bits"] == budget
    for name in ("feddq", "adaquantfl", "optimal-online"):
        assert summary["schemes"][name]["total_bits"] <= budget
        assert summary["schemes"][name]["predicted_objective"] > 0
    # the final loss is the mean over seeds of the last round's loss_after
    rows = read_csv(out / "rounds.csv")
    last = [float(r["loss_after"]) for r in rows if r["scheme"] == "feddq" and r["round"] == str(TINY.rounds - 1)]
    assert summary["schemes"]["feddq"]["final_loss"] == pytest.approx(np.mean(last), rel=1e-12)


def test_report_states_results_and_checks(baseline: tuple[Path, dict]) -> None:
    out, summary = baseline
    report = (out / "report.md").read_text()
    for name in SCHEMES:
        assert f"| {name} | 0 |" in report and f"| {name} | 1 |" in report
    for check in summary["checks"]:
        assert check in report
    assert "-0.0000" not in report  # none's cost against itself is +0.0000, not a negative zero


# ------------------------------------------------------------------------------------------ determinism, resume


def test_same_config_same_bytes(baseline: tuple[Path, dict], tmp_path: Path) -> None:
    out, _ = baseline
    again = tmp_path / "again"
    run_experiment(TINY, again, progress=False)
    for name in OUTPUTS:
        assert (again / name).read_bytes() == (out / name).read_bytes(), name


def test_resume_redoes_only_the_missing_run(baseline: tuple[Path, dict], tmp_path: Path) -> None:
    out, _ = baseline
    work = tmp_path / "interrupted"
    shutil.copytree(out, work)
    missing = run_file(work, 1, "feddq")
    missing.unlink()
    for name in OUTPUTS:  # interrupted before the outputs were written
        (work / name).unlink()
    before = snapshot(work)
    run_experiment(TINY, work, resume=True, progress=False)
    for name in OUTPUTS:
        assert (work / name).read_bytes() == (out / name).read_bytes(), name
    assert missing.is_file()
    after = snapshot(work)
    for name, data in before.items():  # finished runs are kept as they were (their "seconds" included)
        if "runs/" in name and name.endswith(".json") and not name.endswith("plan.json"):
            assert after[name] == data, name


def test_resume_with_another_config_is_refused(baseline: tuple[Path, dict], tmp_path: Path) -> None:
    out, _ = baseline
    work = tmp_path / "exp"
    shutil.copytree(out, work)
    before = snapshot(work)
    with pytest.raises(InvalidArgument) as err:
        run_experiment(TINY.with_(lr=0.1), work, resume=True, progress=False)
    assert err.value.argument == "resume"
    assert "lr" in err.value.allowed
    assert snapshot(work) == before


def test_non_empty_out_without_resume_is_refused(baseline: tuple[Path, dict], tmp_path: Path) -> None:
    out, _ = baseline
    before = snapshot(out)
    with pytest.raises(InvalidArgument) as err:
        run_experiment(TINY, out, progress=False)
    assert err.value.argument == "out"
    assert snapshot(out) == before
    stranger = tmp_path / "stranger"
    stranger.mkdir()
    (stranger / "notes.txt").write_text("mine")
    with pytest.raises(InvalidArgument) as err:
        run_experiment(TINY, stranger, progress=False)
    assert err.value.argument == "out"
    with pytest.raises(InvalidArgument) as err:
        run_experiment(TINY, stranger, resume=True, progress=False)
    assert err.value.argument == "resume"
    assert [p.name for p in stranger.iterdir()] == ["notes.txt"]
    a_file = tmp_path / "file"
    a_file.write_text("x")
    with pytest.raises(InvalidArgument) as err:
        run_experiment(TINY, a_file, progress=False)
    assert err.value.argument == "out"


@pytest.mark.parametrize(("changes", "argument"), [
    ({"partition": "shards:20"}, "classes_per_client"),
    ({"clients": 5000}, "clients"),
    ({"partition": "natural"}, "partition"),
])
def test_impossible_partition_fails_before_anything_is_written(tmp_path: Path, changes: dict,
                                                               argument: str) -> None:
    out = tmp_path / "never"
    with pytest.raises(InvalidArgument) as err:
        run_experiment(TINY.with_(**changes), out, progress=False)
    assert err.value.argument == argument
    assert not out.exists()


def test_parallel_seeds_give_the_same_bytes(baseline: tuple[Path, dict], tmp_path: Path) -> None:
    """--jobs 2: one process per seed (1 thread each). The parent here runs 1 torch thread too (conftest);
    float summation order depends on the thread count, so equal thread counts are what makes bytes equal."""
    out, _ = baseline
    par = tmp_path / "par"
    run_experiment(TINY, par, jobs=2, progress=False)
    for name in OUTPUTS:
        assert (par / name).read_bytes() == (out / name).read_bytes(), name


# ------------------------------------------------------------------------------------------ quantization hurts


def test_one_bit_quantization_measurably_costs_loss(tmp_path: Path) -> None:
    """One client per round (participation 0.1 of 10), label skew, long local training: every round's model
    is one client's update, and at 1 bit (s = 1) each coordinate is rounded to its block's min or max, so the
    quantization noise is as large as the update itself and is not averaged away.

    Cheaper than the lead's 40-round, 30-step configuration (~5 s) and with a larger effect: 20 rounds of 15
    local steps. Measured final-loss cost of fixed:1 vs none over seeds 0, 1, 2: +0.44, +0.40, +0.35 (accuracy
    −22, −17, −19 points). We assert a positive cost in every seed and a mean above 0.15 — under half the
    smallest measured cost, so float-level differences across machines cannot flip it, while "no effect"
    (a mean near 0 with a spread of a few hundredths between seeds) fails.
    """
    cfg = ExperimentConfig(dataset="digits", model="logreg", clients=10, participation=0.1,
                           partition="dirichlet:0.5", local_steps=15, local_epochs=None, lr=0.2, rounds=20,
                           seeds=(0, 1, 2), schemes=("none", "fixed:1"))
    summary = run_experiment(cfg, tmp_path / "hurt", progress=False)
    runs = [r for r in summary["runs"] if r["scheme"] == "fixed:1"]
    assert len(runs) == 3
    costs = [r["loss_cost_vs_none"] for r in runs]
    assert all(c > 0 for c in costs), costs
    assert np.mean(costs) > 0.15, costs
    assert all(r["accuracy_cost_vs_none"] > 0 for r in runs)
    assert summary["schemes"]["fixed:1"]["loss_cost_vs_none"] == pytest.approx(np.mean(costs))
    report = (tmp_path / "hurt" / "report.md").read_text()
    for r in runs:
        line = next(line for line in report.splitlines() if line.startswith(f"| fixed:1 | {r['seed']} |"))
        assert f"{r['loss_cost_vs_none']:+.4f}" in line
        assert f"{-r['accuracy_cost_vs_none']:+.4f}" in line


def test_non_finite_names_the_first_bad_round_and_column() -> None:
    from fedquant.validation.experiment.runner import non_finite

    rows = [{"round": 0, "loss": 1.0, "test_loss": 2.0, "scheme": "x"},
            {"round": 1, "loss": 0.9, "test_loss": float("nan")},
            {"round": 2, "loss": np.float32("inf")}]
    assert non_finite(rows) == (1, "test_loss")
    assert non_finite(rows[2:]) == (2, "loss")
    assert non_finite(rows[:1]) is None and non_finite([]) is None
