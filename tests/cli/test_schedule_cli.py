"""fedquant schedule: JSON contract, budgets, formats, plots, traces, bad input."""

from __future__ import annotations

import csv
import io
import itertools
import json

import pytest

from fedquant.cli import main
from fedquant.theory import numeric

BASE = ["--budget", "40Mb", "--rounds", "30", "--clients", "10", "--d", "26122", "--range-model", "exp:0.2,0.95",
        "--loss-model", "exp_floor:2,0.95,0.2"]


def run(capsys, *argv):
    code = main(["schedule", *argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("scheme", ["optimal", "feddq", "adaquantfl", "fixed:2", "optimal-online", "dadaquant"])
def test_json_contract_and_budget(capsys, scheme):
    code, out, err = run(capsys, "--scheme", scheme, *BASE, "--format", "json")
    assert code == 0, err
    data = json.loads(out)
    assert {"scheme", "criterion", "cost", "budget_bits", "total_bits", "objective", "bound", "rounds"} <= set(data)
    assert data["budget_bits"] == 40e6
    assert data["total_bits"] <= data["budget_bits"]
    assert len(data["rounds"]) == 30
    assert set(data["rounds"][0]) >= {"round", "levels", "bits", "range", "loss"}
    # the total is the theory's bit formula summed over rounds and clients
    per_round = [r["round_bits"] for r in data["rounds"]]
    assert sum(per_round) == pytest.approx(data["total_bits"], rel=1e-12)
    if not isinstance(data["rounds"][0]["levels"], list):
        lv = data["rounds"][0]["levels"]
        assert data["rounds"][0]["round_bits"] == 10 * numeric.bits_fixed(26122, lv)
    assert data["bound"] is None  # no constants given


def test_bound_units_with_constants(capsys):
    code, out, _ = run(capsys, "--scheme", "optimal", *BASE, "--format", "json", "--L", "2", "--lr", "0.05",
                       "--local-steps", "2")
    assert code == 0
    data = json.loads(out)
    factor = float(numeric.quant_factor_nonconvex(2.0, 0.05, 2, 30))
    assert data["bound"] == pytest.approx(factor * data["objective"], rel=1e-12)


def test_optimal_beats_every_baseline_in_the_comparison(capsys):
    code, out, _ = run(capsys, "--scheme", "all", *BASE, "--format", "json")
    assert code == 0
    schedules = json.loads(out)["schedules"]
    best = next(s for s in schedules if s["scheme"] == "optimal")
    for s in schedules:
        assert s["total_bits"] <= 40e6
        assert best["objective"] <= s["objective"] * (1 + 1e-12), s["scheme"]
    assert best["trend"] == "descending"  # shrinking ranges, equal round weights


def test_text_without_loss_model_has_no_loss_column(capsys):
    no_loss = BASE[:-2]
    assert "--loss-model" not in no_loss
    code, out, _ = run(capsys, "--scheme", "feddq", *no_loss)
    assert code == 0
    header = next(line for line in out.splitlines() if line.split()[:1] == ["round"])
    assert header.split() == ["round", "levels", "bits", "range"] and "nan" not in out
    code, out, _ = run(capsys, "--scheme", "feddq", *BASE)
    header = next(line for line in out.splitlines() if line.split()[:1] == ["round"])
    assert header.split() == ["round", "levels", "bits", "range", "loss"] and "nan" not in out


def test_text_csv_and_plot(capsys, tmp_path):
    png = tmp_path / "s.png"
    code, out, _ = run(capsys, "--scheme", "optimal", *BASE, "--plot", str(png))
    assert code == 0
    assert "trend: descending" in out and "bits per round" in out and png.stat().st_size > 10_000
    code, out, _ = run(capsys, "--scheme", "optimal", *BASE, "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(out)))
    assert len(rows) == 30 and set(rows[0]) == {"round", "levels", "bits", "round_bits", "range", "loss"}


def test_trace_input(capsys, tmp_path):
    trace = tmp_path / "rounds.csv"
    lines = ["scheme,seed,round,loss,range"] + [f"none,0,{t},{2.0 * 0.9**t},{0.1 * 0.9**t}" for t in range(12)]
    lines += [f"fixed:4,0,{t},{2.0},{0.1}" for t in range(12)]
    trace.write_text("\n".join(lines) + "\n")
    code, out, err = run(capsys, "--scheme", "optimal", "--trace", str(trace), "--clients", "4", "--d", "1000",
                         "--budget", "200kb", "--format", "json")
    assert code == 0, err
    data = json.loads(out)
    assert len(data["rounds"]) == 12
    assert data["rounds"][3]["range"] == pytest.approx(0.1 * 0.9**3)  # the 'none' run was picked


BAD = [
    (["--scheme", "fancy", *BASE], "--scheme"),
    (["--scheme", "optimal", *BASE[:2], "--rounds", "0", *BASE[4:]], "--rounds"),
    (["--scheme", "optimal", "--budget", "1kb", *BASE[2:]], "--budget"),
    (["--scheme", "optimal", "--budget", "lots", *BASE[2:]], "--budget"),
    (["--scheme", "optimal", *BASE[:8], "--range-model", "exp:-1,0.9", *BASE[10:]], "--range-model"),
    (["--scheme", "optimal", *BASE[:8], "--range-model", "exp:nan,0.9", *BASE[10:]], "--range-model"),
    (["--scheme", "adaquantfl", *BASE[:10]], "--loss-model"),
    (["--scheme", "optimal", *BASE[:10], "--loss-model", "const:-2"], "--loss-model"),
    (["--scheme", "optimal", *BASE, "--bits-min", "5", "--bits-max", "3"], "--bits-max"),
]


@pytest.mark.parametrize(("argv", "flag"), BAD, ids=[f for _, f in BAD])
def test_bad_input_exits_2_with_one_line(capsys, argv, flag):
    code, out, err = run(capsys, *argv)
    assert code == 2 and out == ""
    assert len(err.splitlines()) == 1 and flag in err, err


def test_trace_with_missing_columns(capsys, tmp_path):
    trace = tmp_path / "t.csv"
    trace.write_text("round,loss\n0,1.0\n1,0.9\n")
    code, out, err = run(capsys, "--scheme", "optimal", "--trace", str(trace), "--clients", "2", "--d", "10",
                         "--budget", "1kb")
    assert code == 2 and out == "" and "--trace" in err and "range" in err and len(err.splitlines()) == 1


def test_persistence_model_makes_the_final_criterion(capsys):
    # auto with a persistence model is the final criterion: a round's weight is how much of its noise is left at the
    # end, so with noise forgotten quickly (c(k) = 0.5^k) the optimum ascends even though ranges shrink
    code, out, err = run(capsys, "--scheme", "optimal", "--persistence", "exp:1,0.5", *BASE, "--format", "json")
    assert code == 0, err
    data = json.loads(out)
    assert data["criterion"] == "final"
    levels = [r["levels"] for r in data["rounds"]]
    assert levels[-1] > levels[0] and all(a <= b for a, b in itertools.pairwise(levels))
    code, out, err = run(capsys, "--scheme", "optimal", *BASE, "--format", "json")
    assert code == 0 and json.loads(out)["criterion"] == "nonconvex"  # auto without one: every round alike
